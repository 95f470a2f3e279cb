"""Split and annotation files of UCF-101, HMDB-51, Kinetics and plain folders: parsed, and every malformed line
named with its file and line."""
import pathlib

import pytest

from test_data_tfds_builders import CLASSES, make_class_folders, write_clip
from vtn_jax.data import split_files
from vtn_jax.data import tfds_builders


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
    with pytest.raises(split_files.SplitFileError) as info:
        split_files.read_ucf101_splits(tmp_path, 1)
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
    names, split_lists = split_files.read_hmdb51_splits(root, 2)
    assert names == list(CLASSES)
    assert sorted(p.name for p, _ in split_lists['train']) == [f'v_{c}_g01_c01.avi' for c in CLASSES]
    assert sorted(p.name for p, _ in split_lists['test']) == [f'v_{c}_g02_c01.avi' for c in CLASSES]
    assert all(CLASSES[label] == p.parent.name for p, label in split_lists['train'])
    data_dir = tmp_path / 'tfds'
    builder = tfds_builders.build('video_folder', data_dir, root=str(root), layout='hmdb51', split_number=3,
                             resize_short=12)
    assert builder.info.splits['train'].num_examples == 6 and builder.info.splits['test'].num_examples == 3
    assert pathlib.Path(builder.data_dir).parent.name == 'hmdb51_split3'
    (splits / 'Run_test_split1.txt').write_text('v_Run_g01_c01.avi 1\nv_Run_g02_c01.avi 7\n')
    with pytest.raises(split_files.SplitFileError, match='Run_test_split1.txt:2'):
        split_files.read_hmdb51_splits(root, 1)
    (splits / 'Wave_test_split1.txt').unlink()
    with pytest.raises(split_files.SplitFileError, match="class folder 'Wave' has no split file"):
        split_files.read_hmdb51_splits(root, 1)


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
    builder = tfds_builders.build('video_folder', tmp_path / 'tfds', root=str(root), layout='kinetics',
                             resize_short=12)
    assert builder.info.features['label'].names == ['abseiling', 'juggling']
    assert builder.info.splits['train'].num_examples == 2
    assert builder.info.splits['validation'].num_examples == 1
    report = tfds_builders.load_report(builder)
    assert report['num_bad_videos'] == 1
    assert report['bad_videos'][0]['path'].endswith('zzz_000005_000015.mp4')
    assert report['bad_videos'][0]['reason'] == 'file not found'
    (root / 'bad.csv').write_text('label,youtube_id,time_start,time_end,split\njuggling,bbb,3,13,holdout\n')
    with pytest.raises(split_files.SplitFileError, match=r'bad.csv:2: bad split'):
        split_files.read_kinetics_csv(root, [root / 'bad.csv'])
    (root / 'bad.csv').write_text('label,youtube_id,time_start\n')
    with pytest.raises(split_files.SplitFileError, match=r"bad.csv:1: missing column\(s\) \['split', 'time_end'\]"):
        split_files.read_kinetics_csv(root, [root / 'bad.csv'])


def test_plain_folder_split_and_min_frames(tmp_path):
    root = tmp_path / 'videos'
    make_class_folders(root, videos_per_class=4)
    names, splits = split_files.read_class_folders(root, test_percent=30)
    assert names == list(CLASSES)
    all_videos = sorted(p for s in splits.values() for p, _ in s)
    assert len(all_videos) == 12 and splits['test'] and splits['train']
    assert split_files.read_class_folders(root, test_percent=30) == (names, splits)  # deterministic
    builder = tfds_builders.build('video_folder', tmp_path / 'tfds', root=str(root), layout='folder',
                             test_percent=30, resize_short=12, min_frames=14)
    report = tfds_builders.load_report(builder)
    lengths = {f'v_{c}_g{g:02d}_c01.avi': 8 + 2 * g + i for i, c in enumerate(CLASSES) for g in range(1, 5)}
    too_short = sorted(name for name, n in lengths.items() if n < 14)
    assert sorted(pathlib.Path(b['path']).name for b in report['bad_videos']) == too_short
    assert all(b['reason'].startswith('too short') for b in report['bad_videos'])
    assert sum(report['num_videos'].values()) == 12 - len(too_short)
