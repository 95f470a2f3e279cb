"""Parity with the authors' PyTorch VTN: their logits for deterministic weights and clips (shared/data/parity).

Fixtures are read from $VTN_PARITY_DIR, or ../shared/data/parity; a missing folder fails. Seeds and shapes
come from each file, never from this test.
"""
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vtn_jax import checkpoints
from vtn_jax import model as model_lib
from vtn_jax import parity

TOLERANCE = 1e-4  # absolute, rtol 0: the gate of shared/data/parity/README.md


def parity_dir(shared) -> pathlib.Path:
    return pathlib.Path(os.environ.get('VTN_PARITY_DIR', shared / 'data' / 'parity'))


def fixture_files(shared):
    folder = parity_dir(shared)
    assert folder.is_dir(), f'parity fixture folder {folder} is missing'
    files = sorted(folder.glob('*.npz'))
    assert files, f'no parity fixtures (*.npz) in {folder}'
    return files


def test_every_reference_model_matches_its_fixture(shared, reference_tool):
    files = fixture_files(shared)
    assert {f.stem for f in files} >= set(parity.REFERENCE_MODELS) or 'VTN_PARITY_DIR' in os.environ
    for path in files:
        result = parity.check_fixture(path, reference_tool.make_state_dict, reference_tool.make_clip)
        for name in ('logits', 'embeddings', 'decoder_out'):
            assert result[name] <= TOLERANCE, f'{path.name}: {name} differ by {result[name]:.3g}'


@pytest.fixture(scope='module')
def resnet34_reference(shared, reference_tool):
    """(fixture arrays, model, variables) of the ResNet-34 RGB fixture, weights built once for the module."""
    fixture = np.load(parity_dir(shared) / 'resnet34_vtn.npz')
    model = parity.model_for(str(fixture['model']))
    variables = parity.reference_variables(model, str(fixture['model']), int(fixture['weight_seed']),
                                           reference_tool.make_state_dict)
    return fixture, model, variables


def test_batch_of_one_matches_clip_zero(resnet34_reference, reference_tool):
    fixture, model, variables = resnet34_reference
    shape = (1,) + tuple(int(d) for d in fixture['input_shape'][1:])
    clip = reference_tool.make_clip(int(fixture['input_seed']), shape).transpose(0, 1, 3, 4, 2)
    logits = jax.jit(model.apply)(variables, jnp.asarray(clip))
    assert np.abs(np.asarray(logits)[0] - fixture['logits'][0]).max() <= TOLERANCE


def test_parity_catches_a_wrong_layer_norm(resnet34_reference, reference_tool):
    # The gate is meaningful: perturbing one LayerNorm scale by 1% moves the logits past it.
    fixture, model, reference = resnet34_reference
    variables = jax.tree.map(lambda x: x, reference)  # a new tree: the module fixture stays intact
    ln = variables['params']['decoder']['block3']['ffn']['layer_norm']
    ln['scale'] = ln['scale'] * 1.01
    clip = reference_tool.make_clip(int(fixture['input_seed']), tuple(fixture['input_shape']))
    logits = jax.jit(model.apply)(variables, jnp.asarray(clip.transpose(0, 1, 3, 4, 2)))
    assert np.abs(np.asarray(logits) - fixture['logits']).max() > TOLERANCE


def test_pth_files_load_through_torch(shared, reference_tool, tmp_path):
    torch = pytest.importorskip('torch')
    path = parity_dir(shared) / 'mobilenetv2_vtn.npz'
    fixture = np.load(path)
    name = str(fixture['model'])
    state = reference_tool.make_state_dict(name, int(fixture['weight_seed']))
    plain, wrapped = tmp_path / 'plain.pth', tmp_path / 'ckpt.pth'
    torch.save({k: torch.from_numpy(v) for k, v in state.items()}, plain)
    torch.save({'epoch': 1, 'state_dict': {'module.' + k: torch.from_numpy(v) for k, v in state.items()}}, wrapped)
    model = parity.model_for(name)
    template = jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0)))
    clip = reference_tool.make_clip(int(fixture['input_seed']), tuple(fixture['input_shape']))
    for file in (plain, wrapped):
        variables = checkpoints.load_checkpoint(file, model, template)
        logits = jax.jit(model.apply)(variables, jnp.asarray(clip.transpose(0, 1, 3, 4, 2)))
        assert np.abs(np.asarray(logits) - fixture['logits']).max() <= TOLERANCE
