"""Raw frames into the encoder IR: resize, central crop and normalisation as OpenVINO graph ops.

`raw_frame_encoder` puts, in front of an exported encoder, the graph that turns a decoded frame (uint8
[1, H, W, 3], any size, RGB or BGR) into what the encoder was trained on, so a stream costs one inference
per frame and no numpy work:

    frame u8 [1, H, W, 3] -> central square crop, side round(crop_fraction * min(H, W)) (Slice)
      -> NCHW (Transpose) -> float32 (Convert) -> bilinear resize to [crop, crop] (Interpolate: linear,
      half-pixel, no antialias) -> RGB order (Gather on the channels, for BGR frames)
      -> x * scale - offset ((x / 255 - mean) / std) -> the encoder

That is the second stage of `vtn_jax.data.frames.Preprocessing` (after its numpy `host_stage`, which is
nothing for the 'paper' crop of raw frames), op for op with `Preprocessing.numpy` (cv2.INTER_LINEAR on float
values and OpenVINO's linear Interpolate agree to the last bit here; tests/test_inference_openvino_frames.py
bounds it). On frames whose shorter side is already 256 (what the dataset builders store) the crop is exactly
224 and nothing is resampled: the same as the offline evaluation.

The difference modalities take two raw frames, `frame` (t) and `previous_frame` (t - stride): both go
through the same graph and the difference (rgbdiff) or [frame, difference] (stacked) is taken inside, as
`vtn_jax.models.modality.encoder_input` does on normalised frames. A difference of normalised frames cannot
be held in uint8, so two raw inputs is what keeps it exact.

The crop box is computed from the input's shape (ShapeOf -> Round -> Slice), so the graph also holds for a
dynamic [1, ?, ?, 3] input (`height=None, width=None`). Compiled at one frame size (`height`, `width`, what a
stream knows when it opens) OpenVINO folds the box into constants and the model is static.

uint8 encoders (`vtn-export --uint8_input [--color BGR]`: a PrePostProcessor Convert(u8 -> f32), channel
order and mean/scale in front of a 224 crop, which OpenVINO may fold into the first convolution) work too:
the resized crop, as float pixel values in the encoder's channel order (`model_color`) and layout, takes the
place of their uint8 input, so their own steps run on it, exactly as on the float path.
"""
from typing import Optional, Sequence

import numpy as np
import openvino as ov
from openvino import opset11
from openvino import opset13 as ops

from vtn_jax import errors
from vtn_jax.data import frames as frames_lib
from vtn_jax.models import modality as modality_lib

COLORS = ('RGB', 'BGR')
INPUT_NAMES = ('frame', 'previous_frame')


def crop_and_resize(frame, *, crop_size: int, crop_fraction: float):
    """u8 [1, H, W, 3] node -> float32 [1, 3, crop, crop] (NCHW): central square crop, bilinear resize.

    Mirrors `frames.central_crop_box` (side = round(fraction * shorter side), half to even as Python's
    round, clamped to [1, shorter side]; top/left = floor of half the margin) and the float cv2.INTER_LINEAR
    of `frames.Preprocessing.numpy`. The crop is moved to NCHW while still uint8: OpenVINO's Interpolate and the
    per-channel arithmetic are faster on planar channels, and the encoder's own NHWC -> NCHW Transpose then
    cancels the way back.
    """
    shape = ops.shape_of(frame, ov.Type.i64)
    hw = ops.gather(shape, np.array([1, 2], np.int64), np.int64(0))
    short = ops.reduce_min(hw, np.array([0], np.int64), keep_dims=True)
    side = ops.round(ops.multiply(ops.convert(short, ov.Type.f32), np.float32(crop_fraction)), 'half_to_even')
    side = ops.minimum(ops.maximum(ops.convert(side, ov.Type.i64), np.array([1], np.int64)), short)
    begin = ops.divide(ops.subtract(hw, side), np.array([2, 2], np.int64))  # non-negative: floor
    crop = ops.slice(frame, begin, ops.add(begin, side), np.array([1, 1], np.int64), np.array([1, 2], np.int64))
    crop = ops.convert(ops.transpose(crop, np.array([0, 3, 1, 2], np.int64)), ov.Type.f32)
    return opset11.interpolate(crop, np.array([crop_size, crop_size], np.int64), 'linear', 'sizes',
                               axes=np.array([2, 3], np.int64), coordinate_transformation_mode='half_pixel')


def reorder_channels(x_NCHW, from_color: str, to_color: str):
    """Reverses the channel order when the two colour orders differ."""
    if from_color == to_color:
        return x_NCHW
    return ops.gather(x_NCHW, np.array([2, 1, 0], np.int64), np.int64(1))


