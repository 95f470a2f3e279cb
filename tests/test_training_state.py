"""Trainer pieces without data: Adam with PyTorch's L2 decay, the plateau rule, the KD loss, frozen teacher."""
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from vtn_jax.configs import default
from vtn_jax.models import vtn as model_lib
from vtn_jax import distributed
from vtn_jax.training import losses
from vtn_jax.training import state as state_lib
from vtn_jax.training import trainer


def torch_adam_l2(param, grads, lr, b1, b2, eps, wd):
    """torch.optim.Adam(weight_decay=wd) written out: g += wd * p, then bias-corrected Adam."""
    m = v = np.zeros_like(param)
    for t, g in enumerate(grads, start=1):
        g = g + wd * param
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        param = param - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return param


def test_optimizer_is_adam_with_l2_added_to_the_gradient():
    optim = default.get_config().optim
    optim.weight_decay = 0.1  # large, so AdamW-style decoupled decay would differ clearly
    tx = state_lib.create_optimizer(optim)
    rng = np.random.default_rng(0)
    param = rng.normal(size=5)
    grads = [rng.normal(size=5) for _ in range(4)]
    p, state = jnp.asarray(param), tx.init(jnp.asarray(param))
    for g in grads:
        updates, state = tx.update(jnp.asarray(g), state, p)
        p = optax.apply_updates(p, updates)
    expected = torch_adam_l2(param, grads, optim.learning_rate, optim.b1, optim.b2, optim.eps, 0.1)
    np.testing.assert_allclose(np.asarray(p), expected, rtol=1e-5, atol=1e-9)
    adamw = optax.adamw(optim.learning_rate, optim.b1, optim.b2, optim.eps, weight_decay=0.1)
    q, s = jnp.asarray(param), adamw.init(jnp.asarray(param))
    for g in grads:
        u, s = adamw.update(jnp.asarray(g), s, q)
        q = optax.apply_updates(q, u)
    assert np.abs(np.asarray(q) - expected).max() > 1e-6  # and it is not AdamW


def test_plateau_cuts_the_learning_rate_after_patience():
    optim = default.get_config().optim
    optim.plateau_patience = 2
    plateau = state_lib.create_plateau(optim)
    state = plateau.init({})
    scales = []
    for loss in [1.0, 0.9, 0.95, 0.95, 0.95, 0.96, 0.97]:
        state = state_lib.update_plateau(plateau, state, jnp.float32(loss))
        scales.append(float(state.scale))
    # Improvements at 1.0 and 0.9; two evaluations without improvement -> x0.1; two more -> x0.01.
    np.testing.assert_allclose(scales, [1, 1, 1, 0.1, 0.1, 0.01, 0.01], rtol=1e-6)


def test_distillation_loss_by_hand():
    student = jnp.array([[1.0, 2.0, 0.5]])
    teacher = jnp.array([[3.0, 0.0, 1.0]])
    t = 2.0
    p = np.exp(np.array([3.0, 0.0, 1.0]) / t); p /= p.sum()
    q = np.exp(np.array([1.0, 2.0, 0.5]) / t); q /= q.sum()
    expected = t * t * np.sum(p * np.log(p / q))
    np.testing.assert_allclose(losses.distillation_loss(student, teacher, t), expected, rtol=1e-5)
    assert float(losses.distillation_loss(teacher, teacher, 8.0)) == pytest.approx(0.0, abs=1e-6)


def test_teacher_gets_no_gradient_and_no_batch_norm_update(tiny_config):
    config = tiny_config
    model = model_lib.create_model(config.model)
    teacher = model_lib.create_two_stream(config.model)
    mesh = distributed.create_mesh()
    state = state_lib.create_train_state(config, model, jax.random.key(0), mesh)
    rgb = model_lib.init_variables(teacher.rgb, jax.random.key(1), image_size=32)
    motion = model_lib.init_variables(teacher.motion, jax.random.key(2), image_size=32)
    teacher_vars = model_lib.assemble_two_stream(rgb, motion)
    batch = {'video': jax.random.normal(jax.random.key(3), (4, 8, 32, 32, 3)), 'label': jnp.array([0, 1, 2, 3])}

    def total_loss(tv):
        step = functools.partial(trainer.train_step, model=model, tx=state_lib.create_optimizer(config.optim),
                                 learning_rate=1e-4, teacher=teacher, kd_temperature=8.0, kd_weight=0.4)
        _, m = step(state, batch, tv)
        return m['loss']

    grads = jax.jit(jax.grad(total_loss))(teacher_vars)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree_util.tree_leaves(grads))
    step = jax.jit(functools.partial(trainer.train_step, model=model, tx=state_lib.create_optimizer(config.optim),
                                     learning_rate=1e-4, teacher=teacher))
    new_state, m = step(state, batch, teacher_vars)
    assert float(m['kd_loss']) > 0 and np.isfinite(float(m['ce_loss']))
    np.testing.assert_allclose(float(m['loss']), float(m['ce_loss']) + 0.4 * float(m['kd_loss']), rtol=1e-5)
    # The student's BatchNorm statistics moved; the teacher's are arguments, returned nowhere.
    before = state.batch_stats['encoder']['stem_bn']['mean']
    assert np.abs(np.asarray(new_state.batch_stats['encoder']['stem_bn']['mean'] - before)).max() > 0


def test_batch_size_must_divide_by_devices():
    with pytest.raises(ValueError, match='must divide by the number of devices'):
        state_lib.check_batch_size(jax.device_count() + 1 if jax.device_count() > 1 else 0.5)
