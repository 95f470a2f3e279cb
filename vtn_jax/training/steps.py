"""The jitted training step, pure and free of the input pipeline: TensorFlow, clu and orbax are not imported, so
`bench/gpu_check.py` times exactly what `vtn-train` runs on a machine that has only JAX, flax and optax.

A batch's video is uint8 pixels (the input pipeline's batches) or already normalised float frames; uint8 is
normalised here, on the device, with the config's mean and std (`vtn_jax.data.frames.model_input`).
"""
import jax
import jax.numpy as jnp
import optax

from vtn_jax.data import frames as frames_lib
from vtn_jax.training import losses
from vtn_jax.training.state import TrainState


def train_step(state: TrainState, batch, teacher_variables=None, *, model, tx, learning_rate: float, mean, std,
               teacher=None, kd_temperature: float = 8.0, kd_weight: float = 0.4):
    """One optimisation step. Pure: returns the new state and the step's metrics (device arrays).

    `mean` and `std` (config.data) normalise a uint8 batch on the device. With a `teacher`, the loss is
    CE + kd_weight * T^2 * KL(teacher || student) on the same augmented clip; the teacher runs in eval mode
    (no BatchNorm update) and receives no gradient.
    """
    dropout_rng = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)
    video = frames_lib.model_input(batch['video'], mean, std)

    def loss_fn(params):
        logits, updates = model.apply({'params': params, 'batch_stats': state.batch_stats}, video,
                                      train=True, rngs={'dropout': dropout_rng}, mutable=['batch_stats'])
        ce = losses.cross_entropy_loss(logits, batch['label'])
        aux = {'ce_loss': ce}
        loss = ce
        if teacher is not None:
            teacher_logits = jax.lax.stop_gradient(teacher.apply(teacher_variables, video, train=False))
            kd = losses.distillation_loss(logits, teacher_logits, kd_temperature)
            aux['kd_loss'] = kd
            loss = ce + kd_weight * kd
        return loss, (logits, updates['batch_stats'], aux)

    (loss, (logits, batch_stats, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    scale = state.lr_scale
    updates = jax.tree.map(lambda u: u * scale, updates)
    params = optax.apply_updates(state.params, updates)
    metrics = {'loss': loss, 'accuracy': jnp.mean(jnp.argmax(logits, -1) == batch['label']),
               'learning_rate': learning_rate * scale, **aux}
    new_state = state.replace(step=state.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state)
    return new_state, metrics
