"""Shared test fixtures and helpers: the tiny config, the tiny dataset and exports made once per session (per
xdist worker), the parity fixture folder, a sample video, and running a command in-process. Nothing outside the
repository is read.

XLA compiles with most of its optimisations off in the test processes: on the tiny models compiling dominates and
the passes cost more than they save (tests/test_models_vtn.py: 126 -> 52 CPU-s). Tests marked `optimized` (parity
with the authors' outputs, hundreds of training steps) compile as a user's run does. Subprocesses are unaffected.
"""
import os
import pathlib
import shutil

import jax
import numpy as np
import onnx
import onnx.numpy_helper
import pytest

import export_helpers
from vtn_jax.configs import tiny
from vtn_jax.data import synthetic
from vtn_jax.data import tfds_builders
from vtn_jax.data import video_io
from vtn_jax.tools import cli

DATA = pathlib.Path(__file__).resolve().parent / 'data'

jax.config.update('jax_disable_most_optimizations', True)


@pytest.fixture(autouse=True)
def _xla_optimisations(request):
    """XLA's optimisations on for a test marked `optimized` (a program compiled before keeps how it was built)."""
    if request.node.get_closest_marker('optimized') is None:
        yield
        return
    jax.config.update('jax_disable_most_optimizations', False)
    try:
        yield
    finally:
        jax.config.update('jax_disable_most_optimizations', True)


def parity_dir() -> pathlib.Path:
    """The parity fixtures: $VTN_PARITY_DIR (any folder of fixtures in the same format), else tests/data/parity."""
    return pathlib.Path(os.environ.get('VTN_PARITY_DIR') or DATA / 'parity')


def extra_videos() -> list:
    """Real video files for optional checks: every file in $VTN_TEST_VIDEOS (a folder); none without it."""
    folder = os.environ.get('VTN_TEST_VIDEOS')
    return sorted(p for p in pathlib.Path(folder).iterdir() if p.is_file()) if folder else []


def run_command(module, *args) -> tuple[int, str]:
    """Runs a command (`vtn_jax.tools.<module>`) in this process as its console script would.

    Returns:
        (exit status, error message): bad input gives (1, 'error: <one line>'); success (0, '').
    """
    with pytest.raises(SystemExit) as exited:
        cli.run(module.main, [f'vtn-{module.__name__.rsplit(".", 1)[-1]}', *map(str, args)],
                common=getattr(module, 'COMMON', ()))
    code = exited.value.code
    if isinstance(code, str):
        return 1, code
    return code or 0, ''


@pytest.fixture()
def tiny_config():
    return tiny.get_config()


@pytest.fixture(scope='session')
def tiny_data_dir(tmp_path_factory) -> pathlib.Path:
    """A TFDS data directory holding synthetic_actions/tiny (configs/tiny.py's data: 48 train and 16 test videos),
    built once; every test that reads the tiny dataset points `config.data.data_dir` here and only reads it."""
    data_dir = tmp_path_factory.mktemp('tiny_tfds')
    tfds_builders.build('synthetic_actions', data_dir, 'tiny')
    return data_dir


@pytest.fixture(scope='session')
def sample_video(tmp_path_factory) -> pathlib.Path:
    """A 120-frame 160x120 MJPG AVI at 24 FPS of moving textured shapes (a real file for the commands)."""
    frames = [synthetic.make_video(i, seed=7, num_frames=30, height=120, width=160)[0] for i in range(4)]
    path = tmp_path_factory.mktemp('videos') / 'sample.avi'
    video_io.write_video(path, np.concatenate(frames), fps=24.0)
    return path


@pytest.fixture(scope='session')
def rgb(tmp_path_factory):
    """The tiny model's float NHWC export of all parts with FP16 and INT8 variants (made once)."""
    return export_helpers.rgb_export(tmp_path_factory)


@pytest.fixture(scope='session')
def bgr_nchw(tmp_path_factory):
    """The tiny model's uint8 BGR NCHW export of the whole model and the encoder (made once)."""
    return export_helpers.bgr_nchw_export(tmp_path_factory)


@pytest.fixture(scope='session')
def whole_variants(rgb, bgr_nchw, tmp_path_factory):
    """{variant: export folder} of every whole-model IR variant: float RGB NHWC / NCHW, uint8 RGB / BGR x NHWC /
    NCHW (the rgb and bgr_nchw exports, and four exports of the whole part alone; made once)."""
    return {'float_nhwc': rgb[3], 'uint8_bgr_nchw': bgr_nchw[3],
            **export_helpers.whole_variant_exports(tmp_path_factory)}


@pytest.fixture(scope='session')
def omz(tmp_path_factory):
    """The tiny model (224 crop) exported for Open Model Zoo's demo (`--omz`; made once)."""
    return export_helpers.omz_export(tmp_path_factory)


@pytest.fixture()
def perturbed(rgb, tmp_path):
    """A copy of the rgb export whose whole.onnx has one weight tensor changed (the IR is untouched)."""
    config, _, variables, out, _ = rgb
    copy = tmp_path / 'perturbed'
    shutil.copytree(out, copy)
    proto = onnx.load(str(copy / 'whole.onnx'))
    largest = max(proto.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    array = onnx.numpy_helper.to_array(largest).copy()
    array += 0.05 * np.abs(array).max()
    largest.CopyFrom(onnx.numpy_helper.from_array(array, largest.name))
    onnx.save(proto, str(copy / 'whole.onnx'))
    return config, variables, copy
