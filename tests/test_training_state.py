"""Trainer pieces without data: Adam with PyTorch's L2 decay, the plateau rule against torch's
ReduceLROnPlateau, the schedule in epochs, the frozen position row, the KD loss, the frozen teacher."""
import functools
import json

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
from vtn_jax.training import steps


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


def plateau_config(**fields):
    optim = default.get_config().optim
    optim.update(fields)
    return optim


def our_lrs(optim, metrics, resume_at=None):
    """Our LR after each metric; with `resume_at`, the plateau is rebuilt from its state_dict there (a resume)."""
    plateau, lrs = state_lib.create_plateau(optim), []
    for i, value in enumerate(metrics):
        if i == resume_at:
            plateau = state_lib.create_plateau(optim).load_state_dict(
                json.loads(json.dumps(plateau.state_dict())))  # through JSON, as the checkpoint's meta
        plateau.step(value)
        lrs.append(plateau.learning_rate)
    return lrs


# A metric sequence with improvements, ties at the threshold, plateaus and recoveries.
METRICS = [0.50, 0.52, 0.515, 0.53, 0.53, 0.531, 0.52, 0.54, 0.5401, 0.54, 0.54, 0.56, 0.57, 0.57, 0.565,
           0.565, 0.58, 0.58, 0.58, 0.575, 0.57, 0.57, 0.59, 0.60, 0.60, 0.60, 0.60, 0.61, 0.61, 0.61]
SETTINGS = [
    dict(plateau_mode='max', plateau_threshold=0.01, plateau_threshold_mode='abs', plateau_patience=2),  # authors
    dict(plateau_mode='min', plateau_threshold=1e-4, plateau_threshold_mode='rel', plateau_patience=1),
    dict(plateau_mode='max', plateau_threshold=0.02, plateau_threshold_mode='rel', plateau_patience=0,
         plateau_cooldown=2),
    dict(plateau_mode='min', plateau_threshold=0.005, plateau_threshold_mode='abs', plateau_patience=1,
         plateau_cooldown=1, plateau_min_lr=2e-7),
]


@pytest.mark.parametrize('fields', SETTINGS, ids=['max_abs', 'min_rel', 'max_rel_cooldown', 'min_abs_min_lr'])
def test_plateau_follows_torch_reduce_lr_on_plateau(fields):
    torch = pytest.importorskip('torch')
    optim = plateau_config(**fields, plateau_metric='loss' if fields['plateau_mode'] == 'min' else 'clip_top1')
    metrics = METRICS if fields['plateau_mode'] == 'max' else [1 - m for m in METRICS]
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([parameter], lr=optim.learning_rate)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=fields['plateau_mode'], factor=optim.plateau_factor, patience=fields['plateau_patience'],
        threshold=fields['plateau_threshold'], threshold_mode=fields['plateau_threshold_mode'],
        cooldown=fields.get('plateau_cooldown', 0), min_lr=fields.get('plateau_min_lr', 0.0), eps=optim.plateau_eps)
    theirs = []
    for value in metrics:
        scheduler.step(value)
        theirs.append(optimizer.param_groups[0]['lr'])
    assert len(set(theirs)) > 1  # the sequence does cut
    assert our_lrs(optim, metrics) == theirs
    assert our_lrs(optim, metrics, resume_at=13) == theirs  # resumed from its saved state


def test_plateau_cuts_after_more_than_patience_bad_evaluations():
    # Written out (no torch): patience 2, min, rel 1e-4. Improvements at 1.0 and 0.9; three evaluations without
    # improvement (more than 2) cut x0.1 at the 5th; three more cut again at the 8th.
    optim = plateau_config(plateau_patience=2)
    losses_ = [1.0, 0.9, 0.95, 0.95, 0.95, 0.96, 0.97, 0.98, 0.99]
    scales = [lr / optim.learning_rate for lr in our_lrs(optim, losses_)]
    np.testing.assert_allclose(scales, [1, 1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01], rtol=1e-12)


def test_plateau_metric_and_mode_must_agree():
    with pytest.raises(ValueError, match="plateau_metric='clip_top1' needs optim.plateau_mode='max'"):
        state_lib.create_plateau(plateau_config(plateau_metric='clip_top1'))
    with pytest.raises(ValueError, match="plateau_metric must be one of"):
        state_lib.create_plateau(plateau_config(plateau_metric='accuracy'))


def test_schedule_in_epochs():
    config = default.get_config()  # batch 32
    assert state_lib.resolve_schedule(config, 1000) == state_lib.Schedule(100_000, 2_000, 10, 31)
    config.train.num_train_epochs = 50
    config.train.eval_every_epochs = 0.5
    config.optim.plateau_patience_epochs = 10  # 31 steps an epoch, evaluations every 16: 19 evaluations
    assert state_lib.resolve_schedule(config, 1000) == state_lib.Schedule(50 * 31, 16, 19, 31)
    config.train.eval_every_epochs = 1
    config.optim.plateau_patience_epochs = 10
    schedule = state_lib.resolve_schedule(config, 3200)
    assert (schedule.eval_every_steps, schedule.plateau_patience, schedule.num_train_steps) == (100, 10, 5000)


def test_position_table_row_zero_never_trains(tiny_config):
    # The authors' nn.Embedding(padding_idx=0): row 0 gets no gradient, and with weight decay on a zero row it
    # stays exactly 0 through training, while the other rows train.
    config = tiny_config
    config.optim.weight_decay = 0.1
    model = model_lib.create_model(config.model)
    state = state_lib.create_train_state(config, model, jax.random.key(0), distributed.create_mesh())
    step = jax.jit(functools.partial(steps.train_step, model=model, tx=state_lib.create_optimizer(config.optim),
                                     mean=config.data.mean, std=config.data.std,
                                     learning_rate=config.optim.learning_rate))
    before = np.asarray(state.params['decoder']['position_table'])
    assert np.all(before[0] == 0)
    for i in range(2):
        batch = {'video': jax.random.normal(jax.random.key(10 + i), (2, 8, 32, 32, 3)), 'label': jnp.array([0, 1])}
        state, _ = step(state, batch)
    after = np.asarray(state.params['decoder']['position_table'])
    assert np.all(after[0] == 0)
    assert np.abs(after[1:] - before[1:]).min() > 0  # every other entry moved


def test_distillation_loss_by_hand():
    student = jnp.array([[1.0, 2.0, 0.5]])
    teacher = jnp.array([[3.0, 0.0, 1.0]])
    t = 2.0
    p = np.exp(np.array([3.0, 0.0, 1.0]) / t)
    p /= p.sum()
    q = np.exp(np.array([1.0, 2.0, 0.5]) / t)
    q /= q.sum()
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
        step = functools.partial(steps.train_step, model=model, tx=state_lib.create_optimizer(config.optim),
                                     mean=config.data.mean, std=config.data.std,
                                 learning_rate=1e-4, teacher=teacher, kd_temperature=8.0, kd_weight=0.4)
        _, m = step(state, batch, tv)
        return m['loss']

    grads = jax.jit(jax.grad(total_loss))(teacher_vars)
    assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree_util.tree_leaves(grads))
    step = jax.jit(functools.partial(steps.train_step, model=model, tx=state_lib.create_optimizer(config.optim),
                                     mean=config.data.mean, std=config.data.std,
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
