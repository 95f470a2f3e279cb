"""Training and evaluation: pure jitted steps on a ('data',) mesh, optax Adam with L2 decay and an LR cut on
plateau, orbax checkpoints that resume by themselves, clu metric writers.

One code path serves 1 CPU, N local GPUs and many hosts: the batch is sharded along 'data' over every global
device, parameters and optimiser state are replicated, each process feeds its own slice of the global batch.
"""
import dataclasses
import functools
import json
import math
import pathlib
import time
from typing import Any, Iterator, Optional

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import orbax.checkpoint as ocp
from absl import logging
from clu import metric_writers
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from vtn_jax import checkpoints
from vtn_jax import input_pipeline
from vtn_jax import metrics as metrics_lib
from vtn_jax import model as model_lib


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


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or Inf loss; the message names the first such step."""


# ----------------------------------------------------------------------------------------------------------
# Optimiser


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


# ----------------------------------------------------------------------------------------------------------
# Mesh and state


def create_mesh() -> jax.sharding.Mesh:
    """A 1-D ('data',) mesh over every global device (Auto axes: XLA propagates the shardings)."""
    return jax.make_mesh((jax.device_count(),), ('data',), axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh):
    return NamedSharding(mesh, P())


def data_sharded(mesh):
    return NamedSharding(mesh, P('data'))


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
        variables = model_lib.init_variables(model, init_key, image_size=image_size)
        params = variables['params']
        return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                          batch_stats=variables.get('batch_stats', {}), opt_state=tx.init(params),
                          plateau_state=plateau.init(params), rng=jax.random.key_data(state_key))

    return jax.jit(init, out_shardings=replicated(mesh))(rng)


def abstract_train_state(config, model, mesh) -> TrainState:
    """Shapes, dtypes and shardings of the TrainState, for restoring without initialising."""
    shapes = jax.eval_shape(lambda: create_train_state(config, model, jax.random.key(0), mesh))
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=replicated(mesh)), shapes)


# ----------------------------------------------------------------------------------------------------------
# Losses and steps


def cross_entropy_loss(logits, labels):
    """Mean softmax cross-entropy in float32."""
    return optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), labels).mean()


def distillation_loss(student_logits, teacher_logits, temperature: float):
    """T^2 * KL(softmax(teacher / T) || softmax(student / T)), averaged over the batch (Hinton et al.)."""
    t = temperature
    teacher_log_probs = jax.nn.log_softmax(teacher_logits.astype(jnp.float32) / t)
    student_log_probs = jax.nn.log_softmax(student_logits.astype(jnp.float32) / t)
    kl = jnp.sum(jnp.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs), axis=-1)
    return t * t * kl.mean()


def train_step(state: TrainState, batch, teacher_variables=None, *, model, tx, learning_rate: float,
               teacher=None, kd_temperature: float = 8.0, kd_weight: float = 0.4):
    """One optimisation step. Pure: returns the new state and the step's metrics (device arrays).

    With a `teacher`, the loss is CE + kd_weight * T^2 * KL(teacher || student) on the same augmented clip;
    the teacher runs in eval mode (no BatchNorm update) and receives no gradient.
    """
    dropout_rng = jax.random.fold_in(jax.random.wrap_key_data(state.rng), state.step)

    def loss_fn(params):
        logits, updates = model.apply({'params': params, 'batch_stats': state.batch_stats}, batch['video'],
                                      train=True, rngs={'dropout': dropout_rng}, mutable=['batch_stats'])
        ce = cross_entropy_loss(logits, batch['label'])
        aux = {'ce_loss': ce}
        loss = ce
        if teacher is not None:
            teacher_logits = jax.lax.stop_gradient(teacher.apply(teacher_variables, batch['video'], train=False))
            kd = distillation_loss(logits, teacher_logits, kd_temperature)
            aux['kd_loss'] = kd
            loss = ce + kd_weight * kd
        return loss, (logits, updates['batch_stats'], aux)

    (loss, (logits, batch_stats, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    scale = state.plateau_state.scale
    updates = jax.tree.map(lambda u: u * scale, updates)
    params = optax.apply_updates(state.params, updates)
    metrics = {'loss': loss, 'accuracy': jnp.mean(jnp.argmax(logits, -1) == batch['label']),
               'learning_rate': learning_rate * scale, **aux}
    new_state = state.replace(step=state.step + 1, params=params, batch_stats=batch_stats, opt_state=opt_state)
    return new_state, metrics


def eval_step(variables, batch, *, model):
    """Eval-mode logits for a batch; the label, video id and mask are passed through for host metrics."""
    logits = model.apply(variables, batch['video'], train=False)
    return logits, batch['label'], batch['video_id'], batch['mask']


# ----------------------------------------------------------------------------------------------------------
# Host-side helpers


def to_global(batch, mesh):
    """This process's numpy batch -> global arrays sharded along 'data' (the global batch)."""
    sharding = data_sharded(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in batch.items()}


