"""Tests for vtn_jax.datasets: the synthetic and video-folder builders, split files, the bad-video
report and the CLI, on small generated data."""
import json
import pathlib

import cv2
import numpy as np
import pytest
import tensorflow_datasets as tfds

from vtn_jax import datasets
from vtn_jax import synthetic
from vtn_jax import video_io

CLASSES = ('Jump', 'Run', 'Wave')


def write_clip(path, num_frames, value, height=24, width=32):
    """Writes a small MJPG AVI whose frames hold a gradient plus a per-video grey level."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ramp = np.linspace(0, 100, width, dtype=np.float32)[None, :, None]
    frames = np.broadcast_to(ramp + value, (num_frames, height, width, 3)).astype(np.uint8)
    video_io.write_video(path, frames)


def make_class_folders(root, videos_per_class=3):
    """root/<Class>/v_<Class>_g0N_c01.avi, 10..18 frames, 32x24; returns {relative path: frames}."""
    lengths = {}
    for c, name in enumerate(CLASSES):
        for g in range(1, videos_per_class + 1):
            rel = f'{name}/v_{name}_g{g:02d}_c01.avi'
            lengths[rel] = 8 + 2 * g + c
            write_clip(root / rel, lengths[rel], value=40 * c + 10 * g)
    return lengths


def read_all(builder, split):
    ds = builder.as_dataset(split=split, shuffle_files=False)
    return list(tfds.as_numpy(ds))


@pytest.fixture(scope='session')
def tiny_synthetic(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp('tfds_synthetic')
    return data_dir, datasets.build('synthetic_actions', data_dir, 'tiny')


@pytest.fixture(scope='session')
def ucf_build(tmp_path_factory):
    """A UCF-101-layout folder with official-style split files, a corrupt and an empty video."""
    root = tmp_path_factory.mktemp('ucf')
    lengths = make_class_folders(root)
    # Corrupt: a real file cut in half (noise frames so the frame data dominates the file).
    noise = tmp_path_factory.mktemp('noise') / 'noise.avi'
    video_io.write_video(noise, np.random.default_rng(0).integers(0, 256, (12, 24, 32, 3), np.uint8))
    (root / 'Run' / 'v_Run_g04_c01.avi').write_bytes(noise.read_bytes()[:noise.stat().st_size // 2])
    (root / 'Wave' / 'v_Wave_g04_c01.avi').write_bytes(b'')
    splits = root / 'ucfTrainTestlist'
    splits.mkdir()
    (splits / 'classInd.txt').write_text(''.join(f'{i + 1} {c}\n' for i, c in enumerate(CLASSES)))
    train = [f'{c}/v_{c}_g{g:02d}_c01.avi {i + 1}' for i, c in enumerate(CLASSES) for g in (1, 2)]
    test = [f'{c}/v_{c}_g03_c01.avi' for c in CLASSES] + ['Run/v_Run_g04_c01.avi', 'Wave/v_Wave_g04_c01.avi']
    (splits / 'trainlist01.txt').write_text('\n'.join(train) + '\n')
    (splits / 'testlist01.txt').write_text('\n'.join(test) + '\n')
    data_dir = tmp_path_factory.mktemp('tfds_ucf')
    builder = datasets.build('video_folder', data_dir, root=str(root), layout='ucf101', split_number=1,
                             resize_short=16)
    return root, data_dir, builder, lengths


def test_synthetic_tiny_build(tiny_synthetic):
    _, builder = tiny_synthetic
    assert builder.info.splits['train'].num_examples == 48
    assert builder.info.splits['test'].num_examples == 16
    assert builder.info.features['label'].names == list(synthetic.CLASS_NAMES)
    examples = read_all(builder, 'train')
    labels = [int(e['label']) for e in examples]
    assert np.bincount(labels, minlength=8).tolist() == [6] * 8  # class-balanced
    assert [int(e['video_id']) for e in examples] == list(range(48))  # storage order == video_id
    lengths = builder.info.metadata['num_frames']['train']
    assert [len(e['video']) for e in examples] == lengths
    assert min(lengths) >= 20 and max(lengths) <= 48 and min(lengths) < 32  # some shorter than 32
    assert examples[0]['video'].shape[1:] == (40, 40, 3)
    assert builder.info.metadata['mirror_labels'] == [1, 0, 2, 3, 4, 5, 7, 6]


def test_synthetic_frames_match_the_generator(tiny_synthetic):
    _, builder = tiny_synthetic
    example = read_all(builder, 'test[:1]')[0]
    index = int(example['name'].decode().split('_')[-1])
    frames, label = synthetic.make_video(index, seed=0, num_frames=(20, 48), height=40, width=40)
    assert label == example['label'] and frames.shape == example['video'].shape
    # Stored as the JPEG (quality 90) of the generated frames: decoding our own encoding of them
    # with OpenCV gives the same pixels up to the decoders' rounding and chroma upsampling.
    reference = np.stack([cv2.cvtColor(cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR),
                                       cv2.COLOR_BGR2RGB) for b in datasets.encode_frames(frames, 90)])
    difference = np.abs(reference.astype(int) - example['video'])
    assert difference.mean() < 2 and difference.max() <= 8
    # JPEG drops the per-pixel noise but keeps the picture: 4x4 block means agree closely.
    blocks = lambda v: v.reshape(len(v), 10, 4, 10, 4, 3).mean(axis=(2, 4))
    assert np.abs(blocks(frames.astype(float)) - blocks(example['video'].astype(float))).mean() < 2


def test_build_is_idempotent(tiny_synthetic):
    data_dir, builder = tiny_synthetic
    record = next(pathlib.Path(builder.data_dir).glob('*train.tfrecord*'))
    mtime = record.stat().st_mtime_ns
    again = datasets.build('synthetic_actions', data_dir, 'tiny')
    assert again.info.splits['train'].num_examples == 48
    assert record.stat().st_mtime_ns == mtime  # found, not rebuilt


def test_ucf101_build_reports_bad_videos_and_builds_the_rest(ucf_build):
    root, _, builder, lengths = ucf_build
    report = datasets.load_report(builder)
    assert report['num_bad_videos'] == 2 == builder.info.metadata['num_bad_videos']
    reasons = {pathlib.Path(b['path']).name: b['reason'] for b in report['bad_videos']}
    assert set(reasons) == {'v_Run_g04_c01.avi', 'v_Wave_g04_c01.avi'}
    assert 'empty file' in reasons['v_Wave_g04_c01.avi']
    assert 'truncated' in reasons['v_Run_g04_c01.avi'] or 'cannot open' in reasons['v_Run_g04_c01.avi']
    written = json.loads((pathlib.Path(builder.data_dir) / datasets.REPORT_FILE).read_text())
    assert written == report
    assert report['num_videos'] == {'test': 3, 'train': 6}
    train = read_all(builder, 'train')
    by_name = {pathlib.Path(e['name'].decode()).relative_to(root).as_posix(): e for e in train}
    assert sorted(by_name) == sorted(f'{c}/v_{c}_g{g:02d}_c01.avi' for c in CLASSES for g in (1, 2))
    for rel, example in by_name.items():
        assert CLASSES[example['label']] == rel.split('/')[0]
        assert example['video'].shape == (lengths[rel], 16, 21, 3)  # 24x32 -> shorter side 16


def test_ucf101_reopens_by_config_name(ucf_build):
    _, data_dir, builder, _ = ucf_build
    again = datasets.build('video_folder', data_dir, 'ucf101_split1')  # no root needed once built
    assert again.info.features['label'].names == list(CLASSES)
    assert again.info.metadata['mirror_labels'] == [0, 1, 2]  # real actions keep their label
    assert again.info.splits['test'].num_examples == 3
    with pytest.raises(FileNotFoundError, match='build it first'):
        datasets.build('video_folder', data_dir, 'ucf101_split2')


@pytest.mark.parametrize('file, content, message', [
    ('trainlist01.txt', 'Jump/v_Jump_g01_c01.avi 1\nSwim/v_Swim_g01_c01.avi 4\n',
     "trainlist01.txt:2: class 'Swim' is not in classInd.txt"),
    ('trainlist01.txt', 'Jump/v_Jump_g01_c01.avi 1\n\nRun/v_Run_g01_c01.avi 3\n',
     'trainlist01.txt:3: label 3 disagrees'),
    ('classInd.txt', '1 Jump\n2 Run\n', "class folder 'Wave'"),
    ('classInd.txt', '1 Jump\n3 Run\n3 Wave\n', 'classInd.txt:2: expected "2 <ClassName>"'),
    ('testlist01.txt', 'v_Jump_g03_c01.avi\n', 'testlist01.txt:1: expected'),
])
def test_ucf101_wrong_split_files_name_file_and_line(tmp_path, file, content, message):
    make_class_folders(tmp_path, videos_per_class=1)
    (tmp_path / 'classInd.txt').write_text('1 Jump\n2 Run\n3 Wave\n')
    (tmp_path / 'trainlist01.txt').write_text('Jump/v_Jump_g01_c01.avi 1\n')
    (tmp_path / 'testlist01.txt').write_text('Run/v_Run_g01_c01.avi\n')
    (tmp_path / file).write_text(content)
    with pytest.raises(datasets.SplitFileError) as info:
        datasets.read_ucf101_splits(tmp_path, 1)
    assert message in str(info.value) and str(tmp_path) in str(info.value)


def test_hmdb51_splits(tmp_path):
    root = tmp_path / 'hmdb'
    make_class_folders(root)
    splits = root / 'testTrainMulti_7030_splits'
    splits.mkdir()
    for n in (1, 2, 3):
        for c in CLASSES:
            flags = {1: '1', 2: '2', 3: '0'} if n == 2 else {1: '2', 2: '1', 3: '1'}
            (splits / f'{c}_test_split{n}.txt').write_text(
                ''.join(f'v_{c}_g{g:02d}_c01.avi {flags[g]} \n' for g in (1, 2, 3)))
    names, split_lists = datasets.read_hmdb51_splits(root, 2)
    assert names == list(CLASSES)
    assert sorted(p.name for p, _ in split_lists['train']) == [f'v_{c}_g01_c01.avi' for c in CLASSES]
    assert sorted(p.name for p, _ in split_lists['test']) == [f'v_{c}_g02_c01.avi' for c in CLASSES]
    assert all(CLASSES[label] == p.parent.name for p, label in split_lists['train'])
    data_dir = tmp_path / 'tfds'
    builder = datasets.build('video_folder', data_dir, root=str(root), layout='hmdb51', split_number=3,
                             resize_short=12)
    assert builder.info.splits['train'].num_examples == 6 and builder.info.splits['test'].num_examples == 3
    assert pathlib.Path(builder.data_dir).parent.name == 'hmdb51_split3'
    (splits / 'Run_test_split1.txt').write_text('v_Run_g01_c01.avi 1\nv_Run_g02_c01.avi 7\n')
    with pytest.raises(datasets.SplitFileError, match='Run_test_split1.txt:2'):
        datasets.read_hmdb51_splits(root, 1)
    (splits / 'Wave_test_split1.txt').unlink()
    with pytest.raises(datasets.SplitFileError, match="class folder 'Wave' has no split file"):
        datasets.read_hmdb51_splits(root, 1)


def test_kinetics_csv_and_missing_clip_report(tmp_path):
    root = tmp_path / 'kinetics'
    write_clip(root / 'train' / 'abseiling' / 'aaa_000010_000020.avi', 9, 10)
    write_clip(root / 'train' / 'juggling' / 'bbb_000003_000013.avi', 7, 50)
    write_clip(root / 'val' / 'ccc_000000_000010.avi', 6, 90)
    (root / 'annotations.csv').write_text(
        'label,youtube_id,time_start,time_end,split\n'
        'abseiling,aaa,10,20,train\n'
        'juggling,bbb,3,13,train\n'
        'juggling,ccc,0,10,validate\n'
        'abseiling,zzz,5,15,validate\n')
    builder = datasets.build('video_folder', tmp_path / 'tfds', root=str(root), layout='kinetics',
                             resize_short=12)
    assert builder.info.features['label'].names == ['abseiling', 'juggling']
    assert builder.info.splits['train'].num_examples == 2
    assert builder.info.splits['validation'].num_examples == 1
    report = datasets.load_report(builder)
    assert report['num_bad_videos'] == 1
    assert report['bad_videos'][0]['path'].endswith('zzz_000005_000015.mp4')
    assert report['bad_videos'][0]['reason'] == 'file not found'
    (root / 'bad.csv').write_text('label,youtube_id,time_start,time_end,split\njuggling,bbb,3,13,holdout\n')
    with pytest.raises(datasets.SplitFileError, match=r'bad.csv:2: bad split'):
        datasets.read_kinetics_csv(root, [root / 'bad.csv'])
    (root / 'bad.csv').write_text('label,youtube_id,time_start\n')
    with pytest.raises(datasets.SplitFileError, match=r"bad.csv:1: missing column\(s\) \['split', 'time_end'\]"):
        datasets.read_kinetics_csv(root, [root / 'bad.csv'])


def test_plain_folder_split_and_min_frames(tmp_path):
    root = tmp_path / 'videos'
    make_class_folders(root, videos_per_class=4)
    names, splits = datasets.read_class_folders(root, test_percent=30)
    assert names == list(CLASSES)
    all_videos = sorted(p for s in splits.values() for p, _ in s)
    assert len(all_videos) == 12 and splits['test'] and splits['train']
    assert datasets.read_class_folders(root, test_percent=30) == (names, splits)  # deterministic
    builder = datasets.build('video_folder', tmp_path / 'tfds', root=str(root), layout='folder',
                             test_percent=30, resize_short=12, min_frames=14)
    report = datasets.load_report(builder)
    lengths = {f'v_{c}_g{g:02d}_c01.avi': 8 + 2 * g + i for i, c in enumerate(CLASSES) for g in range(1, 5)}
    too_short = sorted(name for name, n in lengths.items() if n < 14)
    assert sorted(pathlib.Path(b['path']).name for b in report['bad_videos']) == too_short
    assert all(b['reason'].startswith('too short') for b in report['bad_videos'])
    assert sum(report['num_videos'].values()) == 12 - len(too_short)


def test_cli_help_and_build(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        datasets.main(['build', '--help'])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert '--layout' in text and 'ucf101' in text and '--resize_short' in text
    root = tmp_path / 'videos'
    make_class_folders(root, videos_per_class=2)
    datasets.main(['build', 'video_folder', '--root', str(root), '--data_dir', str(tmp_path / 'tfds'),
                   '--resize_short', '12', '--test_percent', '50', '--config', 'mine'])
    out = capsys.readouterr().out
    assert 'videos/s' in out and '0 bad videos' in out
    assert (tmp_path / 'tfds' / 'video_folder' / 'mine' / '1.0.0' / datasets.REPORT_FILE).is_file()
    datasets.main(['report', 'video_folder', '--config', 'mine', '--data_dir', str(tmp_path / 'tfds')])
    assert '0 bad videos' in capsys.readouterr().out
