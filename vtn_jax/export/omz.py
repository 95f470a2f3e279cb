"""Open Model Zoo's action_recognition_demo (Python, `-at en-de`) as a client of an export (`vtn-export --omz`).

What the unmodified demo does (demos/action_recognition_demo/python of openvinotoolkit/open_model_zoo), and what
the export therefore writes:
  * every decoded BGR frame: the shorter side resized to 224 (cv2 INTER_LINEAR on uint8), the central 224 x 224
    (offsets rounded half to even), HWC -> [1, 3, 224, 224] uint8, straight into the encoder. 224 is hard-coded,
    so a model whose crop is not 224 is refused (`check_model`). That crop is our 'authors' crop at 224, which the
    export records as the folder's preprocessing (`demo_preprocessing`), so `Recognizer.from_export` and
    `vtn-demo --export` compute what the demo computes (a warning says so when the model was evaluated with
    another crop). The encoder IR is the uint8 BGR NCHW one of `ExportOptions.for_omz` (normalisation inside),
    giving [1, D, 1, 1].
  * the decoder window: the demo keeps the last `input_shape[1]` embeddings of CONSECUTIVE frames (no temporal
    stride). `decoder_omz.xml` (`strided_decoder`) takes (S - 1) * stride + 1 of them and keeps every stride-th
    (a Slice in front of our decoder), so from frame (S - 1) * stride on, every frame's window is exactly the
    model's stride-s window ending at that frame: what the online recognizer computes. `decoder.xml` stays the
    plain [1, S, D] decoder our side runs.
  * `-lb labels.txt`: the class names, one per line (written for every export).
"""
import dataclasses
import logging

import numpy as np
from openvino import opset13 as ops

from vtn_jax import errors
from vtn_jax.data import frames as frames_lib
from vtn_jax.export import convert
from vtn_jax.inference import export_record
from vtn_jax.models import modality as modality_lib

_LOG = logging.getLogger(__name__)
DEMO_CROP = export_record.OMZ_DEMO_CROP
DEMO_EVAL_CROP = 'authors'  # the demo's crop, as the record names it


def check_model(modality: str, crop_size: int) -> None:
    """Raises UserError when the demo cannot run the model: it feeds single rgb frames, 224 x 224."""
    if not modality_lib.encoder_sees_frames(modality):
        raise errors.UserError(f'--omz: Open Model Zoo\'s demo feeds single rgb frames; this is a {modality} model')
    if crop_size != DEMO_CROP:
        raise errors.UserError(f'--omz: Open Model Zoo\'s demo feeds {DEMO_CROP}x{DEMO_CROP} crops (hard-coded), but '
                               f'this model takes {crop_size}x{crop_size} (config.data.crop_size): export a '
                               f'{DEMO_CROP} model, or run this one with vtn-demo --export')


def demo_preprocessing(preprocessing: frames_lib.Preprocessing) -> frames_lib.Preprocessing:
    """The preprocessing the demo applies (its crop), as the export records it; warns when the model was
    evaluated with another crop."""
    if preprocessing.eval_crop != DEMO_EVAL_CROP:
        _LOG.warning('--omz: the model was evaluated with the %r crop, but Open Model Zoo\'s demo takes the %r one '
                     '(the whole shorter side resized to %d, then its central square); export.json records the '
                     'demo\'s, so vtn-demo --export computes what the demo computes', preprocessing.eval_crop,
                     DEMO_EVAL_CROP, DEMO_CROP)
    return dataclasses.replace(preprocessing, eval_crop=DEMO_EVAL_CROP)


def strided_decoder(ov_model, stride: int):
    """The decoder [1, S, D] behind a Slice(step=stride) on the steps axis of a [1, (S - 1) * stride + 1, D]
    input: what the demo, which sizes its window from the decoder's input, feeds it is the last (S - 1) * s + 1
    consecutive embeddings, and the decoder sees embeddings t - (S - 1) s, ..., t - s, t."""
    (old,) = ov_model.get_parameters()
    _, steps, dim = (d.get_length() for d in old.get_partial_shape())
    span = (steps - 1) * stride + 1

    def every_stride_th(window):
        return ops.slice(window, np.array([0], np.int64), np.array([span], np.int64), np.array([stride], np.int64),
                         np.array([1], np.int64))
    return convert.replace_input(ov_model, (1, span, dim), 'NSD', every_stride_th)