def fetch(x):
    """A replicated global array -> numpy, also when it is not fully addressable (many processes)."""
    return jax.tree.map(lambda a: np.asarray(a.addressable_data(0)), x)


class Progress:
    """A progress line with rate and ETA, printed by process 0 only."""

    def __init__(self, total: int, start: int, what: str = 'step'):
        self.total, self.start, self.what = total, start, what
        self.t0 = time.time()

    def line(self, done: int, extra: str = '') -> str:
        elapsed = time.time() - self.t0
        rate = (done - self.start) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float('nan')
        eta_text = time.strftime('%H:%M:%S', time.gmtime(eta)) if math.isfinite(eta) else '?'
        return f'{self.what} {done}/{self.total} ({100 * done / max(self.total, 1):.0f}%) {extra} ' \
               f'{rate:.2f} {self.what}s/s ETA {eta_text}'


EVAL_MODES = ('segments', 'clip', 'dense')


def evaluate(model, variables, data_config, *, batch_size: int, mesh, mode: str = 'segments',
             split: Optional[str] = None, eval_fn=None, verbose: bool = False) -> dict[str, float]:
    """Evaluates on a split: loss, Clip@1/5 and Video@1/5, every clip and video counted exactly once.

    In 'segments' mode (the paper's protocol) every non-overlapping segment of every video is a clip and a
    video's clip logits are averaged; in 'clip' mode each video contributes its central clip. 'dense' gives
    the 'segments' metrics from whole videos, each frame encoded once, plus per-frame top-1
    (`vtn_jax.dense.evaluate_split`).
    """
    if mode not in EVAL_MODES:
        raise ValueError(f'evaluation mode must be one of {EVAL_MODES}, got {mode!r}')
    if mode == 'dense':
        from vtn_jax import dense, streaming  # pylint: disable=import-outside-toplevel
        backend = streaming.JaxBackend(model, fetch(variables))
        return dense.evaluate_split(backend, data_config, split or data_config.eval_split, modality=model.modality,
                                    batch_size=batch_size, verbose=verbose)
    local_batch = check_batch_size(batch_size, 'train.eval_batch_size')
    eval_fn = eval_fn or jax.jit(functools.partial(eval_step, model=model), out_shardings=replicated(mesh))
    accumulator = metrics_lib.EvalAccumulator()
    batches = input_pipeline.create_split(data_config, split or data_config.eval_split, batch_size=local_batch,
                                          mode=mode, process_index=jax.process_index(),
                                          process_count=jax.process_count())
    for i, batch in enumerate(batches):
        accumulator.add(*fetch(eval_fn(variables, to_global(batch, mesh))))
        if verbose and jax.process_index() == 0 and (i + 1) % 20 == 0:
            print(f'  evaluated {accumulator.num_clips} clips', flush=True)
    return accumulator.compute()


# ----------------------------------------------------------------------------------------------------------
# Checkpoints


def _managers(workdir: pathlib.Path, max_to_keep: int):
    periodic = ocp.CheckpointManager(workdir / 'checkpoints',
                                     options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))
    best = ocp.CheckpointManager(workdir / 'best', options=ocp.CheckpointManagerOptions(max_to_keep=1, create=True))
    return periodic, best


def _save(manager, step: int, state: TrainState, meta: dict):
    manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)))


