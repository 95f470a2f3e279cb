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

import flax
import jax
import ml_collections
import numpy as np
import orbax.checkpoint as ocp

from vtn_jax import distributed
from vtn_jax.data import synthetic
from vtn_jax.data import frames as frames_lib
from vtn_jax.models import encoders
from vtn_jax.models import pytorch_weights
from vtn_jax.models import vtn as vtn_lib
from vtn_jax.models.weights import CheckpointMismatchError, match_keys, read_npz

_LOG = logging.getLogger(__name__)
CHECKPOINTS = 'checkpoints'  # the folder of a training workdir that holds its orbax checkpoints
# ImageNet statistics: only to give random weights realistic BatchNorm statistics.
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _flat_shapes(template) -> dict:
    return {k: tuple(v.shape) for k, v in flax.traverse_util.flatten_dict(flax.core.unfreeze(template), sep='/').items()}


def save_flat_npz(variables, path) -> None:
    """Writes variables as an .npz of '<collection>/<module>/.../<leaf>' keys (read by `load_variables`)."""
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(variables), sep='/')
    np.savez(path, **{k: np.asarray(v) for k, v in flat.items()})


def _eval_loss(metrics) -> float:
    return float(metrics['eval_loss'])


def create_manager(workdir, *, max_to_keep: int = 2, read_only: bool = False) -> ocp.CheckpointManager:
    """The orbax manager of a training workdir (`<workdir>/checkpoints`): it keeps the latest `max_to_keep` steps and
    the step with the lowest validation loss (saved with metrics {'eval_loss'}), and knows which one that is.

    Saves are atomic: a run killed mid-save leaves a temporary directory that is ignored.
    """
    policy = ocp.checkpoint_managers.AnyPreservationPolicy([
        ocp.checkpoint_managers.LatestN(n=max_to_keep),
        ocp.checkpoint_managers.BestN(get_metric_fn=_eval_loss, reverse=True, n=1,
                                      keep_checkpoints_without_metrics=False)])
    options = ocp.CheckpointManagerOptions(preservation_policy=policy, best_fn=_eval_loss, best_mode='min',
                                           create=not read_only, read_only=read_only)
    handlers = {'state': ocp.StandardCheckpointHandler(), 'meta': ocp.JsonCheckpointHandler()}
    return ocp.CheckpointManager(pathlib.Path(workdir).resolve() / CHECKPOINTS, options=options,
                                 item_handlers=handlers)


def _find_step(workdir, which: str):
    """The step to read from a workdir: the best (lowest validation loss; the latest without one) or latest."""
    workdir = pathlib.Path(workdir).resolve()  # orbax wants absolute paths
    if not (workdir / CHECKPOINTS).is_dir():
        raise FileNotFoundError(f'no checkpoint in {workdir} (no {CHECKPOINTS}/ folder); train first or pass a '
                                'reference .pth/.npz checkpoint')
    with create_manager(workdir, read_only=True) as manager:
        step = manager.best_step() if which == 'best' else manager.latest_step()
        step = manager.latest_step() if step is None else step
    if step is None:
        raise FileNotFoundError(f'no finished checkpoint in {workdir / CHECKPOINTS}')
    return step


def read_run_config(workdir) -> ml_collections.ConfigDict:
    """The config a workdir was trained with (stored in each checkpoint's metadata)."""
    step = _find_step(workdir, 'latest')
    with create_manager(workdir, read_only=True) as manager:
        meta = manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    return ml_collections.ConfigDict(json.loads(meta['config']))


def restore_variables(workdir, model=None, *, which: str = 'best') -> dict:
    """Eval variables of a training workdir (its best checkpoint, else the latest), as numpy.

    The checkpoint is restored onto this process's devices, replicated, whatever topology saved it (a
    checkpoint written by many processes loads in one, and the other way round), from the shapes stored
    with it: no optimiser or train state needs to be rebuilt.

    Args:
        workdir: the `--workdir` of a training run.
        model: if given, the restored tree is matched against it (every key and shape).
        which: 'best' (lowest validation loss; the latest when no evaluation was saved) or 'latest'.
    """
    step = _find_step(workdir, which)
    sharding = distributed.replicated(distributed.create_mesh())
    with create_manager(workdir, read_only=True) as manager:
        stored = manager.item_metadata(step)['state']
        target = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=sharding), stored)
        restored = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(target))).state
    variables = distributed.fetch({k: restored[k] for k in ('params', 'batch_stats')})
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


__all__ = ['CheckpointMismatchError', 'load_variables', 'read_run_config', 'restore_variables', 'save_flat_npz',
           'read_flat_npz', 'random_variables', 'set_batch_stats']
