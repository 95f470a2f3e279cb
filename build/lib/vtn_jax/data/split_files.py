"""Split and annotation files of the public video datasets, parsed into (class names, {split: [(path, label)]}).

UCF-101 (`classInd.txt`, `trainlist0N.txt`, `testlist0N.txt`), HMDB-51 (`<class>_test_split<N>.txt`),
Kinetics-style CSVs (youtube_id, time_start, time_end, label, split) and a plain class-per-folder tree.
Pure Python: a malformed file raises `SplitFileError` naming the file and line.
"""
import csv
import pathlib
import zlib
from typing import Optional, Sequence

VIDEO_EXTENSIONS = ('.avi', '.mp4', '.mkv', '.webm', '.mov', '.mpg', '.mpeg', '.m4v', '.flv', '.3gp')
LAYOUTS = ('ucf101', 'hmdb51', 'kinetics', 'folder')
# Kinetics CSV `split` values -> TFDS split names.
_KINETICS_SPLITS = {'train': 'train', 'training': 'train', 'val': 'validation',
                    'valid': 'validation', 'validate': 'validation', 'validation': 'validation',
                    'test': 'test', 'testing': 'test'}


class SplitFileError(ValueError):
    """A split or annotation file that is malformed or disagrees with the class folders."""

    def __init__(self, path, line: Optional[int], problem: str):
        where = f'{path}:{line}' if line is not None else str(path)
        super().__init__(f'{where}: {problem}')