def restore_variables(workdir, model=None, *, which: str = 'best') -> dict:
    """Eval variables {'params', 'batch_stats'} of a training workdir (its best checkpoint, else the latest).

    Args:
        workdir: the `--workdir` of a training run.
        model: if given, the restored shapes are checked against it (a mismatch names the leaf and shapes).
        which: 'best' (falls back to the latest periodic checkpoint) or 'latest'.
    """
    workdir = pathlib.Path(workdir).resolve()  # orbax wants absolute paths
    candidates = (['best', 'checkpoints'] if which == 'best' else ['checkpoints'])
    for sub in candidates:
        directory = workdir / sub
        if not directory.is_dir():
            continue
        with ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(read_only=True)) as manager:
            step = manager.latest_step()
            if step is None:
                continue
            # Restore onto this run's devices (replicated), whatever topology saved it: a checkpoint
            # written by many processes loads in one, and the other way round.
            meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
            run_config = ml_collections.ConfigDict(json.loads(meta['config']))
            target = abstract_train_state(run_config, model_lib.create_model(run_config.model), create_mesh())
            restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target)))
        state = restored.state
        variables = fetch(state.variables)
        if model is not None:
            _check_shapes(variables, model, f'{directory}/{step}')
        return variables
    raise FileNotFoundError(f'no checkpoint in {workdir} (looked in {", ".join(candidates)}/); train first or '
                            'pass a reference .pth/.npz checkpoint')


def _check_shapes(variables, model, source: str):
    template = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0), image_size=32))
    want = flax.traverse_util.flatten_dict(flax.core.unfreeze(template))
    have = flax.traverse_util.flatten_dict(variables)
    problems = [f'missing {"/".join(k)} {v.shape}' for k, v in want.items() if k not in have]
    problems += [f'unexpected {"/".join(k)}' for k in have if k not in want]
    problems += [f'{"/".join(k)}: checkpoint {have[k].shape}, model {v.shape}'
                 for k, v in want.items() if k in have and tuple(have[k].shape) != tuple(v.shape)]
    if problems:
        raise checkpoints.CheckpointMismatchError(f'{source} does not match the configured model:\n  ' +
                                                  '\n  '.join(problems[:20]))


def load_variables(path, model, template) -> dict:
    """Variables from a training workdir (orbax) or a reference/torchvision `.pth`/`.npz` file."""
    path = pathlib.Path(path)
    if path.is_dir():
        return restore_variables(path, model)
    return checkpoints.load_checkpoint(path, model, template)


# ----------------------------------------------------------------------------------------------------------
# The loop


@dataclasses.dataclass
class DataErrors:
    """Data errors met during training: counted, reported, never silently skipped, never fatal to the run."""
    count: int = 0
    last: str = ''


def _train_batches(config, local_batch: int, start: int, errors: DataErrors) -> Iterator[dict]:
    """Training batches from `start` on; a failing batch is counted, reported and stepped over."""
    position = start
    while True:
        iterator = input_pipeline.create_split(
            config.data, config.data.train_split, batch_size=local_batch, mode='train', seed=config.train.seed,
            process_index=jax.process_index(), process_count=jax.process_count(), start_step=position)
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except Exception as e:  # pylint: disable=broad-except
                # A corrupt record or a decode failure: report it, skip that batch, reopen after it.
                errors.count += 1
                errors.last = f'batch {position}: {type(e).__name__}: {e}'
                logging.error('data error %d at input %s', errors.count, errors.last)
                print(f'DATA ERROR ({errors.count} so far) at input {errors.last}', flush=True)
                if errors.count > config.train.max_data_errors:
                    raise RuntimeError(f'{errors.count} data errors exceed train.max_data_errors='
                                       f'{config.train.max_data_errors}; last: {errors.last}') from e
                position += 1
                break
            position += 1
            yield batch


def _load_teacher(config, mesh):
    """The frozen two-stream teacher for distillation, or (None, None)."""
    if not config.distill.enabled:
        return None, None
    teacher = model_lib.create_two_stream(
        {**config.model, 'encoder': config.distill.teacher_encoder or config.model.encoder})
    parts = {}
    for stream, path in (('rgb', config.distill.rgb_checkpoint), ('motion', config.distill.motion_checkpoint)):
        if not path:
            raise ValueError(f'config.distill.{stream if stream == "rgb" else "motion"}_checkpoint is empty: '
                             'distillation needs the trained RGB and RGB-diff teacher checkpoints')
        sub = getattr(teacher, stream)
        template = jax.eval_shape(lambda m=sub: model_lib.init_variables(m, jax.random.key(0), image_size=32))
        if not pathlib.Path(path).exists():
            raise FileNotFoundError(f'teacher checkpoint {path} (config.distill) does not exist')
        parts[stream] = load_variables(path, sub, template)
    variables = model_lib.assemble_two_stream(parts['rgb'], parts['motion'])
    return teacher, jax.device_put(variables, replicated(mesh))


