"""Live video: the newest frame of a camera, a network stream (RTSP, HTTP MJPEG) or a file played in real time.

A `LiveSource` reads its source in its own thread into a one-frame slot. The consumer always takes the newest
frame; a frame replaced before anyone took it is dropped and counted, so a consumer slower than the source
falls behind by at most one frame instead of filling a queue with the past. Memory is bounded: one decoded
frame in the slot, one being decoded.

Every `Frame` carries
  index       the source frame index: 0, 1, 2, ... for each frame read from the source (dropped ones included),
              so the indices a consumer never saw are exactly the dropped frames. A reconnect keeps counting
              (the frames lost while the stream was down are not known and get no index);
  timestamp   `time.monotonic()` when the frame was grabbed (for a file in real time: when it was released);
  reconnects  how many reconnects came before it: when it changes, the frames before and after it are not
              contiguous in time (a window across the gap mixes two moments).

Sources (`source_kind`): an int (or a string of digits) is a camera index; `rtsp://`, `rtsps://`, `http://`,
`https://` URLs are network streams, read with OpenCV's FFmpeg backend with open and read timeouts (a stalled
stream never blocks the thread longer than `read_timeout_s`); anything else is a video file, read as fast as it
decodes, or at its own frame rate with `realtime=True` (as a camera would deliver it; `loop=True` replays it).
A network stream or camera that stops delivering is reopened with exponential backoff: one WARNING line when it
drops (`logging.getLogger(__name__)`), one INFO line when it is back; after `reconnect_attempts` failed
attempts the source ends with a `UserError`, raised to the consumer after the frames before it.

    from vtn_jax.data import live

    latency = live.LatencyRecorder()
    with live.LiveSource('rtsp://camera.local:554/stream', resize_short=256) as source:
        for frame in source:                           # live.Frame; blocks until a newer frame arrives
            prediction = recognizer.push(frame.image)  # RGB uint8 [H, W, 3]
            if prediction is not None:
                latency.record(frame.timestamp)        # capture-to-label latency of this label
    print(source.stats(), latency.summary())           # captured / delivered / dropped / reconnects; p50 / p95

Many streams in one loop: give every source the same `threading.Event` and poll them without blocking.

    ready = threading.Event()
    sources = [live.LiveSource(url, notify=ready) for url in urls]
    while not all(s.ended for s in sources):
        ready.wait(0.5)
        ready.clear()
        for s in sources:
            frame = s.latest(timeout=0)                # None: nothing new since the last call
            ...
    for s in sources:
        s.close()

Nothing here imports TensorFlow or JAX (a deploy-only install has OpenCV and numpy).
"""
import dataclasses
import logging
import os
import threading
import time
from typing import Iterator, Optional, Union

import cv2
import numpy as np

from vtn_jax.data import video_io
from vtn_jax.errors import UserError

_LOG = logging.getLogger(__name__)
NETWORK_SCHEMES = ('rtsp://', 'rtsps://', 'http://', 'https://')
RTSP_TRANSPORTS = ('tcp', 'udp')
_FFMPEG_OPTIONS = 'OPENCV_FFMPEG_CAPTURE_OPTIONS'
_ENV_LOCK = threading.Lock()  # OpenCV reads the FFmpeg options from the environment when it opens a stream


@dataclasses.dataclass(frozen=True)
class Frame:
    """One captured frame: the image, its source frame index, its capture time and the reconnects before it."""
    image: np.ndarray  # (H, W, 3) uint8, RGB unless the source was opened with color='BGR'
    index: int
    timestamp: float  # time.monotonic() seconds
    reconnects: int = 0


@dataclasses.dataclass(frozen=True)
class CaptureStats:
    """Counts since the source opened: captured == delivered + dropped + pending."""
    captured: int  # frames read from the source (= the next frame index)
    delivered: int  # frames handed to the consumer
    dropped: int  # frames replaced by a newer one before the consumer took them (or left at close)
    reconnects: int  # successful reopenings after the stream dropped
    pending: int  # 0 or 1: the newest frame, not yet taken

    def __str__(self):
        return (f'{self.captured} frames captured, {self.delivered} delivered, {self.dropped} dropped, '
                f'{self.reconnects} reconnects')


