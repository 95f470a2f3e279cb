"""The TFDS builders: synthetic_actions and video_folder, the bad-video report and the vtn-data command, on
small generated data."""
import json
import pathlib

import cv2
import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from vtn_jax.data import tfds_builders
from vtn_jax.data import synthetic
from vtn_jax.data import video_io

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
def tiny_synthetic(tiny_data_dir):
    return tiny_data_dir, tfds_builders.build('synthetic_actions', tiny_data_dir, 'tiny')  # reopened


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
    builder = tfds_builders.build('video_folder', data_dir, root=str(root), layout='ucf101', split_number=1,
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
                                       cv2.COLOR_BGR2RGB) for b in tfds_builders.encode_frames(frames, 90)])
    difference = np.abs(reference.astype(int) - example['video'])
    assert difference.mean() < 2 and difference.max() <= 8
    # JPEG drops the per-pixel noise but keeps the picture: 4x4 block means agree closely.
    def blocks(v):
        return v.reshape(len(v), 10, 4, 10, 4, 3).mean(axis=(2, 4))
    assert np.abs(blocks(frames.astype(float)) - blocks(example['video'].astype(float))).mean() < 2


def test_synthetic_config_finds_the_built_in_configs_a_data_config_names(tiny_config):
    data = tiny_config.data
    assert tfds_builders.synthetic_config(data).name == 'tiny'
    with data.unlocked():
        data.builder_config = ''
        assert tfds_builders.synthetic_config(data).name == 'default'
        data.builder_config = 'light'
        light = tfds_builders.synthetic_config(data)
        data.builder_config = 'mine'
        assert tfds_builders.synthetic_config(data) is None  # a custom variant: its fields are not known here
        data.name, data.builder_config = 'video_folder', 'ucf101_split1'
        assert tfds_builders.synthetic_config(data) is None
    assert tfds_builders.generator_options(light) == {'height': 64, 'width': 64, 'difficulty': 0.0,
                                                       'polarity': 'light'}
    two_cue_options = tfds_builders.generator_options(tfds_builders.synthetic_config(
        ml_collections.ConfigDict({'name': 'synthetic_actions', 'builder_config': 'two_cue'})))
    assert 'polarity' not in two_cue_options  # two_cue has no polarity
    # Each generator takes its options.
    assert tfds_builders.GENERATORS['two_cue'].make_video(0, seed=0, num_frames=3, **two_cue_options)[0].shape == (
        3, 64, 64, 3)


def test_a_light_build_stores_the_light_generator_s_videos(tmp_path):
    builder = tfds_builders.build('synthetic_actions', tmp_path, 'small_light', num_train=2, num_test=1,
                                  height=24, width=24, min_frames=4, max_frames=4, polarity='light')
    example = read_all(builder, 'train[:1]')[0]
    index = int(example['name'].decode().split('_')[-1])
    light, _ = synthetic.make_video(index, seed=0, num_frames=4, height=24, width=24, polarity='light')
    other, _ = synthetic.make_video(index, seed=0, num_frames=4, height=24, width=24)
    def blocks(v):  # JPEG keeps 4x4 block means
        return v.astype(float).reshape(4, 6, 4, 6, 4, 3).mean(axis=(2, 4))
    stored = blocks(example['video'])
    assert np.abs(stored - blocks(light)).mean() < 2 < 10 < np.abs(stored - blocks(other)).mean()
    with pytest.raises(ValueError, match="lead_in and polarity are for the synthetic generator, not 'two_cue'"):
        tfds_builders.build('synthetic_actions', tmp_path, 'two_cue_lead', generator='two_cue', num_classes=12,
                            lead_in=4)


def test_build_is_idempotent(tiny_synthetic):
    data_dir, builder = tiny_synthetic
    record = next(pathlib.Path(builder.data_dir).glob('*train.tfrecord*'))
    mtime = record.stat().st_mtime_ns
    again = tfds_builders.build('synthetic_actions', data_dir, 'tiny')
    assert again.info.splits['train'].num_examples == 48
    assert record.stat().st_mtime_ns == mtime  # found, not rebuilt


