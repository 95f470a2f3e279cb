"""Weights from every source as VTN variables ({'params', 'batch_stats'}), through one function.

`load_variables(source, model)` takes a training workdir (orbax), the authors' `.pth`/`.npz` (or a torchvision
ImageNet ResNet for the encoder alone), our flat `.npz` (`save_flat_npz`), or '' (random weights, said loudly).
Every source is checked key by key and shape by shape against the configured model
(`vtn_jax.models.weights.match_keys`); nothing loads half-way. Workdir checkpoints also carry the config
they were trained with (`read_run_config`).
"""
import functools
import json
import logging
import pathlib
from typing import Any, Callable, Optional, Sequence

import flax
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from vtn_jax import distributed
from vtn_jax import configs
from vtn_jax.configs import default as default_config
from vtn_jax.errors import UserError, root_cause
from vtn_jax.data import synthetic
from vtn_jax.data import frames as frames_lib
from vtn_jax.models import encoders
from vtn_jax.models import pytorch_weights
from vtn_jax.models import vtn as vtn_lib
from vtn_jax.models.weights import CheckpointMismatchError, match_keys, read_npz

_LOG = logging.getLogger(__name__)
CHECKPOINTS = 'checkpoints'  # the folder of a training workdir that holds its orbax checkpoints
CORRUPT = 'corrupt_checkpoints'  # where a resuming run moves the finished steps that no longer restore
# ImageNet statistics: only to give random weights realistic BatchNorm statistics.
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _flat_shapes(template) -> dict:
    return {k: tuple(v.shape)
            for k, v in flax.traverse_util.flatten_dict(flax.core.unfreeze(template), sep='/').items()}


def save_flat_npz(variables, path) -> None:
    """Writes variables as an .npz of '<collection>/<module>/.../<leaf>' keys (read by `load_variables`)."""
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(variables), sep='/')
    np.savez(path, **{k: np.asarray(v) for k, v in flat.items()})


BEST_SCORE = 'best_score'  # in a checkpoint's metrics: the evaluation metric the run watches, lower is better


def checkpoint_metrics(eval_metrics: dict, metric: str, mode: str) -> dict:
    """The metrics saved with an evaluated step: every `eval_<name>` and `best_score`, the watched `metric`
    (config.optim.plateau_metric) signed so that lower is better (negated for mode 'max')."""
    value = float(eval_metrics[metric])
    out = {f'eval_{k}': float(v) for k, v in eval_metrics.items() if np.isscalar(v)}
    out[BEST_SCORE] = value if mode == 'min' else -value
    return out


def _best_score(metrics) -> float:
    if BEST_SCORE in metrics:
        return float(metrics[BEST_SCORE])
    return float(metrics['eval_loss'])  # checkpoints written before `best_score` existed ranked by eval loss


def create_manager(workdir, *, max_to_keep: int = 2, read_only: bool = False) -> ocp.CheckpointManager:
    """The orbax manager of a training workdir (`<workdir>/checkpoints`): it keeps the latest `max_to_keep` steps and
    the best evaluated step (lowest `best_score`: the metric optim.plateau_metric watches, see `checkpoint_metrics`),
    and knows which one that is.

    Saves are atomic: a run killed mid-save leaves a temporary directory that is ignored. A read-only manager
    restores 'state' with the PyTree handler (same format), so that readers can restore part of it.
    """
    policy = ocp.checkpoint_managers.AnyPreservationPolicy([
        ocp.checkpoint_managers.LatestN(n=max_to_keep),
        ocp.checkpoint_managers.BestN(get_metric_fn=_best_score, reverse=True, n=1,
                                      keep_checkpoints_without_metrics=False)])
    options = ocp.CheckpointManagerOptions(preservation_policy=policy, best_fn=_best_score, best_mode='min',
                                           create=not read_only, read_only=read_only)
    state = ocp.PyTreeCheckpointHandler() if read_only else ocp.StandardCheckpointHandler()
    handlers = {'state': state, 'meta': ocp.JsonCheckpointHandler()}
    return ocp.CheckpointManager(pathlib.Path(workdir).resolve() / CHECKPOINTS, options=options,
                                 item_handlers=handlers)