def train_and_evaluate(config: ml_collections.ConfigDict, workdir, *, return_state: bool = False):
    """Trains `config` in `workdir`, resuming from its latest checkpoint; returns the final eval metrics
    (and the final TrainState with `return_state`)."""
    if config.train.eval_mode not in EVAL_MODES:  # fail now, not at the first evaluation
        raise ValueError(f'config.train.eval_mode must be one of {EVAL_MODES}, got {config.train.eval_mode!r}')
    workdir = pathlib.Path(workdir).resolve()  # orbax wants absolute paths
    workdir.mkdir(parents=True, exist_ok=True)
    is_main = jax.process_index() == 0
    mesh = create_mesh()
    model = model_lib.create_model(config.model)
    if config.data.num_frames != config.model.num_frames:
        raise ValueError(f'config.data.num_frames={config.data.num_frames} differs from '
                         f'config.model.num_frames={config.model.num_frames}')
    local_batch = check_batch_size(config.train.batch_size)
    tx, plateau = create_optimizer(config.optim), create_plateau(config.optim)
    writer = metric_writers.create_default_writer(workdir, just_logging=not is_main, asynchronous=False)
    periodic, best = _managers(workdir, config.train.max_to_keep)

    meta = {'best_val_loss': None, 'data_errors': 0}
    latest = periodic.latest_step()
    if latest is not None:
        restored = periodic.restore(latest, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(abstract_train_state(config, model, mesh)), meta=ocp.args.JsonRestore()))
        state, meta = restored.state, {**meta, **restored.meta}
        if is_main:
            print(f'resuming from {workdir}/checkpoints/{latest}', flush=True)
    else:
        state = create_train_state(config, model, jax.random.key(config.train.seed), mesh)
        if config.train.init_checkpoint:
            variables = checkpoints.load_checkpoint(config.train.init_checkpoint, model, state.variables,
                                                    new_head=config.train.init_new_head)
            variables = jax.device_put(variables, replicated(mesh))
            state = state.replace(params=variables['params'], batch_stats=variables['batch_stats'])
            if is_main:
                print(f'initialised from {config.train.init_checkpoint}', flush=True)
        if is_main:
            writer.write_hparams({k: str(v) for k, v in flatten_config(config).items()})
    teacher, teacher_variables = _load_teacher(config, mesh)

    step_fn = jax.jit(
        functools.partial(train_step, model=model, tx=tx, learning_rate=config.optim.learning_rate,
                          teacher=teacher, kd_temperature=config.distill.temperature,
                          kd_weight=config.distill.weight),
        in_shardings=(replicated(mesh), data_sharded(mesh), replicated(mesh)),
        out_shardings=(replicated(mesh), replicated(mesh)), donate_argnums=0)
    eval_fn = jax.jit(functools.partial(eval_step, model=model), out_shardings=replicated(mesh))
    plateau_fn = jax.jit(functools.partial(update_plateau, plateau), out_shardings=replicated(mesh))

    step = int(fetch(state.step))
    total = config.train.num_train_steps
    errors = DataErrors(count=int(meta.get('data_errors', 0)))
    batches = _train_batches(config, local_batch, step + errors.count, errors)
    progress = Progress(total, step)
    pending, window_start, last_eval = [], time.time(), {}

    def flush():
        nonlocal pending, window_start
        if not pending:
            return
        host = jax.device_get(pending)
        first = step - len(host) + 1
        for i, m in enumerate(host):
            if not np.isfinite(m['loss']):
                raise NonFiniteLossError(
                    f'non-finite loss {float(m["loss"])} at step {first + i}: stopping; the last good checkpoint '
                    f'in {workdir}/checkpoints is kept (lower optim.learning_rate or check the input)')
        elapsed = time.time() - window_start
        summary = {f'train_{k}': float(np.mean([m[k] for m in host])) for k in host[0]}
        summary['train_steps_per_sec'] = len(host) / elapsed
        summary['train_clips_per_sec'] = len(host) * config.train.batch_size / elapsed
        summary['train_data_errors'] = errors.count
        writer.write_scalars(step, summary)
        if is_main:
            print(progress.line(step, f"loss {summary['train_loss']:.4f} lr {summary['train_learning_rate']:.2e}"),
                  flush=True)
        pending, window_start = [], time.time()

    try:
        while step < total:
            batch = next(batches, None)
            if batch is None:
                raise RuntimeError(f'the training split {config.data.train_split!r} ran out of batches at step {step}')
            state, step_metrics = step_fn(state, to_global(batch, mesh), teacher_variables)
            step += 1
            pending.append(step_metrics)
            is_eval = step % config.train.eval_every_steps == 0 or step == total
            is_ckpt = step % config.train.checkpoint_every_steps == 0 or step == total
            if step % config.train.log_every_steps == 0 or is_eval or is_ckpt:
                flush()  # also the NaN check: nothing non-finite reaches a checkpoint
            if is_eval:
                last_eval = evaluate(model, state.variables, config.data, batch_size=config.train.eval_batch_size,
                                     mesh=mesh, mode=config.train.eval_mode, eval_fn=eval_fn)
                state = state.replace(plateau_state=plateau_fn(state.plateau_state, jnp.float32(last_eval['loss'])))
                writer.write_scalars(step, {f'eval_{k}': v for k, v in last_eval.items()})
                if is_main:
                    print(f"eval at step {step}: loss {last_eval['loss']:.4f} Clip@1 {last_eval['clip_top1']:.3f} "
                          f"Video@1 {last_eval['video_top1']:.3f} ({int(last_eval['num_videos'])} videos, "
                          f"{int(last_eval['num_clips'])} clips)", flush=True)
                if meta['best_val_loss'] is None or last_eval['loss'] < meta['best_val_loss']:
                    meta['best_val_loss'] = last_eval['loss']
                    _save(best, step, state, {**meta, 'step': step, 'eval': last_eval,
                                              'config': config.to_json()})
            if is_ckpt:
                meta['data_errors'] = errors.count
                _save(periodic, step, state, {**meta, 'step': step, 'config': config.to_json()})
        flush()
    finally:
        # Also on a NaN stop or an interrupt: finish the saves under way (their states were checked), so the
        # last good checkpoint is complete on disk rather than a temporary directory.
        periodic.wait_until_finished()
        best.wait_until_finished()
        periodic.close()
        best.close()
        writer.flush()
    if errors.count and is_main:
        print(f'{errors.count} data error(s) during training; last: {errors.last}', flush=True)
    result = {**last_eval, 'data_errors': float(errors.count), 'step': float(step)}
    return (result, state) if return_state else result


