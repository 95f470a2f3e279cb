"""Recognising streams: one or many sources (files, cameras, network streams) through one model, frame by frame.

`Streams` runs the recognizer's stages (`OnlineRecognizer.admit` / `accept` / `finish`) for every source in
rounds. A round takes one frame from each source that has one, runs the encoder passes of all of them on the one
compiled encoder (OpenVINO: each on its own infer request, started together), and the decoder windows due in one
batched call (OpenVINO: `decode_many_async`, a batch-B copy of the decoder that reads its weights once for all
windows). While a round's windows decode, the next round's frames are encoded, when they are already there; a
live source with no new frame never waits for the next one, so its label comes out as soon as its window is
decoded. Every source has its own recognizer (rings, warm-up, smoothing), latest label, latency and counts.

Sources, and what "live" means:
  live   cameras and rtsp:// / http:// streams (and files with live=True, played at their own frame rate): read by
         `vtn_jax.data.live.LiveSource` in its own thread, newest frame wins. Frames the model was too slow for
         are dropped and counted; each frame keeps its source index, so a window is built from the frames that
         were encoded (`OnlineRecognizer`: `Prediction.missing`, gaps='restart'). A reconnected stream starts
         its recognizer again (the frames before and after the outage are not contiguous).
  files  (and cameras with live=False) read in order, every frame, decoded a little ahead in a thread.

Each frame taken gets one `StreamStep` (its frame, the stream's latest label, and the capture-to-label latency
when the step brings a new label); `report()` gives each stream's counts and latency percentiles.

    streams = Streams(recognizer, ['rtsp://cam1/live', 'http://cam2/video.mjpg'], label_every=2)
    for step in streams:                                  # StreamStep, step.stream says which source
        print(step.stream, step.frame_index, step.top)
    for line in streams.report():
        print(line)                                       # frames, labels, dropped, latency p50 / p95
"""
import dataclasses
import threading
import time
from typing import Iterator, Optional, Sequence

import numpy as np

from vtn_jax import errors
from vtn_jax.data import live
from vtn_jax.data import video_io
from vtn_jax.inference import recognizer as recognizer_lib

POLL_S = 0.25  # longest wait for a live frame before the sources are checked again


@dataclasses.dataclass(frozen=True)
class StreamStep:
    """One frame of a stream and what the recognizer made of it.

    Attributes:
        frame_index: the frame's index in its source (0-based; a live source's skipped indices are frames it
            dropped).
        time_s: its time: position in the file, or arrival time (seconds since the stream's first frame).
        frame_bgr: the frame as OpenCV decoded it, BGR uint8 [H, W, 3] (read-only: the recognizer may still use
            it); `frame` is its RGB copy, made when asked for.
        prediction: the stream's latest prediction (its frame_index says which window: this frame's, or an
            earlier one with decode_every / label_every > 1 or after a dropped frame); None before the first.
        top: [(class name, probability)] best first (the shown class first); empty without a prediction.
        stream: which source (0-based, in the order given).
        latency_s: capture-to-label latency of this frame's own new label (None when the step has none).
    """
    frame_index: int
    time_s: float
    frame_bgr: np.ndarray
    prediction: Optional[recognizer_lib.Prediction]
    top: tuple[tuple[str, float], ...]
    stream: int = 0
    latency_s: Optional[float] = None

    @property
    def frame(self) -> np.ndarray:
        """The decoded frame, RGB uint8 [H, W, 3]."""
        return np.ascontiguousarray(self.frame_bgr[..., ::-1])


@dataclasses.dataclass(frozen=True)
class StreamReport:
    """What happened to one stream: frames taken, labels made, frames lost, latency."""
    stream: int
    name: str
    frames: int  # frames taken (one StreamStep each)
    labels: int  # new labels
    captured: int  # frames the source produced (live), = frames for a file read in order
    dropped: int  # live: frames replaced by a newer one before the model took them (never seen)
    skipped: int  # frames taken but not needed (label_every)
    gaps: int  # labels whose window misses dropped frames (Prediction.missing > 0)
    reconnects: int
    seconds: float
    latency: live.LatencySummary

    def __str__(self):
        return (f'stream {self.stream} {self.name}: {self.frames} frames, {self.labels} labels '
                f'({self.frames / max(self.seconds, 1e-9):.1f} FPS), {self.dropped} dropped of {self.captured} '
                f'captured, {self.skipped} skipped, {self.gaps} labels with gaps, {self.reconnects} reconnects; '
                f'{self.latency}')


@dataclasses.dataclass(frozen=True)
class _Arrival:
    image: np.ndarray  # BGR
    index: int
    time_s: float
    captured: float  # time.monotonic()
    reconnects: int


def is_live(source, live_option: Optional[bool]) -> bool:
    """Whether a source is read live: network streams always; cameras unless live_option is False; files only
    with live_option True."""
    kind = live.source_kind(source)
    return kind == 'network' or (kind == 'camera' and live_option is not False) or bool(live_option)


