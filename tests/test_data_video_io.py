"""Decoding generated (and, optionally, real) video files, and every failure reason."""
import numpy as np
import pytest

from conftest import extra_videos
from vtn_jax.data import video_io


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


@pytest.mark.parametrize('path', extra_videos() or [None], ids=lambda p: p.name if p else 'none')
def test_real_video_files(path):
    """Optional: real files from $VTN_TEST_VIDEOS decode whole, resized, and as a stream, consistently."""
    if path is None:
        pytest.skip('set VTN_TEST_VIDEOS to a folder of real videos to run this check')
    info = video_io.video_info(path)
    video = video_io.read_video(path, resize_short=64)
    assert abs(len(video) - info['num_frames']) <= 0.1 * info['num_frames'] and min(video.shape[1:3]) == 64
    ratio = video.shape[2] / video.shape[1]
    assert abs(ratio - info['width'] / info['height']) < 0.05  # aspect kept
    assert 10 < video.mean() < 245  # real content, not a blank decode
    assert next(iter(video_io.iter_frames(path))).shape == (info['height'], info['width'], 3)


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


def test_decode_video_keeps_the_frames_of_a_truncated_file(tmp_path):
    good = tmp_path / 'noise.avi'
    frames = np.random.default_rng(0).integers(0, 256, (12, 24, 32, 3), np.uint8)
    video_io.write_video(good, frames)
    whole = video_io.decode_video(good)
    assert not whole.truncated and whole.header_frames == 12 and len(whole.frames) == 12
    broken = tmp_path / 'truncated.avi'
    broken.write_bytes(good.read_bytes()[:good.stat().st_size // 2])
    cut = video_io.decode_video(broken)
    assert cut.truncated and cut.header_frames == 12 and 0 < len(cut.frames) < 12
    np.testing.assert_array_equal(cut.frames, whole.frames[:len(cut.frames)])  # the frames before the break
    jpegs, header = video_io.load_for_storage((broken, 3), resize_short=12, jpeg_quality=90)
    assert header == 12 and len(jpegs) == len(cut.frames) and video_io.is_truncated(len(jpegs), header)
    assert not video_io.is_truncated(11, 12) and not video_io.is_truncated(3, 0)  # 10% slack; unknown count


def test_read_errors_survive_pickling_and_are_caught():
    import pickle
    error = pickle.loads(pickle.dumps(video_io.VideoReadError('a.avi', 'truncated', 7)))
    assert (error.path, error.reason, error.frames_read) == ('a.avi', 'truncated', 7)

    def fail(item):
        raise video_io.VideoReadError(item, 'broken')

    assert video_io.catch_read_error(len, 'abc') == (3, None)
    result, caught = video_io.catch_read_error(fail, 'b.avi')
    assert result is None and caught.reason == 'broken'


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


def test_prefetched_keeps_order_raises_errors_in_place_and_stops_its_thread(avi):
    import threading
    np.testing.assert_array_equal(np.stack(list(video_io.prefetched(video_io.iter_frames(avi)))),
                                  video_io.read_video(avi))

    def broken():
        yield from range(3)
        raise video_io.VideoReadError('x.avi', 'corrupt', 3)
    got = []
    with pytest.raises(video_io.VideoReadError, match='at frame 3'):
        for item in video_io.prefetched(broken()):
            got.append(item)
    assert got == [0, 1, 2]

    before = threading.active_count()
    endless = video_io.prefetched(iter(int, 1), depth=2)  # never ends on its own
    assert next(endless) == 0
    endless.close()
    assert threading.active_count() == before
