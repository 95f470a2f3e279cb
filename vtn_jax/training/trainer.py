"""The training loop: pure jitted steps on a ('data',) mesh, an LR cut on plateau (torch's ReduceLROnPlateau),
orbax checkpoints that resume by themselves, clu metric writers, distillation from a frozen two-stream teacher.

One code path serves 1 CPU, N local GPUs and many hosts: the batch is sharded along 'data' over every global
device, parameters and optimiser state are replicated, each process feeds its own slice of the global batch.
"""
import dataclasses
import functools
import logging
import pathlib
import time
from typing import Any, Iterator, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import orbax.checkpoint as ocp
from clu import metric_writers

from vtn_jax import checkpoints
from vtn_jax import distributed
from vtn_jax import logs
from vtn_jax.data import class_names as class_names_lib
from vtn_jax.data import input_pipeline
from vtn_jax.models import pretrained
from vtn_jax.models import pytorch_weights
from vtn_jax.models import vtn as vtn_lib
from vtn_jax.training import evaluation
from vtn_jax.training import state as state_lib
from vtn_jax.training import steps
from vtn_jax.training.state import TrainState

_LOG = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or Inf loss; the message names the first such step."""


def _save(manager, step: int, state: TrainState, meta: dict, eval_metrics: Optional[dict] = None):
    """One checkpoint; with the step's validation loss when it was evaluated (the manager keeps the best)."""
    metrics = {'eval_loss': float(eval_metrics['loss'])} if eval_metrics else None
    manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)),
                 metrics=metrics)


def prepare_workdir(config, workdir: pathlib.Path) -> list[str]:
    """Checks the config against the data before anything runs, and writes what the run is into the workdir.

    The resolved config goes to `config.json` (and into every checkpoint) and the class names to
    `class_names.txt` (the demo reads them); `model.num_classes` must equal the dataset's class count.

    Returns:
        The class names.
    """
    if config.data.num_frames != config.model.num_frames:
        raise ValueError(f'config.data.num_frames={config.data.num_frames} differs from '
                         f'config.model.num_frames={config.model.num_frames}')
    names = input_pipeline.class_names(config.data)
    if len(names) != config.model.num_classes:
        raise ValueError(f'config.model.num_classes={config.model.num_classes}, but the dataset '
                         f'{config.data.name}/{config.data.builder_config or "default"} has {len(names)} classes: '
                         f'set --config.model.num_classes={len(names)}')
    if jax.process_index() == 0:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / 'config.json').write_text(config.to_json_best_effort(indent=1) + '\n')
        class_names_lib.write_class_names(workdir / 'class_names.txt', names)
    return names


@dataclasses.dataclass
class DataErrors:
    """Data errors met during training: counted, reported, never silently skipped, never fatal to the run."""
    count: int = 0
    last: str = ''


def _train_batches(config, local_batch: int, start: int, errors: DataErrors) -> Iterator[tuple[int, dict]]:
    """(input position, batch) from position `start` on; a failing batch is counted, reported and stepped over."""
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
                _LOG.error('DATA ERROR (%d so far) at input %s', errors.count, errors.last)
                if errors.count > config.train.max_data_errors:
                    raise RuntimeError(f'{errors.count} data errors exceed train.max_data_errors='
                                       f'{config.train.max_data_errors}; last: {errors.last}') from e
                position += 1
                break
            position += 1
            yield position - 1, batch


def _load_teacher(config, mesh):
    """The frozen two-stream teacher for distillation, or (None, None)."""
    if not config.distill.enabled:
        return None, None
    teacher = vtn_lib.create_two_stream(
        {**config.model, 'encoder': config.distill.teacher_encoder or config.model.encoder})
    parts = {}
    for stream, path in (('rgb', config.distill.rgb_checkpoint), ('motion', config.distill.motion_checkpoint)):
        if not path:
            raise ValueError(f'config.distill.{stream if stream == "rgb" else "motion"}_checkpoint is empty: '
                             'distillation needs the trained RGB and RGB-diff teacher checkpoints')
        if not pathlib.Path(path).exists():
            raise FileNotFoundError(f'teacher checkpoint {path} (config.distill) does not exist')
        parts[stream], _ = checkpoints.load_variables(path, getattr(teacher, stream))
    variables = vtn_lib.assemble_two_stream(parts['rgb'], parts['motion'])
    return teacher, jax.device_put(variables, distributed.replicated(mesh))


