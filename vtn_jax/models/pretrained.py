"""What each encoder's pretrained weights expect: the ImageNet checkpoints the paper starts from, how their keys
map onto the authors' VTN keys, and the input normalisation the authors' VTN checkpoints were trained with.

ImageNet checkpoints (training init, `config.train.init_checkpoint`), recognised by their keys:

  torchvision ResNet-18/34/50 (`conv1`, `bn1`, `layer1..4`, `fc`): the authors' own ResNet has torchvision's
      layout, so every tensor maps 1:1 onto `resnet.0` (conv1), `resnet.1` (bn1), `resnet.4..7` (layer1..4).
  torchvision MobileNetV2 (`features.N...`, `classifier.1`): every tensor of `features` maps onto the authors'
      MobileNetV2 (their `resnet.N` Sequential), same shapes: block 1 (expansion 1) `conv.0.0` (depthwise) ->
      `conv.0`, `conv.0.1` -> `conv.1`, `conv.1` (linear 1x1) -> `conv.3`, `conv.2` -> `conv.4`; blocks 2-17
      `conv.0.0/0.1` (expand) -> `conv.0/1`, `conv.1.0/1.1` (depthwise) -> `conv.3/4`, `conv.2/3` (linear) ->
      `conv.6/7`; `features.0.0/0.1` and `features.18.0/18.1` -> `resnet.0.0/0.1` and `resnet.18.0/18.1`. What
      cannot carry over is not a weight: torchvision clips its activations at 6 (ReLU6), the authors' network
      uses plain ReLU, so the imported trunk computes different features from the same weights until
      fine-tuning adapts it. The authors never used ImageNet weights for MobileNetV2 (their `make_encoder`
      passes pretrained=None); this import is offered because the paper's recipe implies it.
  Cadene pretrainedmodels SE-ResNeXt-101 32x4d (`layer0.conv1`, `layer0.bn1`, `layer1..4`, `last_linear`): 1:1
      onto `resnet.0..4` (the authors build their trunk from it, `children()[:-2]`).

The classifier (`fc`, `classifier.1`, `last_linear`) is dropped, and every other key must map: an unknown key,
a missing key or a wrong shape raises (`pytorch_weights.from_imagenet` checks all of them).

The stacked model's 6-channel first conv gets the mean of the 3 RGB kernels over the input channels,
repeated on all 6 channels, unscaled: the authors' multi-channel rule (`average_conv1_weights`, used for their
optical-flow model; they have no 6-channel model). It keeps the response to a grey image, not to colour.

`NORMALIZATION` is what the authors' published VTN checkpoints of each encoder were trained with (their README's
training commands): ImageNet mean/std after x / 255, except SE-ResNeXt-101 (`--no-mean-norm --no-std-norm`:
x / 255 only, mean 0, std 1), although Cadene's ImageNet SE-ResNeXt expects ImageNet mean/std. The configs'
`data.mean` / `data.std` must equal it (tests/test_configs.py); everything (training, evaluation, streaming,
the uint8 export) reads those two fields.
"""
import re
from typing import Mapping, Optional

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
UNIT_MEAN = (0.0, 0.0, 0.0)
UNIT_STD = (1.0, 1.0, 1.0)

# Encoder -> (mean, std) of the authors' VTN checkpoints; None: no published checkpoint, any normalisation.
NORMALIZATION = {
    'resnet18': (IMAGENET_MEAN, IMAGENET_STD),
    'resnet34': (IMAGENET_MEAN, IMAGENET_STD),
    'resnet50': (IMAGENET_MEAN, IMAGENET_STD),
    'mobilenetv2': (IMAGENET_MEAN, IMAGENET_STD),
    'se_resnext101_32x4d': (UNIT_MEAN, UNIT_STD),
    'resnet_tiny': None,
}

# Encoder -> the ImageNet checkpoint the paper's recipe starts from (file names of the publishers' downloads).
IMAGENET_SOURCES = {
    'resnet18': 'torchvision resnet18-f37072fd.pth (or the older resnet18-5c106cde.pth the authors loaded)',
    'resnet34': 'torchvision resnet34-b627a593.pth (or the older resnet34-333f7ec4.pth the authors loaded)',
    'resnet50': 'torchvision resnet50-0676ba61.pth (or the older resnet50-19c8e357.pth the authors loaded)',
    'mobilenetv2': 'torchvision mobilenet_v2-b0353104.pth (the authors trained MobileNetV2 from random init)',
    'se_resnext101_32x4d': 'Cadene pretrainedmodels se_resnext101_32x4d-3b2fe3d8.pth',
}

# ImageNet family -> (encoders it fits, classifier key prefix that is dropped).
FAMILIES = {
    'torchvision_resnet': (('resnet18', 'resnet34', 'resnet50'), 'fc.'),
    'torchvision_mobilenetv2': (('mobilenetv2',), 'classifier.'),
    'cadene_se_resnext': (('se_resnext101_32x4d',), 'last_linear.'),
}


class ImageNetKeyError(ValueError):
    """An ImageNet state dict that does not fit the encoder; the message names the key."""


def expected_normalization(encoder: str) -> Optional[tuple]:
    """(mean, std) the authors' checkpoints of `encoder` were trained with; None when there are none."""
    if encoder not in NORMALIZATION:
        raise KeyError(f'no normalisation entry for encoder {encoder!r}; known: {sorted(NORMALIZATION)}')
    return NORMALIZATION[encoder]


