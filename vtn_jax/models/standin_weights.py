"""The authors' models as deterministic stand-ins, for parity checks without their 100 MB checkpoints.

`make_state_dict(model, seed)` rebuilds, from (model name, seed) alone, a state dict with exactly the keys and
shapes of the authors' checkpoints (`reference_state_dicts.txt`, read off their code at d014ee02), and
`make_clip(seed, shape)` a deterministic normalised input batch. The parity fixtures (`tests/data/parity/*.npz`)
hold what the authors' own PyTorch code computed for them; a port that loads these weights and reproduces those
logits reads the authors' checkpoints faithfully.

Rules: every tensor has its own generator `np.random.default_rng([seed, zlib.crc32(key)])` and uses uniform
draws and elementary float64 arithmetic only (the values depend on neither platform maths libraries nor
numpy's samplers). Conv weights He-scaled (std sqrt(2 / fan_in)); Linear weights and attention projections std
1/sqrt(fan_in); BatchNorm scales U(0.5, 1.5) except the BN that closes a block's branch (U(0.1, 0.3) for the
ResNet basic block's and bottleneck's `bn2`/`bn3`, U(0.25, 0.75) for MobileNetV2's linear bottleneck); biases,
BN shifts, running means and LayerNorm shifts U(-0.2, 0.2); running variances U(0.5, 2); LayerNorm scales
U(0.5, 1.5); the position table U(-1, 1); `num_batches_tracked` 0.
"""
import functools
import pathlib
import re
import zlib

import jax
import jax.numpy as jnp
import numpy as np

from vtn_jax.models import pytorch_weights
from vtn_jax.models import vtn as vtn_lib

STATE_DICTS = pathlib.Path(__file__).resolve().parent / 'reference_state_dicts.txt'
CLIP_SHAPE = (2, 16, 3, 224, 224)  # (B, T, C, H, W), the layout the authors' model takes

# Reference model name -> (title of its section in STATE_DICTS, VTN fields).
MODELS = {
    'resnet34_vtn': ('resnet34 VTN (RGB)', dict(encoder='resnet34', modality='rgb')),
    'resnet34_vtn_rgbdiff': ('resnet34 VTN rgbdiff', dict(encoder='resnet34', modality='rgbdiff')),
    'mobilenetv2_vtn': ('mobilenetv2 VTN (RGB)', dict(encoder='mobilenetv2', modality='rgb')),
    'resnet50_vtn': ('resnet50 VTN (RGB)', dict(encoder='resnet50', modality='rgb')),
    'se_resnext101_vtn': ('se_resnext101_32x4d VTN (RGB)', dict(encoder='se_resnext101_32x4d', modality='rgb')),
}

# BatchNorm scale ranges of the BN that closes each block's branch: in eval mode nothing renormalises the
# residual stream, so U(0.5, 1.5) everywhere would grow the features about 1.5x per block.
_BLOCK_CLOSING_BN = [
    (re.compile(r'\.bn3\.weight$'), (0.1, 0.3)),
    (re.compile(r'\.bn2\.weight$'), (0.1, 0.3)),
    (re.compile(r'(^|\.)resnet\.(1\.conv\.4|\d+\.conv\.7)\.weight$'), (0.25, 0.75)),
]


def read_shapes(model: str) -> dict[str, tuple[int, ...]]:
    """{key: shape} of the authors' state dict of `model`, in their key order."""
    if model not in MODELS:
        raise KeyError(f'unknown reference model {model!r}; choose one of {sorted(MODELS)}')
    shapes, inside = {}, False
    for line in STATE_DICTS.read_text().splitlines():
        if line.startswith('## '):
            inside = line[3:].startswith(MODELS[model][0])
        elif inside and line and not line.startswith('#'):
            key, shape = line.split()
            shapes[key] = tuple(int(d) for d in shape.strip('()').split(',') if d)
    return shapes


def _uniform_std(rng, std, shape):
    a = np.sqrt(3.0) * std  # zero-mean uniform with this standard deviation
    return rng.uniform(-a, a, shape)


