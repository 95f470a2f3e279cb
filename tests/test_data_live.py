"""Live capture on loopback: a real HTTP MJPEG server read by OpenCV's FFmpeg backend, files played in real time,
newest-frame dropping, reconnects, clean close, the latency recorder; RTSP when ffmpeg and an RTSP server are
installed."""
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import tracemalloc

import cv2
import numpy as np
import pytest

from vtn_jax.data import live, mjpeg, synthetic, video_io
from vtn_jax.errors import UserError


@pytest.fixture(scope='module')
def clip():
    return synthetic.make_video(0, seed=3, num_frames=24)[0]  # (24, 64, 64, 3) RGB uint8


@pytest.fixture(scope='module')
def served(clip):
    """The frames a client should see: the server's JPEGs, decoded here."""
    return np.stack([cv2.cvtColor(cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                     for j in video_io.encode_jpegs(clip, 90)])


@pytest.fixture
def server(clip):
    with mjpeg.MjpegServer(clip, fps=100, quality=90) as srv:
        yield srv


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def warnings_of_live():
    """The WARNING records of vtn_jax.data.live, from a handler on that logger (a command may have turned the
    vtn_jax logger's propagation off in this process)."""
    logger, handler = logging.getLogger(live.__name__), Records()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [r for r in handler.records if r.levelno == logging.WARNING]
    logger.removeHandler(handler)
    logger.setLevel(level)


def wait_for(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'timed out waiting'
        time.sleep(0.02)


def closest_frame_error(image, clip):
    return min(np.abs(image.astype(int) - c.astype(int)).mean() for c in clip)


def test_source_kind():
    assert live.source_kind(0) == live.source_kind('2') == 'camera'
    assert live.source_kind('rtsp://10.0.0.2/stream') == live.source_kind('HTTPS://cam/video.mjpg') == 'network'
    assert live.source_kind('clip.avi') == 'file'


def test_opencv_reads_the_mjpeg_server_in_rgb(server, served):
    with live.LiveSource(server.url) as source:
        frames = [f for _, f in zip(range(5), source)]
    assert [f.image.shape for f in frames] == [(64, 64, 3)] * 5
    assert all(a.index < b.index and a.timestamp <= b.timestamp for a, b in zip(frames, frames[1:]))
    # Each frame is one the server sent (FFmpeg decodes JPEG a little differently from libjpeg; other frames are ~9
    # levels off), in RGB order.
    assert max(closest_frame_error(f.image, served) for f in frames) < 4
    assert closest_frame_error(frames[0].image[..., ::-1], served) > 10


def test_a_slow_consumer_gets_the_newest_frame_and_memory_stays_flat(tmp_path):
    path = tmp_path / 'clip.avi'
    video_io.write_video(path, synthetic.make_video(1, seed=3, num_frames=16, height=240, width=320)[0])
    tracemalloc.start()
    try:
        with live.LiveSource(path, loop=True) as source:  # as fast as it decodes: far faster than the consumer
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            seen = []
            deadline = time.monotonic() + 60
            while (len(seen) < 10 or source.stats().captured < 100) and time.monotonic() < deadline:
                captured_before = source.stats().captured
                frame = source.latest(timeout=10)
                # Never older than the newest frame that existed when the consumer asked.
                assert frame.index >= captured_before - 1
                seen.append(frame.index)
                time.sleep(0.02)  # the model's work
            peak = tracemalloc.get_traced_memory()[1] - base
            stats = source.stats()
    finally:
        tracemalloc.stop()
    assert seen == sorted(set(seen)) and stats.captured >= 100
    assert stats.captured == stats.delivered + stats.dropped + stats.pending and stats.delivered == len(seen)
    assert stats.dropped >= stats.captured - len(seen) - 1 > 0
    # 100 and more 230 kB frames went by; a queue would hold them all, the slot holds one (plus one decoding).
    assert peak < 8 * 240 * 320 * 3


def test_a_file_in_real_time_is_released_at_its_frame_rate(tmp_path, clip):
    path = tmp_path / 'clip.avi'
    video_io.write_video(path, clip[:10], fps=50.0)
    with live.LiveSource(path, realtime=True) as source:
        frames = list(source)
        stats = source.stats()
    assert source.play_fps == 50.0 and source.ended
    assert stats.captured == 10 and stats.delivered + stats.dropped == 10
    # Frame i is released no earlier than i / fps after frame 0.
    first = frames[0]
    assert all(f.timestamp - first.timestamp >= (f.index - first.index) / 50.0 - 1e-3 for f in frames)


def test_a_looped_file_keeps_counting_and_keeps_its_rate(tmp_path, clip):
    path = tmp_path / 'clip.avi'
    video_io.write_video(path, clip[:4])
    with live.LiveSource(path, realtime=True, loop=True, fps=100.0) as source:
        frames = [f for _, f in zip(range(10), source)]
    assert frames[-1].index >= 9 and all(a.index < b.index for a, b in zip(frames, frames[1:]))
    first = frames[0]
    assert all(f.timestamp - first.timestamp >= (f.index - first.index) / 100.0 - 1e-3 for f in frames)


def test_a_file_that_ends_ends_the_iteration(tmp_path, clip):
    path = tmp_path / 'clip.avi'
    video_io.write_video(path, clip[:6])
    with live.LiveSource(path, realtime=True, fps=200.0) as source:
        indices = [f.index for f in source]
        assert source.latest(timeout=0) is None and source.ended
    assert indices[-1] == 5 and source.stats().captured == 6


def test_a_dropped_stream_reconnects_with_one_warning(server, warnings_of_live):
    with live.LiveSource(server.url, backoff_s=(0.05, 0.2), reconnect_attempts=None, read_timeout_s=2) as source:
        before = [source.latest(timeout=10) for _ in range(3)]
        server.stop()
        wait_for(lambda: warnings_of_live())
        time.sleep(0.3)  # several failed attempts while the server is down
        server.start()
        frame = source.latest(timeout=10)
        while frame.reconnects == 0:
            frame = source.latest(timeout=10)
        stats = source.stats()
    assert all(f.reconnects == 0 for f in before) and frame.reconnects == 1 and stats.reconnects == 1
    assert frame.index > before[-1].index  # the indices keep counting across the gap
    messages = [r.getMessage() for r in warnings_of_live()]
    assert len(messages) == 1 and '\n' not in messages[0]
    assert server.url in messages[0] and 'reconnecting' in messages[0]
    assert server.connections == 2


def test_a_stream_that_stays_down_ends_with_a_one_line_error(server):
    source = live.LiveSource(server.url, backoff_s=(0.02, 0.05), reconnect_attempts=2, read_timeout_s=2)
    source.latest(timeout=10)
    server.stop()
    with pytest.raises(UserError, match='2 reconnect attempts failed') as error:
        while source.latest(timeout=10) is not None:
            pass
    assert '\n' not in str(error.value) and server.url in str(error.value)
    source.close()


def test_close_does_not_hang_on_a_stalled_stream(clip, warnings_of_live):
    with mjpeg.MjpegServer(clip, fps=100, stall_after=3) as srv:
        source = live.LiveSource(srv.url, read_timeout_s=0.5, reconnect_attempts=None, backoff_s=(0.05, 0.1))
        assert source.latest(timeout=10) is not None
        time.sleep(0.2)  # the capture thread now waits inside OpenCV's read for data that never comes
        source.close()
        assert not source._thread.is_alive()
        assert source.ended and source.latest(timeout=0) is None
    assert not warnings_of_live()  # closing is not a dropped stream


def test_bad_sources_are_one_line_errors(tmp_path):
    with pytest.raises(UserError, match='file not found'):
        live.LiveSource(tmp_path / 'missing.avi')
    empty = tmp_path / 'empty.avi'
    cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*'MJPG'), 25.0, (64, 64)).release()  # opens, no frames
    with live.LiveSource(empty, loop=True) as source:
        with pytest.raises(UserError, match='no decodable frames'):
            source.latest(timeout=10)
    with socket.socket() as s:  # a port with nobody listening
        s.bind(('127.0.0.1', 0))
        url = f'http://127.0.0.1:{s.getsockname()[1]}/video.mjpg'
    with pytest.raises(UserError, match='no stream there') as error:
        live.LiveSource(url, open_timeout_s=1)
    assert url in str(error.value) and '\n' not in str(error.value)
    with pytest.raises(UserError, match='rtsp_transport'):
        live.LiveSource(url, rtsp_transport='http')


