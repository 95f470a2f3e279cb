"""The train state and what it is made of: Adam with PyTorch's L2 decay, the plateau rule (torch's
ReduceLROnPlateau), the schedule in steps or epochs, and a replicated initialisation on the ('data',) mesh
(every leaf a global array, as orbax needs)."""
import dataclasses
import math
from typing import Any, Optional

import flax
import jax
import jax.numpy as jnp
import ml_collections
import optax

from vtn_jax import distributed
from vtn_jax.models import vtn as vtn_lib

PLATEAU_MODES = ('min', 'max')
PLATEAU_THRESHOLD_MODES = ('rel', 'abs')
# Metrics of `evaluation.evaluate` the plateau rule may watch, with the only mode that makes sense for each.
PLATEAU_METRICS = {'loss': 'min', 'clip_top1': 'max', 'clip_top5': 'max', 'video_top1': 'max', 'video_top5': 'max'}


@flax.struct.dataclass
class TrainState:
    """Everything a run needs to continue exactly: the input position is `step` (one batch per step)."""
    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    lr_scale: jax.Array  # float32 scalar: the plateau rule's learning rate / optim.learning_rate
    rng: jax.Array  # raw uint32 key data (orbax-friendly)

    @property
    def variables(self):
        return {'params': self.params, 'batch_stats': self.batch_stats}


def create_optimizer(optim: ml_collections.ConfigDict) -> optax.GradientTransformation:
    """Adam with PyTorch's `weight_decay`: L2 added to the gradient before the moments (not AdamW).

    The learning rate is applied here; the plateau rule's `lr_scale` multiplies the update in `train_step`.
    """
    parts = []
    if optim.grad_clip_norm > 0:
        parts.append(optax.clip_by_global_norm(optim.grad_clip_norm))
    if optim.weight_decay > 0:
        parts.append(optax.add_decayed_weights(optim.weight_decay))
    parts += [optax.scale_by_adam(b1=optim.b1, b2=optim.b2, eps=optim.eps),
              optax.scale(-optim.learning_rate)]
    return optax.chain(*parts)


@dataclasses.dataclass
class Plateau:
    """torch.optim.lr_scheduler.ReduceLROnPlateau, step for step, on the host in Python floats (as torch).

    `step(value)` after each evaluation: an evaluation is better when value < best * (1 - threshold) (mode
    'min', threshold_mode 'rel'), < best - threshold ('min', 'abs'), > best * (1 + threshold) ('max', 'rel')
    or > best + threshold ('max', 'abs'); otherwise `num_bad` grows. During a cooldown `num_bad` is reset.
    When `num_bad` EXCEEDS `patience` (the (patience + 1)-th bad evaluation in a row) the learning rate becomes
    max(lr * factor, min_lr), unless that changes it by eps or less, the cooldown starts and `num_bad` is reset.
    Its state (`state_dict`) is saved with every checkpoint, so a resumed run continues the same sequence.
    """
    learning_rate: float  # the current learning rate (starts at optim.learning_rate)
    mode: str = 'min'
    factor: float = 0.1
    patience: int = 10
    threshold: float = 1e-4
    threshold_mode: str = 'rel'
    cooldown: int = 0
    min_lr: float = 0.0
    eps: float = 1e-8
    best: float = math.nan  # set to the mode's worst value in __post_init__
    num_bad: int = 0
    cooldown_counter: int = 0
    num_steps: int = 0

    def __post_init__(self):
        if self.mode not in PLATEAU_MODES:
            raise ValueError(f'optim.plateau_mode must be one of {PLATEAU_MODES}, got {self.mode!r}')
        if self.threshold_mode not in PLATEAU_THRESHOLD_MODES:
            raise ValueError(f'optim.plateau_threshold_mode must be one of {PLATEAU_THRESHOLD_MODES}, '
                             f'got {self.threshold_mode!r}')
        if not 0.0 < self.factor < 1.0:
            raise ValueError(f'optim.plateau_factor must be in (0, 1), got {self.factor}')
        if math.isnan(self.best):
            self.best = math.inf if self.mode == 'min' else -math.inf

    def is_better(self, value: float) -> bool:
        if self.mode == 'min':
            return value < (self.best * (1.0 - self.threshold) if self.threshold_mode == 'rel'
                            else self.best - self.threshold)
        return value > (self.best * (1.0 + self.threshold) if self.threshold_mode == 'rel'
                        else self.best + self.threshold)

    def step(self, value) -> bool:
        """Feeds one evaluation's metric; returns True when the learning rate was cut."""
        value = float(value)
        self.num_steps += 1
        if self.is_better(value):
            self.best, self.num_bad = value, 0
        else:
            self.num_bad += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad = 0
        if self.num_bad <= self.patience:
            return False
        self.cooldown_counter, self.num_bad = self.cooldown, 0
        new_lr = max(self.learning_rate * self.factor, self.min_lr)
        if self.learning_rate - new_lr <= self.eps:
            return False
        self.learning_rate = new_lr
        return True

    _STATE = ('learning_rate', 'best', 'num_bad', 'cooldown_counter', 'num_steps')

    def state_dict(self) -> dict:
        """The changing part, JSON-safe (an infinite `best` is stored as None)."""
        out = {k: getattr(self, k) for k in self._STATE}
        out['best'] = None if math.isinf(self.best) else self.best
        return out

    def load_state_dict(self, state: dict) -> 'Plateau':
        for key in self._STATE:
            setattr(self, key, state[key])
        if self.best is None:
            self.best = math.inf if self.mode == 'min' else -math.inf
        return self


