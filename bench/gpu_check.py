r"""One GPU check, run once by a person on a GPU machine (about 5-8 minutes on one H100/H200): the device and
versions; parity with the authors' fixtures under float32 matmuls; the training step's clips/s, step time, compile
time, memory and MFU for ResNet-34-VTN at several batches in bf16 and f32, with uint8 batches normalised on the
device (what `vtn-train` ships) and with float batches (what it shipped before); and, when torch and the authors'
checkout are there, their eager and torch.compile AMP steps in the same run with our ratio. Prints one table.

    python bench/gpu_check.py
    python bench/gpu_check.py --reference_dir ~/openvino_training_extensions/pytorch_toolkit/action_recognition
    python bench/gpu_check.py --config tiny --batches 2 --steps 2 --parity_models mobilenetv2_vtn   # CPU, seconds

It needs JAX (with CUDA), flax, optax, numpy, OpenCV and absl-py, and torch for the reference rows only; neither
TensorFlow nor a package registry: the batches are synthetic (no tf.data), and where ml_collections is not installed
the config files get a stand-in attribute dict. Rows that would start after --budget_s are listed as skipped, so
the run ends in time whatever the machine.

Columns: compile s (lower + compile of the jitted step, one-off), step ms (mean of --steps steps dispatched back to
back after two warm-up steps, as the training loop runs them), clips/s = batch / step, MFU = training FLOPs / step /
peak (training = 3 x the forward pass; the forward pass's multiply-adds counted by vtn_jax.models.costs, 2 FLOPs
each; peak: the device's dense bf16 figure for bf16 rows, its TF32 figure for f32 rows, as JAX's default precision
runs f32 matrix work in TF32 on NVIDIA GPUs), XLA MiB (the compiled step's arguments + outputs + temporaries, minus
donated buffers), device peak MiB (the allocator's peak so far in the process).
"""
import functools
import gc
import importlib.metadata
import importlib.util
import os
import pathlib
import platform
import sys
import time
import types

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / 'bench')]


def _stand_in_ml_collections() -> bool:
    """Installs a minimal `ml_collections.ConfigDict` (an attribute dict) when the package is absent; the configs and
    vtn_jax.training.state need nothing more. Returns whether it did."""
    try:
        import ml_collections  # noqa: F401  (only whether it is installed)
        return False
    except ImportError:
        pass

    class ConfigDict(dict):
        def __getattr__(self, key):
            try:
                return self[key]
            except KeyError as e:
                raise AttributeError(key) from e

        def __setattr__(self, key, value):
            self[key] = value

        def to_dict(self):
            return {k: v.to_dict() if isinstance(v, ConfigDict) else v for k, v in self.items()}

    module = types.ModuleType('ml_collections')
    module.ConfigDict = ConfigDict
    sys.modules['ml_collections'] = module
    return True


STOOD_IN = _stand_in_ml_collections()

import jax
import numpy as np
from absl import app, flags

import train_step as train_bench  # bench/train_step.py: the step, the batches, the reference step
from vtn_jax import configs
from vtn_jax import distributed
from vtn_jax.models import costs as costs_lib
from vtn_jax.models import standin_weights
from vtn_jax.models import vtn as model_lib
from vtn_jax.training import state as state_lib

_CONFIG = flags.DEFINE_string('config', 'default', 'Config name or file (default: ResNet-34-VTN, 16 x 224 x 224).')
_BATCHES = flags.DEFINE_list('batches', ['16', '32', '64'], 'Global batches (clips) to time.')
_DTYPES = flags.DEFINE_list('dtypes', ['bfloat16', 'float32'], 'Compute dtypes (params stay float32).')
_INPUTS = flags.DEFINE_list('inputs', ['uint8', 'float'], "Batch kinds: 'uint8' (normalised on the device, what "
                            "vtn-train ships) and 'float' (normalised on the host, as before).")
_STEPS = flags.DEFINE_integer('steps', 10, 'Timed steps per row (after two warm-up steps).')
_FIXTURES = flags.DEFINE_string('fixtures', str(REPO / 'tests' / 'data' / 'parity'),
                                "Folder of the authors' parity fixtures (as vtn-parity --fixtures).")
_PARITY_MODELS = flags.DEFINE_list('parity_models', [], 'Fixtures to check (file stems; default: every one).')
_PARITY_GATE = flags.DEFINE_float('parity_gate', 1e-4, 'Largest max |difference| that passes.')
_REFERENCE_DIR = flags.DEFINE_string('reference_dir', '', "The authors' pytorch_toolkit/action_recognition checkout "
                                     '(needs torch); empty: no reference rows.')
_REFERENCE_BATCHES = flags.DEFINE_list('reference_batches', ['16'], 'Batches of the reference rows.')
_REFERENCE_VARIANTS = flags.DEFINE_list('reference_variants', ['eager amp', 'compile amp'],
                                        f'Of {sorted(train_bench.REFERENCE_VARIANTS)}.')
