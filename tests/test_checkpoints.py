"""Weights from every source through one function: flat .npz round trip, mismatches named, corrupt files, random weights with real-scale BatchNorm statistics."""

import jax
import numpy as np
import pytest

from export_helpers import normalized, tiny_setup, uint8_clips
from vtn_jax import checkpoints
from vtn_jax.models import vtn as model_lib


def test_flat_npz_round_trip_and_mismatches(tmp_path):
    config, model, variables = tiny_setup()
    path = tmp_path / 'own.npz'
    checkpoints.save_flat_npz(variables, path)
    loaded, source = checkpoints.load_variables(str(path), model, image_size=32)
    assert 'flat npz' in source
    jax.tree.map(np.testing.assert_array_equal, loaded, variables)

    flat = dict(np.load(path))
    flat['params/head/kernel'] = np.zeros((32, 5), np.float32)  # a 5-class head for an 8-class model
    np.savez(tmp_path / 'wrong_shape.npz', **flat)
    with pytest.raises(checkpoints.CheckpointMismatchError, match=r'params/head/kernel.*\(32, 5\).*\(32, 8\)'):
        checkpoints.load_variables(str(tmp_path / 'wrong_shape.npz'), model, image_size=32)

    del flat['params/head/kernel']
    np.savez(tmp_path / 'missing.npz', **flat)
    with pytest.raises(checkpoints.CheckpointMismatchError, match='missing key params/head/kernel'):
        checkpoints.load_variables(str(tmp_path / 'missing.npz'), model, image_size=32)

    # Another encoder's checkpoint for this config: fails naming the keys (not silently half-loaded).
    _, _, other = tiny_setup(num_classes=3)
    checkpoints.save_flat_npz(other, tmp_path / 'other.npz')
    with pytest.raises(checkpoints.CheckpointMismatchError, match='params/head/bias'):
        checkpoints.load_variables(str(tmp_path / 'other.npz'), model, image_size=32)


def test_corrupted_and_reference_format_checkpoints_fail_with_message(tmp_path):
    _, model, _ = tiny_setup()
    corrupted = tmp_path / 'corrupted.npz'
    corrupted.write_bytes(b'PK\x03\x04 this is not a zip archive')
    with pytest.raises(checkpoints.CheckpointMismatchError, match='cannot read'):
        checkpoints.load_variables(str(corrupted), model, image_size=32)
    # Reference-format keys (no 'params/' prefix) go to the reference loader, which names what is missing.
    np.savez(tmp_path / 'reference.npz', **{'fc.weight': np.zeros((8, 32), np.float32)})
    with pytest.raises(checkpoints.CheckpointMismatchError, match='missing key'):
        checkpoints.load_variables(str(tmp_path / 'reference.npz'), model, image_size=32)
    with pytest.raises(FileNotFoundError, match='does_not_exist'):
        checkpoints.load_variables(str(tmp_path / 'does_not_exist.pth'), model, image_size=32)


def test_random_weights_get_batch_statistics_of_real_scale():
    config, model, variables = tiny_setup()
    frames = normalized(uint8_clips(1, seed=13)[0], config)
    emb = np.asarray(model.apply(variables, frames, method=model_lib.VTN.encode))
    # Fresh running statistics (0, 1) shrink activations layer by layer; batch statistics keep unit scale.
    assert 0.2 < emb.std() < 5.0
    stem_mean = variables['batch_stats']['encoder']['stem_bn']['mean']
    assert np.abs(stem_mean).max() > 1e-3