def has_steps(workdir) -> bool:
    """Whether a workdir holds a finished checkpoint step (orbax names them by their step; temporary ones are
    '<step>.orbax-checkpoint-tmp-*')."""
    folder = pathlib.Path(workdir) / CHECKPOINTS
    return folder.is_dir() and any(p.name.isdigit() for p in folder.iterdir())


def _checkpoint_dir(workdir) -> pathlib.Path:
    workdir = pathlib.Path(workdir).resolve()  # orbax wants absolute paths
    if not (workdir / CHECKPOINTS).is_dir():
        raise FileNotFoundError(f'no checkpoint in {workdir} (no {CHECKPOINTS}/ folder); train first or pass a '
                                'reference .pth/.npz checkpoint')
    return workdir / CHECKPOINTS


def restore_intact(folder, steps: Sequence[int], restore: Callable[[int], Any]) -> tuple[int, Any, dict]:
    """`restore(step)` of the first of `steps` that restores.

    A half-written step never reaches this (orbax ignores temporary directories), but a finished one can be
    damaged later (a truncated copy, zeroed blocks): its read fails in TensorStore, and the next step is tried.

    Returns:
        (the step used, what `restore` returned, {step: cause} of the steps before it that did not restore).

    Raises:
        UserError: no step restores (each named with its cause), or there is none.
    """
    failures = {}
    for step in steps:
        try:
            return step, restore(step), failures
        except Exception as e:  # noqa: BLE001  (orbax and TensorStore raise many types)
            failures[step] = root_cause(e)
    if not failures:
        raise UserError(f'no finished checkpoint in {folder}; train first')
    raise UserError(f'no checkpoint in {folder} restores ({describe_failures(failures)}): restore the folder from '
                    'a copy, or move it away to start the run afresh')


def describe_failures(failures: dict) -> str:
    """'step 6: <cause>; step 4: <cause>'."""
    return '; '.join(f'step {s}: {c}' for s, c in failures.items())


def _damaged(folder, failures: dict) -> str:
    """'checkpoint F/6 does not restore (<cause>)', or 'checkpoints F/6, F/5 do not restore (step 6: ...; ...)'."""
    if len(failures) == 1:
        (step, cause), = failures.items()
        return f'checkpoint {folder}/{step} does not restore ({cause})'
    return (f'checkpoints {", ".join(f"{folder}/{s}" for s in failures)} do not restore '
            f'({describe_failures(failures)})')


def restore_for_resume(manager, workdir, target) -> Optional[tuple[int, Any, dict]]:
    """(step, state, meta) of the newest step that restores with `target` (the TrainState's shapes), or None
    when there is no checkpoint.

    Newer steps that do not restore are named in one warning and moved by process 0 to
    `<workdir>/corrupt_checkpoints/` (kept for a look, out of orbax's way so the run can save those steps again).
    """
    steps = sorted(manager.all_steps(), reverse=True)
    if not steps:
        return None
    folder = pathlib.Path(workdir) / CHECKPOINTS

    def restore(step):
        restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target),
                                                                 meta=ocp.args.JsonRestore()))
        return restored.state, restored.meta

    step, (state, meta), failures = restore_intact(folder, steps, restore)
    if failures:
        aside = pathlib.Path(workdir) / CORRUPT
        if jax.process_index() == 0:
            aside.mkdir(exist_ok=True)
            for bad in failures:
                target_dir = aside / str(bad)
                while target_dir.exists():
                    target_dir = target_dir.with_name(target_dir.name + '_')
                (folder / str(bad)).rename(target_dir)
        _LOG.warning('%s: moved to %s/, resuming from step %d', _damaged(folder, failures), aside, step)
        distributed.barrier('vtn_corrupt_checkpoints_moved')
        manager.reload()
    return step, state, meta


def _reading_order(manager, which: str) -> list[int]:
    """The steps a reader tries: the best (lowest best_score; the latest without one) or the latest first, then
    the others newest first."""
    if which not in ('best', 'latest'):
        raise ValueError(f"which must be 'best' or 'latest', got {which!r}")
    steps = sorted(manager.all_steps(), reverse=True)
    first = manager.best_step() if which == 'best' else None
    first = steps[0] if first is None and steps else first
    return [first] + [s for s in steps if s != first] if steps else []