_PEAK_TFLOPS = flags.DEFINE_list('peak_tflops', [], 'Peak dense TFLOP/s as bf16,f32 for MFU (default: from a table '
                                 'of known devices; none on CPU).')
_BUDGET_S = flags.DEFINE_float('budget_s', 380.0, 'Rows that would start after this many seconds are skipped.')

# Dense peak TFLOP/s per device kind: (bf16, TF32), the vendors' figures without sparsity.
PEAKS = {'H200': (989.0, 494.0), 'H100': (989.0, 494.0), 'GH200': (989.0, 494.0), 'A100': (312.0, 156.0),
         'L40S': (362.0, 183.0), 'L4': (121.0, 60.0), 'A10': (125.0, 62.5)}
COLUMNS = ('check', 'dtype', 'input', 'batch', 'compile s', 'step ms', 'clips/s', 'MFU', 'XLA MiB', 'device peak MiB',
           'note')


def versions() -> str:
    """The packages that matter here, as installed."""
    names = ['jax', 'jaxlib', 'jax-cuda12-plugin', 'jax-cuda13-plugin', 'flax', 'optax', 'orbax-checkpoint', 'numpy',
             'torch']
    found = []
    for name in names:
        try:
            found.append(f'{name} {importlib.metadata.version(name)}')
        except importlib.metadata.PackageNotFoundError:
            continue
    return ', '.join([f'Python {platform.python_version()}'] + found)


def peak_flops(device_kind: str) -> tuple:
    """(bf16, f32) peak FLOP/s of the device, or (None, None) when unknown."""
    if _PEAK_TFLOPS.value:
        bf16, f32 = (float(x) * 1e12 for x in _PEAK_TFLOPS.value)
        return bf16, f32
    for kind, (bf16, f32) in PEAKS.items():
        if kind.lower() in device_kind.lower():
            return bf16 * 1e12, f32 * 1e12
    return None, None


def device_peak_mib() -> str:
    stats = jax.local_devices()[0].memory_stats() or {}
    return f"{stats['peak_bytes_in_use'] / 2 ** 20:.0f}" if 'peak_bytes_in_use' in stats else '-'


def xla_mib(compiled) -> str:
    try:
        m = compiled.memory_analysis()
    except Exception:  # noqa: BLE001  (not every backend reports it)
        return '-'
    if m is None:
        return '-'
    total = m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes
    return f'{total / 2 ** 20:.0f}'


@functools.lru_cache()
def training_flops_per_clip(config_name: str) -> float:
    """3 x the forward pass of one clip: T encoder passes + one decoder window, 2 FLOPs per multiply-add."""
    config = configs.load(config_name)
    model = model_lib.create_model(config.model)
    cost = costs_lib.compute_costs(model, config.data.crop_size)
    return 3 * 2e9 * (model.num_steps * cost.encoder_gmac + cost.decoder_gmac)


def parity_rows() -> list:
    """One row per fixture: the largest of its logits / embeddings / decoder differences under f32 matmuls."""
    folder = pathlib.Path(_FIXTURES.value)
    paths = [folder / f'{m}.npz' for m in _PARITY_MODELS.value] if _PARITY_MODELS.value else \
        sorted(folder.glob('*.npz'))
    rows = []
    for path in paths:
        if not path.is_file():
            rows.append({'check': f'parity {path.stem}', 'note': f'missing fixture {path}'})
            continue
        with jax.default_matmul_precision('float32'):
            diffs = standin_weights.check_fixture(path)
        worst = max(diffs.values())
        verdict = 'pass' if worst <= _PARITY_GATE.value else 'FAIL'
        rows.append({'check': f'parity {path.stem}', 'dtype': 'float32', 'batch': 2,
                     'note': f'max |diff| {worst:.1e} (gate {_PARITY_GATE.value:.0e}) {verdict}'})
    return rows


def time_step(config, batch_size: int, dtype: str, input_kind: str, steps: int, peaks) -> dict:
    """Compiles and times the mesh training step (what vtn-train runs) on a synthetic device batch."""
    config.model.dtype = dtype
    model = model_lib.create_model(config.model)
    mesh = distributed.create_mesh()
    fn = train_bench.step_function(config, model)
    state = state_lib.create_train_state(config, model, jax.random.key(0), mesh)
    batch = distributed.to_global(train_bench.synthetic_batch(config, batch_size, input_kind), mesh)
    jitted = jax.jit(lambda s, b: fn(s, b), in_shardings=(distributed.replicated(mesh), distributed.data_sharded(mesh)),
                     out_shardings=(distributed.replicated(mesh), distributed.replicated(mesh)), donate_argnums=0)
    start = time.perf_counter()
    compiled = jitted.lower(state, batch).compile()
    compile_s = time.perf_counter() - start
    for _ in range(2):
        state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics['loss'])
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = compiled(state, batch)
    jax.block_until_ready(metrics['loss'])
    step_s = (time.perf_counter() - start) / steps
    if not np.isfinite(float(metrics['loss'])):
        raise FloatingPointError(f'non-finite loss in the {dtype} {input_kind} step at batch {batch_size}')
    peak = peaks[0] if dtype == 'bfloat16' else peaks[1]
    mfu = training_flops_per_clip(_CONFIG.value) * batch_size / step_s / peak if peak else None
    row = {'check': 'vtn_jax train step', 'dtype': dtype, 'input': input_kind, 'batch': batch_size,
           'compile s': f'{compile_s:.1f}', 'step ms': f'{step_s * 1e3:.1f}', 'clips/s': f'{batch_size / step_s:.1f}',
           'MFU': f'{mfu:.1%}' if mfu else '-', 'XLA MiB': xla_mib(compiled), 'device peak MiB': device_peak_mib(),
           'clips_per_s': batch_size / step_s}
    del state, batch, compiled
    gc.collect()
    return row


