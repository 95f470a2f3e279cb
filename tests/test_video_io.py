"""Tests for vtn_jax.video_io: decoding generated and real AVI files, and every failure reason."""
import os
import pathlib

import numpy as np
import pytest

from vtn_jax import video_io

SHARED = pathlib.Path(os.environ.get('VTN_SHARED_DIR', pathlib.Path(__file__).resolve().parents[2] / 'shared'))
VIDEOS = SHARED / 'data' / 'videos'


def make_frames(num_frames=12, height=24, width=32):
    """Frames with a distinct colour per frame: red rises, blue falls, green is constant."""
    frames = np.zeros((num_frames, height, width, 3), np.uint8)
    for t in range(num_frames):
        frames[t, ..., 0] = 40 + 15 * t
        frames[t, ..., 1] = 100
        frames[t, ..., 2] = 220 - 15 * t
    return frames


@pytest.fixture
def avi(tmp_path):
    path = tmp_path / 'clip.avi'
    video_io.write_video(path, make_frames())
    return path


def test_read_video_returns_rgb_frames_in_order(avi):
    video = video_io.read_video(avi)
    assert video.shape == (12, 24, 32, 3) and video.dtype == np.uint8
    expected = make_frames()
    # MJPG is lossy; flat colours come back within a few levels, in RGB (not BGR) order.
    assert np.abs(video.astype(int) - expected).max() <= 6
    assert video[-1, 0, 0, 0] > video[-1, 0, 0, 2]  # last frame: red 205, blue 55


def test_iter_frames_matches_read_video(avi):
    frames = list(video_io.iter_frames(avi))
    np.testing.assert_array_equal(np.stack(frames), video_io.read_video(avi))


def test_resize_short_keeps_aspect_ratio(avi, tmp_path):
    assert video_io.read_video(avi, resize_short=12).shape == (12, 12, 16, 3)
    portrait = tmp_path / 'portrait.avi'
    video_io.write_video(portrait, make_frames(4, height=40, width=24))
    assert video_io.read_video(portrait, resize_short=12).shape == (4, 20, 12, 3)


def test_video_info(avi):
    assert video_io.video_info(avi) == {'num_frames': 12, 'fps': 25.0, 'width': 32, 'height': 24}


@pytest.mark.parametrize('name, num_frames, fps, width, height, short', [
    ('Megamind.avi', 270, 23.976, 720, 528, (64, 87)),
    ('vtest.avi', 795, 10.0, 768, 576, (64, 85)),
])
def test_real_avi_files(name, num_frames, fps, width, height, short):
    path = VIDEOS / name
    info = video_io.video_info(path)
    assert (info['num_frames'], info['width'], info['height']) == (num_frames, width, height)
    assert info['fps'] == pytest.approx(fps, abs=1e-3)
    video = video_io.read_video(path, resize_short=64)
    assert video.shape == (num_frames, *short, 3)
    assert 10 < video.mean() < 245  # real content, not a blank decode
    first = next(iter(video_io.iter_frames(path)))
    assert first.shape == (height, width, 3)


def test_truncated_file_names_frame_where_it_broke(tmp_path):
    # Noise frames compress badly, so the frame data (not the header) dominates the file.
    good = tmp_path / 'noise.avi'
    video_io.write_video(good, np.random.default_rng(0).integers(0, 256, (12, 24, 32, 3), np.uint8))
    data = good.read_bytes()
    broken = tmp_path / 'truncated.avi'
    broken.write_bytes(data[:len(data) // 2])
    with pytest.raises(video_io.VideoReadError) as info:
        video_io.read_video(broken)
    error = info.value
    assert error.path == str(broken) and 'truncated' in error.reason
    assert 0 < error.frames_read < 12
    assert f'at frame {error.frames_read}' in str(error) and 'truncated.avi' in str(error)


@pytest.mark.parametrize('content, reason', [
    (b'', 'empty file'),
    (b'this is not a video at all\n' * 40, 'cannot open'),
])
def test_unreadable_files(tmp_path, content, reason):
    path = tmp_path / 'bad.avi'
    path.write_bytes(content)
    with pytest.raises(video_io.VideoReadError, match=reason):
        video_io.read_video(path)


def test_zero_frame_video(tmp_path):
    path = tmp_path / 'zero.avi'
    video_io.write_video(path, np.zeros((0, 24, 32, 3), np.uint8))
    with pytest.raises(video_io.VideoReadError, match='no decodable frames'):
        video_io.read_video(path)


def test_missing_file(tmp_path):
    with pytest.raises(video_io.VideoReadError, match='file not found'):
        video_io.read_video(tmp_path / 'nope.avi')
    with pytest.raises(video_io.VideoReadError, match='file not found'):
        next(video_io.iter_frames(tmp_path / 'nope.avi'))