def normalize(x_NCHW, mean: Sequence[float], std: Sequence[float]):
    """(x / 255 - mean) / std as x * scale - offset, with `frames.normalization_affine`'s float32 constants."""
    scale, offset = frames_lib.normalization_affine(mean, std)
    return ops.subtract(ops.multiply(x_NCHW, scale.reshape(1, 3, 1, 1)), offset.reshape(1, 3, 1, 1))


def _frame_parameter(name: str, height: Optional[int], width: Optional[int]):
    shape = ov.PartialShape([1, height or -1, width or -1, 3])
    param = ops.parameter(shape, ov.Type.u8, name=name)
    param.output(0).get_tensor().set_names({name})
    param.set_layout(ov.Layout('NHWC'))
    return param


def raw_frame_encoder(model: ov.Model, *, preprocessing: frames_lib.Preprocessing, modality: str,
                      frame_color: str = 'RGB', model_color: str = 'RGB', height: Optional[int] = None,
                      width: Optional[int] = None) -> ov.Model:
    """The encoder `model` behind the in-graph preprocessing of raw uint8 frames (see the module docstring).

    Args:
        model: an exported encoder (`encoder.xml`): float32 normalised input [1, crop, crop, C] (NHWC) or
            [1, C, crop, crop] (NCHW), or the uint8 [1, crop, crop, 3] / [1, 3, crop, crop] input of
            `vtn-export --uint8_input` (channel order `model_color`). Not modified.
        preprocessing: the crop size, normalisation (float encoders; a uint8 one has its own) and the central
            crop fraction (`graph_crop_fraction`) of the frames fed, which have been through its `host_stage`.
        modality: rgb (one input, `frame`), rgbdiff or stacked (two: `frame` and `previous_frame`).
        frame_color: channel order of the frames fed ('BGR': OpenCV's, no conversion needed).
        model_color: channel order a uint8 encoder takes (its export's --color; float encoders take RGB).
        height, width: the frame size (None: dynamic).

    Returns:
        A new model: u8 [1, H, W, 3] NHWC input(s) -> the encoder's embedding.
    """
    for color in (frame_color, model_color):
        frames_lib.check_choice('colour order', color, COLORS)
    crop_size = preprocessing.crop_size
    model = model.clone()
    (old,) = model.get_parameters()
    uint8 = old.get_element_type() == ov.Type.u8
    shape = old.get_partial_shape()
    if shape.rank.get_length() != 4 or shape.is_dynamic:
        raise errors.UserError(f'expected an encoder with a static 4-d input, got {shape}')
    dims = [d.get_length() for d in shape]
    nchw = dims[1] in (3, 6) and dims[3] not in (3, 6)
    side, channels = (dims[2], dims[1]) if nchw else (dims[1], dims[3])
    if side != crop_size or channels != modality_lib.frame_channels(modality):
        raise errors.UserError(f'the encoder takes {side}x{side} frames of {channels} channels; the {modality} '
                               f'model needs {crop_size}x{crop_size} with {modality_lib.frame_channels(modality)}')
    if uint8 and modality_lib.needs_previous_frame(modality):
        raise errors.UserError('a uint8 encoder takes one rgb frame; the difference modalities export float input')
    names = INPUT_NAMES[:2 if modality_lib.needs_previous_frame(modality) else 1]
    params = [_frame_parameter(name, height, width) for name in names]
    crops = [crop_and_resize(p, crop_size=crop_size, crop_fraction=preprocessing.graph_crop_fraction)
             for p in params]
    if uint8:
        # Float pixel values where the uint8 IR had its input: its own Convert, colour and mean/scale follow.
        x = reorder_channels(crops[0], frame_color, model_color)
    else:
        frames = [normalize(reorder_channels(c, frame_color, 'RGB'), preprocessing.mean, preprocessing.std)
                  for c in crops]
        x = modality_lib.encoder_input(_NodeArray(frames[0]), _NodeArray(frames[1]) if len(frames) > 1 else None,
                                       modality).node
    if not nchw:
        x = ops.transpose(x, np.array([0, 2, 3, 1], np.int64))
    for consumer in list(old.output(0).get_target_inputs()):
        consumer.replace_source_output(x.output(0))
    out = ov.Model(model.get_results(), params, 'vtn_raw_frame_encoder')
    out.validate_nodes_and_infer_types()
    return out


class _NodeArray:
    """An OpenVINO node with the array API that `modality.encoder_input` uses (difference and channel concat,
    on NCHW: channels are axis 1), so the graph takes the modality's definition instead of restating it."""

    def __init__(self, node):
        self.node = node

    def __sub__(self, other: '_NodeArray') -> '_NodeArray':
        return _NodeArray(ops.subtract(self.node, other.node))

    def __array_namespace__(self):
        return self

    @staticmethod
    def concat(arrays, axis: int) -> '_NodeArray':
        del axis  # -1 in NHWC terms: the channel axis, axis 1 of these NCHW nodes
        return _NodeArray(ops.concat([a.node for a in arrays], 1))
