"""The authors' sampling and crops as TensorFlow ops (their code: opencv/openvino_training_extensions,
pytorch_toolkit/action_recognition), used by `vtn_jax.data.input_pipeline` for the options that follow them.

  uniform10 evaluation (their test loop, `--n-test-clips 10`): 10 evenly spaced clips per video, start
      i * max(1, (n - L) // 9) for i = 0..9 (L = T * stride; overlapping when n < about 10 L; the last one need
      not reach the end); a start at or past n gives no clip (videos of fewer than 10 frames). Each clip is the
      frames [start, min(n, start + L)) every `stride`, loop-padded from the clip's own first frame to T
      ("stride then pad": their TemporalStride then LoopPadding).
  authors' crop placement (their MultiScaleCrop): one of 13 fixed (y, x) offsets, chosen uniformly, in units of
      the quarter steps floor((H - side) / 4) and floor((W - side) / 4): 4 corners, the centre, the 4 edge
      midpoints, the 4 quarter points. Their code takes the quarter step from the output size (224) rather than
      the crop side, and silently truncates a crop that then runs past the border; here the step comes from
      the crop side, so every window lies inside the frame (identical when the crop side is the output size,
      as in their 2020 code).
  authors' evaluation crop: `vtn_jax.data.frames.authors_eval_crops` through tf.numpy_function.
"""
import tensorflow as tf

from vtn_jax.data import frames as frames_lib

UNIFORM_CLIPS = 10  # clips per video in 'uniform10' (the authors' --n-test-clips default)
# The offsets in their order (fillFixOffset), as multiples of the quarter steps (y, x).
REFERENCE_OFFSETS = ((0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (0, 2), (4, 2), (2, 0), (2, 4),
                     (1, 1), (1, 3), (3, 1), (3, 3))
_graph_fn = tf.autograph.experimental.do_not_convert


def uniform_clip_starts(num_video_frames, num_frames: int, stride: int,
                        num_clips: int = UNIFORM_CLIPS) -> tf.Tensor:
    """Returns the starts of the authors' evenly spaced test clips (mode 'uniform10').

    Args:
        num_video_frames: n.
        num_frames: T.
        stride: temporal stride; L = T * stride.
        num_clips: k (10 in the authors' test loop).

    Returns:
        int32 [min(k, n)]: i * max(1, (n - L) // (k - 1)) for i = 0..k-1, without the starts at or past n.
    """
    n = tf.cast(num_video_frames, tf.int32)
    step = tf.maximum(1, tf.math.floordiv(n - num_frames * stride, num_clips - 1))
    starts = step * tf.range(num_clips, dtype=tf.int32)
    return tf.boolean_mask(starts, starts < n)


def num_uniform_clips(num_video_frames: int, num_clips: int = UNIFORM_CLIPS) -> int:
    """Returns len(uniform_clip_starts(...)) in plain Python: min(k, n)."""
    return min(num_clips, num_video_frames)


def looped_clip_indices(num_video_frames, start, num_frames: int, stride: int) -> tf.Tensor:
    """The authors' evaluation clip: frames [start, min(n, start + T * stride)) every `stride`, loop-padded
    from the clip's first frame to T.

    Returns:
        int32 [T]; for a full-length clip start, start + stride, ..., as `input_pipeline.clip_indices`.
    """
    n = tf.cast(num_video_frames, tf.int32)
    start = tf.cast(start, tf.int32)
    available = tf.minimum(n - start, num_frames * stride)
    count = tf.maximum((available + stride - 1) // stride, 1)
    return start + stride * tf.math.floormod(tf.range(num_frames, dtype=tf.int32), count)


def offset_window(height, width, side, u) -> tf.Tensor:
    """The crop window at one of the 13 offsets: REFERENCE_OFFSETS[floor(u * 13)] for u in [0, 1).

    Returns:
        int32 [3]: (top, left, side).
    """
    height, width, side = (tf.cast(v, tf.int32) for v in (height, width, side))
    offsets = tf.constant(REFERENCE_OFFSETS, tf.int32)
    which = tf.minimum(tf.cast(u * len(REFERENCE_OFFSETS), tf.int32), len(REFERENCE_OFFSETS) - 1)
    return tf.stack([offsets[which, 0] * ((height - side) // 4), offsets[which, 1] * ((width - side) // 4), side])


def decode_authors_crops(jpegs: tf.Tensor, crop_size: int) -> tf.Tensor:
    """Decodes whole JPEG frames and applies the authors' evaluation transform (eval_crop 'authors').

    The crop is computed by `vtn_jax.data.frames.authors_eval_crops` (cv2 INTER_LINEAR on uint8, as their
    Scale, then their CenterCrop) through tf.numpy_function, so it is byte for byte what streaming and export
    compute on the same frame.

    Returns:
        uint8 [T, S, S, 3], RGB (as every evaluation batch: normalised on the device).
    """
    frames = tf.map_fn(_graph_fn(lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3)), jpegs,
                       fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    crops = tf.numpy_function(frames_lib.authors_eval_crops, [frames, crop_size], tf.uint8, stateful=False)
    return tf.ensure_shape(crops, [None, crop_size, crop_size, 3])
