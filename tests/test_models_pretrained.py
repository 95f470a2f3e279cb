"""What each encoder's pretrained weights expect: the normalisation table, recognising ImageNet key layouts, the
strict renaming onto the authors' keys (on the real key lists in tests/data/imagenet_state_dicts.txt), and the
stacked model's mean-repeated first conv."""
import pathlib

import numpy as np
import pytest

from vtn_jax.models import pretrained
from vtn_jax.models import standin_weights

LISTS = pathlib.Path(__file__).resolve().parent / 'data' / 'imagenet_state_dicts.txt'


def imagenet_shapes(title: str) -> dict:
    """{key: shape} of one section of imagenet_state_dicts.txt ('torchvision resnet34', ...)."""
    shapes, inside = {}, False
    for line in LISTS.read_text().splitlines():
        if line.startswith('## '):
            inside = line[3:].startswith(title + ':')
        elif inside and line and not line.startswith('#'):
            key, shape = line.split()
            shapes[key] = tuple(int(d) for d in shape.strip('()').split(',') if d)
    assert shapes, f'no section {title!r} in {LISTS}'
    return shapes


def imagenet_state(title: str, seed: int = 0) -> dict:
    """A state dict with the real keys and shapes, distinct values per tensor."""
    rng = np.random.default_rng(seed)
    return {k: (np.zeros(s, np.int64) if k.endswith('num_batches_tracked') else rng.normal(size=s).astype(np.float32))
            for k, s in imagenet_shapes(title).items()}


# (section of the key lists, encoder, the authors' VTN model of the same trunk or None)
CASES = [('torchvision resnet18', 'resnet18', None), ('torchvision resnet34', 'resnet34', 'resnet34_vtn'),
         ('torchvision resnet50', 'resnet50', 'resnet50_vtn'),
         ('torchvision mobilenet_v2', 'mobilenetv2', 'mobilenetv2_vtn'),
         ('pretrainedmodels se_resnext101_32x4d', 'se_resnext101_32x4d', 'se_resnext101_vtn')]


@pytest.mark.parametrize('title, encoder, reference', CASES, ids=lambda c: c if isinstance(c, str) else '')
def test_imagenet_keys_become_exactly_the_authors_encoder_keys(title, encoder, reference):
    state = imagenet_state(title)
    renamed = pretrained.to_reference_keys(state, encoder, source=title)
    dropped = [k for k in state if k.startswith(('fc.', 'classifier.', 'last_linear.'))]
    assert len(dropped) == 2 and len(renamed) == len(state) - 2 - sum(k.endswith('num_batches_tracked') for k in state)
    if reference:
        # The authors' VTN encoder keys (read off their code) with the same shapes, one for one.
        theirs = {k: s for k, s in standin_weights.read_shapes(reference).items()
                  if k.startswith('resnet.') and not k.endswith('num_batches_tracked')}
        assert {k: v.shape for k, v in renamed.items()} == theirs


def test_mobilenet_v2_blocks_map_by_role():
    state = imagenet_state('torchvision mobilenet_v2')
    renamed = pretrained.to_reference_keys(state, 'mobilenetv2')
    pairs = {  # torchvision -> the authors' Sequential index: the same layer role
        'features.1.conv.0.0.weight': 'resnet.1.conv.0.weight',  # block 1: depthwise 3x3
        'features.1.conv.1.weight': 'resnet.1.conv.3.weight',  # block 1: linear 1x1
        'features.1.conv.2.running_var': 'resnet.1.conv.4.running_var',
        'features.2.conv.0.0.weight': 'resnet.2.conv.0.weight',  # expand 1x1
        'features.2.conv.1.0.weight': 'resnet.2.conv.3.weight',  # depthwise 3x3
        'features.2.conv.1.1.bias': 'resnet.2.conv.4.bias',
        'features.17.conv.2.weight': 'resnet.17.conv.6.weight',  # linear 1x1
        'features.17.conv.3.running_mean': 'resnet.17.conv.7.running_mean',
        'features.18.0.weight': 'resnet.18.0.weight', 'features.0.1.weight': 'resnet.0.1.weight',
    }
    for theirs, ours in pairs.items():
        np.testing.assert_array_equal(renamed[ours], state[theirs])


def test_layouts_are_recognised_and_refused_for_other_encoders():
    assert pretrained.imagenet_family(imagenet_shapes('torchvision resnet50')) == 'torchvision_resnet'
    assert pretrained.imagenet_family(imagenet_shapes('torchvision mobilenet_v2')) == 'torchvision_mobilenetv2'
    assert pretrained.imagenet_family(imagenet_shapes('pretrainedmodels se_resnext101_32x4d')) == 'cadene_se_resnext'
    assert pretrained.imagenet_family(standin_weights.read_shapes('resnet34_vtn')) is None  # a VTN checkpoint
    with pytest.raises(pretrained.ImageNetKeyError, match="fits the encoders .*mobilenetv2.*not 'resnet34'"):
        pretrained.to_reference_keys(imagenet_state('torchvision mobilenet_v2'), 'resnet34')
    state = {**imagenet_state('torchvision resnet18'), 'layer5.0.conv1.weight': np.zeros((1,), np.float32)}
    with pytest.raises(pretrained.ImageNetKeyError, match=r'unexpected key layer5\.0\.conv1\.weight'):
        pretrained.to_reference_keys(state, 'resnet18')


def test_stacked_first_conv_is_the_channel_mean_repeated():
    weight = np.random.default_rng(0).normal(size=(64, 3, 7, 7)).astype(np.float32)
    stacked = pretrained.stacked_first_conv(weight, 6)
    assert stacked.shape == (64, 6, 7, 7)
    for c in range(6):
        np.testing.assert_allclose(stacked[:, c], weight.mean(axis=1), rtol=1e-6)
    # not the RGB kernels tiled, and unscaled: a grey image gets 2x the RGB model's response (6 channels, not 3)
    assert np.abs(stacked[:, 0] - weight[:, 0]).max() > 0.1
    state = imagenet_state('torchvision resnet34')
    renamed = pretrained.to_reference_keys(state, 'resnet34', in_channels=6)
    np.testing.assert_allclose(renamed['resnet.0.weight'], pretrained.stacked_first_conv(state['conv1.weight'], 6))


def test_normalization_table():
    assert pretrained.expected_normalization('se_resnext101_32x4d') == ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0))
    assert pretrained.expected_normalization('resnet34') == (pretrained.IMAGENET_MEAN, pretrained.IMAGENET_STD)
    pretrained.check_normalization('resnet_tiny', (0.1, 0.2, 0.3), (1, 1, 1))  # no published checkpoint: anything
    with pytest.raises(ValueError, match="se_resnext101_32x4d checkpoints were trained with: mean=\\(0.0"):
        pretrained.check_normalization('se_resnext101_32x4d', pretrained.IMAGENET_MEAN, pretrained.IMAGENET_STD)
    with pytest.raises(KeyError, match='resnet35'):
        pretrained.expected_normalization('resnet35')