def warn_random_init(encoder: str):
    """Says loudly that a paper-sized encoder starts from random weights (the paper and the authors start
    from ImageNet; their learning rate 1e-4 assumes it)."""
    if encoder == 'resnet_tiny':
        return
    source = pretrained.IMAGENET_SOURCES.get(encoder, 'no ImageNet import exists for this encoder')
    _LOG.warning('\n%s\nRANDOM INIT: the %s encoder trains from random weights. The paper and the authors start '
                 'from ImageNet (%s);\nset --config.train.init_checkpoint=<that .pth> (docs/training.md, '
                 '"Initialisation").\n%s', '!' * 100, encoder, source, '!' * 100)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir, *, return_state: bool = False):
    """Trains `config` in `workdir`, resuming from its latest checkpoint; returns the final eval metrics
    (and the final TrainState with `return_state`)."""
    evaluation.check_eval_mode(config.train.eval_mode)  # fail now, not at the first evaluation
    metric = state_lib.plateau_metric(config.optim)
    workdir = pathlib.Path(workdir).resolve()  # orbax wants absolute paths
    workdir.mkdir(parents=True, exist_ok=True)
    is_main = jax.process_index() == 0
    mesh = distributed.create_mesh()
    model = vtn_lib.create_model(config.model)
    prepare_workdir(config, workdir)
    local_batch = state_lib.check_batch_size(config.train.batch_size)
    schedule = state_lib.resolve_schedule(
        config, input_pipeline.num_examples(config.data, config.data.train_split))
    tx = state_lib.create_optimizer(config.optim)
    plateau = state_lib.create_plateau(config.optim, patience=schedule.plateau_patience)
    writer = metric_writers.create_default_writer(workdir, just_logging=not is_main, asynchronous=False)
    manager = checkpoints.create_manager(workdir, max_to_keep=config.train.max_to_keep)

    meta = {'data_errors': 0, 'plateau': None}
    latest = manager.latest_step()
    if latest is not None:
        target = state_lib.abstract_train_state(config, model, mesh)
        restored = manager.restore(latest, args=ocp.args.Composite(state=ocp.args.StandardRestore(target),
                                                                   meta=ocp.args.JsonRestore()))
        state, meta = restored.state, {**meta, **restored.meta}
        if meta.get('plateau'):
            plateau.load_state_dict(meta['plateau'])
        if is_main:
            _LOG.info('resuming from %s/checkpoints/%d', workdir, latest)
    else:
        state = state_lib.create_train_state(config, model, jax.random.key(config.train.seed), mesh)
        if config.train.init_checkpoint:
            variables = pytorch_weights.load_pytorch_weights(config.train.init_checkpoint, model, state.variables,
                                                             new_head=config.train.init_new_head)
            variables = jax.device_put(variables, distributed.replicated(mesh))
            state = state.replace(params=variables['params'], batch_stats=variables['batch_stats'])
            if is_main:
                _LOG.info('initialised from %s', config.train.init_checkpoint)
        elif is_main:
            warn_random_init(config.model.encoder)
        if is_main:
            _LOG.info('schedule: %d steps (%d per epoch), evaluation every %d steps, plateau patience %d '
                      'evaluations on %s', schedule.num_train_steps, schedule.steps_per_epoch,
                      schedule.eval_every_steps, schedule.plateau_patience, metric)
            writer.write_hparams({k: str(v) for k, v in flatten_config(config).items()})
    teacher, teacher_variables = _load_teacher(config, mesh)

    step_fn = jax.jit(
        functools.partial(steps.train_step, model=model, tx=tx, learning_rate=config.optim.learning_rate,
                          mean=tuple(config.data.mean), std=tuple(config.data.std), teacher=teacher, kd_temperature=config.distill.temperature,
                          kd_weight=config.distill.weight),
        in_shardings=(distributed.replicated(mesh), distributed.data_sharded(mesh), distributed.replicated(mesh)),
        out_shardings=(distributed.replicated(mesh), distributed.replicated(mesh)), donate_argnums=0)
    eval_fn = jax.jit(functools.partial(evaluation.eval_step, model=model, mean=tuple(config.data.mean),
                                        std=tuple(config.data.std)), out_shardings=distributed.replicated(mesh))
    # The plateau's LR scale as a replicated global array (a jitted identity makes one on every process).
    scale_fn = jax.jit(lambda x: x, out_shardings=distributed.replicated(mesh))

    step = int(distributed.fetch(state.step))
    total = schedule.num_train_steps
    errors = DataErrors(count=int(meta.get('data_errors', 0)))
    batches = distributed.Prefetcher(  # the next batches go to the devices while a step runs
        _train_batches(config, local_batch, step + errors.count, errors),
        lambda item: (item[0], distributed.to_global(item[1], mesh)), config.train.prefetch)
    skipped = errors.count  # data errors stepped over before the last batch trained on (the resume offset)
    progress = logs.Progress(_LOG, total, 'step', start=step, every_s=0)
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
        summary['train_data_errors'] = skipped
        writer.write_scalars(step, summary)
        if is_main:
            progress.update(step, f"loss {summary['train_loss']:.4f} lr {summary['train_learning_rate']:.2e}")
        pending, window_start = [], time.time()

    try:
        while step < total:
            item = next(batches, None)
            if item is None:
                raise RuntimeError(f'the training split {config.data.train_split!r} ran out of batches at step {step}')
            position, batch = item
            state, step_metrics = step_fn(state, batch, teacher_variables)
            step += 1
            skipped = position + 1 - step  # counted here, not in the prefetch thread that may have read ahead
            pending.append(step_metrics)
            is_eval = step % schedule.eval_every_steps == 0 or step == total
            is_ckpt = step % config.train.checkpoint_every_steps == 0 or step == total
            if step % config.train.log_every_steps == 0 or is_eval or is_ckpt:
                flush()  # also the NaN check: nothing non-finite reaches a checkpoint
            if is_eval:
                last_eval = evaluation.evaluate(model, state.variables, config.data, verbose=True,
                                                batch_size=config.train.eval_batch_size, mesh=mesh,
                                                mode=config.train.eval_mode, eval_fn=eval_fn,
                                                report_dir=workdir / 'eval' / f'step_{step}')
                if plateau.step(last_eval[metric]) and is_main:
                    _LOG.info('plateau of eval %s: learning rate %.3g from step %d', metric, plateau.learning_rate, step)
                state = state.replace(lr_scale=scale_fn(jnp.float32(plateau.learning_rate / config.optim.learning_rate)))
                meta['plateau'] = plateau.state_dict()
                writer.write_scalars(step, {f'eval_{k}': v for k, v in last_eval.items()})
                if is_main:
                    _LOG.info('eval at step %d: loss %.4f Clip@1 %.3f Video@1 %.3f (%d videos, %d clips)', step,
                              last_eval['loss'], last_eval['clip_top1'], last_eval['video_top1'],
                              last_eval['num_videos'], last_eval['num_clips'])
            if is_ckpt or is_eval:  # every evaluated step is saved: the manager keeps the best and the latest
                meta['data_errors'] = skipped
                _save(manager, step, state, {**meta, 'step': step, 'config': config.to_json()},
                      last_eval if is_eval else None)
        flush()
    finally:
        batches.close()
        # Also on a NaN stop or an interrupt: finish the saves under way (their states were checked), so the
        # last good checkpoint is complete on disk rather than a temporary directory.
        manager.wait_until_finished()
        manager.close()
        writer.flush()
    if skipped and is_main:
        _LOG.warning('%d data error(s) during training; last: %s', skipped, errors.last)
    result = {**last_eval, 'data_errors': float(skipped), 'step': float(step)}
    return (result, state) if return_state else result


def flatten_config(config, prefix: str = '') -> dict[str, Any]:
    out = {}
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            out.update(flatten_config(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = value
    return out
