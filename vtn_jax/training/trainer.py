"""The training loop: pure jitted steps on a ('data',) mesh, an LR cut on plateau (torch's ReduceLROnPlateau),
orbax checkpoints that resume by themselves (also after SIGTERM or SIGINT, which stop the run after a checkpoint of
its step: `preemption.py`), clu metric writers, distillation from a frozen two-stream teacher.

One code path serves 1 CPU, N local GPUs and many hosts: the batch is sharded along 'data' over every global
device, parameters and optimiser state are replicated, each process feeds its own slice of the global batch.
"""
import contextlib
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
from vtn_jax import errors as errors_lib
from vtn_jax import logs
from vtn_jax.data import input_pipeline
from vtn_jax.models import pretrained
from vtn_jax.models import pytorch_weights
from vtn_jax.models import vtn as vtn_lib
from vtn_jax.training import evaluation
from vtn_jax.training import preemption
from vtn_jax.training import state as state_lib
from vtn_jax.training import steps
from vtn_jax.training import workdir as workdir_lib
from vtn_jax.training.preemption import TrainingStopped  # noqa: F401  (what a stopped run raises)
from vtn_jax.training.state import TrainState

_LOG = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or Inf loss; the message names the first such step."""


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (a full disk, a folder that cannot be written); one line names the step,
    the folder and the cause. The previous complete checkpoint is kept: orbax never accepts a half-written one."""


class _Saver:
    """The run's checkpoint saves: each with the step's evaluation when it had one (the manager keeps the best on
    optim.plateau_metric), and every failure of orbax's asynchronous writing as one CheckpointSaveError."""

    def __init__(self, manager, workdir: pathlib.Path, optim, log_path: str):
        self.manager, self.folder, self.log_path = manager, workdir / checkpoints.CHECKPOINTS, log_path
        self.metric, self.mode = state_lib.plateau_metric(optim), optim.plateau_mode
        self.last: Optional[int] = None  # the last step saved (or restored)

    def _failed(self, error: Exception, step) -> CheckpointSaveError:
        return CheckpointSaveError(
            f'saving checkpoint step {step} to {self.folder} failed: {errors_lib.root_cause(error)}; the previous '
            f'complete checkpoint is kept: fix that (free space, a writable folder) and resume with the same '
            f'command (details in {self.log_path})')

    def save(self, step: int, state: TrainState, meta: dict, eval_metrics: Optional[dict] = None) -> None:
        metrics = checkpoints.checkpoint_metrics(eval_metrics, self.metric, self.mode) if eval_metrics else None
        self.wait()  # orbax's save waits for the previous one too: here its failure is named as its own
        try:
            self.manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                            meta=ocp.args.JsonSave(meta)), metrics=metrics)
        except Exception as e:  # noqa: BLE001  (orbax and TensorStore raise many types)
            raise self._failed(e, step) from e
        self.last = step

    def wait(self) -> None:
        """Until every save under way is complete on disk."""
        try:
            self.manager.wait_until_finished()
        except Exception as e:  # noqa: BLE001
            raise self._failed(e, self.last) from e


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
            except Exception as e:  # noqa: BLE001
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


def train_and_evaluate(config: ml_collections.ConfigDict, workdir, *, return_state: bool = False,
                       allow_config_change: bool = False):
    """Trains `config` in `workdir`, resuming from its newest intact checkpoint; returns the final eval metrics
    (and the final TrainState with `return_state`).

    Before anything compiles: the workdir is locked (one run per workdir), both splits are checked, a resumed
    run's config is compared with the workdir's (`allow_config_change` accepts a difference). Everything logged,
    library tracebacks included, also goes to `<workdir>/train.log`.

    Raises:
        TrainingStopped: SIGTERM or SIGINT stopped the run; the checkpoint of its last step is complete.
    """
    evaluation.check_eval_mode(config.train.eval_mode)  # fail now, not at the first evaluation
    state_lib.plateau_metric(config.optim)
    workdir = pathlib.Path(workdir).resolve()  # orbax wants absolute paths
    workdir.mkdir(parents=True, exist_ok=True)
    index = jax.process_index()
    with contextlib.ExitStack() as stack:
        signals = stack.enter_context(preemption.StopSignals())
        if index == 0:
            stack.enter_context(workdir_lib.WorkdirLock(workdir))
        log_path = workdir / ('train.log' if index == 0 else f'train.process_{index}.log')
        stack.enter_context(logs.log_to_file(log_path))
        return _train(config, workdir, signals, str(log_path), return_state=return_state,
                      allow_config_change=allow_config_change)


