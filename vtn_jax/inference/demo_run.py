"""What vtn-demo does with a recognizer: stream one or many sources and write, per source, the printed lines, the
annotated video, the timeline CSV and its PNG, a window; live sources with their latency and dropped frames.

    summary = run_demo(recognizer, 'video.avi', output='annotated.avi', timeline='timeline.csv')
    summaries = run_demo(recognizer, ['rtsp://cam1/live', 'http://cam2/video.mjpg'], timeline='t.csv',
                         label_every=2)          # t_0.csv, t_1.csv: one timeline (and video) per source

Each source gets one line per frame printed (every `print_every`-th), `frame  <index>  <time> s  <top-k>  [FPS]`,
with, for a live source, its latency over the last labels and the frames dropped so far; the same on the
annotated frames. At the end, one line per source with its frames, labels, dropped frames and capture-to-label
latency p50 / p95 (`streams.StreamReport`).
"""
import collections
import csv
import logging
import os
import pathlib
import time
from typing import Optional, Sequence, Union

import cv2
import numpy as np

from vtn_jax import errors
from vtn_jax import plots
from vtn_jax.data import live
from vtn_jax.data import video_io
from vtn_jax.inference import annotate
from vtn_jax.inference import recognizer as recognizer_lib
from vtn_jax.inference import streams as streams_lib
from vtn_jax.inference import timeline as timeline_lib

_LOG = logging.getLogger('vtn_jax.demo')
RECENT_LABELS = 100  # the live latency shown is over this many latest labels


