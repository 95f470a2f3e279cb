"""The vtn-export command: export, verify only, and the one-line failure when a file diverged."""
import json

import openvino

from conftest import run_command
from vtn_jax.tools import export


def test_export_writes_a_self_describing_folder(tmp_path, capsys):
    out = tmp_path / 'exp'
    assert run_command(export, '--config', 'tiny', '--output', out, '--parts', 'encoder,decoder',
                       '--verify_clips', 1) == (0, '')
    sidecar = json.loads((out / 'export.json').read_text())
    assert sidecar['verification']['passed'] and sorted(sidecar['artifacts']) == ['decoder', 'encoder']
    assert 'verification PASSED' in capsys.readouterr().out
    # The same facts inside each IR (rt_info 'model_info'), for a reader of the .xml alone.
    ir = openvino.Core().read_model(out / sidecar['artifacts']['encoder']['ir'])
    assert ir.get_rt_info(['model_info', 'num_frames']).astype(str) == str(sidecar['model']['num_frames'])
    assert ir.get_rt_info(['model_info', 'vtn_part']).astype(str) == 'encoder'
    assert ir.get_rt_info(['model_info', 'modality']).astype(str) == sidecar['model']['modality']


def test_verify_only_exits_1_naming_the_diverged_stage(perturbed):
    _, _, copy = perturbed
    code, message = run_command(export, '--config', 'tiny', '--output', copy, '--verify_only', '--verify_clips', 2)
    assert code == 1 and 'whole: onnxruntime f32 diverged from JAX' in message