def _is_video(path: pathlib.Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS


def list_class_folders(root) -> list:
    """Returns the sorted names of the subfolders of `root` (one per class)."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f'video root {root} is not a directory')
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith('.'))


def _split_lines(path: pathlib.Path):
    """Yields (line_number, stripped line) for the non-blank lines of a text file."""
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                yield number, line.strip()


def read_ucf101_splits(root, split_number: int, splits_dir=None) -> tuple:
    """Reads UCF-101's classInd.txt, trainlist0N.txt and testlist0N.txt.

    Args:
        root: the video root with one folder per class.
        split_number: 1, 2 or 3.
        splits_dir: folder with the split files (default: root/ucfTrainTestlist if it exists,
            else root).

    Returns:
        (class_names, {'train': [(path, class_index)], 'test': [...]}) with absolute paths.

    Raises:
        SplitFileError: a malformed line, an unknown class or a wrong label (file and line), or a
            class folder that classInd.txt does not list.
    """
    root = pathlib.Path(root)
    splits_dir = pathlib.Path(splits_dir) if splits_dir else (
        root / 'ucfTrainTestlist' if (root / 'ucfTrainTestlist').is_dir() else root)
    class_file = splits_dir / 'classInd.txt'
    if not class_file.is_file():
        raise FileNotFoundError(f'UCF-101 class index {class_file} not found')
    names = []
    for number, line in _split_lines(class_file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) != len(names) + 1:
            raise SplitFileError(class_file, number,
                                 f'expected "{len(names) + 1} <ClassName>", got {line!r}')
        names.append(parts[1])
    index = {name: i for i, name in enumerate(names)}
    for folder in list_class_folders(root):
        if folder not in index and folder != splits_dir.name:
            raise SplitFileError(class_file, None,
                                 f'class folder {folder!r} in {root} is missing from it')
    splits = {}
    for split, prefix in (('train', 'trainlist'), ('test', 'testlist')):
        split_file = splits_dir / f'{prefix}{split_number:02d}.txt'
        if not split_file.is_file():
            raise FileNotFoundError(f'UCF-101 split file {split_file} not found')
        items = []
        for number, line in _split_lines(split_file):
            parts = line.split()
            if len(parts) not in (1, 2) or '/' not in parts[0]:
                raise SplitFileError(split_file, number,
                                     f'expected "<Class>/<video>.avi [label]", got {line!r}')
            class_name = parts[0].split('/')[0]
            if class_name not in index:
                raise SplitFileError(split_file, number,
                                     f'class {class_name!r} is not in {class_file.name}')
            if len(parts) == 2 and parts[1] != str(index[class_name] + 1):
                raise SplitFileError(split_file, number,
                                     f'label {parts[1]} disagrees with {class_file.name} '
                                     f'({class_name} is {index[class_name] + 1})')
            items.append((root / parts[0], index[class_name]))
        splits[split] = items
    return names, splits


def read_hmdb51_splits(root, split_number: int, splits_dir=None) -> tuple:
    """Reads HMDB-51's `<class>_test_split<N>.txt` files (flags 1 = train, 2 = test, 0 = unused).

    Args:
        root: the video root with one folder per class.
        split_number: 1, 2 or 3.
        splits_dir: folder with the split files (default: root/testTrainMulti_7030_splits if it
            exists, else root).

    Returns:
        (class_names, {'train': [(path, class_index)], 'test': [...]}).

    Raises:
        SplitFileError: a malformed line (file and line), a class folder without its split file,
            or a split file without its class folder.
    """
    root = pathlib.Path(root)
    splits_dir = pathlib.Path(splits_dir) if splits_dir else (
        root / 'testTrainMulti_7030_splits' if (root / 'testTrainMulti_7030_splits').is_dir() else root)
    suffix = f'_test_split{split_number}.txt'
    split_files = sorted(p for p in splits_dir.iterdir() if p.name.endswith(suffix))
    if not split_files:
        raise FileNotFoundError(f'no HMDB-51 split files *{suffix} in {splits_dir}')
    names = [p.name[:-len(suffix)] for p in split_files]
    folders = set(list_class_folders(root)) - {splits_dir.name}
    for folder in sorted(folders - set(names)):
        raise SplitFileError(splits_dir / f'{folder}{suffix}', None,
                             f'class folder {folder!r} has no split file')
    for split_file, name in zip(split_files, names):
        if name not in folders:
            raise SplitFileError(split_file, None, f'class folder {root / name} does not exist')
    splits = {'train': [], 'test': []}
    for label, (split_file, name) in enumerate(zip(split_files, names)):
        for number, line in _split_lines(split_file):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ('0', '1', '2'):
                raise SplitFileError(split_file, number,
                                     f'expected "<video>.avi <0|1|2>", got {line!r}')
            if parts[1] != '0':
                splits['train' if parts[1] == '1' else 'test'].append((root / name / parts[0], label))
    return names, splits


def read_kinetics_csv(root, annotation_files: Sequence) -> tuple:
    """Reads Kinetics-style CSVs (youtube_id, time_start, time_end, label, split; any order).

    A row's clip is found under `root` (any depth) as `<youtube_id>_<start:06d>_<end:06d>.<ext>`
    (the naming of the common Kinetics downloaders) or `<youtube_id>.<ext>`; a clip that is not
    there is kept in the list with its expected path, so it is reported as a bad video.

    Args:
        root: folder holding the clips.
        annotation_files: CSV paths.

    Returns:
        (class_names sorted, {split: [(path, class_index)]}) with split in train/validation/test.

    Raises:
        SplitFileError: a missing column (line 1) or an unknown split value (file and line).
    """
    root = pathlib.Path(root)
    clips = {}
    for path in sorted(root.rglob('*')):
        if _is_video(path):
            clips.setdefault(path.stem, path)
    rows = []
    for csv_path in annotation_files:
        csv_path = pathlib.Path(csv_path)
        with open(csv_path, newline='', encoding='utf-8') as f:
            reader = csv.DictReader(f)
            missing = {'youtube_id', 'time_start', 'time_end', 'label', 'split'} - set(reader.fieldnames or ())
            if missing:
                raise SplitFileError(csv_path, 1, f'missing column(s) {sorted(missing)}')
            for number, row in enumerate(reader, start=2):
                split = _KINETICS_SPLITS.get(row['split'].strip().lower())
                if split is None or not row['label'].strip():
                    raise SplitFileError(csv_path, number,
                                         f'bad split {row["split"]!r} or empty label {row["label"]!r}')
                try:
                    start, end = int(float(row['time_start'])), int(float(row['time_end']))
                except ValueError:
                    raise SplitFileError(csv_path, number, 'time_start/time_end are not numbers') from None
                stem = f'{row["youtube_id"]}_{start:06d}_{end:06d}'
                path = clips.get(stem) or clips.get(row['youtube_id']) or root / f'{stem}.mp4'
                rows.append((split, path, row['label'].strip()))
    names = sorted({label for _, _, label in rows})
    index = {name: i for i, name in enumerate(names)}
    splits = {}
    for split, path, label in rows:
        splits.setdefault(split, []).append((path, index[label]))
    return names, splits


def read_class_folders(root, test_percent: int) -> tuple:
    """Splits a plain class-per-folder tree: a video goes to 'test' if crc32(relative path) % 100
    < test_percent (stable when videos are added), else to 'train'."""
    root = pathlib.Path(root)
    names = list_class_folders(root)
    splits = {'train': [], 'test': []}
    for label, name in enumerate(names):
        for path in sorted(p for p in (root / name).rglob('*') if _is_video(p)):
            bucket = zlib.crc32(str(path.relative_to(root)).encode()) % 100
            splits['test' if bucket < test_percent else 'train'].append((path, label))
    return names, splits
