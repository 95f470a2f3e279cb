"""The authors' PyTorch checkpoints (and the encoders' ImageNet checkpoints) as VTN variables.

Every Flax leaf has exactly one PyTorch key (`torch_key`), computed from the Flax path, so the mapping is
checked in both directions by `weights.match_keys`: a key the model needs but the checkpoint lacks, a key the
checkpoint has but the model does not use, and a tensor of the wrong shape each raise `CheckpointMismatchError`
naming the key and both shapes. Pickled `.pth` files are read with `torch.load(..., weights_only=True)` only
(a pickle can run code); torch is optional and `.npz` files of the same keys need no torch at all.
"""
import pathlib
import pickle
import re
from typing import Mapping

import flax
import jax
import numpy as np

from vtn_jax.models import pretrained
from vtn_jax.models import vtn as vtn_lib
from vtn_jax.models.weights import CheckpointMismatchError, match_keys, read_npz

BN_LEAVES = {'scale': 'weight', 'bias': 'bias', 'mean': 'running_mean', 'var': 'running_var'}
REFERENCE_PREFIXES = ('module.', 'motion_decoder.')


def read_state_dict(path) -> dict[str, np.ndarray]:
    """Reads a PyTorch `.pth`/`.pt` (weights only) or a `.npz` of reference keys into {key: float array}.

    A training checkpoint `{'epoch', 'state_dict', ...}` is unwrapped; `module.` prefixes (nn.DataParallel)
    are stripped later by `to_variables`.
    """
    path = pathlib.Path(path)
    if path.suffix == '.npz':
        return read_npz(path)
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    try:
        import torch
    except ImportError as e:
        raise ImportError(f'reading {path} needs torch: pip install torch==2.13.0 (CPU build), or convert the '
                          'checkpoint to .npz with tools that have torch') from e
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointMismatchError(
            f'{path} holds Python objects besides tensors, which a weights-only load refuses; vtn_jax never '
            'loads a checkpoint any other way (a pickle can run code). Save its state_dict alone '
            '(torch.save(model.state_dict(), path)) or convert it to .npz where you trust the file.') from e
    except Exception as e:  # torch raises many types for corrupt files
        raise CheckpointMismatchError(f'cannot read {path} as a PyTorch checkpoint: {type(e).__name__}: '
                                      f'{str(e).splitlines()[0] if str(e) else ""}') from e
    if isinstance(obj, Mapping) and 'state_dict' in obj:
        obj = obj['state_dict']
    if not isinstance(obj, Mapping):
        raise CheckpointMismatchError(f'{path} holds a {type(obj).__name__}, not a state dict')
    return {k: v.detach().cpu().numpy() for k, v in obj.items() if hasattr(v, 'detach')}


def _encoder_torch_name(encoder: str, parts: list[str]) -> str:
    """Encoder module path (without the leaf) -> the reference's `resnet.*` key stem."""
    head, rest = parts[0], parts[1:]
    if encoder == 'mobilenetv2':
        if head == 'stem_conv':
            return 'resnet.0.0'
        if head == 'stem_bn':
            return 'resnet.0.1'
        if head == 'head_conv':
            return 'resnet.18.0'
        if head == 'head_bn':
            return 'resnet.18.1'
        block = int(head[len('block'):])
        index = rest[0].split('_')[1]
        return f'resnet.{block}.conv.{index}'
    se = encoder.startswith('se_')
    if head == 'stem_conv':
        return 'resnet.0.conv1' if se else 'resnet.0'
    if head == 'stem_bn':
        return 'resnet.0.bn1' if se else 'resnet.1'
    m = re.fullmatch(r'layer(\d)_(\d+)', head)
    stage = int(m.group(1)) + (0 if se else 3)  # ResNet trunk: conv, bn, relu, maxpool, layer1..4
    layer = {'downsample_conv': 'downsample.0', 'downsample_bn': 'downsample.1',
             'se_fc1': 'se_module.fc1', 'se_fc2': 'se_module.fc2'}.get(rest[0], rest[0])
    return f'resnet.{stage}.{m.group(2)}.{layer}'


def torch_key(encoder: str, collection: str, path: tuple[str, ...]) -> str:
    """The reference state-dict key of one Flax leaf of a VTN."""
    parts, leaf = list(path[:-1]), path[-1]
    top = parts[0]
    if top == 'encoder':
        stem = _encoder_torch_name(encoder, parts[1:])
        if collection == 'batch_stats' or (leaf == 'scale'):
            return f'{stem}.{BN_LEAVES[leaf]}'
        return f'{stem}.{"weight" if leaf == "kernel" else leaf}'
    if top == 'reduce':
        return f'reduce_conv.{"weight" if leaf == "kernel" else leaf}'
    if top == 'head':
        return f'fc.{"weight" if leaf == "kernel" else leaf}'
    if top == 'decoder':
        if leaf == 'position_table':
            return 'self_attention_decoder.position_encoding.enc.weight'
        layer = int(parts[1][len('block'):])
        stem = f'self_attention_decoder.layers.{layer}'
        sub = {'attention': 'slf_attn', 'ffn': 'pos_ffn'}[parts[2]]
        if parts[3:] == ['layer_norm']:
            return f'{stem}.{sub}.layer_norm.{"a_2" if leaf == "scale" else "b_2"}'
        if len(parts) == 3:  # w_qs / w_ks / w_vs
            return f'{stem}.{sub}.{leaf}'
        return f'{stem}.{sub}.{parts[3]}.{"weight" if leaf == "kernel" else leaf}'
    raise KeyError(f'no reference key for Flax path {collection}/{"/".join(path)}')


