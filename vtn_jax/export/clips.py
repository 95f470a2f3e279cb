"""The clips an export is checked and calibrated on: central clips of a TFDS split (as uint8, so that float and
uint8-input artifacts see the same frames) or random ones, and NNCF's calibration data per part."""
import logging

import nncf
import numpy as np

from vtn_jax.data import frames as frames_lib
from vtn_jax.data import input_pipeline
from vtn_jax.data import synthetic
from vtn_jax.export.artifacts import ExportOptions
from vtn_jax.models import modality as modality_lib
from vtn_jax.models import vtn as vtn_lib

_LOG = logging.getLogger(__name__)


def split_clips(data_config, split: str, num: int) -> tuple[np.ndarray, np.ndarray]:
    """Central clips of a TFDS split (vtn_jax.input_pipeline, 'clip' mode) as uint8 RGB, and their labels.

    The pipeline's batches are uint8 pixels, so the uint8 IR and the float artifacts see exactly the same frames.
    """
    clips, labels = [], []
    for batch in input_pipeline.create_split(data_config, split, batch_size=1, mode='clip'):
        if not bool(np.asarray(batch['mask'])[0]):
            continue  # padding
        clips.append(np.asarray(batch['video'][0], np.uint8))
        labels.append(int(np.asarray(batch['label'])[0]))
        if len(clips) == num:
            break
    if not clips:
        raise ValueError(f'split {split!r} of {data_config.name} gave no clips')
    return np.stack(clips), np.asarray(labels)


def calibration_clips(config, options: ExportOptions) -> tuple[np.ndarray, str]:
    """uint8 calibration clips from the configured TFDS split, or random ones when it cannot be read."""
    split = options.calib_split or config.data.train_split
    image_size = config.data.crop_size
    if split != 'synthetic':
        try:
            clips, _ = split_clips(config.data, split, options.calib_clips)
            return clips, f'{config.data.name}:{split} ({len(clips)} central clips)'
        except Exception as e:  # noqa: BLE001  (any data problem: fall back, and say so)
            _LOG.warning('INT8 calibration: cannot read split %r of %s (%s: %s); using %d RANDOM clips, '
                            'so the quantisation ranges will not match real video', split, config.data.name,
                            type(e).__name__, e, options.calib_clips)
    clips = synthetic.random_clips(options.calib_clips, config.model.num_frames, image_size, options.seed + 1)
    return clips, f'random ({len(clips)} clips)'


def calibration_inputs(model, variables, clips_u8: np.ndarray, data_config, options: ExportOptions) -> dict:
    """NNCF calibration data per part, built lazily from uint8 clips (300 normalised 224x224 clips would take
    3 GB): the clips; one encoder step per clip (step n mod S of clip n, so every position is seen); and
    the JAX embeddings of every step of every clip, as decoder windows."""
    nchw = options.layout == 'NCHW'

    def clip_input(n):
        clip = frames_lib.normalize(clips_u8[n:n + 1], data_config.mean, data_config.std)
        return np.ascontiguousarray(np.transpose(clip, (0, 1, 4, 2, 3))) if nchw else clip

    def frame_input(n):
        frames = modality_lib.clip_encoder_inputs(
            frames_lib.normalize(clips_u8[n:n + 1], data_config.mean, data_config.std), model.modality)[0]
        frame = frames[n % len(frames)][None]
        return np.ascontiguousarray(np.transpose(frame, (0, 3, 1, 2))) if nchw else frame

    out = {'whole': nncf.Dataset(list(range(len(clips_u8))), clip_input),
           'encoder': nncf.Dataset(list(range(len(clips_u8))), frame_input)}
    if 'decoder' in options.parts:
        windows = [np.asarray(vtn_lib.jit_apply(variables, frames_lib.normalize(
            clips_u8[n:n + 1], data_config.mean, data_config.std), model=model, method=vtn_lib.VTN.embed))
            for n in range(len(clips_u8))]
        out['decoder'] = nncf.Dataset(windows)
    return out