def plateau_metric(optim: ml_collections.ConfigDict) -> str:
    """The evaluation metric the plateau rule watches (`optim.plateau_metric`), checked against the mode."""
    metric, mode = optim.plateau_metric, optim.plateau_mode
    if metric not in PLATEAU_METRICS:
        raise ValueError(f'optim.plateau_metric must be one of {sorted(PLATEAU_METRICS)}, got {metric!r}')
    if PLATEAU_METRICS[metric] != mode:
        raise ValueError(f"optim.plateau_metric={metric!r} needs optim.plateau_mode={PLATEAU_METRICS[metric]!r}, "
                         f'got {mode!r}')
    return metric


def create_plateau(optim: ml_collections.ConfigDict, *, patience: Optional[int] = None) -> Plateau:
    """The plateau rule of `config.optim` (torch's ReduceLROnPlateau); `patience` in evaluations overrides
    `optim.plateau_patience` (see `resolve_schedule` for patience given in epochs)."""
    plateau_metric(optim)
    return Plateau(learning_rate=float(optim.learning_rate), mode=optim.plateau_mode,
                   factor=optim.plateau_factor,
                   patience=int(optim.plateau_patience if patience is None else patience),
                   threshold=optim.plateau_threshold,
                   threshold_mode=optim.plateau_threshold_mode, cooldown=optim.plateau_cooldown,
                   min_lr=optim.plateau_min_lr, eps=optim.plateau_eps)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The run's periods in steps, resolved from the config's steps or epochs."""
    num_train_steps: int
    eval_every_steps: int
    plateau_patience: int  # evaluations
    steps_per_epoch: int


def resolve_schedule(config, num_train_examples: int) -> Schedule:
    """Steps per epoch = train examples // global batch (the last partial batch is dropped).

    `train.num_train_epochs` > 0 replaces `train.num_train_steps`, `train.eval_every_epochs` > 0 replaces
    `train.eval_every_steps`, and `optim.plateau_patience_epochs` > 0 replaces `optim.plateau_patience` by
    round(epochs * evaluations per epoch) evaluations (with one evaluation per epoch: the same number).
    """
    train, optim = config.train, config.optim
    steps_per_epoch = max(1, num_train_examples // train.batch_size)
    epochs = train.num_train_epochs
    total = int(round(epochs * steps_per_epoch)) if epochs > 0 else int(train.num_train_steps)
    eval_epochs = train.eval_every_epochs
    eval_every = max(1, int(round(eval_epochs * steps_per_epoch))) if eval_epochs > 0 else int(train.eval_every_steps)
    patience_epochs = optim.plateau_patience_epochs
    patience = (int(round(patience_epochs * steps_per_epoch / eval_every)) if patience_epochs > 0
                else int(optim.plateau_patience))
    return Schedule(num_train_steps=max(1, total), eval_every_steps=eval_every, plateau_patience=patience,
                    steps_per_epoch=steps_per_epoch)


def check_batch_size(global_batch: int, what: str = 'train.batch_size'):
    devices, processes = jax.device_count(), jax.process_count()
    if global_batch % devices:
        raise ValueError(f'config.{what}={global_batch} must divide by the number of devices ({devices}); '
                         f'use a multiple of {devices}')
    return global_batch // processes


def create_train_state(config, model, rng, mesh, *, image_size: Optional[int] = None) -> TrainState:
    """Initialises a replicated TrainState (jitted, so every leaf is a global array: orbax needs that)."""
    tx = create_optimizer(config.optim)
    image_size = image_size or config.data.crop_size

    def init(key):
        init_key, state_key = jax.random.split(key)
        variables = vtn_lib.init_variables(model, init_key, image_size=image_size)
        params = variables['params']
        return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                          batch_stats=variables.get('batch_stats', {}), opt_state=tx.init(params),
                          lr_scale=jnp.ones((), jnp.float32), rng=jax.random.key_data(state_key))

    return jax.jit(init, out_shardings=distributed.replicated(mesh))(rng)


def abstract_train_state(config, model, mesh) -> TrainState:
    """Shapes, dtypes and shardings of the TrainState, for restoring without initialising."""
    shapes = jax.eval_shape(lambda: create_train_state(config, model, jax.random.key(0), mesh))
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=distributed.replicated(mesh)), shapes)