def flatten_config(config, prefix: str = '') -> dict[str, Any]:
    out = {}
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            out.update(flatten_config(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = value
    return out


def read_run_config(workdir) -> ml_collections.ConfigDict:
    """The config a workdir was trained with (stored in each checkpoint's metadata)."""
    workdir = pathlib.Path(workdir).resolve()
    for sub in ('best', 'checkpoints'):
        directory = workdir / sub
        if not directory.is_dir():
            continue
        with ocp.CheckpointManager(directory, options=ocp.CheckpointManagerOptions(read_only=True)) as manager:
            step = manager.latest_step()
            if step is not None:
                meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
                return ml_collections.ConfigDict(json.loads(meta['config']))
    raise FileNotFoundError(f'no checkpoint with a config in {workdir}')


def evaluate_checkpoint(config, checkpoint, *, mode: str = 'segments', split: Optional[str] = None):
    """Evaluation-only mode: a training workdir or a reference `.pth`/`.npz` on a split."""
    if not checkpoint:
        raise ValueError('evaluation needs --checkpoint (a workdir or a .pth/.npz) or --workdir')
    mesh = create_mesh()
    model = model_lib.create_model(config.model)
    template = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0), image_size=32))
    variables = jax.device_put(load_variables(checkpoint, model, template), replicated(mesh))
    return evaluate(model, variables, config.data, batch_size=config.train.eval_batch_size, mesh=mesh, mode=mode,
                    split=split, verbose=True)
