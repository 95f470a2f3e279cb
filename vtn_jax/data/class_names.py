"""Class-name files: one name per line, in class-index order."""
import pathlib
from typing import Optional

MAX_BYTES = 16 << 20  # far more than any label list


def read_class_names(path, num_classes: Optional[int] = None) -> list[str]:
    """Reads a class-names file; blank lines at the end are ignored, an empty line inside is an error.

    Args:
        path: the text file.
        num_classes: if given, the number of names the model needs (a mismatch names both counts).

    Raises:
        FileNotFoundError, ValueError: naming the file and what is wrong with it.
    """
    path = pathlib.Path(path)
    if path.is_dir():
        raise IsADirectoryError(f'class-names file {path} is a folder: give the text file, one name per line')
    if not path.is_file():
        raise FileNotFoundError(f'class-names file {path} does not exist')
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f'class-names file {path} is {path.stat().st_size} bytes: not a list of class names')
    try:
        names = [line.strip() for line in path.read_text(encoding='utf-8').splitlines()]
    except UnicodeDecodeError as e:
        raise ValueError(f'class-names file {path} is not UTF-8 text: {e}') from e
    while names and not names[-1]:
        names.pop()  # a trailing newline or blank lines at the end are not classes
    if not all(names):
        raise ValueError(f'class-names file {path} has an empty line at line {names.index("") + 1}')
    if num_classes is not None and len(names) != num_classes:
        raise ValueError(f'class-names file {path} has {len(names)} names but the model has {num_classes} '
                         'classes (one name per line, in class-index order)')
    return names


def default_class_names(num_classes: int) -> list[str]:
    """'class 0', 'class 1', ... for a model without a names file."""
    return [f'class {i}' for i in range(num_classes)]


def write_class_names(path, names) -> None:
    """Writes one name per line."""
    pathlib.Path(path).write_text('\n'.join(names) + '\n', encoding='utf-8')
