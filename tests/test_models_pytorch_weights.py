"""The authors' checkpoints as VTN variables: strict key/shape checks naming the key, wrappers, torchvision
encoders, new heads, and a plain refusal of pickles that are more than weights."""
import jax
import numpy as np
import pytest

from vtn_jax.models import pytorch_weights as checkpoints
from vtn_jax.models import reference_recipe
from vtn_jax.models import vtn as model_lib


@pytest.fixture(scope='module')
def r34():
    model = model_lib.VTN()
    template = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0)))
    return model, template, reference_recipe.make_state_dict('resnet34_vtn', 3)


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
                       match=r'shape mismatch for fc\.weight: checkpoint has \(101, 512\), the model expects \(400, 512\)'):
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
    state = reference_recipe.make_state_dict('resnet34_vtn_rgbdiff', 0)  # keys start with motion_decoder.
    assert all(k.startswith('motion_decoder.') for k in state)
    path = tmp_path / 'rgbdiff.npz'
    np.savez(path, **{'module.' + k: v for k, v in state.items()})
    variables = checkpoints.load_pytorch_weights(path, model, template)
    assert variables['params']['decoder']['position_table'].shape == (15, 512)


def test_rgb_checkpoint_into_rgbdiff_model_fails_on_the_position_table():
    model = model_lib.VTN(modality='rgbdiff')
    template = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0)))
    with pytest.raises(checkpoints.CheckpointMismatchError, match='position_encoding.enc.weight.*16, 512.*15, 512'):
        checkpoints.to_variables(reference_recipe.make_state_dict('resnet34_vtn', 0), model, template)


def test_torchvision_resnet_initialises_only_the_encoder(tmp_path):
    model = model_lib.VTN(encoder='resnet34', modality='stacked', num_classes=101)
    variables = model_lib.init_variables(model, jax.random.key(0), image_size=32)
    ours = reference_recipe.make_state_dict('resnet34_vtn', 0)
    # Rename the reference trunk keys to torchvision's ImageNet names and add its 1000-class fc.
    tv = {}
    for key, value in ours.items():
        if key.startswith('resnet.'):
            _, index, rest = key.split('.', 2)
            name = {'0': 'conv1', '1': 'bn1'}.get(index, f'layer{int(index) - 3}')
            tv[f'{name}.{rest}'] = value
    tv['fc.weight'], tv['fc.bias'] = np.zeros((1000, 512), np.float32), np.zeros(1000, np.float32)
    np.savez(tmp_path / 'resnet34-imagenet.npz', **tv)
    loaded = checkpoints.load_pytorch_weights(tmp_path / 'resnet34-imagenet.npz', model, variables)
    stem = loaded['params']['encoder']['stem_conv']['kernel']
    assert stem.shape == (7, 7, 6, 64)  # RGB weights repeated over the difference channels
    np.testing.assert_array_equal(stem[:, :, :3], stem[:, :, 3:])
    np.testing.assert_array_equal(stem[:, :, :3], ours['resnet.0.weight'].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(loaded['params']['head']['kernel'], variables['params']['head']['kernel'])
    np.testing.assert_array_equal(loaded['params']['decoder']['block0']['attention']['w_qs'],
                                  variables['params']['decoder']['block0']['attention']['w_qs'])


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
    for name in reference_recipe.MODELS:
        model = reference_recipe.model_for(name)
        state = {k: np.zeros(s, np.float32) for k, s in reference_recipe.read_shapes(name).items()}
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
    import argparse  # pylint: disable=import-outside-toplevel
    return argparse.Namespace(lr=0.1)
