"""The authors' checkpoints as VTN variables: strict key/shape checks naming the key, wrappers, ImageNet
encoders (real key lists), new heads, and a plain refusal of pickles that are more than weights."""
import flax
import jax
import numpy as np
import pytest

from test_models_pretrained import imagenet_state
from vtn_jax.models import pytorch_weights as checkpoints
from vtn_jax.models import standin_weights
from vtn_jax.models import vtn as model_lib


@pytest.fixture(scope='module')
def r34():
    model = model_lib.VTN()
    template = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0)))
    return model, template, standin_weights.make_state_dict('resnet34_vtn', 3)


def test_every_reference_key_is_used_once(r34):
    model, template, state = r34
    variables = checkpoints.to_variables(state, model, template)
    assert model_lib.count_params(variables['params']) == 28_852_432
    # BatchNorm running statistics land in batch_stats, transposed kernels keep their values.
    np.testing.assert_array_equal(variables['batch_stats']['encoder']['layer2_0']['downsample_bn']['var'],
                                  state['resnet.5.0.downsample.1.running_var'])
    np.testing.assert_array_equal(variables['params']['encoder']['stem_conv']['kernel'][:, :, 1, 5],
                                  state['resnet.0.weight'][5, 1])
    np.testing.assert_array_equal(variables['params']['decoder']['block2']['ffn']['w_1']['kernel'][7, 3],
                                  state['self_attention_decoder.layers.2.pos_ffn.w_1.weight'][3, 7, 0])
    np.testing.assert_array_equal(variables['params']['head']['kernel'].T, state['fc.weight'])


def test_missing_key_is_named(r34):
    model, template, state = r34
    broken = dict(state)
    del broken['resnet.6.2.bn1.running_mean']
    with pytest.raises(checkpoints.CheckpointMismatchError, match=r'missing key resnet\.6\.2\.bn1\.running_mean'):
        checkpoints.to_variables(broken, model, template)


def test_unexpected_key_is_named(r34):
    model, template, state = r34
    broken = {**state, 'self_attention_decoder.layers.4.slf_attn.w_qs': np.zeros((8, 512, 64), np.float32)}
    with pytest.raises(checkpoints.CheckpointMismatchError, match=r'unexpected key self_attention_decoder\.layers\.4'):
        checkpoints.to_variables(broken, model, template)


def test_wrong_shape_names_key_and_both_shapes(r34):
    model, template, state = r34
    broken = {**state, 'fc.weight': np.zeros((101, 512), np.float32), 'fc.bias': np.zeros(101, np.float32)}
    with pytest.raises(checkpoints.CheckpointMismatchError,
                       match=r'shape mismatch for fc\.weight: checkpoint has \(101, 512\), '
                             r'the model expects \(400, 512\)'):
        checkpoints.to_variables(broken, model, template)


def test_new_head_for_fine_tuning(r34):
    _, _, state = r34
    model = model_lib.VTN(num_classes=101)
    template = model_lib.init_variables(model, jax.random.key(0), image_size=32)
    variables = checkpoints.to_variables(state, model, template, new_head=True)
    assert variables['params']['head']['kernel'].shape == (512, 101)
    np.testing.assert_array_equal(variables['params']['head']['kernel'], template['params']['head']['kernel'])
    np.testing.assert_array_equal(variables['params']['decoder']['position_table'],
                                  state['self_attention_decoder.position_encoding.enc.weight'])


def test_prefixed_and_npz_checkpoints(tmp_path):
    model = model_lib.VTN(modality='rgbdiff')
    template = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0)))
    state = standin_weights.make_state_dict('resnet34_vtn_rgbdiff', 0)  # keys start with motion_decoder.
    assert all(k.startswith('motion_decoder.') for k in state)
    path = tmp_path / 'rgbdiff.npz'
    np.savez(path, **{'module.' + k: v for k, v in state.items()})
    variables = checkpoints.load_pytorch_weights(path, model, template)
    assert variables['params']['decoder']['position_table'].shape == (15, 512)


def test_rgb_checkpoint_into_rgbdiff_model_fails_on_the_position_table():
    model = model_lib.VTN(modality='rgbdiff')
    template = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0)))
    with pytest.raises(checkpoints.CheckpointMismatchError, match='position_encoding.enc.weight.*16, 512.*15, 512'):
        checkpoints.to_variables(standin_weights.make_state_dict('resnet34_vtn', 0), model, template)


def zeros_like_model(model):
    """The model's variables as zeros (cheap: no initialisation run), a stand-in for freshly initialised ones."""
    return jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), model_lib.abstract_variables(model))


@pytest.mark.parametrize('title, encoder', [('torchvision resnet34', 'resnet34'),
                                            ('torchvision resnet50', 'resnet50'),
                                            ('torchvision mobilenet_v2', 'mobilenetv2'),
                                            ('pretrainedmodels se_resnext101_32x4d', 'se_resnext101_32x4d')])
