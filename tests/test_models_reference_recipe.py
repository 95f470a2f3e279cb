"""Parity with the authors' PyTorch VTN: the logits their own code computed for deterministic weights and clips.

Fixtures are read from $VTN_PARITY_DIR (any folder in the same format), else tests/data/parity; seeds and shapes
come from each file, never from this test.
"""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import parity_dir
from vtn_jax.models import pytorch_weights
from vtn_jax.models import reference_recipe
from vtn_jax.models import vtn as model_lib

TOLERANCE = 1e-4  # absolute, rtol 0


def fixture_files():
    folder = parity_dir()
    assert folder.is_dir(), f'parity fixture folder {folder} is missing'
    files = sorted(folder.glob('*.npz'))
    assert files, f'no parity fixtures (*.npz) in {folder}'
    return files


@pytest.mark.parametrize('path', fixture_files(), ids=lambda p: p.stem)
def test_every_reference_model_matches_its_fixture(path):
    result = reference_recipe.check_fixture(path)
    for name in ('logits', 'embeddings', 'decoder_out'):
        assert result[name] <= TOLERANCE, f'{path.name}: {name} differ by {result[name]:.3g}'


def test_the_shipped_fixtures_cover_all_five_encoders():
    if 'VTN_PARITY_DIR' in os.environ:
        pytest.skip('another fixture folder is in use')
    assert {f.stem for f in fixture_files()} == set(reference_recipe.MODELS)


@pytest.fixture(scope='module')
def resnet34_reference():
    """(fixture arrays, model, variables) of the ResNet-34 RGB fixture, weights built once for the module."""
    fixture = np.load(parity_dir() / 'resnet34_vtn.npz')
    model = reference_recipe.model_for(str(fixture['model']))
    variables = reference_recipe.reference_variables(model, str(fixture['model']), int(fixture['weight_seed']))
    return fixture, model, variables


def test_batch_of_one_matches_clip_zero(resnet34_reference):
    fixture, model, variables = resnet34_reference
    shape = (1,) + tuple(int(d) for d in fixture['input_shape'][1:])
    clip = reference_recipe.make_clip(int(fixture['input_seed']), shape).transpose(0, 1, 3, 4, 2)
    logits = jax.jit(model.apply)(variables, jnp.asarray(clip))
    assert np.abs(np.asarray(logits)[0] - fixture['logits'][0]).max() <= TOLERANCE


def test_parity_catches_a_wrong_layer_norm(resnet34_reference):
    # The gate is meaningful: perturbing one LayerNorm scale by 1% moves the logits past it.
    fixture, model, reference = resnet34_reference
    variables = jax.tree.map(lambda x: x, reference)  # a new tree: the module fixture stays intact
    ln = variables['params']['decoder']['block3']['ffn']['layer_norm']
    ln['scale'] = ln['scale'] * 1.01
    clip = reference_recipe.make_clip(int(fixture['input_seed']), tuple(fixture['input_shape']))
    logits = jax.jit(model.apply)(variables, jnp.asarray(clip.transpose(0, 1, 3, 4, 2)))
    assert np.abs(np.asarray(logits) - fixture['logits']).max() > TOLERANCE


def test_pth_files_load_through_torch(tmp_path):
    torch = pytest.importorskip('torch')
    path = parity_dir() / 'mobilenetv2_vtn.npz'
    fixture = np.load(path)
    name = str(fixture['model'])
    state = reference_recipe.make_state_dict(name, int(fixture['weight_seed']))
    plain, wrapped = tmp_path / 'plain.pth', tmp_path / 'ckpt.pth'
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, plain)
    torch.save({'epoch': 1, 'state_dict': {'module.' + k: torch.from_numpy(v) for k, v in state.items()}}, wrapped)
    model = reference_recipe.model_for(name)
    template = model_lib.abstract_variables(model)
    clip = reference_recipe.make_clip(int(fixture['input_seed']), tuple(fixture['input_shape']))
    for file in (plain, wrapped):
        variables = pytorch_weights.load_pytorch_weights(file, model, template)
        logits = jax.jit(model.apply)(variables, jnp.asarray(clip.transpose(0, 1, 3, 4, 2)))
        assert np.abs(np.asarray(logits) - fixture['logits']).max() <= TOLERANCE
