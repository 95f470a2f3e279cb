"""The train state and what it is made of: Adam with PyTorch's L2 decay, the plateau rule, and a replicated
initialisation on the ('data',) mesh (every leaf a global array, as orbax needs)."""
from typing import Any, Optional

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from vtn_jax import distributed
from vtn_jax.models import vtn as vtn_lib


@flax.struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: the input position is `step` (one batch per step)."""
    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    plateau_state: Any  # optax.contrib.reduce_on_plateau state, updated with the validation loss
    rng: jax.Array  # raw uint32 key data (orbax-friendly)

    @property
    def variables(self):
        return {'params': self.params, 'batch_stats': self.batch_stats}


def create_optimizer(optim: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """Adam with PyTorch's `weight_decay`: L2 added to the gradient before the moments (not AdamW).

    The learning rate is applied here; the plateau scale multiplies the update in `train_step`.
    """
    parts = []
    if optim.grad_clip_norm > 0:
        parts.append(optax.clip_by_global_norm(optim.grad_clip_norm))
    if optim.weight_decay > 0:
        parts.append(optax.add_decayed_weights(optim.weight_decay))
    parts += [optax.scale_by_adam(b1=optim.b1, b2=optim.b2, eps=optim.eps),
              optax.scale(-optim.learning_rate)]
    return optax.chain(*parts)


def create_plateau(optim: ml_collections.ConfigDict) -> optax.GradientTransformationExtraArgs:
    """LR x factor after `patience` evaluations without improvement of the validation loss."""
    return optax.contrib.reduce_on_plateau(factor=optim.plateau_factor, patience=optim.plateau_patience,
                                           rtol=optim.plateau_rtol, atol=0.0, cooldown=optim.plateau_cooldown)


def update_plateau(plateau, plateau_state, value):
    """Feeds one validation loss to the plateau rule (STYLE.md 11: we call `update(..., value=)` ourselves)."""
    _, new_state = plateau.update(updates={}, state=plateau_state, value=value)
    return new_state


def check_batch_size(global_batch: int, what: str = 'train.batch_size'):
    devices, processes = jax.device_count(), jax.process_count()
    if global_batch % devices:
        raise ValueError(f'config.{what}={global_batch} must divide by the number of devices ({devices}); '
                         f'use a multiple of {devices}')
    return global_batch // processes


def create_train_state(config, model, rng, mesh, *, image_size: Optional[int] = None) -> TrainState:
    """Initialises a replicated TrainState (jitted, so every leaf is a global array: orbax needs that)."""
    tx, plateau = create_optimizer(config.optim), create_plateau(config.optim)
    image_size = image_size or config.data.crop_size

    def init(key):
        init_key, state_key = jax.random.split(key)
        variables = vtn_lib.init_variables(model, init_key, image_size=image_size)
        params = variables['params']
        return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                          batch_stats=variables.get('batch_stats', {}), opt_state=tx.init(params),
                          plateau_state=plateau.init(params), rng=jax.random.key_data(state_key))

    return jax.jit(init, out_shardings=distributed.replicated(mesh))(rng)


def abstract_train_state(config, model, mesh) -> TrainState:
    """Shapes, dtypes and shardings of the TrainState, for restoring without initialising."""
    shapes = jax.eval_shape(lambda: create_train_state(config, model, jax.random.key(0), mesh))
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=distributed.replicated(mesh)), shapes)
