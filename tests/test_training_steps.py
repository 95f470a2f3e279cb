"""The jitted training step: a uint8 batch normalised on the device trains like the host-normalised float batch,
the step imports no input pipeline, and the bf16 config tracks the float32 loss curve."""
import subprocess
import sys

import jax
import numpy as np
import pytest

from vtn_jax import distributed
from vtn_jax.configs import bf16
from vtn_jax.configs import tiny
from vtn_jax.data import frames as frames_lib
from vtn_jax.data import synthetic
from vtn_jax.models import vtn as model_lib
from vtn_jax.training import state as state_lib
from vtn_jax.training import steps


def make_step(config):
    model = model_lib.create_model(config.model)
    tx = state_lib.create_optimizer(config.optim)
    step = jax.jit(lambda s, b: steps.train_step(s, b, model=model, tx=tx, learning_rate=config.optim.learning_rate,
                                                 mean=tuple(config.data.mean), std=tuple(config.data.std)))
    state = state_lib.create_train_state(config, model, jax.random.key(0), distributed.create_mesh())
    return step, state


@pytest.fixture(scope='module')
def config():
    """The tiny config at a learning rate that moves the loss within 200 steps."""
    config = tiny.get_config()
    config.optim.learning_rate = 1e-3
    return config


@pytest.fixture(scope='module')
def f32_step(config):
    """The float32 step and initial state, shared: compiling the tiny step costs far more than 200 steps."""
    return make_step(config)


def clips(config, count, seed=0):
    """`count` synthetic_actions clips at the tiny config's size (uint8) and their labels."""
    made = [synthetic.make_video(i, seed=seed, num_frames=config.data.num_frames, height=config.data.crop_size,
                                 width=config.data.crop_size, num_classes=config.model.num_classes)
            for i in range(count)]
    return np.stack([v for v, _ in made]), np.asarray([label for _, label in made], np.int32)


def test_a_uint8_batch_trains_like_the_host_normalised_batch(config, f32_step):
    step, state = f32_step
    video, label = clips(config, config.train.batch_size)
    host = frames_lib.normalize(video, config.data.mean, config.data.std)  # the old batches: float32
    state_u8, metrics_u8 = step(state, {'video': video, 'label': label})
    state_f32, metrics_f32 = step(state, {'video': host, 'label': label})
    assert video.dtype == np.uint8 and host.dtype == np.float32
    np.testing.assert_allclose(float(metrics_u8['loss']), float(metrics_f32['loss']), rtol=1e-6)
    # Adam's first step moves a parameter by +-lr whatever its gradient's size, so where a gradient is ~0 the float32
    # rounding of the input can move it differently (at most 2 lr); everywhere else the two steps agree.
    diffs = np.concatenate([np.abs(np.asarray(a) - np.asarray(b)).ravel() for a, b in zip(
        jax.tree_util.tree_leaves(state_u8.params), jax.tree_util.tree_leaves(state_f32.params))])
    assert (diffs <= 1e-6).mean() > 0.999 and diffs.max() <= 2 * config.optim.learning_rate


def test_the_step_imports_no_input_pipeline():
    """bench/gpu_check.py runs the step where TensorFlow, clu and orbax are not installed."""
    code = ('import sys; import vtn_jax.training.steps\n'
            'print(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_datasets", "clu",'
            ' "orbax") or m == "vtn_jax.data.input_pipeline"))')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == '[]'


# 200 steps of the tiny model take about 8 s per dtype on this 2-core CPU (30-40 ms a step); compiling each step
# (about 40 CPU-seconds here) costs more than the steps, so the float32 step is shared with the test above.
BF16_STEPS = 200
BF16_WINDOW = 20  # the loss curves are compared as 20-step means (single steps differ by batch noise)
# Largest |bf16 - f32| of the windowed mean loss, relative to the initial loss (~2.0; the f32 curve falls to ~0.35):
# bf16 rounding makes the curves drift apart slowly, by 0.03 of the initial loss after 200 steps when measured.
BF16_TOLERANCE = 0.08


@pytest.mark.slow
@pytest.mark.optimized  # 400 steps: running, not compiling, is the cost
def test_the_bf16_config_tracks_the_float32_loss_curve(config, f32_step):
    assert bf16.get_config().model.dtype == 'bfloat16'
    video, label = clips(config, 64)
    order = np.random.default_rng(0).integers(0, len(label), (BF16_STEPS, config.train.batch_size))
    low_config = tiny.get_config()
    low_config.optim.learning_rate = config.optim.learning_rate
    low_config.model.dtype = bf16.get_config().model.dtype
    low_step = make_step(low_config)
    assert all(x.dtype == np.float32 for x in jax.tree_util.tree_leaves(low_step[1].params))  # params stay f32
    curves = {}
    for dtype, (step, state) in (('float32', f32_step), ('bfloat16', low_step)):
        losses = []
        for rows in order:
            state, metrics = step(state, {'video': video[rows], 'label': label[rows]})
            losses.append(metrics['loss'])
        curves[dtype] = np.asarray(jax.device_get(losses), np.float64).reshape(-1, BF16_WINDOW).mean(axis=1)
    f32, low = curves['float32'], curves['bfloat16']
    assert np.isfinite(low).all()
    assert f32[-1] < 0.8 * f32[0] and low[-1] < 0.8 * low[0]  # both learn
    assert np.abs(low - f32).max() <= BF16_TOLERANCE * f32[0], (f32, low)
