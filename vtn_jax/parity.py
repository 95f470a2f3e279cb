"""Parity against the authors' PyTorch VTN: rebuild their deterministic weights, run ours, compare.

The fixtures (`shared/data/parity/*.npz`) hold what the reference code computed; the weights and clips are
rebuilt by `shared/tools/reference_state_dict.py`. Run all checks:

    python -m vtn_jax.parity --shared ../shared
"""
import argparse
import pathlib
import sys

import jax
import jax.numpy as jnp
import numpy as np

from vtn_jax import checkpoints
from vtn_jax import model as model_lib

# Fixture model name -> VTN fields (the reference constructors of shared/data/parity/README.md).
REFERENCE_MODELS = {
    'resnet34_vtn': dict(encoder='resnet34', modality='rgb'),
    'resnet34_vtn_rgbdiff': dict(encoder='resnet34', modality='rgbdiff'),
    'mobilenetv2_vtn': dict(encoder='mobilenetv2', modality='rgb'),
}


def model_for(name: str) -> model_lib.VTN:
    if name not in REFERENCE_MODELS:
        raise KeyError(f'unknown reference model {name!r}; known: {sorted(REFERENCE_MODELS)}')
    return model_lib.VTN(num_classes=400, num_frames=16, **REFERENCE_MODELS[name])


def reference_variables(model, name, seed, make_state_dict):
    """The reference's stand-in weights for (name, seed), loaded through the strict import path."""
    template = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0)))
    return checkpoints.to_variables(make_state_dict(name, seed), model, template, source=f'{name} seed {seed}')


def check_fixture(path, make_state_dict, make_clip) -> dict[str, float]:
    """Max absolute differences of logits, embeddings and decoder output against one fixture file."""
    fixture = np.load(path)
    name = str(fixture['model'])
    model = model_for(name)
    variables = reference_variables(model, name, int(fixture['weight_seed']), make_state_dict)
    clip_BTCHW = make_clip(int(fixture['input_seed']), tuple(int(d) for d in fixture['input_shape']))
    video = jnp.asarray(clip_BTCHW.transpose(0, 1, 3, 4, 2))  # the reference is channels-first

    def run(v, x):
        frames = model_lib.model_frames(x, model.modality)
        b, s = frames.shape[:2]
        emb = model.apply(v, frames.reshape((b * s,) + frames.shape[2:]), method=model_lib.VTN.encode)
        emb = emb.reshape(b, s, -1)
        out = model.apply(v, emb, method=lambda m, e: m.temporal(e, deterministic=True))
        return emb, out, model.apply(v, emb, method=model_lib.VTN.decode)

    emb, out, logits = jax.jit(run)(variables, video)
    return {'logits': float(np.abs(np.asarray(logits) - fixture['logits']).max()),
            'embeddings': float(np.abs(np.asarray(emb) - fixture['embeddings']).max()),
            'decoder_out': float(np.abs(np.asarray(out) - fixture['decoder_out']).max())}


def main():
    parser = argparse.ArgumentParser(description='Compare vtn_jax with the reference PyTorch VTN fixtures.')
    parser.add_argument('--shared', default='../shared', help='the shared folder (tools/ and data/parity/)')
    parser.add_argument('--fixtures', default='', help='fixture folder (default: <shared>/data/parity)')
    args = parser.parse_args()
    shared = pathlib.Path(args.shared)
    sys.path.insert(0, str(shared / 'tools'))
    import reference_state_dict  # pylint: disable=import-outside-toplevel
    folder = pathlib.Path(args.fixtures) if args.fixtures else shared / 'data' / 'parity'
    files = sorted(folder.glob('*.npz'))
    if not files:
        sys.exit(f'no parity fixtures (*.npz) in {folder}')
    print('| fixture | logits | embeddings | decoder_out |\n|---|---|---|---|')
    worst = 0.0
    for path in files:
        r = check_fixture(path, reference_state_dict.make_state_dict, reference_state_dict.make_clip)
        worst = max(worst, *r.values())
        print(f'| {path.stem} | {r["logits"]:.2e} | {r["embeddings"]:.2e} | {r["decoder_out"]:.2e} |', flush=True)
    print(f'largest difference {worst:.2e} (gate 1e-4)')
    sys.exit(0 if worst <= 1e-4 else 1)


if __name__ == '__main__':
    main()
