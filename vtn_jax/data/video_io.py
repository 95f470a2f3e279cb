"""Reading videos with OpenCV: whole files as RGB uint8 arrays, frame streams, and file info.

Every failure to read a video raises `VideoReadError`, which names the file, the reason and how
many frames were decoded before it happened, so a dataset build can report bad files instead of
crashing on them (see `vtn_jax.data.tfds_builders`). A stream that stops well before its header's
frame count is truncated: `read_video` refuses it, `decode_video` returns what it decoded and says so,
and `load_for_storage` (what a dataset build runs per video, in worker processes too: it needs
neither TensorFlow nor the rest of vtn_jax) keeps it.
"""
import dataclasses
import os
import queue
import threading
from typing import Iterator, Optional, Sequence, Union

import cv2
import numpy as np

# Relative tolerance between the decoded frame count and the count in the container header: a
# stream that stops well before its header's count is treated as truncated. Containers round or
# estimate the count (VFR, missing index), so small mismatches are normal.
_TRUNCATION_TOLERANCE = 0.1


class VideoReadError(Exception):
    """A video that cannot be read: not a video, truncated, corrupt or empty.

    Attributes:
        path: the file (or camera) that failed.
        reason: what went wrong, in words.
        frames_read: frames decoded before the failure (the index of the frame that broke).
    """

    def __init__(self, path, reason: str, frames_read: int = 0):
        self.path = str(path)
        self.reason = reason
        self.frames_read = frames_read
        where = f' at frame {frames_read}' if frames_read else ''
        super().__init__(f'cannot read video {self.path}{where}: {reason}')

    def __reduce__(self):  # rebuilt from its fields when it crosses a process boundary (worker builds)
        return VideoReadError, (self.path, self.reason, self.frames_read)


def open_capture(path_or_camera: Union[str, os.PathLike, int]) -> cv2.VideoCapture:
    """Opens a cv2.VideoCapture, raising VideoReadError for a missing, empty or unknown file."""
    if isinstance(path_or_camera, int):
        capture = cv2.VideoCapture(path_or_camera)
        if not capture.isOpened():
            raise VideoReadError(f'camera {path_or_camera}', 'camera cannot be opened')
        return capture
    path = os.fspath(path_or_camera)
    if not os.path.isfile(path):
        raise VideoReadError(path, 'file not found')
    if os.path.getsize(path) == 0:
        raise VideoReadError(path, 'empty file (0 bytes)')
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        capture.release()
        raise VideoReadError(path, 'OpenCV cannot open it (not a video, or an unknown/corrupt container)')
    return capture


def resize_short_side(frame: np.ndarray, resize_short: int) -> np.ndarray:
    """Resizes an image so that its shorter side is `resize_short`, keeping the aspect ratio.

    INTER_AREA is used because it averages source pixels when shrinking (no aliasing), which is
    the usual case here (e.g. 320x240 or 1280x720 -> shorter side 256).

    Args:
        frame: (H, W, C) image.
        resize_short: target length of the shorter side in pixels.

    Returns:
        The resized (H', W', C) image; min(H', W') == resize_short.
    """
    height, width = frame.shape[:2]
    if min(height, width) == resize_short:
        return frame
    if height <= width:
        new_h, new_w = resize_short, max(1, round(width * resize_short / height))
    else:
        new_h, new_w = max(1, round(height * resize_short / width)), resize_short
    return cv2.resize(frame, (new_w, new_h), interpolation=cv2.INTER_AREA)


def iter_frames(path_or_camera_index: Union[str, os.PathLike, int], *,
                resize_short: Optional[int] = None, color: str = 'RGB') -> Iterator[np.ndarray]:
    """Yields the frames of a video file or camera as RGB uint8 arrays, one at a time.

    Args:
        path_or_camera_index: a video file, or an int camera index for cv2.VideoCapture.
        resize_short: if set, each frame is resized so its shorter side has this length.
        color: 'RGB', or 'BGR' for the frames as OpenCV decodes them (no conversion).

    Yields:
        (H, W, 3) uint8 frames in `color` order.

    Raises:
        VideoReadError: the source cannot be opened.
    """
    capture = open_capture(path_or_camera_index)
    try:
        while True:
            ok, frame_bgr = capture.read()
            if not ok or frame_bgr is None:
                return
            frame = frame_bgr if color == 'BGR' else cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB)
            if resize_short is not None:
                frame = resize_short_side(frame, resize_short)
            yield frame
    finally:
        capture.release()


