r"""vtn-demo: real-time action recognition, a label for every frame of a video file or a camera.

    vtn-demo --export artifacts/r34 --input video.mp4 --output annotated.avi --timeline timeline.csv
    vtn-demo --export artifacts/r34 --input 0 --show                          # camera 0, in a window
    vtn-demo --checkpoint runs/tiny --input video.avi                         # JAX, the run's own config

Frames are fed one at a time to the online recognizer (each frame encoded once, the decoder run over the last
T frames at the config's stride). For every frame it prints the top-k with the frame's timestamp and the
running FPS, draws them on the frame (`--output`: same size, frame count and frame rate as the input; `--show`:
a window), and writes one timeline row (`--timeline` CSV: frame, time_s, label1, prob1, ...; empty label cells
for warm-up frames) and, beside it, a PNG of the label of every frame over time. The model is an export folder (`--export`, OpenVINO; needs nothing but the folder) or a
checkpoint (`--checkpoint`, JAX); with neither, random weights (a loud warning). Bad input (not a video, a
corrupt or truncated stream, a class-names file that does not fit the model) ends with a one-line message and
exit status 1; a stream that breaks mid-way is processed up to the frame that broke, and the outputs hold those.
Ctrl-C (or SIGTERM) stops it the same way: the outputs are finished with the frames so far, then it exits with
status 130 (143 for SIGTERM).
"""
import csv
import logging
import os
import pathlib
import time

import cv2
import numpy as np
from absl import app, flags

from vtn_jax import errors
from vtn_jax import plots
from vtn_jax.data import video_io
from vtn_jax.inference import annotate
from vtn_jax.inference import api
from vtn_jax.inference import timeline as timeline_lib
from vtn_jax.tools import cli

_LOG = logging.getLogger('vtn_jax.demo')
_TIMELINE = flags.DEFINE_string('timeline', '', 'Per-frame CSV: frame, time_s, label1, prob1, ...')
_PRINT_EVERY = flags.DEFINE_integer('print_every', 1, 'Print every n-th frame (0: never).')
_MAX_FRAMES = flags.DEFINE_integer('max_frames', 0, 'Stop after this many frames (0: all).')
_SMOOTHING = flags.DEFINE_float('smoothing', 0.0, 'EMA factor in [0, 1) on the displayed probabilities (0: off).')
_SHOW = flags.DEFINE_bool('show', False, 'Show the annotated frames in a window (q or Esc stops); skipped, with a '
                          'note, where there is no display.')
_DECODE_EVERY = flags.DEFINE_integer('decode_every', 1, 'Run the decoder on every k-th window only: less work per '
                                     'frame, labels up to k - 1 frames old (each still the exact one of its window).')

COMMON = ((cli.INPUT, 'Video file, or a camera index (0, 1, ...) (required).'),
          (cli.OUTPUT, 'The annotated video to write (.avi or .mp4; same size, frame count and frame rate as the '
                       'input).'),
          cli.EXPORT, cli.CHECKPOINT, cli.CONFIG, cli.CLASS_NAMES, cli.PRECISION, cli.THREADS, cli.TOP_K,
          cli.WARMUP, cli.ALLOW_UNVERIFIED)  # the shared flags this command takes (its --help lists them)


def display_available() -> bool:
    """Whether a window can be opened (an X or Wayland display is set)."""
    return bool(os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))