def test_quiet_backend_logs_keeps_opencv_and_ffmpeg_off_stderr():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        url = f'http://127.0.0.1:{s.getsockname()[1]}/video.mjpg'  # refused
    code = ('import sys, cv2\nfrom vtn_jax.data import live\nif sys.argv[1] == "quiet": live.quiet_backend_logs()\n'
            f'cv2.VideoCapture("{url}", cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 1000])\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith('OPENCV_')}
    loud, quiet = (subprocess.run([sys.executable, '-c', code, mode], capture_output=True, text=True, env=env,
                                  timeout=120, check=True).stderr for mode in ('loud', 'quiet'))
    assert 'refused' in loud  # what OpenCV's FFmpeg prints per attempt, without it
    assert 'refused' not in quiet and 'WARN' not in quiet


def test_one_event_serves_many_sources(clip, served):
    ready = threading.Event()
    with mjpeg.MjpegServer(clip, fps=100) as a, mjpeg.MjpegServer(clip[::-1], fps=100) as b:
        sources = [live.LiveSource(a.url, notify=ready), live.LiveSource(b.url, notify=ready)]
        got = [[], []]
        deadline = time.monotonic() + 20
        while min(map(len, got)) < 5 and time.monotonic() < deadline:
            ready.wait(1.0)
            ready.clear()
            for source, frames in zip(sources, got):
                frame = source.latest(timeout=0)
                if frame is not None:
                    frames.append(frame)
        for source in sources:
            source.close()
    assert min(map(len, got)) >= 5
    assert all(closest_frame_error(f.image, served) < 4 for frames in got for f in frames)


def test_latency_recorder_percentiles_and_bounded_buffer():
    recorder = live.LatencyRecorder(capacity=100)
    assert recorder.summary().count == 0 and str(recorder.summary()) == 'latency: no labels'
    for i in range(200):  # latencies 0 .. 199 ms; the buffer keeps the last 100 (100 .. 199)
        assert recorder.record(10.0, 10.0 + i / 1000) == pytest.approx(i / 1000)
    summary = recorder.summary()
    assert summary.count == 200 and len(recorder) == 200
    assert summary.p50_ms == pytest.approx(149.5) and summary.p95_ms == pytest.approx(194.05)
    assert summary.max_ms == pytest.approx(199.0) and 'p95 194.1 ms' in str(summary)
    recorder.reset()
    assert recorder.summary().count == 0
    assert recorder.record(time.monotonic() - 1.0) >= 1.0  # label time defaults to now


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def listening(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=0.2).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(shutil.which('ffmpeg') is None or shutil.which('rtsp-server-perl') is None,
                    reason='RTSP needs ffmpeg and rtsp-server-perl on PATH '
                           '(apt-get install --no-install-recommends ffmpeg rtsp-server-perl)')
def test_rtsp_from_a_real_server_and_publisher(tmp_path, clip, served, warnings_of_live):
    """ffmpeg publishes H.264 to rtsp-server-perl (a relay: ffmpeg itself cannot serve RTSP to a client), OpenCV
    reads it over UDP; the publisher stops and comes back, the source reconnects with one warning."""
    path = tmp_path / 'clip.avi'
    video_io.write_video(path, clip)
    client_port, source_port = free_port(), free_port()
    relay = subprocess.Popen(['rtsp-server-perl', '-c', str(client_port), '-s', str(source_port), '--rtp_start_port',
                              str(free_port(socket.SOCK_DGRAM)), '-l', '0'], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)

    def publish():
        return subprocess.Popen(['ffmpeg', '-hide_banner', '-loglevel', 'error', '-re', '-stream_loop', '-1', '-i',
                                 str(path), '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g',
                                 '10', '-f', 'rtsp', f'rtsp://127.0.0.1:{source_port}/live'])

    def try_open():
        try:
            return live.LiveSource(f'rtsp://127.0.0.1:{client_port}/live', rtsp_transport='udp', open_timeout_s=3,
                                   read_timeout_s=0.5, backoff_s=(0.1, 0.5), reconnect_attempts=None)
        except UserError:  # the relay answers 404 until the publisher has announced the stream
            return None

    publisher = None
    try:
        wait_for(lambda: listening(source_port))
        publisher = publish()
        opened = []
        wait_for(lambda: opened.append(try_open()) or opened[-1] is not None)
        with opened[-1] as source:
            frames = [f for _, f in zip(range(10), source)]
            assert [f.image.shape for f in frames] == [(64, 64, 3)] * 10
            # H.264 at ffmpeg's default quality, from the file's MJPEG frames: close to them, far from BGR.
            errors = [closest_frame_error(f.image, served) for f in frames]
            assert max(errors) < 6 and closest_frame_error(frames[0].image[..., ::-1], served) > 10
            publisher.terminate()
            publisher.wait()
            wait_for(lambda: warnings_of_live())
            publisher = publish()
            frame = source.latest(timeout=20)
            while frame.reconnects == 0:
                frame = source.latest(timeout=20)
        assert len(warnings_of_live()) == 1 and frame.index > frames[-1].index
    finally:
        for process in (publisher, relay):
            if process is not None:
                process.terminate()
                process.wait()
