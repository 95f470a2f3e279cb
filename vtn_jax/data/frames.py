"""The numpy side of preprocessing, and the one record of it: what a decoded frame becomes before the encoder.

`Preprocessing` is the record. It is made from a config (`Preprocessing.from_config(config.data)`) or read from
an export's `export.json` (`from_json`), validated once there, and taken whole by the evaluation input pipeline
(`vtn_jax.data.input_pipeline`, TensorFlow), the online recognizer, `Recognizer`, the whole-video pass and the
export. Two axes, named apart:

  eval_crop (config.data.eval_crop), which square of the frame the model sees:
    paper    the central square of side round(224/256 * shorter side), bilinear-resized (on float values) to
             the crop size, then (x / 255 - mean) / std. On the stored 256 frames with a 224 crop that is the
             paper's central 224 crop, with no resampling.
    authors  the authors' validation and test transform (their main.py: Scale(224), CenterCrop(224)): the
             shorter side resized to the crop size with cv2 INTER_LINEAR on uint8 (the longer side floored, as
             their Scale), the central crop_size square (offsets rounded half to even, as Python's round in
             their CenterCrop), then (x / 255 - mean) / std. It shows the whole shorter side, 256/224 = 1.14x
             wider than 'paper'.
  source, what the frames handed over are:
    raw      frames as decoded (a camera, a video file): the crop is taken from them directly (the default
             for streaming and export).
    stored   as the dataset builders store them first: the shorter side resized to 256 with INTER_AREA, then
             the crop (what the evaluation pipeline sees of a video; the same as 'raw' on frames whose shorter
             side is already 256).

Every path computes the same thing in two stages: `host_stage` (numpy/OpenCV on uint8: the 'stored' resize
and the 'authors' uint8 crop; nothing for 'paper' on raw frames), then the central square of side
round(`graph_crop_fraction` * shorter side), bilinear-resized to the crop size, and the normalisation, which
OpenVINO runs inside the encoder IR on uint8 frames (`vtn_jax.inference.openvino_frames`) and `numpy` runs
here (tests/test_inference_openvino_frames.py holds them equal).

No TensorFlow here: a deployment runs it with numpy and OpenCV alone.
"""
import dataclasses
import math
from typing import Sequence

import cv2
import numpy as np

from vtn_jax import errors
from vtn_jax.data import video_io

EVAL_CROP_FRACTION = 224 / 256  # central crop side / shorter side at evaluation ('paper' crop)
STORED_SHORT_SIDE = 256  # what the dataset builders store and the model is evaluated on
EVAL_CROPS = ('paper', 'authors')  # config.data.eval_crop
SOURCES = ('raw', 'stored')  # Preprocessing.source
MAX_CROP_SIZE = 4096


def check_choice(field: str, value, choices: Sequence):
    """Returns `value`; raises UserError naming the field and the choices otherwise."""
    if value not in choices:
        raise errors.UserError(f'{field} must be one of {tuple(choices)}, got {value!r}')
    return value