def prefetched(frames: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """Runs a frame iterator (e.g. `iter_frames`) in a background thread, up to `depth` frames ahead.

    OpenCV decodes without holding the GIL, so the next frame decodes while the caller works on this one.
    Frames come out in order; an error of the iterator is raised here, after the frames before it. Closing
    this generator (or leaving the loop) stops the thread and closes `frames` (the capture is released).
    """
    items = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()
    done = object()

    def produce():
        try:
            for frame in frames:
                while not stop.is_set():
                    try:
                        items.put((frame, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    break
            result = (done, None)
        except Exception as e:  # noqa: BLE001  (re-raised in the consumer)
            result = (done, e)
        finally:
            close = getattr(frames, 'close', None)
            if close is not None:
                close()
        while not stop.is_set():
            try:
                items.put(result, timeout=0.1)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=produce, name='vtn-frame-reader', daemon=True)
    thread.start()
    try:
        while True:
            frame, error = items.get()
            if frame is done:
                if error is not None:
                    raise error
                return
            yield frame
    finally:
        stop.set()
        thread.join()


def video_info(path: Union[str, os.PathLike]) -> dict:
    """Returns what OpenCV reports about a video without decoding it.

    Args:
        path: the video file.

    Returns:
        dict with 'num_frames' (int, the container's count, may be approximate), 'fps' (float),
        'width' and 'height' (int).

    Raises:
        VideoReadError: the file cannot be opened.
    """
    capture = open_capture(path)
    try:
        return {
            'num_frames': int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
            'fps': float(capture.get(cv2.CAP_PROP_FPS)),
            'width': int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            'height': int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        }
    finally:
        capture.release()


@dataclasses.dataclass
class DecodedVideo:
    """Every decodable frame of a file, and the frame count its container announces."""
    frames: np.ndarray  # (T, H, W, 3) uint8 RGB, T >= 1
    header_frames: int  # the container's count; 0 when it gives none

    @property
    def truncated(self) -> bool:
        """The stream stopped well before the header's count (a cut or corrupt file)."""
        return is_truncated(len(self.frames), self.header_frames)


def is_truncated(frames_read: int, header_frames: int) -> bool:
    """Whether `frames_read` decoded frames fall well short of the container's count (0 = unknown: never)."""
    return header_frames > 0 and frames_read < header_frames * (1.0 - _TRUNCATION_TOLERANCE)


def decode_video(path: Union[str, os.PathLike], *, resize_short: Optional[int] = None) -> DecodedVideo:
    """Decodes every decodable frame of a video file, also when the stream stops early (`truncated`).

    Args:
        path: the video file.
        resize_short: if set, frames are resized (INTER_AREA) so the shorter side has this length.

    Raises:
        VideoReadError: the file is missing, empty, not a video, has no decodable frame, or changes frame size
            mid-stream.
    """
    path = os.fspath(path)
    expected = video_info(path)['num_frames']
    frames = []
    shape = None
    for frame in iter_frames(path, resize_short=resize_short):
        if shape is None:
            shape = frame.shape
        elif frame.shape != shape:
            raise VideoReadError(path, f'frame size changed from {shape} to {frame.shape}', len(frames))
        frames.append(frame)
    if not frames:
        raise VideoReadError(path, 'no decodable frames (zero frames or corrupt stream)')
    return DecodedVideo(np.stack(frames), max(expected, 0))


def read_video(path: Union[str, os.PathLike], *, resize_short: Optional[int] = None) -> np.ndarray:
    """Decodes a whole video file into an RGB uint8 array, refusing a truncated one.

    Args:
        path: the video file.
        resize_short: if set, frames are resized (INTER_AREA) so the shorter side has this length.

    Returns:
        (T, H, W, 3) uint8 array in RGB order, T >= 1.

    Raises:
        VideoReadError: as `decode_video`, and when the stream stops decoding well before the frame count in
            its header (truncated or corrupt); the error names the frame index where the stream broke.
    """
    video = decode_video(path, resize_short=resize_short)
    if video.truncated:
        raise VideoReadError(
            path, f'stream ended after {len(video.frames)} of {video.header_frames} frames (truncated or corrupt)',
            len(video.frames))
    return video.frames


def encode_jpegs(frames: np.ndarray, quality: int) -> list:
    """Encodes RGB uint8 frames (T, H, W, 3) as a list of JPEG byte strings (OpenCV, libjpeg-turbo)."""
    params = [int(cv2.IMWRITE_JPEG_QUALITY), int(quality)]
    encoded = []
    for frame in frames:
        ok, buffer = cv2.imencode('.jpg', cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), params)
        if not ok:
            raise RuntimeError('cv2.imencode failed')
        encoded.append(buffer.tobytes())
    return encoded


def load_for_storage(item: Union[str, os.PathLike, Sequence], *, resize_short: int,
                     jpeg_quality: int) -> tuple[list, int]:
    """What a dataset build stores of one video: its decodable frames, shorter side `resize_short`, as JPEGs.

    Args:
        item: the video file, or a build item whose first element is the file ((path, label)).
        resize_short: stored shorter side.
        jpeg_quality: JPEG quality.

    Returns:
        (JPEG frames, the container's frame count): a truncated video keeps the frames it has (the caller
        compares the counts with `is_truncated`).

    Raises:
        VideoReadError: as `decode_video`.
    """
    path = item if isinstance(item, (str, os.PathLike)) else item[0]
    video = decode_video(path, resize_short=resize_short)
    return encode_jpegs(video.frames, jpeg_quality), video.header_frames


def catch_read_error(fn, item) -> tuple:
    """(fn(item), None), or (None, the VideoReadError it raised): a bad video is an outcome, not a crash."""
    try:
        return fn(item), None
    except VideoReadError as e:
        return None, e


def write_video(path: Union[str, os.PathLike], frames: np.ndarray, *, fps: float = 25.0,
                fourcc: str = 'MJPG') -> None:
    """Writes RGB uint8 frames (T, H, W, 3) to a video file with OpenCV (MJPG AVI by default).

    MJPG needs no external codec, so tests and demos can make real video files anywhere.

    Args:
        path: output file (.avi for MJPG).
        frames: (T, H, W, 3) uint8 RGB.
        fps: frame rate stored in the container.
        fourcc: four-character codec code.
    """
    frames = np.asarray(frames, np.uint8)
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f'cv2.VideoWriter cannot write {path} with fourcc {fourcc!r}')
    try:
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