def test_imagenet_checkpoints_initialise_only_the_encoder(title, encoder, tmp_path):
    # Real key names and shapes (tests/data/imagenet_state_dicts.txt), saved as an .npz of the same keys.
    model = model_lib.VTN(encoder=encoder, num_classes=101)
    template = zeros_like_model(model)
    template['params']['decoder']['block0']['attention']['w_qs'] += 0.5  # "initialised" values to keep
    state = imagenet_state(title)
    np.savez(tmp_path / 'imagenet.npz', **state)
    loaded = checkpoints.load_pytorch_weights(tmp_path / 'imagenet.npz', model, template)
    flat = flax.traverse_util.flatten_dict(loaded['params']['encoder'])
    stats = flax.traverse_util.flatten_dict(loaded['batch_stats']['encoder'])
    filled = sum(v.size for v in flat.values()) + sum(v.size for v in stats.values())
    expected = sum(v.size for k, v in state.items() if not k.startswith(('fc.', 'classifier.', 'last_linear.'))
                   and not k.endswith('num_batches_tracked'))
    assert filled == expected and all(np.abs(v).max() > 0 for v in flat.values())  # every leaf came from the file
    np.testing.assert_array_equal(loaded['params']['decoder']['block0']['attention']['w_qs'], 0.5)
    np.testing.assert_array_equal(loaded['params']['head']['kernel'], 0.0)
    spots = {  # one tensor per layout, at its Flax place
        'resnet34': ('layer3.5.conv2.weight', ('params', 'layer3_5', 'conv2', 'kernel')),
        'resnet50': ('layer4.2.bn3.running_var', ('batch_stats', 'layer4_2', 'bn3', 'var')),
        'mobilenetv2': ('features.2.conv.1.0.weight', ('params', 'block2', 'conv_3', 'kernel')),
        'se_resnext101_32x4d': ('layer3.22.se_module.fc2.bias', ('params', 'layer3_22', 'se_fc2', 'bias')),
    }
    key, (collection, *path) = spots[encoder]
    got = flax.traverse_util.flatten_dict(loaded[collection]['encoder'])[tuple(path)]
    want = state[key].transpose(2, 3, 1, 0) if state[key].ndim == 4 else state[key]
    np.testing.assert_array_equal(got, want)


def test_imagenet_import_is_strict(tmp_path):
    model = model_lib.VTN(encoder='resnet50')
    template = zeros_like_model(model)
    state = imagenet_state('torchvision resnet50')
    missing = {k: v for k, v in state.items() if k != 'layer2.3.bn2.running_mean'}
    with pytest.raises(checkpoints.CheckpointMismatchError, match=r'missing key resnet\.5\.3\.bn2\.running_mean'):
        checkpoints.from_imagenet(missing, model, template, source='r50')
    wrong = {**state, 'layer1.0.conv1.weight': np.zeros((64, 64, 3, 3), np.float32)}
    with pytest.raises(checkpoints.CheckpointMismatchError, match=r'shape mismatch for resnet\.4\.0\.conv1\.weight'):
        checkpoints.from_imagenet(wrong, model, template, source='r50')
    with pytest.raises(checkpoints.CheckpointMismatchError, match="fits the encoders .*resnet50.*not 'mobilenetv2'"):
        checkpoints.from_imagenet(state, model_lib.VTN(encoder='mobilenetv2'), template, source='r50')


def test_stacked_model_gets_the_mean_rgb_kernel_on_all_six_channels(tmp_path):
    model = model_lib.VTN(encoder='resnet34', modality='stacked')
    state = imagenet_state('torchvision resnet34')
    torch = pytest.importorskip('torch')
    path = tmp_path / 'resnet34-imagenet.pth'  # a .pth, read weights-only
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, path)
    loaded = checkpoints.load_pytorch_weights(path, model, zeros_like_model(model))
    stem = loaded['params']['encoder']['stem_conv']['kernel']  # HWIO
    assert stem.shape == (7, 7, 6, 64)
    mean = state['conv1.weight'].mean(axis=1).transpose(1, 2, 0)  # (64, 7, 7) -> (7, 7, 64)
    for c in range(6):
        np.testing.assert_allclose(stem[:, :, c], mean, rtol=1e-6, atol=1e-7)
    assert np.abs(stem[:, :, 0] - state['conv1.weight'][:, 0].transpose(1, 2, 0)).max() > 0.1  # not tiled RGB


def test_corrupt_or_missing_file(tmp_path):
    model = model_lib.VTN()
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        checkpoints.read_state_dict(tmp_path / 'nothing.pth')
    bad = tmp_path / 'bad.npz'
    bad.write_bytes(b'not a zip file')
    with pytest.raises(checkpoints.CheckpointMismatchError, match='cannot read .*bad.npz'):
        checkpoints.load_pytorch_weights(bad, model, {})


def test_every_key_of_the_authors_five_models_maps_to_one_leaf():
    # The key lists read off the authors' code at d014ee02 (reference_state_dicts.txt), for all five models.
    for name in standin_weights.MODELS:
        model = standin_weights.model_for(name)
        state = {k: np.zeros(s, np.float32) for k, s in standin_weights.read_shapes(name).items()}
        variables = checkpoints.to_variables(state, model, model_lib.abstract_variables(model), source=name)
        leaves = jax.tree_util.tree_leaves(variables)
        assert len(leaves) == sum(1 for k in state if not k.endswith('num_batches_tracked')), name


def test_a_pickle_with_more_than_weights_is_refused_plainly(tmp_path):
    torch = pytest.importorskip('torch')
    path = tmp_path / 'full_model.pth'
    torch.save({'state_dict': {}, 'args': argparse_namespace()}, path)
    with pytest.raises(checkpoints.CheckpointMismatchError, match='weights-only load refuses.*never loads'):
        checkpoints.read_state_dict(path)


def argparse_namespace():
    import argparse
    return argparse.Namespace(lr=0.1)