def run_demo(recognizer: api.Recognizer, source, *, output: str = '', timeline: str = '', show: bool = False,
             print_every: int = 1, max_frames: int = 0, warmup: str = 'wait', smoothing: float = 0.0,
             top_k: int = 5, decode_every: int = 1, truth=None) -> dict:
    """Streams `source` through `recognizer`, writing the annotated video, timeline and window asked for.

    With a `timeline` CSV, a PNG of the same name shows the label of every frame over time (and `truth`, the
    true class of every frame, when known).

    Returns:
        {'frames', 'predictions', 'fps', 'top1'}: top1 holds every frame's best class (-1 without a prediction).

    Raises:
        VideoReadError: a source that cannot be read, or breaks mid-way (after the outputs are finished).
        KeyboardInterrupt: Ctrl-C, or SIGTERM as `errors.Terminated` (after the outputs are finished).
    """
    if output:
        annotate.choose_codec(output)  # a bad name fails now, not after the first frame
    k = min(top_k, len(recognizer.class_names))
    stream = recognizer.stream(source, warmup=warmup, smoothing=smoothing, k=k, max_frames=max_frames,
                               decode_every=decode_every)
    writer, rows, table = None, None, None
    if timeline:
        pathlib.Path(timeline).parent.mkdir(parents=True, exist_ok=True)
        rows = open(timeline, 'w', newline='', encoding='utf-8')  # pylint: disable=consider-using-with
        table = csv.writer(rows)
        table.writerow(timeline_lib.format_timeline_header(k))
    if show and not display_available():
        _LOG.warning('--show: no display (DISPLAY is not set); running without a window')
        show = False
    count = predicted = 0
    top1, top1_prob = [], []
    first_full = recognizer.clip.span
    start = time.perf_counter()
    stop = None
    try:
        for step in stream:
            count, predicted = count + 1, predicted + (step.prediction is not None)
            rate = count / max(time.perf_counter() - start, 1e-9)
            top = step.prediction.top if step.prediction is not None else ()
            top1.append(top[0][0] if top else -1)
            top1_prob.append(top[0][1] if top else 0.0)
            if table:
                table.writerow(timeline_lib.format_timeline_row(step.frame_index, step.time_s, top,
                                                                recognizer.class_names, k))
            if print_every and step.frame_index % print_every == 0:
                text = annotate.format_top(top, recognizer.class_names) if top else 'warming up (no prediction yet)'
                print(f'frame {step.frame_index:6d}  {step.time_s:8.3f} s  {text}  [{rate:.1f} FPS]', flush=True)
            if output or show:
                status = (f'frame {step.frame_index}  {step.time_s:.2f} s  {rate:.1f} FPS' if top else
                          f'warming up {step.frame_index + 1}/{first_full + 1}  {step.time_s:.2f} s')
                bgr = annotate.draw_prediction(step.frame_bgr.copy(), top,
                                               recognizer.class_names, status)
                if output and writer is None:
                    writer = annotate.create_writer(output, stream_fps(source), bgr.shape[1], bgr.shape[0])
                if writer is not None:
                    writer.write(bgr)
                if show:
                    cv2.imshow('vtn-demo', bgr)
                    if cv2.waitKey(1) & 0xFF in (ord('q'), 27):
                        break
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: finish the outputs with the frames so far, then stop
        stop = e
    finally:
        # Whatever ended the stream (its end, q, Ctrl-C, SIGTERM, a broken file), the outputs are finished with
        # the frames read; a second Ctrl-C while they are written waits until they are.
        with errors.deferred_stops():
            elapsed = time.perf_counter() - start
            stream.close()  # stops the reader thread, waits for a decoder window still running
            if writer is not None:
                writer.release()
            if rows is not None:
                rows.close()
            if show:
                cv2.destroyAllWindows()
            png = _timeline_png(timeline, recognizer, source, top1, top1_prob, truth) if timeline and count else None
    summary = {'frames': count, 'predictions': predicted, 'fps': count / elapsed if elapsed > 0 else 0.0,
               'top1': top1}
    if png is not None:
        summary['timeline_png'] = str(png)
    _LOG.info('%d frames, %d predictions, %.1f FPS end to end', count, predicted, summary['fps'])
    if stop is not None:
        _LOG.warning('stopped after %d frames: the outputs hold those frames', count)
        raise stop
    if count and not predicted:
        _LOG.warning('%s has %d frames, fewer than one window (%d frames), so --warmup=wait gives no prediction; '
                     '--warmup=repeat predicts from the first frames', source, count, first_full + 1)
    return summary


def _timeline_png(timeline, recognizer: api.Recognizer, source, top1, top1_prob, truth) -> pathlib.Path:
    """The PNG beside the timeline CSV: the label of every frame over time (and the true one, when known)."""
    image = plots.draw_timeline(np.asarray(top1), np.asarray(top1_prob), recognizer.class_names,
                                fps=stream_fps(source), truth=None if truth is None else np.asarray(truth)[:len(top1)])
    return plots.save_png(pathlib.Path(timeline).with_suffix('.png'), image)


def stream_fps(source) -> float:
    """A file's frame rate (for the annotated copy); 30 for a camera or a file that reports none."""
    source = api.parse_source(source)
    fps = video_io.video_info(source)['fps'] if isinstance(source, str) else 0.0
    return fps if fps and fps > 0 else 30.0


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    source = cli.require(cli.INPUT, 'a video file or a camera index')
    if cli.OUTPUT.value:
        annotate.choose_codec(cli.OUTPUT.value)  # fail before the model loads
    recognizer = cli.create_recognizer()
    run_demo(recognizer, source, output=cli.OUTPUT.value, timeline=_TIMELINE.value, show=_SHOW.value,
             print_every=_PRINT_EVERY.value, max_frames=_MAX_FRAMES.value, warmup=cli.WARMUP.value,
             smoothing=_SMOOTHING.value, top_k=cli.TOP_K.value, decode_every=_DECODE_EVERY.value)


def run():
    """Console entry point `vtn-demo`."""
    cli.run(main, common=COMMON)


if __name__ == '__main__':
    run()
