"""The vtn-parity command: a table of the differences to the authors' outputs, exit status 1 past the gate."""
import numpy as np
import pytest

from conftest import parity_dir, run_command
from vtn_jax.tools import parity


@pytest.mark.optimized  # parity: the program a user's run compiles
def test_a_fixture_past_the_gate_fails_the_run(tmp_path, capsys):
    # One shipped fixture with its logits moved by 10 gates: the embeddings and decoder output still agree.
    fixture = dict(np.load(parity_dir() / 'mobilenetv2_vtn.npz'))
    fixture['logits'] = fixture['logits'] + 10 * parity.GATE
    np.savez(tmp_path / 'moved.npz', **fixture)
    assert run_command(parity, '--fixtures', tmp_path) == (1, '')
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ['| fixture | logits | embeddings | decoder_out |', '|---|---|---|---|']
    row = [cell.strip() for cell in out[2].strip('|').split('|')]
    assert row[0] == 'moved' and abs(float(row[1]) - 10 * parity.GATE) < parity.GATE
    assert float(row[2]) < parity.GATE and float(row[3]) < parity.GATE
    assert out[3].startswith('largest difference 1.0') and out[3].endswith(f'(gate {parity.GATE:g})')


def test_a_folder_without_fixtures_is_one_line(tmp_path):
    assert run_command(parity, '--fixtures', tmp_path) == \
        (1, f'error: no parity fixtures (*.npz) in {tmp_path}; pass --fixtures')
