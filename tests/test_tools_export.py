"""The vtn-export command: export, verify only, and the one-line failure when a file diverged."""
import json

import openvino

from conftest import run_command
from vtn_jax.inference import export_record
from vtn_jax.tools import export


def test_export_writes_a_self_describing_folder(tmp_path, capsys):
    out = tmp_path / 'exp'
    assert run_command(export, '--config', 'tiny', '--output', out, '--parts', 'encoder,decoder',
                       '--verify_clips', 1) == (0, '')
    sidecar = json.loads((out / 'export.json').read_text())
    assert sidecar['verification']['passed'] and sorted(sidecar['artifacts']) == ['decoder', 'encoder']
    assert 'verification PASSED' in capsys.readouterr().out
    # The same facts inside each IR (rt_info 'model_info'), for a reader of the .xml alone: every key of the
    # record's model_info, and nothing else.
    record = export_record.read(out)
    for part in ('encoder', 'decoder'):
        ir = openvino.Core().read_model(out / sidecar['artifacts'][part]['ir'])
        written = {k: v.astype(str) for k, v in ir.get_rt_info()['model_info'].items()}
        assert written == record.model_info(part)
    assert written['layout'] == 'NSD' and 'input_color' not in written  # the decoder takes embeddings
    assert record.model_info('encoder')['num_frames'] == str(sidecar['model']['num_frames'])


def test_verify_only_exits_1_naming_the_diverged_stage(perturbed):
    _, _, copy = perturbed
    code, message = run_command(export, '--config', 'tiny', '--output', copy, '--verify_only', '--verify_clips', 2)
    assert code == 1 and 'whole: onnxruntime f32 diverged from JAX' in message