class _InOrder:
    """A file (or a camera with live=False) read in order, every frame, decoded a little ahead."""
    live = False

    def __init__(self, source):
        self.name = f'camera {source}' if isinstance(source, int) else str(source)
        self._source, self._fps, self._expected = source, 0.0, 0
        if isinstance(source, str):
            info = video_io.video_info(source)
            self._fps, self._expected = info['fps'], info['num_frames']
        self._file = isinstance(source, str)
        self._fps = self._fps if self._fps and np.isfinite(self._fps) and self._fps > 0 else 30.0
        self._frames = video_io.prefetched(video_io.iter_frames(source, color='BGR'))
        self.count, self.ended, self.error, self._size, self._start = 0, False, None, None, time.perf_counter()

    def poll(self) -> Optional[_Arrival]:
        """The next frame (a file always has it, or its end, at hand)."""
        try:
            frame = next(self._frames)
        except StopIteration:
            if self.count and self._expected and video_io.is_truncated(self.count, self._expected):
                self.error = video_io.VideoReadError(self._source, f'the stream broke at frame {self.count} of the '
                                                     f'{self._expected} its header announces (truncated or corrupt)',
                                                     self.count)
            self.close()
            return None
        except video_io.VideoReadError as e:
            self.error = e
            self.close()
            return None
        if self._size is None:
            self._size = frame.shape
        elif frame.shape != self._size:
            self.error = video_io.VideoReadError(self._source, f'frame size changed from {self._size[1]}x'
                                                 f'{self._size[0]} to {frame.shape[1]}x{frame.shape[0]} (corrupt '
                                                 'stream)', self.count)
            self.close()
            return None
        index, self.count = self.count, self.count + 1
        now = time.perf_counter()
        return _Arrival(frame, index, index / self._fps if self._file else now - self._start, time.monotonic(), 0)

    def counts(self) -> tuple:
        return self.count, 0, 0  # captured, dropped, reconnects

    def close(self) -> None:
        self.ended = True
        self._frames.close()


class _Live:
    """A live source (`data.live.LiveSource`, BGR): the newest frame, without waiting unless asked to."""
    live = True

    def __init__(self, source, notify: threading.Event, options: dict):
        self._source = live.LiveSource(source, color='BGR', notify=notify,
                                       realtime=live.source_kind(source) == 'file', **options)
        self.name, self.count, self.ended, self.error, self._first = self._source.name, 0, False, None, None

    def poll(self) -> Optional[_Arrival]:
        """The newest frame since the last call, without waiting (None: nothing new)."""
        try:
            frame = self._source.latest(timeout=0)
        except Exception as e:  # noqa: BLE001  (a UserError or a capture error: the stream ends)
            self.error = e
            self.close()
            return None
        if frame is None:
            if self._source.ended:
                self.close()
            return None
        self._first = frame.timestamp if self._first is None else self._first
        self.count += 1
        return _Arrival(frame.image, frame.index, frame.timestamp - self._first, frame.timestamp, frame.reconnects)

    def counts(self) -> tuple:
        stats = self._source.stats()
        return stats.captured, stats.dropped, stats.reconnects

    def close(self) -> None:
        self.ended = True
        self._source.close()


class _Stream:
    """One source's state: its reader, recognizer, latest prediction, latency and counts."""

    def __init__(self, number: int, reader, online: recognizer_lib.OnlineRecognizer, max_frames: int):
        self.number, self.reader, self.online, self.max_frames = number, reader, online, max_frames
        self.latest: Optional[recognizer_lib.Prediction] = None
        self.top: tuple = ()
        self.latency = live.LatencyRecorder()
        self.labels = self.gaps = 0
        self.reconnects = 0
        self.started = time.perf_counter()

    def take(self) -> Optional[_Arrival]:
        if self.reader.ended:
            return None
        arrival = self.reader.poll()
        if arrival is None:
            return None
        if arrival.reconnects != self.reconnects:  # frames across an outage are not contiguous: start again
            self.online.reset()
            self.reconnects, self.latest, self.top = arrival.reconnects, None, ()
        if self.max_frames and self.reader.count >= self.max_frames:
            self.reader.close()
        return arrival


