"""Parity with the authors' PyTorch VTN: the logits their own code computed for deterministic weights and clips,
and training mode (BatchNorm on batch statistics, dropout off) against torch.

Fixtures are read from $VTN_PARITY_DIR (any folder in the same format), else tests/data/parity; seeds and shapes
come from each file, never from this test.
"""
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import DATA, parity_dir
from vtn_jax.models import pytorch_weights
from vtn_jax.models import standin_weights
from vtn_jax.models import vtn as model_lib

pytestmark = pytest.mark.optimized  # parity: the program a user's run compiles
TOLERANCE = 1e-4  # absolute, rtol 0
SHIPPED = DATA / 'parity'  # the repository's fixtures, for the tests of the machinery itself


def fixture_files():
    folder = parity_dir()
    assert folder.is_dir(), f'parity fixture folder {folder} is missing'
    files = sorted(folder.glob('*.npz'))
    assert files, f'no parity fixtures (*.npz) in {folder}'
    return files


@pytest.mark.parametrize('path', fixture_files(), ids=lambda p: p.stem)
def test_every_reference_model_matches_its_fixture(path):
    result = standin_weights.check_fixture(path)
    for name in ('logits', 'embeddings', 'decoder_out'):
        assert result[name] <= TOLERANCE, f'{path.name}: {name} differ by {result[name]:.3g}'


def test_the_shipped_fixtures_cover_all_five_encoders():
    if 'VTN_PARITY_DIR' in os.environ:
        pytest.skip('another fixture folder is in use')
    assert {f.stem for f in fixture_files()} == set(standin_weights.MODELS)


@pytest.fixture(scope='module')
def resnet34_reference():
    """(fixture arrays, model, variables) of the shipped ResNet-34 RGB fixture (whatever $VTN_PARITY_DIR holds),
    weights built once for the module."""
    fixture = np.load(SHIPPED / 'resnet34_vtn.npz')
    model = standin_weights.model_for(str(fixture['model']))
    variables = standin_weights.reference_variables(model, str(fixture['model']), int(fixture['weight_seed']))
    return fixture, model, variables


def test_batch_of_one_matches_clip_zero(resnet34_reference):
    fixture, model, variables = resnet34_reference
    shape = (1,) + tuple(int(d) for d in fixture['input_shape'][1:])
    clip = standin_weights.make_clip(int(fixture['input_seed']), shape).transpose(0, 1, 3, 4, 2)
    logits = jax.jit(model.apply)(variables, jnp.asarray(clip))
    assert np.abs(np.asarray(logits)[0] - fixture['logits'][0]).max() <= TOLERANCE


def test_parity_catches_a_wrong_layer_norm(resnet34_reference):
    # The gate is meaningful: perturbing one LayerNorm scale by 1% moves the logits past it.
    fixture, model, reference = resnet34_reference
    variables = jax.tree.map(lambda x: x, reference)  # a new tree: the module fixture stays intact
    ln = variables['params']['decoder']['block3']['ffn']['layer_norm']
    ln['scale'] = ln['scale'] * 1.01
    clip = standin_weights.make_clip(int(fixture['input_seed']), tuple(fixture['input_shape']))
    logits = jax.jit(model.apply)(variables, jnp.asarray(clip.transpose(0, 1, 3, 4, 2)))
    assert np.abs(np.asarray(logits) - fixture['logits']).max() > TOLERANCE


def test_pth_files_load_through_torch(tmp_path):
    torch = pytest.importorskip('torch')
    path = SHIPPED / 'mobilenetv2_vtn.npz'
    fixture = np.load(path)
    name = str(fixture['model'])
    state = standin_weights.make_state_dict(name, int(fixture['weight_seed']))
    plain, wrapped = tmp_path / 'plain.pth', tmp_path / 'ckpt.pth'
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, plain)
    torch.save({'epoch': 1, 'state_dict': {'module.' + k: torch.from_numpy(v) for k, v in state.items()}}, wrapped)
    model = standin_weights.model_for(name)
    template = model_lib.abstract_variables(model)
    clip = standin_weights.make_clip(int(fixture['input_seed']), tuple(fixture['input_shape']))
    for file in (plain, wrapped):
        variables = pytorch_weights.load_pytorch_weights(file, model, template)
        logits = jax.jit(model.apply)(variables, jnp.asarray(clip.transpose(0, 1, 3, 4, 2)))
        assert np.abs(np.asarray(logits) - fixture['logits']).max() <= TOLERANCE


# ---- training mode: BatchNorm on batch statistics, dropout off ------------------------------------------------

def reference_dir():
    """The authors' pytorch_toolkit/action_recognition folder ($VTN_REFERENCE_DIR), or skip."""
    folder = os.environ.get('VTN_REFERENCE_DIR')
    if not folder:
        pytest.skip("VTN_REFERENCE_DIR (the authors' pytorch_toolkit/action_recognition folder) is not set")
    return folder