def normalization_affine(mean: Sequence[float], std: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(scale, offset) with (x / 255 - mean) / std == x * scale - offset: one multiply-add per value."""
    std = np.asarray(std, np.float32)
    return (1.0 / (255.0 * std)).astype(np.float32), (np.asarray(mean, np.float32) / std).astype(np.float32)


def normalize(frames, mean: Sequence[float], std: Sequence[float]):
    """Pixel values in [0, 255] (uint8 or float, [..., 3] RGB) -> float32 (x / 255 - mean) / std.

    Works on numpy and on jax arrays (inside jit too): the arithmetic is plain operators.
    """
    scale, offset = normalization_affine(mean, std)
    return frames.astype('float32') * scale - offset


def model_input(video, mean: Sequence[float], std: Sequence[float]):
    """What a model is given: uint8 pixels are normalised (`normalize`), floating frames pass through as
    already normalised. The batches of the input pipeline are uint8; the jitted training, evaluation and
    caching steps call this on the device, so the host ships a quarter of the bytes and XLA fuses the
    multiply-add into the first convolution. numpy or jax arrays; the dtype test is static under jit.
    """
    if video.dtype == np.uint8:
        return normalize(video, mean, std)
    return video


def central_crop_box(height: int, width: int, fraction: float = EVAL_CROP_FRACTION) -> tuple[int, int, int]:
    """The evaluation crop (top, left, side): the central square of side round(fraction * shorter side)."""
    short = min(height, width)
    side = min(max(int(round(short * fraction)), 1), short)
    return (height - side) // 2, (width - side) // 2, side


def _check_triple(field: str, values, *, positive: bool) -> tuple:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        out = ()
    if isinstance(values, (str, bytes)) or len(out) != 3 or not all(math.isfinite(v) for v in out) or (
            positive and min(out) <= 0):
        what = 'three positive numbers' if positive else 'three numbers'
        raise errors.UserError(f'{field} must be {what} (R, G, B on the [0, 1] scale), got {values!r}')
    return out


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How a decoded uint8 frame becomes what the encoder sees (see the module docstring).

    Attributes:
        crop_size: side of the square the model sees (config.data.crop_size).
        mean, std: RGB normalisation on the [0, 1] scale (config.data.mean / std); std > 0.
        eval_crop: 'paper' or 'authors' (config.data.eval_crop).
        source: 'raw' (frames as decoded) or 'stored' (as the dataset builders store them first).
    """
    crop_size: int
    mean: tuple
    std: tuple
    eval_crop: str = 'paper'
    source: str = 'raw'

    def __post_init__(self):
        if isinstance(self.crop_size, bool) or not isinstance(self.crop_size, int) or not (
                1 <= self.crop_size <= MAX_CROP_SIZE):
            raise errors.UserError(f'crop_size must be an integer from 1 to {MAX_CROP_SIZE}, got {self.crop_size!r}')
        object.__setattr__(self, 'mean', _check_triple('mean', self.mean, positive=False))
        object.__setattr__(self, 'std', _check_triple('std', self.std, positive=True))
        check_choice('eval_crop', self.eval_crop, EVAL_CROPS)
        check_choice('source', self.source, SOURCES)

    @classmethod
    def from_config(cls, data_config, *, source: str = 'raw') -> 'Preprocessing':
        """The evaluation preprocessing of a config's data section (the only reader of those fields)."""
        return cls(data_config.crop_size, tuple(data_config.mean), tuple(data_config.std), data_config.eval_crop,
                   source)

    def to_json(self) -> dict:
        """What an export records (`source` is the deployment's choice, not the model's)."""
        return {'crop_size': self.crop_size, 'mean': list(self.mean), 'std': list(self.std),
                'eval_crop': self.eval_crop}

    @classmethod
    def from_json(cls, record, *, where: str = 'export.json', source: str = 'raw') -> 'Preprocessing':
        """The record of `to_json`; a missing or bad field raises UserError naming `where` and the key."""
        if not isinstance(record, dict):
            raise errors.UserError(f'{where}: "preprocessing" must be an object, got {type(record).__name__}')
        missing = [k for k in ('crop_size', 'mean', 'std', 'eval_crop') if k not in record]
        if missing:
            raise errors.UserError(f'{where}: "preprocessing" lacks {", ".join(missing)}')
        try:
            return cls(record['crop_size'], record['mean'], record['std'], record['eval_crop'], source)
        except errors.UserError as e:
            raise errors.UserError(f'{where}: preprocessing.{e}') from None

    def with_source(self, source: str) -> 'Preprocessing':
        return dataclasses.replace(self, source=source)

    @property
    def graph_crop_fraction(self) -> float:
        """Central square side / shorter side that the second stage takes of `host_stage`'s output."""
        return 1.0 if self.eval_crop == 'authors' else EVAL_CROP_FRACTION

    @property
    def host_stage_is_identity(self) -> bool:
        """True when `host_stage` returns every frame as it is ('paper' on raw frames)."""
        return self.eval_crop == 'paper' and self.source == 'raw'

    def host_stage(self, frame_HWC: np.ndarray) -> np.ndarray:
        """The numpy/OpenCV stage on a uint8 frame [H, W, 3] (either channel order): the 'stored' resize, then
        the 'authors' crop (uint8 [crop, crop, 3]); the frame itself for 'paper' on raw frames."""
        if self.source == 'stored':
            frame_HWC = video_io.resize_short_side(frame_HWC, STORED_SHORT_SIDE)
        if self.eval_crop == 'authors':
            frame_HWC = authors_eval_crop(frame_HWC, self.crop_size)
        return frame_HWC

    def normalization_affine(self) -> tuple[np.ndarray, np.ndarray]:
        return normalization_affine(self.mean, self.std)

    def numpy(self, frame_HWC: np.ndarray) -> np.ndarray:
        """RGB uint8 frame [H, W, 3] -> the normalised crop the model sees: [crop, crop, 3] float32."""
        if frame_HWC.ndim != 3 or frame_HWC.shape[-1] != 3:
            raise errors.UserError(f'expected an RGB frame [H, W, 3], got shape {frame_HWC.shape}')
        frame_HWC = self.host_stage(frame_HWC)
        top, left, side = central_crop_box(*frame_HWC.shape[:2], self.graph_crop_fraction)
        crop = frame_HWC[top:top + side, left:left + side]
        scale, offset = self.normalization_affine()
        if side == self.crop_size and crop.dtype == np.uint8:
            # A per-channel lookup table of the same float32 values: 5x faster than the arithmetic on the crop.
            table = np.arange(256, dtype=np.float32)[:, None] * scale - offset
            return cv2.LUT(np.ascontiguousarray(crop), table.reshape(256, 1, 3))
        crop = crop.astype(np.float32)
        if side != self.crop_size:
            # On float values, as tf.image.resize: cv2 would round a uint8 result to integers.
            crop = cv2.resize(crop, (self.crop_size, self.crop_size), interpolation=cv2.INTER_LINEAR)
        return crop * scale - offset


def authors_scaled_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) after the authors' Scale(size): the shorter side becomes `size`, the longer one
    floor(size * longer / shorter); a frame whose shorter side is already `size` keeps its size."""
    if min(height, width) == size:
        return height, width
    if width < height:
        return int(size * height / width), size
    return size, int(size * width / height)


def authors_center_offsets(height: int, width: int, size: int) -> tuple[int, int]:
    """(top, left) of the authors' CenterCrop(size): round((dim - size) / 2) with Python's round (half to even)."""
    return int(round((height - size) / 2.)), int(round((width - size) / 2.))


def authors_eval_crop(frame_HWC: np.ndarray, crop_size: int) -> np.ndarray:
    """The authors' evaluation transform on one RGB uint8 frame: Scale(crop_size) (cv2 INTER_LINEAR, uint8 in
    and out) then CenterCrop(crop_size). Returns uint8 [crop_size, crop_size, 3]."""
    if frame_HWC.ndim != 3 or frame_HWC.shape[-1] != 3 or frame_HWC.dtype != np.uint8:
        raise ValueError(f'expected an RGB uint8 frame [H, W, 3], got {frame_HWC.dtype} {frame_HWC.shape}')
    height, width = authors_scaled_size(*frame_HWC.shape[:2], crop_size)
    if (height, width) != frame_HWC.shape[:2]:
        frame_HWC = cv2.resize(frame_HWC, (width, height), interpolation=cv2.INTER_LINEAR)
    top, left = authors_center_offsets(height, width, crop_size)
    return np.ascontiguousarray(frame_HWC[top:top + crop_size, left:left + crop_size])


def authors_eval_crops(frames_NHWC: np.ndarray, crop_size) -> np.ndarray:
    """`authors_eval_crop` of every frame: uint8 [N, crop_size, crop_size, 3] (what the tf.data pipeline
    calls through tf.numpy_function, so both paths compute the same bytes)."""
    crop_size = int(crop_size)
    out = np.empty((len(frames_NHWC), crop_size, crop_size, 3), np.uint8)
    for i, frame in enumerate(frames_NHWC):
        out[i] = authors_eval_crop(frame, crop_size)
    return out
