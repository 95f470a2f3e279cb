r"""Exports a VTN to ONNX and OpenVINO IR, verifies it against JAX, and optionally times it (vtn_jax.export).

    python export.py --config configs/default.py --checkpoint runs/r34_rgb --out_dir artifacts/r34
    python export.py --config configs/default.py --checkpoint r34.pth --out_dir artifacts/r34 \
        --layout NCHW --uint8_input --color BGR --fp16 --int8 --calib_clips 300
    python export.py --config configs/default.py --checkpoint r34.pth --out_dir artifacts/r34 --verify_only
    python export.py --config configs/default.py --out_dir /tmp/r34 --benchmark --threads 2   # random weights

--checkpoint takes a training workdir, our flattened .npz, or the authors' .pth/.npz. Exit status 1 with a
message naming the stage, key or path at fault when verification, loading or writing fails.
"""
import sys

from absl import app, flags
from ml_collections import config_flags

from vtn_jax import checkpoints
from vtn_jax import export as export_lib
from vtn_jax import logs

_CONFIG = config_flags.DEFINE_config_file('config', 'configs/default.py', 'Model config file.', lock_config=True)
_CHECKPOINT = flags.DEFINE_string('checkpoint', '', 'Workdir, flat .npz or reference .pth/.npz; empty: RANDOM '
                                  'weights (for tests and timing only).')
_OUT_DIR = flags.DEFINE_string('out_dir', None, 'Where the artifacts and export.json go.', required=True)
_PARTS = flags.DEFINE_list('parts', list(export_lib.PARTS), 'Any of whole, encoder, decoder.')
_LAYOUT = flags.DEFINE_enum('layout', 'NHWC', export_lib.LAYOUTS, 'Image axes of the input tensors.')
_UINT8 = flags.DEFINE_bool('uint8_input', False, 'IR takes uint8 frames; mean/std folded in (raw-frame inputs).')
_COLOR = flags.DEFINE_enum('color', 'RGB', export_lib.COLORS, 'Channel order of uint8 input.')
_FP16 = flags.DEFINE_bool('fp16', False, 'Also write <part>_fp16.xml (FP16-compressed weights).')
_INT8 = flags.DEFINE_bool('int8', False, 'Also write <part>_int8.xml (NNCF post-training quantisation).')
_CALIB_CLIPS = flags.DEFINE_integer('calib_clips', 300, 'INT8 calibration clips.')
_CALIB_SPLIT = flags.DEFINE_string('calib_split', '', "Calibration split ('' = config.data.train_split, "
                                   "'synthetic' = random clips).")
_FLOAT_DW = flags.DEFINE_bool('int8_float_depthwise', False, 'Also write <part>_int8_fdw.xml with depthwise '
                              'convolutions left in float (MobileNetV2).')
_VERIFY_ONLY = flags.DEFINE_bool('verify_only', False, 'Verify the files in --out_dir; export nothing.')
_VERIFY_CLIPS = flags.DEFINE_integer('verify_clips', 4, 'Clips for the verification.')
_VERIFY_SPLIT = flags.DEFINE_string('verify_split', '', "TFDS split for verification clips and Clip@1 "
                                    "('' = random clips).")
_TOLERANCE = flags.DEFINE_float('tolerance', 1e-4, 'Gate: max|diff| / max(1, max|JAX|).')
_CLASS_NAMES = flags.DEFINE_string('class_names', '', 'Text file, one class name per line (for the sidecar).')
_SEED = flags.DEFINE_integer('seed', 0, 'Random init (no --checkpoint) and random clips.')
_BENCHMARK = flags.DEFINE_bool('benchmark', False, 'Time the IRs with OpenVINO afterwards.')
_THREADS = flags.DEFINE_integer('threads', 0, 'OpenVINO INFERENCE_NUM_THREADS (0 = all).')
_SECONDS = flags.DEFINE_float('bench_seconds', 3.0, 'Seconds per benchmark row and round.')
_ROUNDS = flags.DEFINE_integer('bench_rounds', 3, 'Benchmark rounds (rows timed round-robin, best round).')
_APP = flags.DEFINE_bool('benchmark_app', False, "Also run OpenVINO's benchmark_app on every row.")
_COMPARE = flags.DEFINE_string('compare_onnx', '', 'Another whole-clip ONNX to time in the same run.')
_PROBE = flags.DEFINE_bool('probe_routes', False, 'Only try the direct export routes (scratch files in --out_dir) '
                           'and print why they fail.')


def main(argv):
    del argv
    logs.configure_cli_logging()  # WARNING, without the libraries' routine notices; -v 0 shows everything
    options = export_lib.ExportOptions(
        parts=tuple(_PARTS.value), layout=_LAYOUT.value, uint8_input=_UINT8.value, color=_COLOR.value,
        fp16=_FP16.value, int8=_INT8.value, calib_clips=_CALIB_CLIPS.value, calib_split=_CALIB_SPLIT.value,
        int8_float_depthwise=_FLOAT_DW.value, verify_clips=_VERIFY_CLIPS.value, verify_split=_VERIFY_SPLIT.value,
        tolerance=_TOLERANCE.value, seed=_SEED.value)
    if _PROBE.value:
        config = _CONFIG.value
        model = export_lib.create_checked_model(config.model)
        variables, _ = export_lib.load_variables(_CHECKPOINT.value, model, image_size=config.data.crop_size)
        for route, outcome in export_lib.probe_routes(config, variables, _OUT_DIR.value):
            print(f'| {route} | {outcome} |')
        return
    bench = None
    if _BENCHMARK.value or _COMPARE.value:
        bench = {'threads': _THREADS.value, 'seconds': _SECONDS.value, 'rounds': _ROUNDS.value,
                 'with_benchmark_app': _APP.value,
                 'compare_onnx': _COMPARE.value or None}
    try:
        export_lib.run(_CONFIG.value, checkpoint=_CHECKPOINT.value, out_dir=_OUT_DIR.value, options=options,
                       verify_only=_VERIFY_ONLY.value, class_names_file=_CLASS_NAMES.value, benchmark_args=bench)
    except export_lib.VerificationError as e:
        print(export_lib.format_verification(e.report), file=sys.stderr)
        sys.exit(f'ERROR: {e}')
    except (checkpoints.CheckpointMismatchError, FileNotFoundError, NotImplementedError, OSError, KeyError,
            ValueError) as e:
        sys.exit(f'ERROR: {type(e).__name__}: {e}')


if __name__ == '__main__':
    app.run(main)