def torch_basic_block(torch, in_channels, out_channels, stride):
    """The authors' (torchvision's) ResNet BasicBlock with a downsample, written with torch.nn."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(out_channels)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(out_channels)
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

        def forward(self, x):
            y = torch.relu(self.bn1(self.conv1(x)))
            return torch.relu(self.bn2(self.conv2(y)) + self.downsample(x))
    return Block()


def test_a_block_in_training_mode_matches_torch():
    # BatchNorm in training mode normalises with the batch statistics exactly as torch's (biased variance, eps
    # 1e-5) and moves the running mean as torch (momentum 0.1). One known difference: torch moves the running
    # variance with the unbiased batch variance, Flax with the biased one (a factor (n - 1) / n, n = values per
    # channel in the batch; 4e-5 relative at the smallest map of a 32-clip batch), checked here exactly.
    torch = pytest.importorskip('torch')
    from vtn_jax.models import encoders
    torch.manual_seed(0)
    block = torch_basic_block(torch, 8, 16, 2).train()
    for m in block.modules():
        if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics and affine parameters
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    sd = {k: v.detach().numpy().copy() for k, v in block.state_dict().items()}
    def conv(k):  # OIHW -> HWIO
        return sd[k].transpose(2, 3, 1, 0)

    def bn(k):
        return ({'scale': sd[f'{k}.weight'], 'bias': sd[f'{k}.bias']},
                {'mean': sd[f'{k}.running_mean'], 'var': sd[f'{k}.running_var']})

    params, stats = {}, {}
    for ours, theirs in (('bn1', 'bn1'), ('bn2', 'bn2'), ('downsample_bn', 'downsample.1')):
        params[ours], stats[ours] = bn(theirs)
    params.update(conv1={'kernel': conv('conv1.weight')}, conv2={'kernel': conv('conv2.weight')},
                  downsample_conv={'kernel': conv('downsample.0.weight')})
    x = np.random.default_rng(1).normal(size=(4, 8, 12, 12)).astype(np.float32)
    expected = block(torch.from_numpy(x)).detach().numpy().transpose(0, 2, 3, 1)
    ours = encoders.BasicBlock(16, 2, downsample=True)
    got, updates = ours.apply({'params': params, 'batch_stats': stats}, x.transpose(0, 2, 3, 1), train=True,
                              mutable=['batch_stats'])
    np.testing.assert_allclose(np.asarray(got), expected, atol=1e-5, rtol=0)
    n = 4 * 6 * 6  # values per channel after the stride-2 convolutions
    for ours_name, theirs in (('bn1', 'bn1'), ('bn2', 'bn2'), ('downsample_bn', 'downsample.1')):
        new = updates['batch_stats'][ours_name]
        np.testing.assert_allclose(new['mean'], block.state_dict()[f'{theirs}.running_mean'].numpy(), atol=1e-6)
        old_var = stats[ours_name]['var']
        theirs_batch_var = (block.state_dict()[f'{theirs}.running_var'].numpy() - 0.9 * old_var) / 0.1  # unbiased
        ours_batch_var = (np.asarray(new['var']) - 0.9 * old_var) / 0.1  # biased
        np.testing.assert_allclose(ours_batch_var, theirs_batch_var * (n - 1) / n, rtol=1e-4, atol=1e-6)


def test_the_authors_model_in_training_mode():
    # Only with a checkout of the authors' code: their ResNet-34 VTN in train mode (BatchNorm on batch statistics)
    # with every dropout off, against ours with train=True and dropout 0, on the parity weights and clips.
    folder = reference_dir()
    torch = pytest.importorskip('torch')
    sys.path.insert(0, folder)
    from PIL import Image
    if not hasattr(Image, 'LINEAR'):  # removed in Pillow 10; their transforms name it at import
        Image.LINEAR = Image.BILINEAR
    from action_recognition.models.video_transformer import VideoTransformer
    name, seed = 'resnet34_vtn', 3
    state = standin_weights.make_state_dict(name, seed)
    theirs = VideoTransformer(512, 16, encoder='resnet34', n_classes=400, input_size=224, pretrained=False,
                              layer_norm=True)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    for m in theirs.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    theirs.train()
    clip = standin_weights.make_clip(5, (2, 16, 3, 224, 224))
    expected = theirs(torch.from_numpy(clip)).detach().numpy()
    model = model_lib.VTN(num_classes=400, num_frames=16, encoder='resnet34', dropout_rate=0.0,
                          attention_dropout_rate=0.0)
    variables = standin_weights.reference_variables(model, name, seed)
    logits, updates = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=['batch_stats']))(
        variables, jnp.asarray(clip.transpose(0, 1, 3, 4, 2)))
    assert np.abs(np.asarray(logits) - expected).max() <= TOLERANCE
    ours_mean = np.asarray(updates['batch_stats']['encoder']['layer4_2']['bn2']['mean'])
    np.testing.assert_allclose(ours_mean, theirs.state_dict()['resnet.7.2.bn2.running_mean'].numpy(), atol=1e-4)
