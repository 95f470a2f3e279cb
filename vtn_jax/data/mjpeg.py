"""A small HTTP MJPEG server: frames served as `multipart/x-mixed-replace` JPEGs, the way network cameras do.

For trying live mode without a camera and for tests and benchmarks on loopback: every client connection gets
the frames from the first one on, at `fps`, looped, each part with its Content-Type and Content-Length.

    from vtn_jax.data import mjpeg, synthetic
    with mjpeg.MjpegServer(synthetic.make_video(0, seed=0, num_frames=64)[0], fps=25) as server:
        print(server.url)        # http://127.0.0.1:PORT/video.mjpg, e.g. for vtn_jax.data.live.LiveSource

`stop()` closes every connection (a client sees the stream drop) and `start()` serves again on the same port
(the client's reconnect finds it back). `stall_after=n` keeps each connection open but sends nothing after n
frames: a camera that hangs.
"""
import http.server
import threading
import time
from typing import Optional, Sequence, Union

import numpy as np

from vtn_jax.data import video_io

BOUNDARY = b'vtnframe'


class MjpegServer:
    """Serves `frames` (RGB uint8 [T, H, W, 3], or a list of JPEG byte strings) as an MJPEG stream.

    Args:
        frames: the frames, looped.
        fps: frames per second each connection receives.
        host, port: where to listen (port 0: a free port, kept across stop() / start()).
        quality: JPEG quality when `frames` are images.
        stall_after: if set, each connection goes silent (but stays open) after this many frames.
    """

    def __init__(self, frames: Union[np.ndarray, Sequence[bytes]], *, fps: float = 25.0, host: str = '127.0.0.1',
                 port: int = 0, quality: int = 90, stall_after: Optional[int] = None):
        if isinstance(frames, np.ndarray):
            frames = video_io.encode_jpegs(frames, quality)
        if not frames or fps <= 0:
            raise ValueError(f'MjpegServer needs at least one frame and fps > 0 (got {len(frames)} frames, '
                             f'fps {fps})')
        self.jpegs, self.fps, self.host, self.port = list(frames), float(fps), host, port
        self.stall_after = stall_after
        self.connections = 0  # connections served so far
        self._server = None
        self._thread = None
        self._stopping = threading.Event()
        self.start()

    @property
    def url(self) -> str:
        return f'http://{self.host}:{self.port}/video.mjpg'

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # http.server's name
                server.connections += 1
                stopping = server._stopping  # this start()'s, not a later one's
                self.send_response(200)
                self.send_header('Content-Type', f'multipart/x-mixed-replace; boundary={BOUNDARY.decode()}')
                self.send_header('Cache-Control', 'no-cache')
                self.end_headers()
                start, sent = time.monotonic(), 0
                try:
                    while not stopping.is_set():
                        if server.stall_after is not None and sent >= server.stall_after:
                            stopping.wait(0.05)
                            continue
                        jpeg = server.jpegs[sent % len(server.jpegs)]
                        self.wfile.write(b'--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n%s\r\n'
                                         % (BOUNDARY, len(jpeg), jpeg))
                        self.wfile.flush()
                        sent += 1
                        stopping.wait(max(0.0, start + sent / server.fps - time.monotonic()))
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client left

            def log_message(self, *args):  # no access log on stderr
                pass

        return Handler

    def start(self) -> 'MjpegServer':
        """Starts serving (again, on the same port after stop())."""
        if self._server is not None:
            return self
        self._stopping = threading.Event()
        self._server = http.server.ThreadingHTTPServer((self.host, self.port), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name='vtn-mjpeg-server',
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stops listening and ends every open connection."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> 'MjpegServer':
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