def check_normalization(encoder: str, mean, std, *, atol: float = 1e-9) -> None:
    """Raises ValueError when (mean, std) differ from the authors' checkpoints of `encoder`."""
    expected = expected_normalization(encoder)
    if expected is None:
        return
    if not (np.allclose(mean, expected[0], rtol=0, atol=atol) and np.allclose(std, expected[1], rtol=0, atol=atol)):
        raise ValueError(f'data.mean={tuple(mean)}, data.std={tuple(std)} differ from what the authors\' {encoder} '
                         f'checkpoints were trained with: mean={expected[0]}, std={expected[1]}')


def imagenet_family(keys) -> Optional[str]:
    """'torchvision_resnet', 'torchvision_mobilenetv2', 'cadene_se_resnext' from a state dict's keys, or None."""
    keys = set(keys)
    if 'layer0.conv1.weight' in keys:
        return 'cadene_se_resnext'
    if 'conv1.weight' in keys and 'layer1.0.conv1.weight' in keys:
        return 'torchvision_resnet'
    if 'features.0.0.weight' in keys and 'features.1.conv.0.0.weight' in keys:
        return 'torchvision_mobilenetv2'
    return None


def _resnet_key(key: str) -> Optional[str]:
    m = re.fullmatch(r'layer([1-4])\.(.+)', key)
    if m:
        return f'resnet.{int(m.group(1)) + 3}.{m.group(2)}'
    for prefix, index in (('conv1.', 0), ('bn1.', 1)):
        if key.startswith(prefix):
            return f'resnet.{index}.{key[len(prefix):]}'
    return None


def _se_resnext_key(key: str) -> Optional[str]:
    m = re.fullmatch(r'layer([0-4])\.(.+)', key)
    return f'resnet.{m.group(1)}.{m.group(2)}' if m else None


# torchvision MobileNetV2 sub-module inside `features.N.conv` -> the authors' `conv.<index>`.
_MOBILENET_FIRST_BLOCK = {'0.0': '0', '0.1': '1', '1': '3', '2': '4'}  # expansion 1: dw, bn, pw, bn
_MOBILENET_BLOCK = {'0.0': '0', '0.1': '1', '1.0': '3', '1.1': '4', '2': '6', '3': '7'}  # pw, bn, dw, bn, pw, bn


def _mobilenet_key(key: str) -> Optional[str]:
    m = re.fullmatch(r'features\.(\d+)\.(.+)', key)
    if not m:
        return None
    block, rest = int(m.group(1)), m.group(2)
    if block in (0, 18):
        m2 = re.fullmatch(r'([01])\.(\w+)', rest)
        return f'resnet.{block}.{m2.group(1)}.{m2.group(2)}' if m2 else None
    m2 = re.fullmatch(r'conv\.(\d(?:\.\d)?)\.(\w+)', rest)
    if not m2:
        return None
    table = _MOBILENET_FIRST_BLOCK if block == 1 else _MOBILENET_BLOCK
    index = table.get(m2.group(1))
    return f'resnet.{block}.conv.{index}.{m2.group(2)}' if index is not None else None


_RENAMERS = {'torchvision_resnet': _resnet_key, 'torchvision_mobilenetv2': _mobilenet_key,
             'cadene_se_resnext': _se_resnext_key}


def stacked_first_conv(weight_OIHW: np.ndarray, in_channels: int) -> np.ndarray:
    """The authors' multi-channel first conv: the mean over the input channels, repeated `in_channels` times,
    unscaled (their `average_conv1_weights`)."""
    mean = weight_OIHW.mean(axis=1, keepdims=True)
    return np.repeat(mean, in_channels, axis=1).astype(weight_OIHW.dtype)


def to_reference_keys(state_dict: Mapping[str, np.ndarray], encoder: str, *, in_channels: int = 3,
                      source: str = 'checkpoint') -> dict[str, np.ndarray]:
    """Renames an ImageNet state dict to the authors' VTN encoder keys (`resnet.*`), dropping the classifier.

    Args:
        state_dict: {key: array} of a torchvision ResNet / MobileNetV2 or a Cadene SE-ResNeXt.
        encoder: the VTN's encoder name.
        in_channels: the encoder's input channels (6 for the stacked model: see `stacked_first_conv`).
        source: the file, for messages.

    Raises:
        ImageNetKeyError: the keys are no known ImageNet layout, the layout does not fit `encoder`, or a key
            has no place in the encoder (named).
    """
    family = imagenet_family(state_dict)
    if family is None:
        raise ImageNetKeyError(f'{source} is no torchvision ResNet/MobileNetV2 or Cadene SE-ResNeXt state dict')
    encoders, classifier = FAMILIES[family]
    if encoder not in encoders:
        raise ImageNetKeyError(f'{source} is a {family} ImageNet checkpoint; it fits the encoders {encoders}, '
                               f'not {encoder!r}')
    renamed = {}
    for key, value in state_dict.items():
        if key.startswith(classifier) or key.endswith('num_batches_tracked'):
            continue
        new = _RENAMERS[family](key)
        if new is None:
            raise ImageNetKeyError(f'{source}: unexpected key {key} for a {family} checkpoint')
        renamed[new] = np.asarray(value)
    first = 'resnet.0.conv1.weight' if family == 'cadene_se_resnext' else (
        'resnet.0.0.weight' if family == 'torchvision_mobilenetv2' else 'resnet.0.weight')
    if in_channels != 3 and first in renamed:
        renamed[first] = stacked_first_conv(renamed[first], in_channels)
    return renamed