def reference_rows(config, rows: list, peaks, device: str, skip) -> list:
    """The authors' steps in the same run, and our best bf16 step at the same batch over theirs."""
    if not _REFERENCE_DIR.value:
        return []
    if importlib.util.find_spec('torch') is None or not pathlib.Path(_REFERENCE_DIR.value).is_dir():
        return [{'check': 'reference', 'note': f'skipped: torch or {_REFERENCE_DIR.value} missing'}]
    out = []
    flops = training_flops_per_clip(_CONFIG.value)
    for batch_size in (int(b) for b in _REFERENCE_BATCHES.value):
        for variant in _REFERENCE_VARIANTS.value:
            name = f'reference {variant}'
            if skip():
                out.append({'check': name, 'batch': batch_size, 'note': 'skipped (time budget)'})
                continue
            result = train_bench.bench_reference(_REFERENCE_DIR.value, batch_size, _STEPS.value, variants=(variant,),
                                                 device=device)
            first, step_s = result[name]
            amp = train_bench.REFERENCE_VARIANTS[variant][1]
            peak = peaks[0] if amp else peaks[1]
            ours = [r['clips_per_s'] for r in rows if r.get('batch') == batch_size and r.get('dtype') == 'bfloat16'
                    and 'clips_per_s' in r]
            out.append({'check': name, 'dtype': 'bf16 autocast' if amp else 'float32', 'input': 'float',
                        'batch': batch_size, 'compile s': f'{first:.1f}', 'step ms': f'{step_s * 1e3:.1f}',
                        'clips/s': f'{batch_size / step_s:.1f}',
                        'MFU': f'{flops * batch_size / step_s / peak:.1%}' if peak else '-',
                        'note': f'vtn_jax bf16 / this: {max(ours) * step_s / batch_size:.2f}x' if ours else ''})
    return out


def format_table(rows: list) -> str:
    lines = ['| ' + ' | '.join(COLUMNS) + ' |', '|' + '---|' * len(COLUMNS)]
    lines += ['| ' + ' | '.join(str(r.get(c, '-')) for c in COLUMNS) + ' |' for r in rows]
    return '\n'.join(lines)


def main(argv):
    del argv
    start = time.perf_counter()

    def skip():
        return time.perf_counter() - start > _BUDGET_S.value

    device = jax.devices()[0]
    peaks = peak_flops(device.device_kind)
    config = configs.load(_CONFIG.value)
    print(f'device: {device.device_kind} ({jax.default_backend()}, {jax.device_count()} device(s)); {versions()}')
    print(f'config {_CONFIG.value}: {config.model.encoder}/{config.model.modality}, {config.model.num_frames} x '
          f'{config.data.crop_size} x {config.data.crop_size} clips, {config.model.num_classes} classes; peak TFLOP/s '
          f'bf16/f32: {peaks[0] / 1e12 if peaks[0] else "-"}/{peaks[1] / 1e12 if peaks[1] else "-"}'
          + ('; ml_collections stood in' if STOOD_IN else ''), flush=True)
    rows = parity_rows()
    for dtype in _DTYPES.value:
        for input_kind in _INPUTS.value:
            for batch_size in (int(b) for b in _BATCHES.value):
                if skip():
                    rows.append({'check': 'vtn_jax train step', 'dtype': dtype, 'input': input_kind,
                                 'batch': batch_size, 'note': 'skipped (time budget)'})
                    continue
                rows.append(time_step(config, batch_size, dtype, input_kind, _STEPS.value, peaks))
                print(f'  {dtype} {input_kind} batch {batch_size}: {rows[-1]["clips/s"]} clips/s', flush=True)
    rows += reference_rows(config, rows, peaks, 'cuda' if jax.default_backend() == 'gpu' else 'cpu', skip)
    print(format_table(rows))
    tensorflow = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tensorflow_datasets'))
    print(f'{time.perf_counter() - start:.0f} s in all; TensorFlow imported: {"yes" if tensorflow else "no"}')


if __name__ == '__main__':
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    app.run(main)