def make_tensor(key: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """The recipe's value of one state-dict entry (float32; int64 for num_batches_tracked)."""
    if key.endswith('num_batches_tracked'):
        return np.zeros(shape, np.int64)
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    name = key.rsplit('.', 1)[-1]
    if name == 'running_mean':
        value = rng.uniform(-0.2, 0.2, shape)
    elif name == 'running_var':
        value = rng.uniform(0.5, 2.0, shape)
    elif key.endswith('position_encoding.enc.weight'):
        value = rng.uniform(-1.0, 1.0, shape)
    elif name in ('w_qs', 'w_ks', 'w_vs'):
        value = _uniform_std(rng, 1.0 / np.sqrt(shape[1]), shape)  # (heads, d_model, d_head): fan-in d_model
    elif name == 'a_2':
        value = rng.uniform(0.5, 1.5, shape)
    elif name in ('bias', 'b_2'):
        value = rng.uniform(-0.2, 0.2, shape)
    elif name == 'weight' and len(shape) == 1:  # every 1-D weight in these models is a BatchNorm scale
        low, high = next((r for p, r in _BLOCK_CLOSING_BN if p.search(key)), (0.5, 1.5))
        value = rng.uniform(low, high, shape)
    elif name == 'weight' and len(shape) >= 3:  # Conv1d / Conv2d (out, in / groups, *kernel)
        value = _uniform_std(rng, np.sqrt(2.0 / np.prod(shape[1:])), shape)
    elif name == 'weight' and len(shape) == 2:  # Linear (out, in)
        value = _uniform_std(rng, 1.0 / np.sqrt(shape[1]), shape)
    else:
        raise KeyError(f'no rule for state-dict key {key!r} with shape {shape}')
    return value.astype(np.float32)


def make_state_dict(model: str, seed: int) -> dict[str, np.ndarray]:
    """The deterministic stand-in state dict of a reference model (keys in the authors' order)."""
    return {key: make_tensor(key, shape, seed) for key, shape in read_shapes(model).items()}


def make_clip(seed: int, shape: tuple[int, ...] = CLIP_SHAPE) -> np.ndarray:
    """A deterministic batch of normalised clips (B, T, C, H, W): a coarse 3x3 colour pattern that drifts over
    time, with a per-clip contrast and colour cast and pixel noise (std about 1.2). Clip b depends only on
    (seed, b), so clip 0 of a batch equals a batch of one."""
    batch, frames, channels, height, width = shape
    cells = 3
    rows = np.arange(height) * cells // height  # nearest-neighbour upsampling of the cells
    cols = np.arange(width) * cells // width
    clips = []
    for b in range(batch):
        rng = np.random.default_rng([seed, b])
        start = rng.uniform(-1.0, 1.0, (1, channels, cells, cells))
        velocity = rng.uniform(-0.4, 0.4, (1, channels, cells, cells))
        path = np.cumsum(velocity + rng.uniform(-0.4, 0.4, (frames, channels, cells, cells)), axis=0)
        path -= path.mean(axis=0)
        contrast = rng.uniform(0.5, 1.5)
        cast = rng.uniform(-1.0, 1.0, (1, channels, 1, 1))
        noise = rng.uniform(-0.3, 0.3, (frames, channels, height, width))
        pattern = (start + path)[:, :, rows[:, None], cols[None, :]]
        clips.append(contrast * pattern + cast + noise)
    return np.stack(clips).astype(np.float32)


def model_for(name: str):
    """The VTN of a reference model (400 classes, 16 frames, as the authors' constructors)."""
    if name not in MODELS:
        raise KeyError(f'unknown reference model {name!r}; known: {sorted(MODELS)}')
    return vtn_lib.VTN(num_classes=400, num_frames=16, **MODELS[name][1])


def reference_variables(model, name: str, seed: int) -> dict:
    """The stand-in weights of (name, seed), loaded through the strict import of the authors' checkpoints."""
    return pytorch_weights.to_variables(make_state_dict(name, seed), model, vtn_lib.abstract_variables(model),
                                        source=f'{name} seed {seed}')


@functools.partial(jax.jit, static_argnames='model')
def _outputs(variables, video_BTHWC, *, model: vtn_lib.VTN):
    """(embeddings, decoder output, logits): what a fixture holds (compiled once per model and clip shape)."""
    emb = model.apply(variables, video_BTHWC, method=vtn_lib.VTN.embed)
    out = model.apply(variables, emb, method=lambda m, e: m.temporal(e, deterministic=True))
    return emb, out, model.apply(variables, emb, method=vtn_lib.VTN.decode)


def check_fixture(path) -> dict[str, float]:
    """Max absolute differences of logits, embeddings and decoder output against one fixture file (the seeds
    and input shape are read from the file)."""
    fixture = np.load(path)
    name = str(fixture['model'])
    model = model_for(name)
    variables = reference_variables(model, name, int(fixture['weight_seed']))
    clip_BTCHW = make_clip(int(fixture['input_seed']), tuple(int(d) for d in fixture['input_shape']))
    video = jnp.asarray(clip_BTCHW.transpose(0, 1, 3, 4, 2))  # the authors' model is channels-first
    emb, out, logits = _outputs(variables, video, model=model)
    return {'logits': float(np.abs(np.asarray(logits) - fixture['logits']).max()),
            'embeddings': float(np.abs(np.asarray(emb) - fixture['embeddings']).max()),
            'decoder_out': float(np.abs(np.asarray(out) - fixture['decoder_out']).max())}
