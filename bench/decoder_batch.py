r"""The decoder's time per window when B windows share one inference (`vtn_jax.inference.decoder_batch`).

    vtn-export --config default --output artifacts/r34 --parts encoder,decoder
    python bench/decoder_batch.py --export artifacts/r34 --threads 2
    python bench/decoder_batch.py --export artifacts/r34 --threads 2 --batches 1,2,4 --precisions f32

The exported decoder (batch 1) and its batch-B copies, compiled with the LATENCY hint, run round-robin for
--seconds each in --rounds rounds, on random windows. Per row: the median wall time of one call, divided by B
(ms per window), and the CPU time of the process per window; ratio = ms per window / batch 1's in the same round,
the median (range) over rounds. The decoder reads all its weights once per call whatever B is, so the time per
window falls with B until the arithmetic, not the weights, dominates. The load average is printed at the start
and the end: other processes on the same cores distort every timing.
"""
import os
import pathlib
import sys
import time

import numpy as np
import openvino as ov
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repo root, for `vtn_jax`

from vtn_jax.export import benchmark as benchmark_lib
from vtn_jax.inference import decoder_batch, openvino_backend

_EXPORT = flags.DEFINE_string('export', None, 'An export directory with decoder.xml.', required=True)
_BATCHES = flags.DEFINE_list('batches', ['1', '2', '4', '8'], 'Windows per call.')
_PRECISIONS = flags.DEFINE_list('precisions', ['default', 'f32'],
                                "INFERENCE_PRECISION_HINT per table ('default': the CPU's own, bf16 on AMX).")
_THREADS = flags.DEFINE_integer('threads', 2, 'INFERENCE_NUM_THREADS (0 = all).')
_ROUNDS = flags.DEFINE_integer('rounds', 5, 'Rounds; the rows run round-robin in each.')
_SECONDS = flags.DEFINE_float('seconds', 1.0, 'Seconds per row and round.')


def time_row(request, x, seconds: float) -> tuple:
    """(median wall ms per call, mean process CPU ms per call) over `seconds` of back-to-back calls."""
    walls, cpu0, end = [], time.process_time(), time.perf_counter() + seconds
    while time.perf_counter() < end or len(walls) < 5:
        start = time.perf_counter()
        request.infer({0: x})
        walls.append(time.perf_counter() - start)
    return 1e3 * float(np.median(walls)), 1e3 * (time.process_time() - cpu0) / len(walls)


def table(model: ov.Model, core: ov.Core, precision: str, batches, threads: int, rounds: int,
          seconds: float) -> list:
    rows = []
    for batch in batches:
        compiled = openvino_backend.compile_openvino(
            decoder_batch.with_batch(model, batch), None if precision == 'default' else precision,
            hint='LATENCY', threads=threads, core=core)
        x = np.random.default_rng(0).normal(size=tuple(compiled.input(0).get_shape())).astype(np.float32)
        request = compiled.create_infer_request()
        for _ in range(10):
            request.infer({0: x})
        rows.append({'batch': batch, 'request': request, 'x': x, 'ran': openvino_backend.runtime_precision(compiled),
                     'per_window': [], 'cpu': []})
    for _ in range(rounds):
        for row in rows:
            wall, cpu = time_row(row['request'], row['x'], seconds)
            row['per_window'].append(wall / row['batch'])
            row['cpu'].append(cpu / row['batch'])
    lines = [f'\nprecision {precision} (ran {rows[0]["ran"]}), {threads or "all"} threads, LATENCY hint',
             '| windows per call | ms per call (best round) | ms per window (best) | CPU ms per window | '
             'per window vs batch 1, same round: median (range) |', '|---|---|---|---|---|']
    base = np.array(rows[0]['per_window'])
    for row in rows:
        per = np.array(row['per_window'])
        ratio = per / base
        lines.append(f'| {row["batch"]} | {per.min() * row["batch"]:.3f} | {per.min():.3f} | '
                     f'{np.median(row["cpu"]):.3f} | {np.median(ratio):.2f} ({ratio.min():.2f}-{ratio.max():.2f}) |')
    return lines


def main(argv):
    del argv
    path = pathlib.Path(_EXPORT.value) / 'decoder.xml'
    if not path.is_file():
        raise app.UsageError(f'{path} not found: export the decoder first (vtn-export --parts encoder,decoder)')
    core = ov.Core()
    model = core.read_model(str(path))
    batches = [int(b) for b in _BATCHES.value]
    print(f'CPU: {benchmark_lib.cpu_info()["summary"]}')
    print(f'decoder {path}: input {model.inputs[0].get_partial_shape()}; load average {os.getloadavg()[0]:.2f}')
    for precision in _PRECISIONS.value:
        print('\n'.join(table(model, core, precision, batches, _THREADS.value, _ROUNDS.value, _SECONDS.value)))
    print(f'\nload average at the end {os.getloadavg()[0]:.2f}')


if __name__ == '__main__':
    app.run(main)
