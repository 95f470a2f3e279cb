r"""OpenVINO CPU latency of exported VTN artifacts: LATENCY (sync, batch 1) and THROUGHPUT (AsyncInferQueue)
for the whole model per clip, the encoder per frame and the decoder per window, in one table with the CPU
model, its ISA flags and the precision OpenVINO actually ran (vtn_jax.export.benchmark).

    vtn-export --config default --output artifacts/r34 --int8 --calib_clips 32
    python bench/openvino_latency.py --export artifacts/r34 --threads 2 --benchmark_app
    python bench/openvino_latency.py --export artifacts/r34 --threads 2 --compare_onnx reference_r34.onnx
    ONEDNN_MAX_CPU_ISA=AVX2 python bench/openvino_latency.py --export artifacts/r34 --threads 2 \
        --variants f32,int8_f32 --hints LATENCY           # about what an AVX2-only CPU does (see below)
    python bench/openvino_latency.py --export artifacts/mnv2 --threads 2 --profile --parts encoder \
        --variants default,int8                       # where the time goes: per layer type and kernel

With ONEDNN_MAX_CPU_ISA=AVX2 the same CPU runs the kernels an AVX2-only CPU has; measured in
docs/export.md "INT8 against f32 with AVX2 kernels".
"""
import collections
import json
import pathlib
import sys

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repo root, for `vtn_jax`

from vtn_jax.export import artifacts
from vtn_jax.export import benchmark as benchmark_lib
from vtn_jax.inference import export_record
from vtn_jax.inference import openvino_backend

_EXPORT = flags.DEFINE_string('export', None, 'An export directory (with export.json).', required=True)
_THREADS = flags.DEFINE_integer('threads', 0, 'INFERENCE_NUM_THREADS (0 = all).')
_SECONDS = flags.DEFINE_float('seconds', 3.0, 'Seconds per row and round.')
_ROUNDS = flags.DEFINE_integer('rounds', 3, 'Rounds; all rows are timed round-robin, each reports its best round.')
_HINTS = flags.DEFINE_list('hints', ['LATENCY', 'THROUGHPUT'], 'OpenVINO performance hints.')
_VARIANTS = flags.DEFINE_list('variants', [], f'Any of {list(artifacts.VARIANTS)} (default: all present '
                              f'but {", ".join(benchmark_lib.OPT_IN_VARIANTS)}).')
_PARTS = flags.DEFINE_list('parts', [], 'Any of whole, encoder, decoder (default: all exported).')
_APP = flags.DEFINE_bool('benchmark_app', False, "Also run OpenVINO's benchmark_app on every row.")
_COMPARE = flags.DEFINE_string('compare_onnx', '', 'Another whole-clip ONNX to time in the same run.')
_JSON = flags.DEFINE_string('json_out', '', 'Also write the result as JSON here.')
_PROFILE = flags.DEFINE_bool('profile', False, "Instead of the timing table: OpenVINO's per-layer counters "
                             '(PERF_COUNT), summed per layer type and kernel, for each part and variant.')


def profile(out_dir: pathlib.Path, parts, variants, threads: int, runs: int = 50) -> str:
    """Markdown tables of the time per (layer type, kernel), the mean over `runs` LATENCY inferences."""
    record = export_record.read(out_dir)
    lines = [f'CPU: {benchmark_lib.cpu_info()["summary"]}; {threads or "all"} threads, LATENCY hint, '
             f'mean of {runs} runs']
    for part, part_record in record.parts.items():
        if parts and part not in parts:
            continue
        for variant, (key, precision) in artifacts.VARIANTS.items():
            if key not in part_record.files or (variants and variant not in variants):
                continue
            compiled = openvino_backend.compile_openvino(out_dir / part_record.files[key], precision, hint='LATENCY',
                                                         threads=threads, perf_count=True)
            request = compiled.create_infer_request()
            x = benchmark_lib.random_input(compiled.input(0))
            for _ in range(10):
                request.infer([x])
            totals, counts = collections.Counter(), collections.Counter()
            for _ in range(runs):
                request.infer([x])
                for info in request.profiling_info:
                    if info.real_time.total_seconds() > 0:
                        key_ = (info.node_type, info.exec_type)
                        totals[key_] += info.real_time.total_seconds() * 1e3 / runs
                        counts[key_] += 1
            total = sum(totals.values())
            lines += ['', f'{part} / {variant} ({openvino_backend.runtime_precision(compiled)}): '
                          f'{total:.3f} ms in layers',
                      '| layer type | kernel | layers | ms | share |', '|---|---|---|---|---|']
            lines += [f'| {t} | {k} | {counts[(t, k)] // runs} | {ms:.3f} | {100 * ms / total:.0f}% |'
                      for (t, k), ms in totals.most_common(12)]
    return '\n'.join(lines)


def main(argv):
    del argv
    if _PROFILE.value:
        print(profile(pathlib.Path(_EXPORT.value), _PARTS.value, _VARIANTS.value, _THREADS.value))
        return
    result = benchmark_lib.benchmark(_EXPORT.value, threads=_THREADS.value, seconds=_SECONDS.value,
                                  rounds=_ROUNDS.value, hints=_HINTS.value, variants=_VARIANTS.value or None,
                                  parts=_PARTS.value or None, with_benchmark_app=_APP.value,
                                  compare_onnx=_COMPARE.value or None)
    print(benchmark_lib.format_benchmark(result))
    if _JSON.value:
        pathlib.Path(_JSON.value).write_text(json.dumps(result, indent=1, default=str) + '\n')


if __name__ == '__main__':
    app.run(main)
