r"""Embedding cache and decoder-only training: run a frozen encoder once over a split, then train or fine-tune
the decoder and classifier alone from the stored per-frame embeddings (minutes instead of hours).

    python -m vtn_jax.embedding_cache cache --config configs/demo.py --checkpoint runs/demo/train \
        --split train --out runs/cache/train.npz
    python -m vtn_jax.embedding_cache cache --config configs/demo.py --checkpoint runs/demo/train \
        --split test --out runs/cache/test.npz
    python -m vtn_jax.embedding_cache train --config configs/demo.py --checkpoint runs/demo/train \
        --train_cache runs/cache/train.npz --eval_cache runs/cache/test.npz --steps 500 --out runs/cache/decoder.npz

Clips are taken as the evaluation pipeline gives them (central crop, eval-mode encoder, every non-overlapping
segment of every video, padding dropped), so evaluating the decoder on a cache equals evaluating the full model
with that frozen encoder. A cache is an `.npz` of embeddings [N, S, D] float32, label [N], video_id [N], segment [N]
and optionally teacher_logits [N, K].
"""
import argparse
import functools
import pathlib

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax

from vtn_jax import input_pipeline
from vtn_jax import metrics as metrics_lib
from vtn_jax import model as model_lib
from vtn_jax import trainer

TRAINABLE = ('decoder', 'head')  # what decoder-only training updates; the encoder (and `reduce`) stay frozen


def encode_clips(model, variables, video_BTHWC):
    """Per-step embeddings [B, S, D] of clips, in eval mode."""
    frames = model_lib.model_frames(video_BTHWC, model.modality)
    b, s = frames.shape[:2]
    emb = model.apply(variables, frames.reshape((b * s,) + frames.shape[2:]), method=model_lib.VTN.encode)
    return emb.reshape(b, s, -1)


def cache_split(config, variables, split: str, out_path, *, batch_size: int = 0, teacher=None,
                teacher_variables=None) -> dict:
    """Encodes every segment clip of `split` once and writes the cache; returns its arrays."""
    model = model_lib.create_model(config.model)
    encode = jax.jit(functools.partial(encode_clips, model))
    teach = jax.jit(lambda v, x: teacher.apply(v, x)) if teacher is not None else None
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
            print(f'  cached {sum(len(x) for x in out["label"])} clips', flush=True)
    arrays = {k: np.concatenate(v) for k, v in out.items() if v}
    out_path = pathlib.Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out_path, **arrays)
    print(f'wrote {out_path}: {len(arrays["label"])} clips, embeddings {arrays["embeddings"].shape}', flush=True)
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
    decode = jax.jit(lambda v, e: model.apply(v, e, method=model_lib.VTN.decode))
    acc = metrics_lib.EvalAccumulator()
    n = len(cache['label'])
    for start in range(0, n, batch_size):
        sl = slice(start, start + batch_size)
        acc.add(np.asarray(decode(variables, cache['embeddings'][sl])), cache['label'][sl], cache['video_id'][sl],
                np.ones(len(cache['label'][sl]), bool))
    return acc.compute()


def train_decoder(config, variables, train_cache: dict, *, steps: int, batch_size: int = 64, seed: int = 0,
                  log_every: int = 100) -> dict:
    """Trains the decoder and classifier on cached embeddings (Adam with L2, config.optim); returns variables.

    With `teacher_logits` in the cache and config.distill.enabled, the KD term is added as in training.
    """
    model = model_lib.create_model(config.model)
    params = flax.core.unfreeze(jax.tree.map(jnp.asarray, variables['params']))
    trainable = {k: params[k] for k in TRAINABLE}
    frozen = {k: v for k, v in params.items() if k not in TRAINABLE}
    tx = trainer.create_optimizer(config.optim)
    opt_state = tx.init(trainable)
    use_kd = config.distill.enabled and 'teacher_logits' in train_cache

    @jax.jit
    def step(trainable, opt_state, emb, labels, teacher_logits, rng):
        def loss_fn(t):
            logits = model.apply({'params': {**frozen, **t}, 'batch_stats': variables['batch_stats']}, emb,
                                 method=model_lib.VTN.decode, train=True, rngs={'dropout': rng})
            loss = trainer.cross_entropy_loss(logits, labels)
            if use_kd:
                loss += config.distill.weight * trainer.distillation_loss(logits, teacher_logits,
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
            print(f'decoder step {i + 1}/{steps} loss {float(loss):.4f}', flush=True)
    return {'params': {**frozen, **trainable}, 'batch_stats': variables['batch_stats']}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for name in ('cache', 'train'):
        p = sub.add_parser(name)
        p.add_argument('--config', required=True, help='config file (configs/<name>.py)')
        p.add_argument('--checkpoint', required=True, help='training workdir or reference .pth/.npz (the encoder)')
        p.add_argument('--data_dir', default='', help='override config.data.data_dir')
    c = sub.choices['cache']
    c.add_argument('--split', required=True, help='TFDS split to encode')
    c.add_argument('--out', required=True, help='output .npz')
    t = sub.choices['train']
    t.add_argument('--train_cache', required=True)
    t.add_argument('--eval_cache', required=True)
    t.add_argument('--steps', type=int, default=500)
    t.add_argument('--batch_size', type=int, default=64)
    t.add_argument('--out', default='', help='write the trained variables as a flat .npz')
    args = parser.parse_args()
    from vtn_jax import demo, export  # pylint: disable=import-outside-toplevel
    config = demo.load_config(args.config)
    if args.data_dir:
        config.data.data_dir = args.data_dir
    model = model_lib.create_model(config.model)
    variables, _ = export.load_variables(args.checkpoint, model, image_size=config.data.crop_size)
    if args.command == 'cache':
        cache_split(config, variables, args.split, args.out)
        return
    train_cache, eval_cache = read_cache(args.train_cache), read_cache(args.eval_cache)
    print('before:', evaluate_cache(model, variables, eval_cache), flush=True)
    variables = train_decoder(config, variables, train_cache, steps=args.steps, batch_size=args.batch_size)
    print('after:', evaluate_cache(model, variables, eval_cache), flush=True)
    if args.out:
        export.save_flat_npz(variables, args.out)


if __name__ == '__main__':
    main()
