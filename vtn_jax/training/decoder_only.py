"""Embedding cache and decoder-only training: run a frozen encoder once over a split, then train or fine-tune
the decoder and classifier alone from the stored per-frame embeddings (minutes instead of hours). The
`vtn-embeddings` command (vtn_jax/tools/embeddings.py) runs both.

Clips are taken as the evaluation pipeline gives them (central crop, eval-mode encoder, every non-overlapping
segment of every video, padding dropped), so evaluating the decoder on a cache equals evaluating the full model
with that frozen encoder. A cache is an `.npz` of embeddings [N, S, D] float32, label [N], video_id [N], segment [N]
and optionally teacher_logits [N, K].
"""
import logging
import pathlib

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vtn_jax import metrics as metrics_lib
from vtn_jax.data import frames as frames_lib
from vtn_jax.data import input_pipeline
from vtn_jax.models import vtn as vtn_lib
from vtn_jax.training import losses
from vtn_jax.training import state as state_lib

_LOG = logging.getLogger(__name__)

TRAINABLE = ('decoder', 'head')  # what decoder-only training updates; the encoder (and `reduce`) stay frozen


def cache_split(config, variables, split: str, out_path, *, batch_size: int = 0, teacher=None,
                teacher_variables=None) -> dict:
    """Encodes every segment clip of `split` once and writes the cache; returns its arrays."""
    model = vtn_lib.create_model(config.model)
    mean, std = tuple(config.data.mean), tuple(config.data.std)  # the uint8 batches are normalised on the device
    encode = jax.jit(lambda v, x: model.apply(v, frames_lib.model_input(x, mean, std), method=vtn_lib.VTN.embed))
    teach = jax.jit(lambda v, x: teacher.apply(v, frames_lib.model_input(x, mean, std))) if teacher is not None \
        else None
    out = {'embeddings': [], 'label': [], 'video_id': [], 'segment': [], 'teacher_logits': []}
    batches = input_pipeline.create_split(config.data, split, batch_size=batch_size or config.train.eval_batch_size,
                                          mode='segments')
    for i, batch in enumerate(batches):
        keep = batch['mask']
        out['embeddings'].append(np.asarray(encode(variables, batch['video']))[keep])
        for key in ('label', 'video_id', 'segment'):
            out[key].append(batch[key][keep])
        if teach is not None:
            out['teacher_logits'].append(np.asarray(teach(teacher_variables, batch['video']))[keep])
        if (i + 1) % 10 == 0:
            _LOG.info('  cached %d clips', sum(len(x) for x in out['label']))
    arrays = {k: np.concatenate(v) for k, v in out.items() if v}
    out_path = pathlib.Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out_path, **arrays)
    _LOG.info('wrote %s: %d clips, embeddings %s', out_path, len(arrays['label']), arrays['embeddings'].shape)
    return arrays


def read_cache(path) -> dict:
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'embedding cache {path} does not exist (make it with the `cache` command)')
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    missing = {'embeddings', 'label', 'video_id'} - set(arrays)
    if missing:
        raise ValueError(f'{path} is not an embedding cache: it lacks {sorted(missing)}')
    return arrays


def evaluate_cache(model, variables, cache: dict, *, batch_size: int = 256) -> dict:
    """Clip@k / Video@k of the decoder on cached embeddings (= the full model with the frozen encoder)."""
    acc = metrics_lib.EvalAccumulator()
    n = len(cache['label'])
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        logits = vtn_lib.jit_apply(variables, cache['embeddings'][sl], model=model, method=vtn_lib.VTN.decode)
        acc.add(np.asarray(logits), cache['label'][sl], cache['video_id'][sl],
                np.ones(len(cache['label'][sl]), bool))
    return acc.compute()


def train_decoder(config, variables, train_cache: dict, *, steps: int, batch_size: int = 64, seed: int = 0,
                  log_every: int = 100) -> dict:
    """Trains the decoder and classifier on cached embeddings (Adam with L2, config.optim); returns variables.

    With `teacher_logits` in the cache and config.distill.enabled, the KD term is added as in training.
    """
    model = vtn_lib.create_model(config.model)
    params = flax.core.unfreeze(jax.tree.map(jnp.asarray, variables['params']))
    trainable = {k: params[k] for k in TRAINABLE}
    frozen = {k: v for k, v in params.items() if k not in TRAINABLE}
    tx = state_lib.create_optimizer(config.optim)
    opt_state = tx.init(trainable)
    use_kd = config.distill.enabled and 'teacher_logits' in train_cache

    @jax.jit
    def step(trainable, opt_state, emb, labels, teacher_logits, rng):
        def loss_fn(t):
            logits = model.apply({'params': {**frozen, **t}, 'batch_stats': variables['batch_stats']}, emb,
                                 method=vtn_lib.VTN.decode, train=True, rngs={'dropout': rng})
            loss = losses.cross_entropy_loss(logits, labels)
            if use_kd:
                loss += config.distill.weight * losses.distillation_loss(logits, teacher_logits,
                                                                         config.distill.temperature)
            return loss
        loss, grads = jax.value_and_grad(loss_fn)(trainable)
        updates, opt_state = tx.update(grads, opt_state, trainable)
        return optax.apply_updates(trainable, updates), opt_state, loss

    rng = np.random.default_rng(seed)
    n = len(train_cache['label'])
    key = jax.random.key(seed)
    for i in range(steps):
        idx = rng.integers(0, n, min(batch_size, n))
        teacher_logits = train_cache['teacher_logits'][idx] if use_kd else jnp.zeros(())
        trainable, opt_state, loss = step(trainable, opt_state, train_cache['embeddings'][idx],
                                          train_cache['label'][idx], teacher_logits, jax.random.fold_in(key, i))
        if log_every and (i + 1) % log_every == 0:
            _LOG.info('decoder step %d/%d loss %.4f', i + 1, steps, float(loss))
    return {'params': {**frozen, **trainable}, 'batch_stats': variables['batch_stats']}
