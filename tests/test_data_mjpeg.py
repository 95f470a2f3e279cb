"""The loopback MJPEG server, read with a plain HTTP client: multipart parts, stop / start on the same port,
a stalled connection."""
import http.client
import re

import numpy as np
import pytest

from vtn_jax.data import mjpeg


def read_parts(response, count):
    """The JPEG bodies of the next `count` multipart parts."""
    parts = []
    while len(parts) < count:
        line = response.readline()
        if not line:
            raise EOFError(f'the stream ended after {len(parts)} parts')
        assert line.strip() in (b'', b'--' + mjpeg.BOUNDARY), line
        if not line.strip():
            continue
        headers = {}
        for header in iter(response.readline, b'\r\n'):
            key, value = header.decode().split(':', 1)
            headers[key.strip().lower()] = value.strip()
        assert headers['content-type'] == 'image/jpeg'
        parts.append(response.read(int(headers['content-length'])))
    return parts


def get(server, timeout=10):
    connection = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    connection.request('GET', '/video.mjpg')
    return connection, connection.getresponse()


def test_serves_the_frames_as_multipart_jpegs_in_a_loop():
    jpegs = [b'\xff\xd8first\xff\xd9', b'\xff\xd8second\xff\xd9']
    with mjpeg.MjpegServer(jpegs, fps=200) as server:
        assert re.fullmatch(r'http://127\.0\.0\.1:\d+/video\.mjpg', server.url)
        connection, response = get(server)
        assert response.status == 200
        assert response.getheader('Content-Type') == 'multipart/x-mixed-replace; boundary=vtnframe'
        assert read_parts(response, 5) == jpegs * 2 + jpegs[:1]
        connection.close()


def test_images_are_encoded_and_stop_start_keeps_the_port():
    frames = np.full((2, 16, 16, 3), 128, np.uint8)
    server = mjpeg.MjpegServer(frames, fps=200)
    port = server.port
    connection, response = get(server)
    assert all(p.startswith(b'\xff\xd8') for p in read_parts(response, 2))
    server.stop()
    with pytest.raises(EOFError):
        read_parts(response, 1000)  # the stream ends
    connection.close()
    server.start()
    assert server.port == port and server.connections == 1
    connection, response = get(server)
    assert len(read_parts(response, 1)) == 1 and server.connections == 2
    connection.close()
    server.stop()


def test_stall_after_keeps_the_connection_silent():
    with mjpeg.MjpegServer([b'\xff\xd8x\xff\xd9'], fps=200, stall_after=2) as server:
        connection, response = get(server, timeout=0.5)
        assert len(read_parts(response, 2)) == 2
        with pytest.raises(TimeoutError):
            read_parts(response, 1)
        connection.close()


def test_bad_arguments():
    with pytest.raises(ValueError, match='at least one frame'):
        mjpeg.MjpegServer([], fps=25)