def quiet_backend_logs() -> None:
    """Keeps OpenCV's and FFmpeg's own lines (a WARN per timed-out read, an error per refused connection) off
    stderr, so that a dropped stream shows as LiveSource's one WARNING line. For commands, at start-up: FFmpeg
    takes its log level from OPENCV_FFMPEG_LOGLEVEL once per process, when OpenCV first uses it. Errors that
    stop a source still reach the consumer as a UserError."""
    os.environ.setdefault('OPENCV_FFMPEG_LOGLEVEL', '8')  # AV_LOG_FATAL
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


def source_kind(source: Union[str, os.PathLike, int]) -> str:
    """'camera' (an int or a string of digits), 'network' (rtsp/rtsps/http/https URL) or 'file'."""
    if isinstance(source, int) or (isinstance(source, str) and source.isascii() and source.isdigit()):
        return 'camera'
    if isinstance(source, str) and source.lower().startswith(NETWORK_SCHEMES):
        return 'network'
    return 'file'


def _ffmpeg_options(rtsp_transport: Optional[str]) -> Optional[str]:
    """The OPENCV_FFMPEG_CAPTURE_OPTIONS value that adds `rtsp_transport` to the user's own (None: unchanged)."""
    if rtsp_transport is None:
        return None
    own = [o for o in os.environ.get(_FFMPEG_OPTIONS, '').split('|') if o and not o.startswith('rtsp_transport;')]
    return '|'.join(own + [f'rtsp_transport;{rtsp_transport}'])