def test_ucf101_build_reports_bad_videos_and_builds_the_rest(ucf_build):
    root, _, builder, lengths = ucf_build
    report = tfds_builders.load_report(builder)
    assert report['num_bad_videos'] == 1 == builder.info.metadata['num_bad_videos']
    reasons = {pathlib.Path(b['path']).name: b['reason'] for b in report['bad_videos']}
    assert set(reasons) == {'v_Wave_g04_c01.avi'} and 'empty file' in reasons['v_Wave_g04_c01.avi']
    # The file cut in half still decodes its first frames: kept with them, and listed with both counts.
    (truncated,) = report['truncated_videos']
    assert pathlib.Path(truncated['path']).name == 'v_Run_g04_c01.avi' and truncated['split'] == 'test'
    assert 0 < truncated['frames_read'] < 12 == truncated['header_frames']
    written = json.loads((pathlib.Path(builder.data_dir) / tfds_builders.REPORT_FILE).read_text())
    assert written == report
    assert report['num_videos'] == {'test': 4, 'train': 6}
    assert 'truncated videos kept' in tfds_builders.format_report(report, builder.data_dir)
    test = {pathlib.Path(e['name'].decode()).name: e for e in read_all(builder, 'test')}
    assert len(test['v_Run_g04_c01.avi']['video']) == truncated['frames_read']
    train = read_all(builder, 'train')
    by_name = {pathlib.Path(e['name'].decode()).relative_to(root).as_posix(): e for e in train}
    assert sorted(by_name) == sorted(f'{c}/v_{c}_g{g:02d}_c01.avi' for c in CLASSES for g in (1, 2))
    for rel, example in by_name.items():
        assert CLASSES[example['label']] == rel.split('/')[0]
        assert example['video'].shape == (lengths[rel], 16, 21, 3)  # 24x32 -> shorter side 16


def test_ucf101_reopens_by_config_name(ucf_build):
    _, data_dir, builder, _ = ucf_build
    again = tfds_builders.build('video_folder', data_dir, 'ucf101_split1')  # no root needed once built
    assert again.info.features['label'].names == list(CLASSES)
    assert again.info.metadata['mirror_labels'] == [0, 1, 2]  # real actions keep their label
    assert again.info.splits['test'].num_examples == 4  # 3 whole videos and the truncated one
    with pytest.raises(FileNotFoundError, match='build it first'):
        tfds_builders.build('video_folder', data_dir, 'ucf101_split2')


def test_min_frames_leaves_out_what_cannot_give_a_clip(ucf_build, tmp_path):
    root, _, _, lengths = ucf_build
    builder = tfds_builders.build('video_folder', tmp_path, root=str(root), layout='ucf101', split_number=1,
                                  resize_short=16, min_frames=12)
    report = tfds_builders.load_report(builder)
    reasons = {pathlib.Path(b['path']).name: b['reason'] for b in report['bad_videos']}
    assert 'truncated (' in reasons['v_Run_g04_c01.avi'] and 'min_frames=12' in reasons['v_Run_g04_c01.avi']
    short = {pathlib.Path(rel).name for rel, n in lengths.items() if n < 12}
    assert short and short < set(reasons) and report['truncated_videos'] == []
    kept = [e for split in ('train', 'test') for e in read_all(builder, split)]
    assert all(len(e['video']) >= 12 for e in kept)
    # video_id is the index in the planned order: unique, increasing with the position, gaps where videos left.
    ids = [int(e['video_id']) for e in read_all(builder, 'train')]
    assert ids == sorted(set(ids))


def stored(builder) -> dict:
    """Every split's examples as stored (JPEG bytes, not decoded) and the metadata, for comparing builds."""
    out = {'metadata': {k: builder.info.metadata[k] for k in ('num_frames', 'bad_videos', 'truncated_videos')}}
    for split in builder.info.splits:
        ds = builder.as_dataset(split=split, shuffle_files=False, decoders={'video': tfds.decode.SkipDecoding()})
        out[split] = [{k: (list(v) if k == 'video' else v) for k, v in e.items()} for e in tfds.as_numpy(ds)]
    return out


def test_worker_processes_build_the_same_dataset(ucf_build, tmp_path):
    root, _, builder, _ = ucf_build
    again = tfds_builders.build('video_folder', tmp_path, root=str(root), layout='ucf101', split_number=1,
                                resize_short=16, workers=2)
    assert stored(again) == stored(builder)


def test_beam_build_equals_the_local_build(ucf_build, tmp_path):
    """TFDS's Apache Beam generation (DirectRunner here, a cluster runner at scale) gives the local build's data."""
    pytest.importorskip('apache_beam', reason='the [beam] extra (apache-beam) is not installed')
    root, _, builder, _ = ucf_build
    beam = tfds_builders.build('video_folder', tmp_path, root=str(root), layout='ucf101', split_number=1,
                               resize_short=16, beam_options='runner=DirectRunner,direct_num_workers=1')
    assert stored(beam) == stored(builder)
    assert tfds_builders.load_report(beam) == tfds_builders.load_report(builder)
    assert not list(pathlib.Path(beam.data_dir).glob('*build_rows*'))  # the side files are removed
