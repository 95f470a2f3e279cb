"""A video with a known answer: one continuous rendered stream whose every frame has a known label, drawn like a
built-in synthetic_actions config's videos (same generator, frame size, difficulty and polarity), through every
class of the config once (the generator's STREAM_ORDER). The quickstart streams it through the exported model
and scores the online labels against these (`vtn_jax.inference.stream_report`).
"""
import pathlib
from typing import Sequence

import numpy as np

from vtn_jax import errors
from vtn_jax.data import tfds_builders
from vtn_jax.data import video_io

SEGMENT_FRAMES = 64  # frames per class: about a training video's length (40..80)
FPS = 25.0
SEED = 1000  # the stream's seed (the datasets' videos use seed 0)


def stream_classes(c: tfds_builders.SyntheticActionsConfig) -> tuple:
    """The classes of the config's stream, in order: its generator's STREAM_ORDER, restricted to the config's
    classes."""
    return tuple(k for k in tfds_builders.GENERATORS[c.generator].STREAM_ORDER if k < c.num_classes)


def require_config(data_config) -> tfds_builders.SyntheticActionsConfig:
    """The built-in synthetic_actions config `data_config` (`config.data`) names.

    Raises:
        UserError: it names none (other data has no video with known labels).
    """
    c = tfds_builders.synthetic_config(data_config)
    if c is None:
        raise errors.UserError(f'a video with known labels is rendered for the built-in synthetic_actions configs '
                               f'only; config.data names {data_config.name}/{data_config.builder_config or "default"}')
    return c


def render(data_config, *, segment_frames: int = SEGMENT_FRAMES, seed: int = SEED) -> tuple:
    """(frames (N, H, W, 3) uint8 RGB, labels (N,) int64) of the stream for `data_config` (`config.data`); a
    UserError (`require_config`) for other data."""
    c = require_config(data_config)
    generator = tfds_builders.GENERATORS[c.generator]
    return generator.make_labelled_stream(stream_classes(c), segment_frames=segment_frames, seed=seed,
                                          **tfds_builders.generator_options(c))


def write(video_path, labels_path, data_config, class_names: Sequence[str], **kwargs) -> np.ndarray:
    """Writes the stream (MJPG AVI at FPS) and its labels (CSV: frame, label, class); returns the labels.
    kwargs as `render`."""
    frames, labels = render(data_config, **kwargs)
    video_io.write_video(video_path, frames, fps=FPS)
    rows = ''.join(f'{i},{k},{class_names[k]}\n' for i, k in enumerate(labels))
    pathlib.Path(labels_path).write_text('frame,label,class\n' + rows)
    return labels

