"""A batch-1 decoder IR made batch-B: every window's logits equal the batch-1 model's (f32), any batch size, and
models that move their batch axis are refused with one line."""
import numpy as np
import openvino as ov
import openvino.opset13 as opset
import pytest

from vtn_jax.errors import UserError
from vtn_jax.inference import decoder_batch
from vtn_jax.inference import openvino_backend


@pytest.fixture(scope='module')
def decoder(rgb):
    _, model, variables, out, _ = rgb
    core = ov.Core()
    return model, variables, core, core.read_model(str(out / 'decoder.xml'))


def windows(model, count, seed=0):
    return np.random.default_rng(seed).normal(size=(count, model.num_steps, model.embed_dim)).astype(np.float32)


def run(core, ov_model, x, batch):
    compiled = openvino_backend.compile_openvino(ov_model, 'f32', core=core)
    return np.concatenate([compiled({0: x[i:i + batch]})[0] for i in range(0, len(x), batch)])


def test_each_window_of_a_batch_gets_the_batch_1_logits(decoder):
    model, _, core, ov_model = decoder
    x = windows(model, 6)
    alone = run(core, ov_model, x, 1)  # the export's verification checks these against the JAX model
    for batch in (2, 3, 6):
        batched = decoder_batch.with_batch(ov_model, batch)
        assert batched.inputs[0].get_shape() == [batch, model.num_steps, model.embed_dim]
        np.testing.assert_array_equal(run(core, batched, x, batch), alone)
    assert ov_model.inputs[0].get_shape()[0] == 1  # the model given is left as it was


def test_a_dynamic_batch_takes_any_count_and_windows_stay_independent(decoder):
    model, _, core, ov_model = decoder
    compiled = openvino_backend.compile_openvino(decoder_batch.with_batch(ov_model, None), 'f32', core=core)
    x = windows(model, 5, seed=1)
    alone = run(core, ov_model, x, 1)
    np.testing.assert_array_equal(compiled({0: x})[0], alone)
    np.testing.assert_array_equal(compiled({0: x[:2]})[0], alone[:2])
    changed = x.copy()
    changed[3] += 1.0
    out = compiled({0: changed})[0]
    np.testing.assert_array_equal(np.delete(out, 3, axis=0), np.delete(alone, 3, axis=0))
    assert np.abs(out[3] - alone[3]).max() > 1e-3


def test_models_that_cannot_be_batched_are_one_line_errors(decoder):
    x = opset.parameter([1, 4, 6], np.float32, name='x')
    squeezed = opset.reshape(x, opset.constant(np.array([4, 6], np.int64)), False)  # the batch axis goes away
    moves = ov.Model([opset.relu(squeezed)], [x])
    with pytest.raises(UserError, match=r'maps \[1,4,6\] to \[4, 6\], which moves the batch axis'):
        decoder_batch.with_batch(moves, 2)
    y = opset.parameter([2, 4], np.float32, name='y')
    with pytest.raises(UserError, match='does not start with batch 1'):
        decoder_batch.with_batch(ov.Model([opset.relu(y)], [y]), 4)
    with pytest.raises(UserError, match='integer >= 1 or None'):
        decoder_batch.with_batch(decoder[3], 0)
