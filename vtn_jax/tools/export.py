r"""vtn-export: exports a VTN to ONNX and OpenVINO IR, verifies it against JAX, and optionally times it.

    vtn-export --config default --checkpoint runs/r34_rgb --output artifacts/r34
    vtn-export --config default --checkpoint r34.pth --output artifacts/r34 \
        --layout NCHW --uint8_input --color BGR --fp16 --int8 --calib_clips 300
    vtn-export --config default --checkpoint r34.pth --output artifacts/r34 --verify_only
    vtn-export --config default --output /tmp/r34 --benchmark --threads 2          # random weights, timing
    vtn-export --config default --checkpoint r34.pth --output artifacts/r34_omz --omz   # Open Model Zoo's demo

--checkpoint takes a training workdir, a flat .npz, or the authors' .pth/.npz (default config: `default`);
without it the weights are random, from config.train.seed (--config.train.seed=N), as are the verification clips.
Exit status 1 with a message naming the stage, key or path at fault when verification, loading or writing fails.
"""
import sys

from absl import app, flags

from vtn_jax.tools import cli

# --parts, --layout and --color are checked by export.artifacts.ExportOptions (its PARTS, LAYOUTS, COLORS and
# defaults apply when a flag is not given); the help names them so that --help needs no JAX.
_PARTS = flags.DEFINE_list('parts', None, 'Any of whole, encoder, decoder (default: all three).')
_LAYOUT = flags.DEFINE_string('layout', None, 'Image axes of the input tensors: NHWC or NCHW (default: NHWC).')
_UINT8 = flags.DEFINE_bool('uint8_input', False, 'IR takes uint8 frames; mean/std folded in (raw-frame inputs).')
_COLOR = flags.DEFINE_string('color', None, 'Channel order of uint8 input: RGB or BGR (default: RGB).')
_FP16 = flags.DEFINE_bool('fp16', False, 'Also write <part>_fp16.xml (FP16-compressed weights).')
_INT8 = flags.DEFINE_bool('int8', False, 'Also write <part>_int8.xml (NNCF post-training quantisation).')
_CALIB_CLIPS = flags.DEFINE_integer('calib_clips', 300, 'INT8 calibration clips.')
_CALIB_SPLIT = flags.DEFINE_string('calib_split', '', "Calibration split ('' = config.data.train_split, "
                                   "'synthetic' = random clips).")
_FLOAT_DW = flags.DEFINE_bool('int8_float_depthwise', False, 'Also write <part>_int8_fdw.xml with depthwise '
                              'convolutions left in float (MobileNetV2).')
_VERIFY_ONLY = flags.DEFINE_bool('verify_only', False, 'Verify the files in --output; export nothing.')
_VERIFY_CLIPS = flags.DEFINE_integer('verify_clips', 4, 'Clips for the verification.')
_VERIFY_SPLIT = flags.DEFINE_string('verify_split', '', "TFDS split for verification clips and Clip@1 "
                                    "('' = random clips).")
_TOLERANCE = flags.DEFINE_float('tolerance', 1e-4, 'Gate: max|diff| / max(1, max|JAX|).')
_BENCHMARK = flags.DEFINE_bool('benchmark', False, 'Time the IRs with OpenVINO afterwards (--seconds per round).')
_ROUNDS = flags.DEFINE_integer('rounds', 3, 'Benchmark rounds (rows timed round-robin, best round).')
_APP = flags.DEFINE_bool('benchmark_app', False, "Also run OpenVINO's benchmark_app on every row.")
_COMPARE = flags.DEFINE_string('compare_onnx', '', 'Another whole-clip ONNX to time in the same run.')
_OMZ = flags.DEFINE_bool('omz', False, "What Open Model Zoo's action_recognition_demo runs (-m_en encoder.xml -m_de "
                         'decoder_omz.xml -lb labels.txt): the encoder taking [1, 3, 224, 224] uint8 BGR and giving '
                         "[1, D, 1, 1], the decoder and decoder_omz.xml (the demo's consecutive window at the model's "
                         "stride), the demo's crop recorded (sets --parts, --layout, --uint8_input and --color; a "
                         '224 crop only).')

COMMON = (cli.CONFIG, cli.CHECKPOINT,
          (cli.OUTPUT, 'The export folder to write (required; with --verify_only: the one to verify).'),
          cli.CLASS_NAMES, (cli.THREADS, 'With --benchmark: OpenVINO inference threads (0: all cores).'),
          (cli.SECONDS, 'With --benchmark: seconds per row and round.'))  # the shared flags this command takes
# (its --help lists them)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    out_dir = cli.require(cli.OUTPUT, 'the export folder')
    config = cli.config_or('default')
# The library loads after --help and the usage checks.
    from vtn_jax.export import artifacts
    from vtn_jax.export import pipeline
    from vtn_jax.export import verify
    common = dict(fp16=_FP16.value, int8=_INT8.value, calib_clips=_CALIB_CLIPS.value, calib_split=_CALIB_SPLIT.value,
                  int8_float_depthwise=_FLOAT_DW.value, verify_clips=_VERIFY_CLIPS.value,
                  verify_split=_VERIFY_SPLIT.value, tolerance=_TOLERANCE.value, seed=config.train.seed)
    if _OMZ.value:
        options = artifacts.ExportOptions.for_omz(**common)
    else:
        given = {'parts': tuple(_PARTS.value) if _PARTS.value is not None else None, 'layout': _LAYOUT.value,
                 'color': _COLOR.value}
        options = artifacts.ExportOptions(uint8_input=_UINT8.value, **common,
                                          **{k: v for k, v in given.items() if v is not None})
    bench = None
    if _BENCHMARK.value or _COMPARE.value:
        bench = {'threads': cli.THREADS.value, 'seconds': cli.SECONDS.value, 'rounds': _ROUNDS.value,
                 'with_benchmark_app': _APP.value, 'compare_onnx': _COMPARE.value or None}
    try:
        pipeline.run(config, checkpoint=cli.CHECKPOINT.value, out_dir=out_dir, options=options,
                     verify_only=_VERIFY_ONLY.value, class_names_file=cli.CLASS_NAMES.value, benchmark_args=bench)
    except verify.VerificationError as e:
        print(verify.format_verification(e.report), file=sys.stderr)
        sys.exit(f'error: {e}')


def run():
    """Console entry point `vtn-export`."""
    cli.run(main, common=COMMON)


if __name__ == '__main__':
    run()