def _to_flax(path: tuple[str, ...], array: np.ndarray) -> np.ndarray:
    """Converts a reference tensor to the layout of the Flax leaf at `path`."""
    if path[-1] != 'kernel':
        return array
    if array.ndim == 4 and path[0] != 'reduce':
        return array.transpose(2, 3, 1, 0)  # conv OIHW -> HWIO
    return array.reshape(array.shape[:2]).T  # Linear (O, I), Conv1d (O, I, 1), 1x1 reduce (O, I, 1, 1)


def _torch_shape(path: tuple[str, ...], flax_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The reference shape that converts to `flax_shape` (used in error messages and checks)."""
    if path[-1] != 'kernel':
        return tuple(flax_shape)
    if len(flax_shape) == 4:
        h, w, i, o = flax_shape
        return (o, i, h, w)
    i, o = flax_shape
    if path[0] == 'reduce':
        return (o, i, 1, 1)
    if path[0] == 'decoder':
        return (o, i, 1)
    return (o, i)


def strip_prefixes(state_dict: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Removes `module.` (DataParallel) and `motion_decoder.` (RGB-diff wrapper) prefixes."""
    out = {}
    for key, value in state_dict.items():
        for prefix in REFERENCE_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        out[key] = value
    return out


def to_variables(state_dict: Mapping[str, np.ndarray], model: vtn_lib.VTN, template, *,
                 new_head: bool = False, source: str = 'checkpoint'):
    """Maps a reference state dict onto a VTN's variables, strictly.

    Args:
        state_dict: {reference key: array}, as `read_state_dict` returns it.
        model: the configured VTN (its encoder name picks the key scheme).
        template: the model's variables (values or ShapeDtypeStructs) giving every leaf's path and shape.
        new_head: keep the template's classifier and ignore `fc.*` (fine-tuning to another class count).
        source: a name for error messages (the file path).

    Returns:
        A variables dict {'params', 'batch_stats'} of float32 numpy arrays.

    Raises:
        CheckpointMismatchError: naming every missing, unexpected or wrongly shaped key.
    """
    given = {k: v for k, v in strip_prefixes(state_dict).items() if not k.endswith('num_batches_tracked')}
    leaves = {}  # torch key -> (collection, flax path, template leaf)
    for collection, tree in template.items():
        for path, leaf in flax.traverse_util.flatten_dict(flax.core.unfreeze(tree)).items():
            leaves[torch_key(model.encoder, collection, path)] = (collection, path, leaf)
    expected = {key: _torch_shape(path, leaf.shape) for key, (_, path, leaf) in leaves.items()
                if not (new_head and path[0] == 'head')}
    match_keys(expected, given, source=source, ignore=('fc.',) if new_head else (),
               context=f'encoder={model.encoder}, modality={model.modality}, num_classes={model.num_classes}, '
                       f'num_frames={model.num_frames}')
    out = {collection: {} for collection in template}
    for key, (collection, path, leaf) in leaves.items():
        value = np.asarray(leaf) if key not in expected else _to_flax(path, np.asarray(given[key]))
        out[collection][path] = value.astype(np.float32)
    return {collection: flax.traverse_util.unflatten_dict(flat) for collection, flat in out.items()}


def from_imagenet(state_dict: Mapping[str, np.ndarray], model: vtn_lib.VTN, variables, *,
                  source: str = 'checkpoint'):
    """Initialises only the encoder from an ImageNet checkpoint (torchvision ResNet-18/34/50 or MobileNetV2,
    Cadene SE-ResNeXt-101; `vtn_jax.models.pretrained` says how each maps), strictly: every encoder leaf must be
    filled, every key used, every shape equal. The classifier is dropped; the decoder, `reduce` and head keep
    their values in `variables` (the paper's transfer learning). The stacked model's 6-channel first conv gets
    the mean RGB kernel repeated (`pretrained.stacked_first_conv`).
    """
    try:
        renamed = pretrained.to_reference_keys(strip_prefixes(state_dict), model.encoder,
                                               in_channels=model.frame_channels, source=source)
    except pretrained.ImageNetKeyError as e:
        raise CheckpointMismatchError(str(e)) from e
    encoder_template = {c: {'encoder': variables[c]['encoder']} for c in variables if 'encoder' in variables[c]}
    loaded = to_variables(renamed, model, encoder_template, source=source)
    out = jax.tree.map(np.asarray, flax.core.unfreeze(variables))
    for collection, tree in loaded.items():
        out[collection]['encoder'] = tree['encoder']
    return out


def load_pytorch_weights(path, model: vtn_lib.VTN, template, *, new_head: bool = False):
    """Reads `path` (reference `.pth`/`.npz`, or an ImageNet checkpoint) and returns the model's variables.

    An ImageNet checkpoint (torchvision ResNet / MobileNetV2, Cadene SE-ResNeXt: see `from_imagenet`)
    initialises the encoder only; any other file must be a complete reference VTN checkpoint (with `new_head`
    its classifier may differ).
    """
    state = read_state_dict(path)
    if pretrained.imagenet_family(strip_prefixes(state)) is not None:
        return from_imagenet(state, model, template, source=str(path))
    return to_variables(state, model, template, new_head=new_head, source=str(path))