def display_available() -> bool:
    """Whether a window can be opened (an X or Wayland display is set)."""
    return bool(os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY'))


def stream_fps(source) -> float:
    """A file's frame rate (for the annotated copy); 30 for a camera, a network stream or a file that reports
    none."""
    fps = video_io.video_info(source)['fps'] if live.source_kind(source) == 'file' else 0.0
    return fps if fps and fps > 0 else 30.0


def numbered(path: str, number: int, count: int) -> str:
    """`path` for source `number` of `count`: itself for one source, else 'stem_<number>.suffix'."""
    if not path or count == 1:
        return path
    p = pathlib.Path(path)
    return str(p.with_name(f'{p.stem}_{number}{p.suffix}'))


class _Outputs:
    """One source's printed lines, annotated video, timeline rows and window."""

    def __init__(self, recognizer, source, number: int, count: int, *, output: str, timeline: str, show: bool,
                 print_every: int, k: int, is_live: bool):
        self.recognizer, self.source, self.k = recognizer, source, k
        self.print_every, self.is_live = print_every, is_live
        self.prefix = f'[{number}] ' if count > 1 else ''
        self.output, self.timeline = numbered(output, number, count), numbered(timeline, number, count)
        self.window = ('vtn-demo' if count == 1 else f'vtn-demo {number}') if show else ''
        self.writer, self.rows, self.table = None, None, None
        if self.timeline:
            pathlib.Path(self.timeline).parent.mkdir(parents=True, exist_ok=True)
            self.rows = open(self.timeline, 'w', newline='', encoding='utf-8')
            self.table = csv.writer(self.rows)
            self.table.writerow(timeline_lib.format_timeline_header(k))
        self.count = self.predicted = 0
        self.top1, self.top1_prob = [], []
        self.recent = collections.deque(maxlen=RECENT_LABELS)
        self.start = time.perf_counter()

    def add(self, step: streams_lib.StreamStep) -> bool:
        """Writes one step; False when the person closed the window (q or Esc)."""
        self.count += 1
        self.predicted += step.prediction is not None
        if step.latency_s is not None:
            self.recent.append(step.latency_s)
        rate = self.count / max(time.perf_counter() - self.start, 1e-9)
        top = step.prediction.top if step.prediction is not None else ()
        names = self.recognizer.class_names
        self.top1.append(top[0][0] if top else -1)
        self.top1_prob.append(top[0][1] if top else 0.0)
        if self.table:
            self.table.writerow(timeline_lib.format_timeline_row(step.frame_index, step.time_s, top, names, self.k))
        printing = self.print_every and (self.count - 1) % self.print_every == 0
        live_text = self.live_status(step) if printing or self.output or self.window else ''  # (percentiles)
        if printing:
            text = annotate.format_top(top, names) if top else 'warming up (no prediction yet)'
            print(f'{self.prefix}frame {step.frame_index:6d}  {step.time_s:8.3f} s  {text}  [{rate:.1f} FPS]'
                  f'{"  " + live_text if live_text else ""}', flush=True)
        if not (self.output or self.window):
            return True
        status = (f'frame {step.frame_index}  {step.time_s:.2f} s  {rate:.1f} FPS' if top else
                  f'warming up {step.frame_index + 1}/{self.recognizer.clip.span + 1}  {step.time_s:.2f} s')
        lines = [status] + ([live_text] if live_text else [])
        bgr = annotate.draw_prediction(step.frame_bgr.copy(), top, names, '  '.join(lines))
        if self.output:
            if self.writer is None:
                self.writer = annotate.create_writer(self.output, stream_fps(self.source), bgr.shape[1], bgr.shape[0])
            self.writer.write(bgr)
        if self.window:
            cv2.imshow(self.window, bgr)
            return cv2.waitKey(1) & 0xFF not in (ord('q'), 27)
        return True

    def live_status(self, step: streams_lib.StreamStep) -> str:
        """'latency p50 35 / p95 48 ms, 2 dropped' for a live source (over the latest labels), else ''."""
        if not self.is_live:
            return ''
        dropped = step.frame_index + 1 - self.count  # a live source's indices count every frame it captured
        if not self.recent:
            return f'{dropped} dropped'
        p50, p95 = np.percentile(np.asarray(self.recent) * 1e3, [50, 95])
        return f'latency p50 {p50:.0f} / p95 {p95:.0f} ms, {dropped} dropped'

    def close(self, truth) -> Optional[pathlib.Path]:
        """Finishes the files; returns the timeline PNG (when a timeline was written)."""
        if self.writer is not None:
            self.writer.release()
        if self.rows is not None:
            self.rows.close()
        if not (self.timeline and self.count):
            return None
        image = plots.draw_timeline(np.asarray(self.top1), np.asarray(self.top1_prob), self.recognizer.class_names,
                                    fps=stream_fps(self.source),
                                    truth=None if truth is None else np.asarray(truth)[:len(self.top1)])
        return plots.save_png(pathlib.Path(self.timeline).with_suffix('.png'), image)


def run_demo(recognizer, sources: Union[str, int, pathlib.Path, Sequence], *, output: str = '', timeline: str = '',
             show: bool = False, print_every: int = 1, max_frames: int = 0, live_mode: Optional[bool] = None,
             live_options: Optional[dict] = None, truth=None, **online_options) -> Union[dict, list]:
    """Streams `sources` through `recognizer` (`api.Recognizer`), writing the outputs asked for, per source.

    Args:
        sources: one source (a file, camera index, rtsp:// or http:// URL) or a list of them (one model for all,
            `api.Recognizer.stream_many`); with several, output and timeline names get '_<n>' before the suffix.
        output, timeline: the annotated video; the timeline CSV (and, beside it, a PNG of the label of every
            frame over time, with `truth`, the true class of every frame, when known).
        show: a window per source (skipped, with a note, where there is no display).
        print_every: print every n-th frame of each source (0: never).
        max_frames: stop each source after this many frames (0: at its end).
        live_mode: `streams.Streams`'s live (None: cameras and network streams live; True: files too, in real time).
        live_options: for every `data.live.LiveSource` (e.g. rtsp_transport).
        online_options: the recognizer's (warmup, smoothing, hysteresis, margin, k, decode_every, label_every,
            gaps).

    Returns:
        Per source {'name', 'frames', 'predictions', 'fps', 'top1', 'captured', 'dropped', 'skipped', 'gaps',
        'reconnects', 'latency_p50_ms', 'latency_p95_ms'} (+ 'timeline_png'): top1 holds every frame's shown class
        (-1 without a prediction). A dict for one source, a list for a list.

    Raises:
        VideoReadError, UserError: a source that cannot be read, or breaks mid-way (after the outputs are finished).
        KeyboardInterrupt: Ctrl-C, or SIGTERM as `errors.Terminated` (after the outputs are finished).
    """
    single = isinstance(sources, (str, int, pathlib.Path))
    sources = [sources] if single else list(sources)
    if output:
        annotate.choose_codec(output)  # a bad name fails now, not after the first frame
    k = min(online_options.pop('k', recognizer_lib.DEFAULT_TOP_K), len(recognizer.class_names))
    if show and not display_available():
        _LOG.warning('--show: no display (DISPLAY is not set); running without a window')
        show = False
    stream = recognizer.stream_many(sources, k=k, max_frames=max_frames, live=live_mode, live_options=live_options,
                                    **online_options)
    outputs = [_Outputs(recognizer, source, i, len(sources), output=output, timeline=timeline, show=show,
                        print_every=print_every, k=k, is_live=streams_lib.is_live(source, live_mode))
               for i, source in enumerate(stream.sources)]
    stop, start = None, time.perf_counter()
    try:
        for step in stream:
            if not outputs[step.stream].add(step):
                break
    except KeyboardInterrupt as e:  # Ctrl-C or SIGTERM: finish the outputs with the frames so far, then stop
        stop = e
    finally:
        # Whatever ended the stream (its end, q, Ctrl-C, SIGTERM, a broken file), the outputs are finished with
        # the frames read; a Ctrl-C while they are written (or a second one) waits until they are.
        def finish() -> tuple:
            elapsed = time.perf_counter() - start
            stream.close()  # stops the readers, waits for a decoder call still running
            if show:
                cv2.destroyAllWindows()
            return elapsed, [out.close(truth) for out in outputs]

        (elapsed, pngs), late = errors.finish_whole(finish)
        stop = stop or late
    summaries = [_summary(out, report, png, elapsed) for out, report, png in zip(outputs, stream.report(), pngs)]
    if stop is not None:
        _LOG.warning('stopped after %s frames: the outputs hold those frames', '+'.join(str(o.count) for o in outputs))
        raise stop
    return summaries[0] if single else summaries


def _summary(out: _Outputs, report: streams_lib.StreamReport, png, elapsed: float) -> dict:
    summary = {'name': report.name, 'frames': out.count, 'predictions': out.predicted,
               'fps': out.count / elapsed if elapsed > 0 else 0.0, 'top1': out.top1, 'captured': report.captured,
               'dropped': report.dropped, 'skipped': report.skipped, 'gaps': report.gaps,
               'reconnects': report.reconnects, 'latency_p50_ms': report.latency.p50_ms,
               'latency_p95_ms': report.latency.p95_ms}
    if png is not None:
        summary['timeline_png'] = str(png)
    _LOG.info('%s%d frames, %d predictions, %.1f FPS end to end', out.prefix, out.count, out.predicted, summary['fps'])
    if out.is_live:
        _LOG.info('%s', report)
    if out.count and not out.predicted:
        _LOG.warning('%s has %d frames, fewer than one window (%d frames), so --warmup=wait gives no prediction; '
                     '--warmup=repeat predicts from the first frames', out.source, out.count,
                     out.recognizer.clip.span + 1)
    return summary
