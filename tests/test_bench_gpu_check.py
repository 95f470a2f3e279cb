"""bench/gpu_check.py, the one-run GPU check, on CPU with tiny settings: where TensorFlow and ml_collections cannot
be imported (as on a GPU machine with JAX, flax, optax and torch only), it checks parity, times the step with uint8
and float batches, and prints one table."""
import pathlib
import subprocess
import sys

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / 'bench' / 'gpu_check.py'
# Runs the script with imports of TensorFlow, TFDS, clu and ml_collections failing, as where they are not installed.
BLOCKED_RUN = '''
import runpy, sys
BLOCKED = ('tensorflow', 'tensorflow_datasets', 'clu', 'ml_collections')
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError(f'{name} is not installed here')
sys.meta_path.insert(0, Blocker())
sys.argv = [sys.argv[1]] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


def test_gpu_check_runs_without_tensorflow_and_prints_one_table():
    # One step compilation (the uint8 batch: what training runs) and one parity fixture keep it short.
    args = ['--config', 'tiny', '--batches', '2', '--steps', '1', '--dtypes', 'float32', '--inputs', 'uint8',
            '--parity_models', 'mobilenetv2_vtn', '--reference_dir', '/nonexistent/checkout',
            '--peak_tflops', '1,1']  # a made-up peak, so that MFU is computed on a CPU too
    proc = subprocess.run([sys.executable, '-c', BLOCKED_RUN, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=900)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'ml_collections stood in' in out and 'TensorFlow imported: no' in out
    table = [line for line in out.splitlines() if line.startswith('|')]
    assert table[0].startswith('| check | dtype | input | batch | compile s | step ms | clips/s | MFU')
    rows = {tuple(cell.strip() for cell in line.strip('|').split('|')[:4]): line for line in table[2:]}
    assert 'pass' in rows[('parity mobilenetv2_vtn', 'float32', '-', '2')]
    cells = [c.strip() for c in rows[('vtn_jax train step', 'float32', 'uint8', '2')].strip('|').split('|')]
    assert float(cells[4]) > 0 and float(cells[5]) > 0 and float(cells[6]) > 0  # compile s, step ms, clips/s
    assert cells[7].endswith('%') and float(cells[7][:-1]) > 0  # MFU
    assert 'skipped: torch or /nonexistent/checkout missing' in out
