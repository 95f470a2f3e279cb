"""Shared test fixtures: the ../shared folder, the tiny config and the reference weight recipe."""
import os
import pathlib
import sys

import pytest

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
REPO = pathlib.Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # `configs` is imported as a package by the config files


def shared_dir() -> pathlib.Path:
    """The shared folder beside the checkout (override with VTN_SHARED_DIR)."""
    return pathlib.Path(os.environ.get('VTN_SHARED_DIR', REPO.parent / 'shared'))


@pytest.fixture(scope='session')
def shared() -> pathlib.Path:
    path = shared_dir()
    assert path.is_dir(), f'the shared folder {path} is missing (set VTN_SHARED_DIR)'
    return path


@pytest.fixture(scope='session')
def reference_tool(shared):
    """The authors'-checkpoint weight recipe (shared/tools/reference_state_dict.py, numpy only)."""
    sys.path.insert(0, str(shared / 'tools'))
    import reference_state_dict  # pylint: disable=import-outside-toplevel
    return reference_state_dict


@pytest.fixture()
def tiny_config():
    from configs import tiny  # pylint: disable=import-outside-toplevel
    return tiny.get_config()
