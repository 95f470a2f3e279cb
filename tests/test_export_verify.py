"""Verification gates every artifact against JAX and names the stage that diverged."""

import pytest

from export_helpers import TOL
from vtn_jax.configs import tiny
from vtn_jax.inference import export_record
from vtn_jax.export import verify


def test_verify_rejects_another_config(rgb):
    config, _, variables, out, _ = rgb
    other = tiny.get_config()
    other.model.num_layers = 3
    with pytest.raises(ValueError, match='num_layers'):
        verify.verify(out, other, variables)


def test_failed_verification_names_the_stage(perturbed):
    config, variables, copy = perturbed
    with pytest.raises(verify.VerificationError, match=r'whole: onnxruntime f32 diverged from JAX') as e:
        verify.verify(copy, config, variables)
    failed = {(f['part'], f['stage']) for f in e.value.failures}
    assert ('whole', 'onnxruntime f32') in failed
    assert ('whole', 'openvino f32') not in failed  # the IR was not perturbed
    assert all(f['relative_diff'] > TOL for f in e.value.failures)
    assert export_record.read(copy).verification['passed'] is False
