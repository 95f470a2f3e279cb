"""Timing exported IRs on the CPU: every row compiled first, then timed round-robin, side by side in one run,
with the CPU's model and ISA, the precision OpenVINO actually used, and ratios of rows of the same run."""
import json
import logging
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Optional, Sequence

import numpy as np
import openvino as ov

from vtn_jax.export import artifacts
from vtn_jax.inference import export_record
from vtn_jax.inference import openvino_backend

_LOG = logging.getLogger(__name__)
# Variants timed only when asked for: fp16 runs the f32 kernels (its weights are decompressed at load time),
# int8_f32 differs from int8 only where the CPU has bf16 (it is what an AVX2 CPU runs for 'int8').
OPT_IN_VARIANTS = ('fp16', 'int8_f32')
ISA_FLAGS = ('avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'avx_vnni', 'amx_tile', 'amx_bf16', 'amx_int8')


def cpu_info() -> dict:
    """CPU model, family/model numbers, logical CPUs, the ISA flags that decide OpenVINO's kernels, and the
    precisions OpenVINO's CPU plugin offers."""
    fields, flags = {}, set()
    try:
        for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
            key, _, value = line.partition(':')
            key = key.strip()
            if key in ('model name', 'cpu family', 'model', 'vendor_id') and key not in fields:
                fields[key] = value.strip()
            elif key == 'flags' and not flags:
                flags = set(value.split())
    except OSError:  # not Linux: the report just says 'unknown'
        pass
    try:
        capabilities = list(ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES'))
    except Exception:  # noqa: BLE001
        capabilities = []
    isa = [f for f in ISA_FLAGS if f in flags]
    info = {'model_name': fields.get('model name', 'unknown'), 'family': fields.get('cpu family'),
            'model': fields.get('model'), 'logical_cpus': os.cpu_count(), 'isa': isa,
            'openvino_capabilities': capabilities}
    info['summary'] = (f'{info["model_name"]} (family {info["family"]} model {info["model"]}, '
                       f'{info["logical_cpus"]} logical CPUs; {" ".join(isa) or "no AVX2"}; '
                       f'OpenVINO CPU: {" ".join(capabilities)})')
    return info


def random_input(port) -> np.ndarray:
    """A random input for a compiled model's port: uint8 pixels or standard-normal float32."""
    shape = [d if d > 0 else 1 for d in (port.get_partial_shape().get_min_shape())]
    if port.get_element_type().get_type_name() == 'u8':
        return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


class Timer:
    """One compiled model under one performance hint, timed in rounds (see `benchmark`).

    LATENCY: one synchronous request at a time (batch 1); THROUGHPUT: an AsyncInferQueue with OpenVINO's
    optimal number of requests kept full. FPS counts inferences per second of wall time; latencies are per
    inference. `result` reports the best round: load from other processes only ever slows a round down, so
    the fastest round is the closest to what the machine can do (every round's FPS is kept as well). It also
    reports the process CPU time per inference (all threads, lowest over rounds), which another process on
    the same cores changes far less than wall time: a second, steadier basis for ratios on a shared machine.
    """

    def __init__(self, path, *, precision: Optional[str], hint: str, threads: int, core=None):
        self.hint = hint
        self.compiled = openvino_backend.compile_openvino(path, precision, hint=hint, threads=threads, core=core)
        self.inputs = [random_input(p) for p in self.compiled.inputs]
        self.rounds, self._latencies = [], []
        # Inputs are set on every request once, as benchmark_app does: the timed loop then copies nothing.
        if hint == 'LATENCY':
            self.request, self.num_requests = self.compiled.create_infer_request(), 1
            requests = [self.request]
        else:
            self.num_requests = int(self.compiled.get_property('OPTIMAL_NUMBER_OF_INFER_REQUESTS'))
            self.queue = ov.AsyncInferQueue(self.compiled, self.num_requests)
            self.queue.set_callback(lambda request, _: self._latencies.append(request.latency))
            requests = [self.queue[i] for i in range(self.num_requests)]
        for request in requests:
            for port, value in zip(self.compiled.inputs, self.inputs):
                request.set_tensor(port, ov.Tensor(value))
        self.time_round(0.0)  # warm-up (first inferences allocate and tune); its numbers are dropped
        self.rounds = []

    def time_round(self, seconds: float) -> None:
        self._latencies = []
        count, start, cpu_start = 0, time.perf_counter(), time.process_time()
        if self.hint == 'LATENCY':
            while time.perf_counter() - start < seconds or count < 3:
                t0 = time.perf_counter()
                self.request.infer()
                self._latencies.append(1e3 * (time.perf_counter() - t0))
                count += 1
        else:
            while time.perf_counter() - start < seconds or count < 2 * self.num_requests:
                self.queue.start_async()
                count += 1
            self.queue.wait_all()
        cpu_ms = 1e3 * (time.process_time() - cpu_start) / count
        self.rounds.append((count / (time.perf_counter() - start), self._latencies, cpu_ms))

    def result(self) -> dict:
        fps, latencies, _ = max(self.rounds, key=lambda r: r[0])
        p10, p90 = np.percentile(latencies, [10, 90])
        return {'fps': fps, 'fps_rounds': [round(r[0], 2) for r in self.rounds],
                'cpu_ms': min(r[2] for r in self.rounds),
                'median_ms': statistics.median(latencies), 'p10_ms': float(p10), 'p90_ms': float(p90),
                'runs': len(latencies), 'requests': self.num_requests,
                'precision': openvino_backend.runtime_precision(self.compiled),
                'streams': int(self.compiled.get_property('NUM_STREAMS')),
                'threads': int(self.compiled.get_property('INFERENCE_NUM_THREADS'))}


def run_benchmark_app(path, *, precision: Optional[str], hint: str, threads: int, seconds: float) -> dict:
    """OpenVINO's own benchmark_app on the same file and settings: its FPS, median latency and precision.

    The settings go through -load_config: benchmark_app refuses -nthreads together with -hint.
    """
    exe = shutil.which('benchmark_app') or str(pathlib.Path(sys.executable).with_name('benchmark_app'))
    properties = {'PERFORMANCE_HINT': hint}
    if threads:
        properties['INFERENCE_NUM_THREADS'] = str(threads)
    if precision:
        properties['INFERENCE_PRECISION_HINT'] = precision
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
        json.dump({'CPU': properties}, f)
    cmd = [exe, '-m', str(path), '-d', 'CPU', '-t', str(max(1, round(seconds))), '-load_config', f.name,
           '-api', 'sync' if hint == 'LATENCY' else 'async']
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120 + 2 * seconds, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {'error': str(e)}
    finally:
        os.unlink(f.name)
    fps = re.search(r'Throughput:\s+([\d.]+)\s+FPS', proc.stdout)
    median = re.search(r'Median:\s+([\d.]+)\s+(ms|us)', proc.stdout)
    used = re.search(r"INFERENCE_PRECISION_HINT: <Type: '(\w+)'>", proc.stdout)
    if proc.returncode or not fps:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        return {'error': tail[-1] if tail else f'exit status {proc.returncode}'}
    return {'fps': float(fps.group(1)),
            'median_ms': float(median.group(1)) / (1e3 if median.group(2) == 'us' else 1) if median else None,
            'precision_hint': used.group(1) if used else None}


def benchmark(out_dir, *, threads: int = 0, seconds: float = 3.0, rounds: int = 3,
              hints: Sequence[str] = ('LATENCY', 'THROUGHPUT'), variants: Optional[Sequence[str]] = None,
              parts: Optional[Sequence[str]] = None, with_benchmark_app: bool = False,
              compare_onnx: Optional[str] = None) -> dict:
    """Times the exported IRs (and optionally another ONNX) side by side in one run.

    Every row is compiled first, then all rows are timed round-robin (every other round in reverse order),
    `rounds` times `seconds` each, and a row reports its best round. On shared cores a burst of load from
    another process slows whichever rows run during it; interleaving spreads the bursts over all rows and
    the best round discards them, which keeps the side-by-side ratios honest.

    Args:
        out_dir: an export directory.
        threads: INFERENCE_NUM_THREADS (0 = OpenVINO's choice).
        seconds: time per row and round.
        rounds: interleaved rounds.
        hints: OpenVINO performance hints to run.
        variants: IR variants (keys of VARIANTS) to time; default every one present except OPT_IN_VARIANTS.
        parts: parts to time (default: all exported).
        with_benchmark_app: also run benchmark_app on every row (once, after the rounds) and report its FPS.
        compare_onnx: another ONNX model of a whole clip (e.g. the authors' PyTorch export), timed with the
            same settings; ratios are ours / theirs.

    Returns:
        {'cpu', 'rows', 'ratios', 'settings'}; `format_benchmark` prints it.
    """
    out_dir = pathlib.Path(out_dir)
    record = export_record.read(out_dir)
    core = ov.Core()
    parts = [p for p in (parts or artifacts.PARTS) if p in record.parts]
    plan = []  # (row fields, path, precision)
    for part in parts:
        files = record.parts[part].files
        for variant in (variants or [v for v in artifacts.VARIANTS if v not in OPT_IN_VARIANTS]):
            key, precision = artifacts.VARIANTS[variant]
            if key in files:
                plan += [({'model': part, 'variant': variant, 'hint': hint, 'file': files[key]},
                          out_dir / files[key], precision) for hint in hints]
    if compare_onnx:
        plan += [({'model': f'compare: {pathlib.Path(compare_onnx).name}', 'variant': variant, 'hint': hint,
                   'file': str(compare_onnx)}, compare_onnx, artifacts.VARIANTS[variant][1])
                 for variant in ('f32', 'default') for hint in hints]
    timers = [Timer(path, precision=precision, hint=row['hint'], threads=threads, core=core)
              for row, path, precision in plan]
    load_start = _load_average()
    for r in range(rounds):
        for timer in (timers if r % 2 == 0 else timers[::-1]):
            timer.time_round(seconds)
        _LOG.info('benchmark round %d of %d done', r + 1, rounds)
    load_end = _load_average()
    rows = []
    for (row, path, precision), timer in zip(plan, timers):
        row = {**row, **timer.result()}
        if with_benchmark_app:
            row['benchmark_app'] = run_benchmark_app(path, precision=precision, hint=row['hint'], threads=threads,
                                                     seconds=seconds)
        rows.append(row)
    del timers  # free the compiled models before returning
    return {'cpu': cpu_info(), 'rows': rows, 'ratios': _ratios(rows),
            'settings': {'threads': threads, 'seconds': seconds, 'rounds': rounds, 'model': record.info.get('model'),
                         'load_average': [load_start, load_end],
                         'image_size': record.preprocessing.crop_size, 'num_steps': record.clip.num_steps}}


def _load_average() -> Optional[float]:
    """The 1-minute load average: other processes on the same cores distort every timing."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _ratios(rows: Sequence[dict]) -> list:
    """The targets as ratios of rows measured in the same run."""
    by = {(r['model'], r['variant'], r['hint']): r for r in rows}
    out = []
    variants = sorted({r['variant'] for r in rows}, key=list(artifacts.VARIANTS).index)
    for variant in variants:
        enc, dec = by.get(('encoder', variant, 'LATENCY')), by.get(('decoder', variant, 'LATENCY'))
        if enc and dec:
            online_ms = enc['median_ms'] + dec['median_ms']
            out.append({'what': f'online per-frame rate (encoder + decoder, LATENCY, {variant}) vs encoder alone',
                        'value': enc['median_ms'] / online_ms,
                        'detail': f'{1e3 / online_ms:.1f} vs {1e3 / enc["median_ms"]:.1f} FPS; by CPU time '
                                  f'{enc["cpu_ms"] / (enc["cpu_ms"] + dec["cpu_ms"]):.2f}x'})
    for model in ('whole', 'encoder', 'decoder'):
        for hint in ('LATENCY', 'THROUGHPUT'):
            for quant in ('int8', 'int8_f32', 'int8_fdw'):
                q = by.get((model, quant, hint))
                for base in ('f32', 'default', 'int8'):
                    b = by.get((model, base, hint))
                    if q and b and base != quant and not (quant.startswith('int8') and base == 'int8'):
                        out.append({'what': f'{model} {quant} vs {base} ({b["precision"]}), {hint}',
                                    'value': q['fps'] / b['fps'],
                                    'detail': f'{q["fps"]:.1f} vs {b["fps"]:.1f} FPS; by CPU time '
                                              f'{b["cpu_ms"] / q["cpu_ms"]:.2f}x'})
    for r in rows:
        if r['model'].startswith('compare: '):
            ours = by.get(('whole', r['variant'], r['hint']))
            if ours:
                out.append({'what': f'ours (whole) vs {r["model"][9:]}, {r["variant"]}, {r["hint"]}',
                            'value': ours['fps'] / r['fps'],
                            'detail': f'{ours["fps"]:.2f} vs {r["fps"]:.2f} FPS; by CPU time '
                                      f'{r["cpu_ms"] / ours["cpu_ms"]:.2f}x ({ours["cpu_ms"]:.0f} vs '
                                      f'{r["cpu_ms"]:.0f} CPU ms)'})
    return out


def format_benchmark(result: dict) -> str:
    """The benchmark as Markdown: CPU line, one table of rows, one table of ratios."""
    s = result['settings']
    m = s['model']
    lines = [f'CPU: {result["cpu"]["summary"]}',
             f'Model: {m["encoder"]}-VTN {m["modality"]}, {m["num_frames"]} frames ({s["num_steps"]} decoder steps) '
             f'at {s["image_size"]}x{s["image_size"]}, {m["num_classes"]} classes; threads '
             f'{s["threads"] or "auto"}; rows timed round-robin, {s["rounds"]} rounds x {s["seconds"]:g} s, '
             f'FPS and latency of the best round; 1-min load average {s["load_average"][0]} at start, '
             f'{s["load_average"][1]} at end (other processes distort timings). FPS = inferences/s (whole: '
             'clips/s, encoder: frames/s, decoder: windows/s).',
             '| model | variant | hint | precision used | requests x streams | FPS | FPS per round | median ms |'
             ' p10-p90 ms | CPU ms / inference | benchmark_app FPS (median) |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in result['rows']:
        app = r.get('benchmark_app')
        app_text = '-' if app is None else (f'{app["fps"]:.1f}' if 'fps' in app else f'error: {app["error"]}')
        if app and 'fps' in app and app['median_ms']:
            app_text += f' ({app["median_ms"]:.2f} ms)'
        lines.append(f'| {r["model"]} | {r["variant"]} | {r["hint"]} | {r["precision"]} | '
                     f'{r["requests"]} x {r["streams"]} | {r["fps"]:.1f} | '
                     f'{" ".join(f"{f:.1f}" for f in r["fps_rounds"])} | {r["median_ms"]:.2f} | '
                     f'{r["p10_ms"]:.2f}-{r["p90_ms"]:.2f} | {r["cpu_ms"]:.2f} | {app_text} |')
    if result['ratios']:
        lines += ['', '| ratio | value | detail |', '|---|---|---|']
        lines += [f'| {q["what"]} | {q["value"]:.2f}x | {q["detail"]} |' for q in result['ratios']]
    return '\n'.join(lines)