def read_run(workdir, which: str = 'best') -> tuple[int, dict, ml_collections.ConfigDict]:
    """(step, eval variables as numpy, full config) of one intact step of a training workdir: weights and config
    always come from the same step.

    The step is the best (the evaluated step that scored best on optim.plateau_metric; the latest when none was
    evaluated) or the latest; one that does not restore is named in a warning and the next newest is used.
    Only the variables are read (a damaged optimiser state does not matter here), onto this process's devices,
    replicated, whatever topology saved them (a checkpoint written by many processes loads in one, and the other
    way round), from the shapes stored with them.
    """
    folder = _checkpoint_dir(workdir)
    sharding = distributed.replicated(distributed.create_mesh())

    def restore(step):
        stored = manager.item_metadata(step)['state']
        stored = {k: stored[k] for k in ('params', 'batch_stats')}
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=sharding), stored)
        restored = manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.PyTreeRestore(item=target, restore_args=ocp.checkpoint_utils.construct_restore_args(
                target), partial_restore=True), meta=ocp.args.JsonRestore()))
        return distributed.fetch(dict(restored.state)), restored.meta

    with create_manager(workdir, read_only=True) as manager:
        step, (variables, meta), failures = restore_intact(folder, _reading_order(manager, which), restore)
    if failures:
        _LOG.warning('%s: using step %d', _damaged(folder, failures), step)
    return step, variables, full_config(json.loads(meta['config']), f'{folder}/{step}')


def full_config(stored: dict, source: str = 'the stored config') -> ml_collections.ConfigDict:
    """A complete config from a stored one: `configs/default.py`'s fields, updated with the stored values (so a
    config.json written before a field existed still gives every field; a field or value renamed since, in
    `configs.RENAMED_FIELDS` / `RENAMED_VALUES`, is read under its new name). Stored fields this version does not
    know are left out, named in one warning."""
    unknown = []

    def merge(base: dict, given: dict, prefix: str) -> dict:
        out = dict(base)
        for key, value in given.items():
            renamed = configs.RENAMED_FIELDS.get(prefix + key, prefix + key)
            key = renamed[len(prefix):] if renamed.startswith(prefix) else key
            if isinstance(value, str):
                value = configs.RENAMED_VALUES.get(prefix + key, {}).get(value, value)
            if key not in base:
                unknown.append(prefix + key)
            elif isinstance(base[key], dict):
                out[key] = merge(base[key], value, f'{prefix}{key}.')
            else:
                out[key] = tuple(value) if isinstance(base[key], tuple) and isinstance(value, list) else value
        return out

    merged = merge(default_config.get_config().to_dict(), stored, '')
    if unknown:
        _LOG.warning('%s has fields this version does not know, left out: %s', source, ', '.join(unknown))
    return ml_collections.ConfigDict(merged)


def read_run_config(workdir, which: str = 'best') -> ml_collections.ConfigDict:
    """The full config a workdir was trained with, from the step whose weights `restore_variables(workdir, which=
    which)` reads (see `read_run`)."""
    return read_run(workdir, which)[2]


def restore_variables(workdir, model=None, *, which: str = 'best') -> dict:
    """Eval variables of a training workdir, as numpy (see `read_run` for the step and the fall-back).

    Args:
        workdir: the `--workdir` of a training run.
        model: if given, the restored tree is matched against it (every key and shape).
        which: 'best' (best evaluated on optim.plateau_metric; the latest when no evaluation was saved) or 'latest'.
    """
    step, variables, _ = read_run(workdir, which)
    if model is not None:
        given = flax.traverse_util.flatten_dict(variables, sep='/')
        match_keys(_flat_shapes(vtn_lib.abstract_variables(model)), given,
                   source=f'{pathlib.Path(workdir) / CHECKPOINTS}/{step}')
    return variables


def read_flat_npz(path, model, given=None) -> dict:
    """Variables from our own flat `.npz` (`save_flat_npz`; `given`: its arrays if already read), matched
    strictly against `model`."""
    given = read_npz(path) if given is None else given
    expected = _flat_shapes(vtn_lib.abstract_variables(model))
    match_keys(expected, given, source=str(path))
    return flax.traverse_util.unflatten_dict({k: given[k].astype(np.float32) for k in expected}, sep='/')