class LiveSource:
    """A camera, network stream or file read in a background thread; the consumer gets the newest frame.

    Args:
        source: camera index, rtsp/http(s) URL, or video file.
        realtime: files only: release frames at the file's frame rate (`fps` overrides it) instead of as fast
            as they decode. Cameras and network streams are always real time.
        loop: files only: start again at the first frame after the last (indices keep counting).
        fps: the frame rate a file plays at with realtime=True (default: the container's; 25 if it has none).
        color: 'RGB' (default) or 'BGR' (as OpenCV decodes, no conversion).
        resize_short: if set, each frame's shorter side is resized to this (INTER_AREA), in the capture thread.
        open_timeout_s, read_timeout_s: network streams: how long opening and reading one frame may block.
        reconnect_attempts: how often a dropped network stream or camera is reopened before the source ends
            with an error; 0: never, None: until closed.
        backoff_s: (first, longest) wait before a reconnect attempt; it doubles after each failed attempt.
        rtsp_transport: 'tcp' or 'udp' for RTSP (None: OpenCV's choice, TCP, or OPENCV_FFMPEG_CAPTURE_OPTIONS).
        notify: an Event set whenever a new frame is in the slot or the source ends (one Event may serve many
            sources).

    Raises:
        UserError: the source cannot be opened (missing file, camera absent, URL unreachable within the open
            timeout) or a parameter is out of range.
    """

    def __init__(self, source: Union[str, os.PathLike, int], *, realtime: bool = False, loop: bool = False,
                 fps: Optional[float] = None, color: str = 'RGB', resize_short: Optional[int] = None,
                 open_timeout_s: float = 10.0, read_timeout_s: float = 5.0, reconnect_attempts: Optional[int] = 10,
                 backoff_s: tuple = (0.5, 8.0), rtsp_transport: Optional[str] = None,
                 notify: Optional[threading.Event] = None):
        self.kind = source_kind(source)
        self.source = int(source) if self.kind == 'camera' else (source if self.kind == 'network'
                                                                 else os.fspath(source))
        self.name = f'camera {self.source}' if self.kind == 'camera' else str(self.source)
        if color not in ('RGB', 'BGR'):
            raise UserError(f"live source {self.name}: color must be 'RGB' or 'BGR', got {color!r}")
        if rtsp_transport not in (None,) + RTSP_TRANSPORTS:
            raise UserError(f'live source {self.name}: rtsp_transport must be one of {RTSP_TRANSPORTS} or None, '
                            f'got {rtsp_transport!r}')
        if min(open_timeout_s, read_timeout_s) <= 0 or fps is not None and fps <= 0:
            raise UserError(f'live source {self.name}: open_timeout_s, read_timeout_s and fps must be > 0')
        if reconnect_attempts is not None and reconnect_attempts < 0:
            raise UserError(f'live source {self.name}: reconnect_attempts must be >= 0 or None, '
                            f'got {reconnect_attempts}')
        self.realtime, self.loop = realtime and self.kind == 'file', loop and self.kind == 'file'
        self.color, self.resize_short = color, resize_short
        self.open_timeout_s, self.read_timeout_s = float(open_timeout_s), float(read_timeout_s)
        self.reconnect_attempts, self.backoff_s = reconnect_attempts, (float(backoff_s[0]), float(backoff_s[1]))
        self.rtsp_transport, self._notify = rtsp_transport, notify

        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._slot: Optional[Frame] = None
        self._finished = False
        self._error: Optional[BaseException] = None
        self._captured = self._delivered = self._dropped = self._reconnects = 0

        capture = self._open()
        if capture is None:
            raise UserError(f'cannot open live source {self.name}: ' + {
                'camera': 'no such camera, or it is in use',
                'network': f'no stream there within {self.open_timeout_s:g} s (check the URL, that the camera or '
                           'server is up, and open_timeout_s)',
                'file': 'OpenCV cannot open it (not a video, or an unknown/corrupt container)'}[self.kind])
        self.fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.play_fps = fps or (self.fps if 0 < self.fps < 1000 else 25.0)
        self._thread = threading.Thread(target=self._run, args=(capture,), name=f'vtn-live {self.name}',
                                        daemon=True)
        self._thread.start()

    # The capture thread.

    def _open(self) -> Optional[cv2.VideoCapture]:
        """A fresh, opened capture, or None."""
        if self.kind == 'file':
            try:
                return video_io.open_capture(self.source)
            except video_io.VideoReadError as e:
                raise UserError(f'cannot open live source {e.path}: {e.reason}') from None
        if self.kind == 'camera':
            capture = cv2.VideoCapture(self.source)
            if capture.isOpened():
                capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the driver's queue: keep it short where it can be
        else:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(self.open_timeout_s * 1000),
                      cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.read_timeout_s * 1000)]
            options = _ffmpeg_options(self.rtsp_transport)
            with _ENV_LOCK:
                before = os.environ.get(_FFMPEG_OPTIONS)
                if options is not None:
                    os.environ[_FFMPEG_OPTIONS] = options
                try:
                    capture = cv2.VideoCapture(self.source, cv2.CAP_FFMPEG, params)
                finally:
                    if options is not None:
                        if before is None:
                            os.environ.pop(_FFMPEG_OPTIONS, None)
                        else:
                            os.environ[_FFMPEG_OPTIONS] = before
        if capture.isOpened():
            return capture
        capture.release()
        return None

    def _reopen(self) -> Optional[cv2.VideoCapture]:
        """Reopens a dropped stream with backoff; None when stopped; raises UserError when attempts run out."""
        attempts = self.reconnect_attempts
        if attempts == 0:
            raise UserError(f'live source {self.name}: the stream stopped after {self._captured} frames '
                            '(reconnect_attempts=0)')
        _LOG.warning('live source %s: the stream stopped after %d frames; reconnecting (%s)', self.name,
                     self._captured, 'until closed' if attempts is None else f'up to {attempts} attempts')
        lost_at, wait, attempt = time.monotonic(), self.backoff_s[0], 0
        while attempts is None or attempt < attempts:
            attempt += 1
            if self._stop.wait(wait):
                return None
            capture = self._open()
            if capture is not None:
                with self._cond:
                    self._reconnects += 1
                _LOG.info('live source %s: reconnected after %.1f s (attempt %d)', self.name,
                          time.monotonic() - lost_at, attempt)
                return capture
            wait = min(2 * wait, self.backoff_s[1])
        raise UserError(f'live source {self.name}: the stream stopped after {self._captured} frames and '
                        f'{attempts} reconnect attempts failed')

    def _convert(self, frame_bgr: np.ndarray) -> np.ndarray:
        frame = frame_bgr if self.color == 'BGR' else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
        if self.resize_short is not None:
            frame = video_io.resize_short_side(frame, self.resize_short)
        return frame

    def _run(self, capture: cv2.VideoCapture) -> None:
        start = None  # realtime files: when the first frame was released
        played = 0  # frames released so far: frame n is due at start + n / play_fps
        try:
            while not self._stop.is_set():
                ok, frame_bgr = capture.read()
                grabbed = time.monotonic()
                if not ok or frame_bgr is None:
                    capture.release()
                    capture = None
                    if self._stop.is_set():
                        return  # closed while a read was waiting: not a dropped stream
                    if self.kind == 'file' and self._captured == 0:
                        raise UserError(f'live source {self.name}: no decodable frames (an empty or corrupt video)')
                    if self.kind == 'file' and not self.loop:
                        return
                    if self.kind == 'file':
                        capture = self._open()
                    else:
                        capture = self._reopen()
                        if capture is None:
                            return
                    continue  # a looped file keeps its release schedule
                image = self._convert(frame_bgr)
                if self.realtime:
                    start = grabbed if start is None else start
                    if self._stop.wait(max(0.0, start + played / self.play_fps - time.monotonic())):
                        return
                    grabbed = time.monotonic()
                played += 1
                with self._cond:
                    if self._slot is not None:
                        self._dropped += 1
                    self._slot = Frame(image, self._captured, grabbed, self._reconnects)
                    self._captured += 1
                    self._cond.notify_all()
                if self._notify is not None:
                    self._notify.set()
        except BaseException as e:  # noqa: BLE001  (raised to the consumer)
            self._error = e
        finally:
            if capture is not None:
                capture.release()
            with self._cond:
                self._finished = True
                self._cond.notify_all()
            if self._notify is not None:
                self._notify.set()

    # The consumer's side.

    def latest(self, timeout: Optional[float] = None) -> Optional[Frame]:
        """The newest frame not yet delivered, waiting up to `timeout` seconds for one (None: until one comes).

        Returns None when the wait timed out or the source has ended (`ended` tells which).

        Raises:
            UserError: the stream dropped and could not be reopened, after the frames before it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._slot is None and not self._finished:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if self._slot is not None:
                frame, self._slot = self._slot, None
                self._delivered += 1
                return frame
        if self._error is not None:
            raise self._error
        return None

    def __iter__(self) -> Iterator[Frame]:
        """Yields the newest frame each time, until the source ends (a file's end, close(), or an error)."""
        while True:
            frame = self.latest()
            if frame is None:
                return
            yield frame

    @property
    def ended(self) -> bool:
        """No frame will come any more: the source ended or was closed, and the last frame was taken."""
        with self._cond:
            return self._finished and self._slot is None

    def stats(self) -> CaptureStats:
        with self._cond:
            pending = int(self._slot is not None)
            return CaptureStats(self._captured, self._delivered, self._dropped, self._reconnects, pending)

    def close(self, timeout: Optional[float] = None) -> None:
        """Stops the capture thread and waits for it (at most `timeout` s; default: the open or read timeout
        plus a second, how long OpenCV may block). A frame left in the slot counts as dropped."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if timeout is None:
            timeout = max(self.open_timeout_s, self.read_timeout_s) + 1.0
        self._thread.join(timeout)
        if self._thread.is_alive():
            _LOG.warning('live source %s: the capture thread is still blocked in OpenCV after %.1f s; left to '
                         'finish on its own', self.name, timeout)
        with self._cond:
            if self._slot is not None:
                self._slot = None
                self._dropped += 1

    def __enter__(self) -> 'LiveSource':
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclasses.dataclass(frozen=True)
class LatencySummary:
    """Capture-to-label latency over the recorded labels, in milliseconds."""
    count: int
    p50_ms: float
    p95_ms: float
    max_ms: float

    def __str__(self):
        if not self.count:
            return 'latency: no labels'
        return (f'capture-to-label latency p50 {self.p50_ms:.1f} ms, p95 {self.p95_ms:.1f} ms, '
                f'max {self.max_ms:.1f} ms over {self.count} labels')


class LatencyRecorder:
    """Capture-to-label latencies: `record(frame.timestamp)` when a label for that frame is produced.

    Keeps the last `capacity` samples (a fixed buffer: a camera that runs for days does not grow it); the
    summary's percentiles are over those, its count over all labels since the last reset().
    """

    def __init__(self, capacity: int = 100_000):
        if capacity < 1:
            raise UserError(f'LatencyRecorder capacity must be >= 1, got {capacity}')
        self._samples = np.zeros(capacity, np.float64)
        self._count = 0
        self._lock = threading.Lock()

    def record(self, capture_time: float, label_time: Optional[float] = None) -> float:
        """Records and returns label_time - capture_time in seconds (label_time default: time.monotonic())."""
        latency = (time.monotonic() if label_time is None else label_time) - capture_time
        with self._lock:
            self._samples[self._count % len(self._samples)] = latency
            self._count += 1
        return latency

    def reset(self) -> None:
        with self._lock:
            self._count = 0

    def __len__(self) -> int:
        return self._count

    def summary(self) -> LatencySummary:
        with self._lock:
            samples = self._samples[:min(self._count, len(self._samples))] * 1e3
            count = self._count
        if not count:
            return LatencySummary(0, float('nan'), float('nan'), float('nan'))
        p50, p95 = np.percentile(samples, [50, 95])
        return LatencySummary(count, float(p50), float(p95), float(samples.max()))
