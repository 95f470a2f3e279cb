r"""vtn-demo: real-time action recognition, a label for every frame of a video file, a camera or a network stream.

    vtn-demo --export artifacts/r34 --input video.mp4 --output annotated.avi --timeline timeline.csv
    vtn-demo --export artifacts/r34 --input 0 --show                          # camera 0, in a window
    vtn-demo --export artifacts/r34 --input rtsp://cam.local/live --input http://cam2.local/video.mjpg
    vtn-demo --checkpoint runs/tiny --input video.avi                         # JAX, the run's own config

Frames are fed one at a time to the online recognizer (each frame encoded once, the decoder run over the last
T frames at the config's stride). For every frame it prints the top-k with the frame's timestamp and the
running FPS, draws them on the frame (`--output`: same size and frame rate as the input; `--show`: a window), and
writes one timeline row (`--timeline` CSV: frame, time_s, label1, prob1, ...; empty label cells for warm-up
frames) and, beside it, a PNG of the label of every frame over time. Cameras and rtsp:// / http:// streams are
live (and a file with --live, played at its own frame rate): the newest frame is recognised, the ones the model
had no time for are dropped and counted, and the capture-to-label latency (p50 / p95) and the dropped frames are
printed and drawn, and reported at the end; a network stream that drops reconnects, with one line. Several
--input run in one process on one model (their windows decoded together), one output and timeline each (name_0,
name_1, ...). The model is an export folder (`--export`, OpenVINO; needs nothing but the folder) or a checkpoint
(`--checkpoint`, JAX); with neither, random weights (a loud warning). Bad input (not a video, a corrupt or
truncated stream, a class-names file that does not fit the model) ends with a one-line message and exit status 1;
a stream that breaks mid-way is processed up to the frame that broke, and the outputs hold those. Ctrl-C (or
SIGTERM) stops it the same way: the outputs are finished with the frames so far, then it exits with status 130
(143 for SIGTERM).
"""
from absl import app, flags

from vtn_jax.tools import cli

_TIMELINE = flags.DEFINE_string('timeline', '', 'Per-frame CSV: frame, time_s, label1, prob1, ...')
_PRINT_EVERY = flags.DEFINE_integer('print_every', 1, 'Print every n-th frame (0: never).')
_MAX_FRAMES = flags.DEFINE_integer('max_frames', 0, 'Stop after this many frames (0: all).')
_SMOOTHING = flags.DEFINE_float('smoothing', 0.0, 'EMA factor in [0, 1) on the displayed probabilities (0: off).')
_HYSTERESIS = flags.DEFINE_integer('hysteresis', 1, 'Change the shown label only after a new class leads for this '
                                   'many labels in a row (1: off).')
_MARGIN = flags.DEFINE_float('margin', 0.0, 'With --hysteresis: change at once when the new class leads the shown one '
                             'by this probability (0: off).')
_SHOW = flags.DEFINE_bool('show', False, 'Show the annotated frames in a window (q or Esc stops); skipped, with a '
                          'note, where there is no display.')
_DECODE_EVERY = flags.DEFINE_integer('decode_every', 1, 'Run the decoder on every k-th window only: less work per '
                                     'frame, labels up to k - 1 frames old (each still the exact one of its window).')
_LABEL_EVERY = flags.DEFINE_integer('label_every', 1, '1: a label for every frame; the stride (2 in the shipped '
                                    'configs): a label every stride frames, half the encoder work, each label still '
                                    'the exact one of its window.')
_LIVE = flags.DEFINE_bool('live', None, 'Play a video file at its own frame rate as a camera delivers it (newest '
                          'frame wins, dropped frames counted); cameras and network streams are live by default, '
                          '--nolive reads a camera frame by frame instead (none dropped, falls behind a slow model).')
_GAPS = flags.DEFINE_enum('gaps', 'mark', ['mark', 'restart'], 'Live: a window with dropped frames is the last T '
                          'frames that arrived, marked (mark), or the warm-up starts again (restart).')
_RTSP_TRANSPORT = flags.DEFINE_enum('rtsp_transport', None, ['tcp', 'udp'], 'RTSP over tcp or udp (default: '
                                    'OpenCV\'s).')

COMMON = ((cli.INPUT, 'A video file, a camera index (0, 1, ...) or an rtsp:// or http:// stream; repeat it for '
                       'several (required).'),
          (cli.OUTPUT, 'The annotated video to write (.avi or .mp4; same size, frame count and frame rate as the '
                       'input).'),
          cli.EXPORT, cli.CHECKPOINT, cli.CONFIG, cli.CLASS_NAMES, cli.PRECISION, cli.THREADS, cli.TOP_K,
          cli.WARMUP, cli.ALLOW_UNVERIFIED)  # the shared flags this command takes (its --help lists them)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
# The library loads after --help.
    from vtn_jax.data import live
    from vtn_jax.inference import annotate
    from vtn_jax.inference import demo_run
    sources = cli.require(cli.INPUT, 'a video file, a camera index or an rtsp:// / http:// URL (repeat for several)')
    if cli.OUTPUT.value:
        annotate.choose_codec(cli.OUTPUT.value)  # fail before the model loads
    live.quiet_backend_logs()
    recognizer = cli.create_recognizer()
    demo_run.run_demo(recognizer, sources, output=cli.OUTPUT.value, timeline=_TIMELINE.value, show=_SHOW.value,
                      print_every=_PRINT_EVERY.value, max_frames=_MAX_FRAMES.value, live_mode=_LIVE.value,
                      live_options={'rtsp_transport': _RTSP_TRANSPORT.value}, warmup=cli.WARMUP.value,
                      smoothing=_SMOOTHING.value, hysteresis=_HYSTERESIS.value, margin=_MARGIN.value or None,
                      k=cli.TOP_K.value, decode_every=_DECODE_EVERY.value, label_every=_LABEL_EVERY.value,
                      gaps=_GAPS.value)


def run():
    """Console entry point `vtn-demo`."""
    cli.run(main, common=COMMON)


if __name__ == '__main__':
    run()