def set_batch_stats(model: vtn_lib.VTN, variables, video_BTHWC) -> dict:
    """Replaces the BatchNorm running statistics by the statistics of `video` (one train-mode pass).

    Freshly initialised running statistics (mean 0, variance 1) let activations shrink layer after layer:
    a random MobileNetV2's embeddings come out around 1e-14, so comparing exported embeddings with JAX's
    proves nothing and INT8 calibration sees zeros. With batch statistics every layer's output has unit
    scale, as in a trained network. Flax updates r' = m r + (1 - m) b, so b = (r' - m r) / (1 - m).
    """
    momentum = encoders.BatchNorm.keywords['momentum']
    updated = _train_mode_stats(variables, video_BTHWC, model=model)
    stats = jax.tree.map(lambda new, old: (new - momentum * old) / (1.0 - momentum),
                         updated['batch_stats'], variables['batch_stats'])
    return jax.tree.map(np.asarray, {**variables, 'batch_stats': stats})


@functools.partial(jax.jit, static_argnames='model')
def _train_mode_stats(variables, video_BTHWC, *, model: vtn_lib.VTN):
    """The updated batch_stats of one train-mode pass (compiled once per model and shape)."""
    _, updated = model.apply(variables, video_BTHWC, train=True, mutable=['batch_stats'],
                             rngs={'dropout': jax.random.key(0)})
    return updated


def random_variables(model: vtn_lib.VTN, *, image_size: int, seed: int = 0) -> dict:
    """Randomly initialised variables with the BatchNorm statistics of two random clips (for tests and timing)."""
    variables = vtn_lib.init_variables(model, jax.random.key(seed), image_size=image_size)
    clips = frames_lib.normalize(synthetic.random_clips(2, model.num_frames, image_size, seed + 2),
                                 _IMAGENET_MEAN, _IMAGENET_STD)
    return set_batch_stats(model, variables, clips)


def load_variables(source, model: vtn_lib.VTN, *, image_size: int = 224, seed: int = 0,
                   new_head: bool = False) -> tuple[dict, str]:
    """Eval variables for `model` from any source, and a description of where they came from.

    Args:
        source: '' (random initialisation, logged loudly), a training workdir (orbax), our flat `.npz`
            (`save_flat_npz`), or the authors' `.pth`/`.npz` / a torchvision ResNet.
        model: the configured VTN.
        image_size: frame side of the random clips that give random weights their BatchNorm statistics.
        seed: the initialisation seed when `source` is '' (every command passes `config.train.seed`: the one place
            random weights come from).
        new_head: for the authors' files: keep the model's own classifier (fine-tuning to other classes).

    Raises:
        CheckpointMismatchError: a file that cannot be read or does not fit the model, naming the keys.
        FileNotFoundError: a path that does not exist.
    """
    if not source:
        _LOG.warning('=' * 78)
        _LOG.warning('NO CHECKPOINT: RANDOMLY INITIALISED WEIGHTS (seed %d). Predictions are meaningless; use '
                     'this only to try the pipeline, for tests and for timing.', seed)
        _LOG.warning('=' * 78)
        return (random_variables(model, image_size=image_size, seed=seed),
                f'RANDOM INITIALISATION (seed {seed}; batch statistics of 2 random clips)')
    path = pathlib.Path(source)
    if path.is_dir():
        return restore_variables(path, model), f'workdir {path}'
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    if path.suffix == '.npz':
        given = read_npz(path)  # a corrupt file fails here, with its name, whatever its keys
        if any(k.startswith(('params/', 'batch_stats/')) for k in given):
            return read_flat_npz(path, model, given), f'flat npz {path}'
    template = vtn_lib.abstract_variables(model)
    return (pytorch_weights.load_pytorch_weights(path, model, template, new_head=new_head),
            f'reference checkpoint {path}')


__all__ = ['CheckpointMismatchError', 'load_variables', 'read_run', 'read_run_config', 'restore_variables',
           'save_flat_npz', 'read_flat_npz', 'random_variables', 'set_batch_stats']
