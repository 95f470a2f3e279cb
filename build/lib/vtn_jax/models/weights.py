"""One loud matcher for every weight source, and reading `.npz` files of arrays.

Every loader (the authors' `.pth`/`.npz`, torchvision ResNets, our flat `.npz`, orbax workdirs) states the
keys and shapes the model needs and hands over what the file holds; `match_keys` lists every key missing on
either side and every shape that differs, and raises. Nothing is loaded half-way.
"""
import pathlib
import zipfile
from typing import Mapping

import numpy as np

# What np.load raises on a file that is not a readable .npz (truncated, not a zip, pickled objects).
_NPZ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile)
_SHOWN = 20  # problems listed in one message


class CheckpointMismatchError(ValueError):
    """A weights file that cannot be read or does not fit the configured model; the message names every key."""


def read_npz(path) -> dict[str, np.ndarray]:
    """Reads an `.npz` of arrays (never pickled objects); CheckpointMismatchError naming the file otherwise."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except _NPZ_ERRORS as e:
        raise CheckpointMismatchError(f'cannot read {path} as an .npz of arrays: {type(e).__name__}: {e}') from e


def match_keys(expected: Mapping[str, tuple], given: Mapping[str, object], *, source: str, context: str = '',
               ignore: tuple[str, ...] = ()) -> None:
    """Checks that `given` has exactly the keys of `expected`, each with the expected shape.

    Args:
        expected: {key: shape} the model needs.
        given: {key: array} the file holds (anything with `.shape`).
        source: the file or folder, for the message.
        context: a description of the model, for the message.
        ignore: key prefixes of `given` that are allowed to be left over (e.g. a classifier being replaced).

    Raises:
        CheckpointMismatchError: listing every missing key, unexpected key and shape mismatch.
    """
    problems = [f'missing key {k} (model expects shape {tuple(shape)})' for k, shape in expected.items()
                if k not in given]
    problems += [f'shape mismatch for {k}: checkpoint has {tuple(np.shape(given[k]))}, the model expects '
                 f'{tuple(shape)}' for k, shape in expected.items()
                 if k in given and tuple(np.shape(given[k])) != tuple(shape)]
    problems += [f'unexpected key {k} with shape {tuple(np.shape(given[k]))}' for k in sorted(given)
                 if k not in expected and not k.startswith(ignore or ('\0',))]
    if problems:
        shown = '\n  '.join(problems[:_SHOWN])
        more = f'\n  ... and {len(problems) - _SHOWN} more' if len(problems) > _SHOWN else ''
        what = f' ({context})' if context else ''
        raise CheckpointMismatchError(f'{source} does not match the model{what}:\n  {shown}{more}')
