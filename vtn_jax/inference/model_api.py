"""The clips OpenVINO Model API must be given for an export's whole model to compute what the model computes.

The whole model's IR loads in Model API as it is (`model_api.models.Model.create_model('whole.xml')` gives its
`ActionClassificationModel`: the IR's rt_info names the wrapper and holds every setting it reads, see
`ExportRecord.model_info`). That wrapper takes one clip, a numpy array [T, H, W, 3] of BGR uint8 frames, and
resizes each WHOLE frame to the model's input size (aspect ratio not kept); our model was trained on a central
crop. So the crop must be taken before: `clip(frames_bgr, record)` (or `frame(...)` per frame) gives exactly the
frames to hand over: each one through the record's `Preprocessing` up to the normalisation (its `host_stage`:
the 'stored' resize and the 'authors' crop; then the central square of side round(0.875 x shorter side) for
'paper', bilinear-resized on float values to the crop size), rounded to uint8 and kept in BGR order. Model
API's own resize then leaves it as it is, and its `reverse_input_channels` / `mean_values` / `scale_values`
(float IR) or the IR's own preprocessing (uint8 IR) do the rest. One call is one clip of T frames, `stride`
frames apart; the paper's Video@1 averages the logits of the non-overlapping segments (`segment_starts`).

    from model_api.models import Model
    from vtn_jax.inference import export_record, model_api
    record = export_record.read('artifacts/r34')
    model = Model.create_model('artifacts/r34/whole.xml')
    for start in model_api.segment_starts(len(frames_bgr), record):
        result = model(model_api.clip(frames_bgr, record, start))   # frames_bgr: decoded by OpenCV
        print(start, result.top_labels[0].name)

numpy and OpenCV only (Model API itself is not imported here).
"""
from typing import Sequence

import cv2
import numpy as np

from vtn_jax import errors
from vtn_jax.data import frames as frames_lib
from vtn_jax.inference import export_record


def frame(frame_bgr: np.ndarray, preprocessing: frames_lib.Preprocessing) -> np.ndarray:
    """One decoded uint8 frame [H, W, 3] (BGR, or any order: the crop treats channels alike) -> the crop the model
    sees before normalisation, uint8 [crop, crop, 3] in the same channel order."""
    if frame_bgr.ndim != 3 or frame_bgr.shape[-1] != 3 or frame_bgr.dtype != np.uint8:
        raise errors.UserError(f'expected a uint8 frame [H, W, 3], got {frame_bgr.dtype} {frame_bgr.shape}')
    staged = preprocessing.host_stage(frame_bgr)
    top, left, side = frames_lib.central_crop_box(*staged.shape[:2], preprocessing.graph_crop_fraction)
    crop = staged[top:top + side, left:left + side]
    size = preprocessing.crop_size
    if side != size:
        # On float values, as `Preprocessing.numpy` and the in-IR crop do; rounded once at the end.
        crop = cv2.resize(crop.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
        crop = np.clip(np.rint(crop), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(crop)


def clip(frames_bgr: Sequence[np.ndarray], record: export_record.ExportRecord, start: int = 0) -> np.ndarray:
    """The clip of T frames start, start + s, ..., start + (T - 1) s (s = the model's stride) of decoded frames
    [N, H, W, 3], as Model API's ActionClassificationModel must be given it: uint8 [T, crop, crop, 3]."""
    t, s = record.clip.num_frames, record.clip.stride
    end = start + (t - 1) * s
    if start < 0 or end >= len(frames_bgr):
        raise errors.UserError(f'a clip of {t} frames {s} apart from frame {start} needs frames {start}..{end}, '
                               f'but there are {len(frames_bgr)}')
    return np.stack([frame(frames_bgr[i], record.preprocessing) for i in range(start, end + 1, s)])


def segment_starts(num_frames: int, record: export_record.ExportRecord) -> list:
    """The first frames of the non-overlapping segments of T * s frames (the paper's Video@1 segments, as
    `Recognizer.video_logits` takes them): 0, T*s, 2*T*s, ... while a whole segment fits."""
    length = record.clip.num_frames * record.clip.stride
    return list(range(0, num_frames - length + 1, length))