class Streams:
    """Recognises `sources` with one recognizer's model; iterate for `StreamStep`s, `report()` for the counts.

    Args:
        recognizer: an `api.Recognizer` (its backend, clip, preprocessing and class names are shared).
        sources: video files, camera indices, rtsp:// or http(s):// URLs.
        live: None: cameras and network streams live, files in order; True: files too, played at their own
            frame rate; False: cameras in order too (network streams are always live).
        max_frames: stop each stream after this many frames (0: at its end).
        overlap: encode the next round's frames while this round's windows decode (when they are there).
        live_options: keyword arguments for every `LiveSource` (rtsp_transport, read_timeout_s, ...).
        online_options: for each stream's `OnlineRecognizer` (warmup, smoothing, hysteresis, margin, k,
            decode_every, label_every, gaps).

    Iterating raises, after the steps of every stream, the first stream's error (a file that breaks, a network
    stream that does not come back): the other streams run to their end first.
    """

    def __init__(self, recognizer, sources: Sequence, *, live: Optional[bool] = None, max_frames: int = 0,
                 overlap: bool = True, live_options: Optional[dict] = None, **online_options):
        if not sources:
            raise errors.UserError('no sources to recognise')
        if online_options.get('pipelined'):
            raise errors.UserError('pipelined is the recognizer\'s own overlap; Streams overlaps rounds (overlap=)')
        self.recognizer, self.sources, self.live, self.max_frames = recognizer, list(sources), live, max_frames
        self.overlap, self.live_options, self.online_options = overlap, dict(live_options or {}), online_options
        recognizer.online(**online_options)  # options that do not fit fail now, not at the first frame
        self._streams: list[_Stream] = []
        self._ready = threading.Event()
        self._pending = None

    def _open(self) -> None:
        prepare = getattr(self.recognizer.backend, 'prepare_decoder', None)
        if prepare is not None and len(self.sources) > 1:
            prepare(len(self.sources))  # every batch size a round can need, compiled before the first frame
        for number, source in enumerate(self.sources):
            if is_live(source, self.live):
                reader = _Live(source, self._ready, self.live_options)
            else:
                reader = _InOrder(source)
            online = self.recognizer.online(frame_color='BGR', **self.online_options)
            self._streams.append(_Stream(number, reader, online, self.max_frames))

    def __iter__(self) -> Iterator[StreamStep]:
        try:
            self._open()
            while True:
                active = [s for s in self._streams if not s.reader.ended]
                if not active and self._pending is None:
                    break
                self._ready.clear()
                arrivals = [(s, a) for s in active for a in [s.take()] if a is not None]
                if not arrivals and self._pending is not None:
                    yield from self._finish()  # no frame waiting: the labels go out now
                    continue
                if not arrivals:
                    if any(not s.reader.live for s in active):
                        continue  # a file at its end: the next poll sees it
                    self._ready.wait(POLL_S)
                    continue
                jobs = self._encode(arrivals)
                if self._pending is not None:
                    yield from self._finish()
                self._start_decode(jobs)
                if not self.overlap:
                    yield from self._finish()
        finally:
            self.close()
        errors_seen = [s.reader.error for s in self._streams if s.reader.error is not None]
        if errors_seen:
            raise errors_seen[0]

    def _encode(self, arrivals) -> list:
        """admit + encode + accept for one frame of each stream: [(stream, arrival, window or None)]."""
        admitted = [(s, a, s.online.admit(a.image, a.index)) for s, a in arrivals]
        jobs = [job for _, _, job in admitted if job is not None]
        backend = self.recognizer.backend
        many = getattr(backend, 'encode_frame_many', None)
        if many is not None and jobs and all(job.raw for job in jobs):
            embeddings = iter(many([(job.current, job.previous) for job in jobs]))
        else:
            embeddings = iter([s.online.encode(job) for s, _, job in admitted if job is not None])
        return [(s, a, None if job is None else s.online.accept(job, next(embeddings))) for s, a, job in admitted]

    def _start_decode(self, jobs) -> None:
        windows = [w for _, _, w in jobs if w is not None]
        backend = self.recognizer.backend
        pending = None
        if windows:
            emb = np.stack([w.emb_SD for w in windows])
            many = getattr(backend, 'decode_many_async', None)
            if many is not None and len(windows) <= backend.max_decoder_batch:
                pending = many(emb)
            elif many is not None:
                pending = recognizer_lib.Done(backend.decode_many(emb))
            else:  # one window per call: a JAX backend compiles once per batch size
                pending = recognizer_lib.Done(np.concatenate([backend.decode(e[None]) for e in emb]))
        self._pending = (jobs, pending)

    def _finish(self) -> Iterator[StreamStep]:
        (jobs, pending), self._pending = self._pending, None
        logits = iter(pending.result() if pending is not None else ())
        now = time.monotonic()
        for stream, arrival, window in jobs:
            latency = None
            if window is not None:
                prediction = stream.online.finish(window, next(logits))
                stream.latest, stream.top = prediction, self.recognizer.named(prediction.top)
                stream.labels += 1
                stream.gaps += prediction.missing > 0
                latency = stream.latency.record(arrival.captured, now)
            yield StreamStep(arrival.index, arrival.time_s, arrival.image, stream.latest, stream.top, stream.number,
                             latency)

    def close(self) -> None:
        """Stops every source and waits for the decoder call still running (its labels are dropped)."""
        if self._pending is not None:
            _, pending = self._pending
            self._pending = None
            if pending is not None:
                pending.result()
        for stream in self._streams:
            if not stream.reader.ended:
                stream.reader.close()

    def report(self) -> list[StreamReport]:
        """Each stream's counts and latency so far."""
        out = []
        for s in self._streams:
            captured, dropped, reconnects = s.reader.counts()
            out.append(StreamReport(s.number, s.reader.name, s.reader.count, s.labels, captured, dropped,
                                    s.online.skipped, s.gaps, reconnects,
                                    time.perf_counter() - s.started, s.latency.summary()))
        return out
