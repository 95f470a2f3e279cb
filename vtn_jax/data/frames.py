"""The numpy side of preprocessing: what streaming, dense inference and export do to a decoded frame.

It computes what the evaluation pipeline (`vtn_jax.data.input_pipeline`, TensorFlow) computes on a dataset
stored by `vtn_jax.data.tfds_builders`, for both evaluation presets (`config.data.eval_preprocess`):

  paper      the shorter side resized to 256 (INTER_AREA, as stored), the central square of side
             round(224/256 * shorter side), resized to the crop size (bilinear) when it differs, then
             (x / 255 - mean) / std. With 256 and a 224 crop that is the paper's central 224 crop, with no
             resampling.
  reference  the authors' validation and test transform (their main.py: Scale(224), CenterCrop(224)) on the
             stored 256 frame: the shorter side resized to the crop size with cv2 INTER_LINEAR on uint8 (the
             longer side floored, as their Scale), the central crop_size square (offsets rounded half to even,
             as Python's round in their CenterCrop), then (x / 255 - mean) / std. It shows the whole shorter
             side, 256/224 = 1.14x wider than 'paper'.

No TensorFlow here: a deployment runs it with numpy and OpenCV alone.
"""
from typing import Optional, Sequence

import cv2
import numpy as np

from vtn_jax.data import video_io

EVAL_CROP_FRACTION = 224 / 256  # central crop side / shorter side at evaluation ('paper' preset)
STORED_SHORT_SIDE = 256  # what the dataset builders store and the model is evaluated on
EVAL_PREPROCESSES = ('paper', 'reference')  # config.data.eval_preprocess


def check_eval_preprocess(name: str) -> str:
    """Returns `name`; raises ValueError naming the choices otherwise."""
    if name not in EVAL_PREPROCESSES:
        raise ValueError(f'data.eval_preprocess must be one of {EVAL_PREPROCESSES}, got {name!r}')
    return name


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


def preprocess_frame(frame_HWC: np.ndarray, *, crop_size: int, mean: Sequence[float], std: Sequence[float],
                     resize_short: Optional[int] = STORED_SHORT_SIDE,
                     crop_fraction: float = EVAL_CROP_FRACTION) -> np.ndarray:
    """RGB uint8 frame -> the normalised central crop the model sees: [crop_size, crop_size, 3] float32.

    Two presets:
      'stored' (resize_short=256, the default): the shorter side resized to 256 with INTER_AREA first, as
          the dataset builders store frames, then the crop: what the evaluation pipeline sees.
      'direct' (resize_short=None): the central square of side round(crop_fraction * shorter side) of the
          frame as it is, bilinear-resized (half-pixel, on float values, no antialiasing) to crop_size. This is
          what the encoder IR computes on raw frames (`vtn_jax.inference.openvino_frames`), and the same as
          'stored' on frames whose shorter side is already 256. With crop_fraction=1 it is the authors'
          test-time Scale(crop) + CenterCrop(crop), up to the resampling filter.

    Args:
        frame_HWC: a decoded RGB frame.
        crop_size: the model's input side.
        mean, std: RGB normalisation on the [0, 1] scale.
        resize_short: shorter side the frame is first resized to (INTER_AREA, as the datasets store frames);
            None keeps the frame's size.
        crop_fraction: central crop side / shorter side (after the resize, if any).
    """
    if frame_HWC.ndim != 3 or frame_HWC.shape[-1] != 3:
        raise ValueError(f'expected an RGB frame [H, W, 3], got shape {frame_HWC.shape}')
    if resize_short:
        frame_HWC = video_io.resize_short_side(frame_HWC, resize_short)
    top, left, side = central_crop_box(*frame_HWC.shape[:2], crop_fraction)
    crop = frame_HWC[top:top + side, left:left + side]
    scale, offset = normalization_affine(mean, std)
    if side == crop_size and crop.dtype == np.uint8:
        # A per-channel lookup table of the same float32 values: 5x faster than the arithmetic on the crop.
        table = np.arange(256, dtype=np.float32)[:, None] * scale - offset
        return cv2.LUT(np.ascontiguousarray(crop), table.reshape(256, 1, 3))
    crop = crop.astype(np.float32)
    if side != crop_size:
        # On float values, as tf.image.resize: cv2 would round a uint8 result to integers.
        crop = cv2.resize(crop, (crop_size, crop_size), interpolation=cv2.INTER_LINEAR)
    return crop * scale - offset


def reference_scaled_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(height, width) after the authors' Scale(size): the shorter side becomes `size`, the longer one
    floor(size * longer / shorter); a frame whose shorter side is already `size` keeps its size."""
    if min(height, width) == size:
        return height, width
    if width < height:
        return int(size * height / width), size
    return size, int(size * width / height)


def reference_center_offsets(height: int, width: int, size: int) -> tuple[int, int]:
    """(top, left) of the authors' CenterCrop(size): round((dim - size) / 2) with Python's round (half to even)."""
    return int(round((height - size) / 2.)), int(round((width - size) / 2.))


def reference_eval_crop(frame_HWC: np.ndarray, crop_size: int) -> np.ndarray:
    """The authors' evaluation transform on one RGB uint8 frame: Scale(crop_size) (cv2 INTER_LINEAR, uint8 in
    and out) then CenterCrop(crop_size). Returns uint8 [crop_size, crop_size, 3]."""
    if frame_HWC.ndim != 3 or frame_HWC.shape[-1] != 3 or frame_HWC.dtype != np.uint8:
        raise ValueError(f'expected an RGB uint8 frame [H, W, 3], got {frame_HWC.dtype} {frame_HWC.shape}')
    height, width = reference_scaled_size(*frame_HWC.shape[:2], crop_size)
    if (height, width) != frame_HWC.shape[:2]:
        frame_HWC = cv2.resize(frame_HWC, (width, height), interpolation=cv2.INTER_LINEAR)
    top, left = reference_center_offsets(height, width, crop_size)
    return np.ascontiguousarray(frame_HWC[top:top + crop_size, left:left + crop_size])


def reference_eval_crops(frames_NHWC: np.ndarray, crop_size) -> np.ndarray:
    """`reference_eval_crop` of every frame: uint8 [N, crop_size, crop_size, 3] (what the tf.data pipeline
    calls through tf.numpy_function, so both paths compute the same bytes)."""
    crop_size = int(crop_size)
    out = np.empty((len(frames_NHWC), crop_size, crop_size, 3), np.uint8)
    for i, frame in enumerate(frames_NHWC):
        out[i] = reference_eval_crop(frame, crop_size)
    return out


def preprocess_frame_reference(frame_HWC: np.ndarray, *, crop_size: int, mean: Sequence[float],
                               std: Sequence[float], resize_short: Optional[int] = STORED_SHORT_SIDE) -> np.ndarray:
    """As `preprocess_frame`, with the 'reference' evaluation preset (see the module docstring).

    `resize_short` first stores the frame as the datasets do (shorter side 256, INTER_AREA), so a raw video
    frame gets what the evaluation pipeline computes on its stored copy.
    """
    if resize_short:
        frame_HWC = video_io.resize_short_side(frame_HWC, resize_short)
    crop = reference_eval_crop(frame_HWC, crop_size)
    return normalize(crop, mean, std)