def _train(config, workdir: pathlib.Path, signals: preemption.StopSignals, log_path: str, *, return_state: bool,
           allow_config_change: bool):
    metric = state_lib.plateau_metric(config.optim)
    is_main = jax.process_index() == 0
    mesh = distributed.create_mesh()
    model = vtn_lib.create_model(config.model)
    workdir_lib.prepare_workdir(config, workdir, allow_config_change=allow_config_change)
    local_batch = state_lib.check_batch_size(config.train.batch_size)
    schedule = state_lib.resolve_schedule(
        config, input_pipeline.num_examples(config.data, config.data.train_split))
    tx = state_lib.create_optimizer(config.optim)
    plateau = state_lib.create_plateau(config.optim, patience=schedule.plateau_patience)
    writer = metric_writers.create_default_writer(workdir, just_logging=not is_main, asynchronous=False)
    manager = checkpoints.create_manager(workdir, max_to_keep=config.train.max_to_keep)
    saver = _Saver(manager, workdir, config.optim, log_path)

    meta = {'data_errors': 0, 'plateau': None}
    resumed = checkpoints.restore_for_resume(manager, workdir, state_lib.abstract_train_state(config, model, mesh))
    if resumed is not None:
        saver.last, state, restored_meta = resumed
        meta.update(restored_meta)
        if meta['plateau']:
            plateau.load_state_dict(meta['plateau'])
        if is_main:
            _LOG.info('resuming from %s/checkpoints/%d', workdir, saver.last)
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
                          mean=tuple(config.data.mean), std=tuple(config.data.std), teacher=teacher,
                          kd_temperature=config.distill.temperature, kd_weight=config.distill.weight),
        in_shardings=(distributed.replicated(mesh), distributed.data_sharded(mesh), distributed.replicated(mesh)),
        out_shardings=(distributed.replicated(mesh), distributed.replicated(mesh)), donate_argnums=0)
    eval_fn = evaluation.make_eval_fn(model, config.data, mesh)
    # The plateau's LR scale as a replicated global array (a jitted identity makes one on every process).
    scale_fn = jax.jit(lambda x: x, out_shardings=distributed.replicated(mesh))

    step = int(distributed.fetch(state.step))
    total = schedule.num_train_steps
    errors = DataErrors(count=int(meta['data_errors']))
    signals.start_training()  # a signal from here on stops the loop after its step (before: at once)
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
                    _LOG.info('plateau of eval %s: learning rate %.3g from step %d', metric, plateau.learning_rate,
                              step)
                state = state.replace(
                    lr_scale=scale_fn(jnp.float32(plateau.learning_rate / config.optim.learning_rate)))
                meta['plateau'] = plateau.state_dict()
                writer.write_scalars(step, {f'eval_{k}': v for k, v in last_eval.items()})
                if is_main:
                    _LOG.info('eval at step %d: loss %.4f Clip@1 %.3f Video@1 %.3f (%d videos, %d clips)', step,
                              last_eval['loss'], last_eval['clip_top1'], last_eval['video_top1'],
                              last_eval['num_videos'], last_eval['num_clips'])
            stop = signals.should_stop(step)  # every process, every step: they all stop after the same one
            if (is_ckpt or is_eval or stop) and saver.last != step:  # every evaluated step is saved: the best
                flush()
                meta['data_errors'] = skipped
                saver.save(step, state, {**meta, 'step': step, 'config': config.to_json()},
                           last_eval if is_eval else None)
            if stop and step < total:  # at the last step the run is simply done
                signals.saving_step = step
                saver.wait()  # the checkpoint is complete before the run says so
                raise signals.stopped(step)
        flush()
    finally:
        signals.finishing = True
        batches.close()
        try:
            # Also on a NaN stop or an error: finish the saves under way (their states were checked), so the
            # last good checkpoint is complete on disk rather than a temporary directory.
            saver.wait()
        finally:
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
