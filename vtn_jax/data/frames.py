"""The numpy side of preprocessing: what streaming, dense inference and export do to a decoded frame.

It computes what the evaluation pipeline (`vtn_jax.data.input_pipeline`, TensorFlow) computes on a dataset
stored by `vtn_jax.data.tfds_builders`: the shorter side resized to 256 (INTER_AREA, as stored), the central
square of side round(224/256 * shorter side), resized to the crop size (bilinear) when it differs, then
(x / 255 - mean) / std. With 256 and a 224 crop that is the paper's central 224 crop, with no resampling.
No TensorFlow here: a deployment runs it with numpy and OpenCV alone.
"""
from typing import Optional, Sequence

import cv2
import numpy as np

from vtn_jax.data import video_io

EVAL_CROP_FRACTION = 224 / 256  # central crop side / shorter side at evaluation
STORED_SHORT_SIDE = 256  # what the dataset builders store and the model is evaluated on


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


def denormalize_to_uint8(video: np.ndarray, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """Inverse of `normalize`, rounded to uint8 (a pixel moves by at most 0.5 / 255)."""
    return np.clip(np.round((video * np.asarray(std) + np.asarray(mean)) * 255.0), 0, 255).astype(np.uint8)
