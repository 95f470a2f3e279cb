"""The tf.data input pipeline: frame sampling, crops, normalisation and batched splits.

Small pure functions (they work eagerly and inside `tf.data.Dataset.map`) plus `create_split`,
which builds a split as a Python iterator of numpy batches.

Sampling rules (L = num_frames * stride, 32 frames in the paper):
  * Indices wrap around the video: frame k of a clip starting at s is (s + k * stride) mod n; for
    videos of L frames or more the modulo never triggers. For a shorter video this equals the
    reference's padding when n is even; the reference strides first and then loop-pads from the
    clip's first frame (as mode 'uniform10' does), which differs when n is odd.
  * train: start uniform in [0, max(n - L, 0)] (the reference's TemporalRandomCrop never picks
    the last start, n - L; this does).
  * clip (Clip@1): the central clip, start = max(n - L, 0) // 2 (the reference's TemporalCenterCrop
    up to rounding; its main.py validates on 3 evenly spaced clips instead).
  * segments (Video@1): starts 0, L, 2L, ... for the floor(n / L) full non-overlapping segments;
    the last partial segment (n mod L frames) is dropped, and a video shorter than L gives one
    loop-padded segment from frame 0, so every video counts with at least one segment.
  * uniform10 (the authors' test protocol): 10 evenly spaced, overlapping clips per video, "stride then
    pad" (`vtn_jax.data.authors_ops`).

Spatial rules (frames are stored with the shorter side resized, 256 for real data):
  * train: a square crop of side = shorter side * s, s drawn from `train_scales`, placed by
    `crop_placement`: 'uniform' (any position) or 'authors' (one of the authors' 13 fixed
    offsets), resized (bilinear) to crop_size, flipped left-right with
    probability 0.5 when `horizontal_flip`; never flipped vertically. One crop and flip per clip. A
    flipped clip of class k is labelled info.metadata['mirror_labels'][k]: k for real actions, the
    opposite direction for synthetic_actions' move_right/left and rotate_(anti)clockwise.
  * evaluation modes, `eval_crop` (`vtn_jax.data.frames.Preprocessing`) 'paper': the central square of side
    round(0.875 * shorter side) resized to crop_size; with 256-pixel frames and crop_size 224 that is the
    paper's central 224 crop, with no resampling. 'authors': their Scale(224) + CenterCrop(224), by the same
    numpy function as streaming (`vtn_jax.data.frames.authors_eval_crops`).
  * values: RGB uint8 (decoded JPEG); (x / 255 - mean) / std happens inside the jitted step on the device
    (`vtn_jax.data.frames.model_input`), where XLA fuses it into the first convolution.
  * resizing (crop side != crop_size) is OpenCV's bilinear on uint8 (INTER_LINEAR: half-pixel
    centres as tf.image.resize, 11-bit fixed-point weights, so within one level of the rounded
    float result) and about 4x cheaper than tf.image.resize; the mirror is done in the same pass.

Batches are dicts: video uint8 [B, T, S, S, 3], label int32 [B], mask bool [B] (False for
padding), video_id int32 [B] (the video's position in its split; -1 for padding) and segment int32
[B] (segment or clip index in the video; 0 in clip and train modes; -1 for padding).
"""
import math
import os
from typing import Iterator, Optional, Sequence

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import cv2
import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from vtn_jax.data import frames as frames_lib
from vtn_jax.data import authors_ops
from vtn_jax.data import tfds_builders

MODES = ('train', 'clip', 'segments', 'uniform10')
CROP_PLACEMENTS = ('uniform', 'authors')  # config.data.crop_placement
# The functions given to tf.data and map_fn here are plain TF ops (tf.cond where they branch): tracing them
# without AutoGraph avoids its "could not transform ... will run it as-is" warning on every lambda.
_graph_fn = tf.autograph.experimental.do_not_convert


# ---------------------------------------------------------------------------------------------
# Temporal sampling (pure; Python ints or scalar tensors in, int32 tensors out).
# ---------------------------------------------------------------------------------------------


def clip_indices(num_video_frames, start, num_frames: int, stride: int) -> tf.Tensor:
    """Returns the num_frames frame indices of the clip starting at `start`, wrapping around.

    Args:
        num_video_frames: n, frames in the video (>= 1).
        start: first frame.
        num_frames: T, frames in the clip.
        stride: step between sampled frames.

    Returns:
        int32 [T]: (start + k * stride) mod n for k = 0..T-1.
    """
    n = tf.cast(num_video_frames, tf.int32)
    return tf.math.floormod(tf.cast(start, tf.int32) + stride * tf.range(num_frames, dtype=tf.int32), n)


def train_indices(num_video_frames, num_frames: int, stride: int, offset) -> tf.Tensor:
    """Returns a training clip's frame indices; the start is `offset` mod (max(n - L, 0) + 1).

    Args:
        num_video_frames: n.
        num_frames: T.
        stride: temporal stride; L = T * stride.
        offset: any non-negative integer (e.g. uniformly random); picks the start.

    Returns:
        int32 [T].
    """
    n = tf.cast(num_video_frames, tf.int32)
    num_starts = tf.maximum(n - num_frames * stride, 0) + 1
    start = tf.math.floormod(tf.cast(offset, tf.int32), num_starts)
    return clip_indices(n, start, num_frames, stride)


def central_indices(num_video_frames, num_frames: int, stride: int) -> tf.Tensor:
    """Returns the frame indices of the central clip (Clip@1); int32 [T]."""
    n = tf.cast(num_video_frames, tf.int32)
    return clip_indices(n, tf.maximum(n - num_frames * stride, 0) // 2, num_frames, stride)


def segment_starts(num_video_frames, num_frames: int, stride: int) -> tf.Tensor:
    """Returns the starts of the non-overlapping L-frame segments of a video (Video@1).

    Args:
        num_video_frames: n.
        num_frames: T.
        stride: temporal stride; L = T * stride.

    Returns:
        int32 [max(n // L, 1)]: 0, L, 2L, ...; the partial tail is dropped, a video shorter than
        L has the single (loop-padded) segment starting at 0.
    """
    length = num_frames * stride
    count = tf.maximum(tf.cast(num_video_frames, tf.int32) // length, 1)
    return length * tf.range(count, dtype=tf.int32)


def num_segments(num_video_frames: int, num_frames: int, stride: int) -> int:
    """Returns len(segment_starts(...)) in plain Python (for counting without TensorFlow)."""
    return max(num_video_frames // (num_frames * stride), 1)



# ---------------------------------------------------------------------------------------------
# Spatial ops.
# ---------------------------------------------------------------------------------------------


def check_crop_placement(name: str) -> str:
    """Returns `name`; raises UserError naming the choices otherwise."""
    return frames_lib.check_choice('data.crop_placement', name, CROP_PLACEMENTS)


def random_crop_window(height, width, scales: Sequence[float], u_scale, u_y, u_x,
                       placement: str = 'uniform') -> tf.Tensor:
    """Returns a multi-scale training crop window from uniform random numbers in [0, 1).

    Args:
        height: frame height.
        width: frame width.
        scales: crop side / shorter side choices (paper: 1, 0.875, 0.75, 0.66).
        u_scale: picks the scale, scales[floor(u_scale * len(scales))].
        u_y: 'uniform': picks the top row among the H - side + 1 possible; 'authors': picks one of the
            13 offsets (`authors_ops.offset_window`).
        u_x: 'uniform': picks the left column among the W - side + 1 possible; unused by 'authors'.
        placement: 'uniform' or 'authors' (the authors' 13 fixed offsets).

    Returns:
        int32 [3]: (top, left, side); the square lies inside the frame.
    """
    height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
    num_scales = len(scales)
    choice = tf.minimum(tf.cast(u_scale * num_scales, tf.int32), num_scales - 1)
    scales = tf.constant(scales, tf.float32)
    side = tf.cast(tf.cast(tf.minimum(height, width), tf.float32) * scales[choice], tf.int32)
    side = tf.clip_by_value(side, 1, tf.minimum(height, width))
    if check_crop_placement(placement) == 'authors':
        return authors_ops.offset_window(height, width, side, u_y)
    top = tf.minimum(tf.cast(u_y * tf.cast(height - side + 1, tf.float32), tf.int32), height - side)
    left = tf.minimum(tf.cast(u_x * tf.cast(width - side + 1, tf.float32), tf.int32), width - side)
    return tf.stack([top, left, side])


def central_crop_window(height, width, fraction: float = frames_lib.EVAL_CROP_FRACTION) -> tf.Tensor:
    """Returns the central square of side round(fraction * shorter side): int32 [3] (top, left, side)."""
    height, width = tf.cast(height, tf.int32), tf.cast(width, tf.int32)
    side = tf.cast(tf.round(tf.cast(tf.minimum(height, width), tf.float32) * fraction), tf.int32)
    side = tf.clip_by_value(side, 1, tf.minimum(height, width))
    return tf.stack([(height - side) // 2, (width - side) // 2, side])


def _resize_flip_frames(frames, size: int, flip) -> np.ndarray:
    """numpy side of decode_crop_resize: each uint8 frame resized to size x size (bilinear) and mirrored."""
    out = np.empty((len(frames), size, size, 3), np.uint8)
    for frame, target in zip(frames, out):
        if frame.shape[0] != size or frame.shape[1] != size:
            frame = cv2.resize(frame, (size, size), interpolation=cv2.INTER_LINEAR)
        if flip:
            cv2.flip(frame, 1, dst=target)
        else:
            target[...] = frame
    return out


def decode_crop_resize(jpegs: tf.Tensor, window: tf.Tensor, crop_size: int, flip=False) -> tf.Tensor:
    """Decodes only the crop window of each JPEG frame, resizes it to crop_size and mirrors it if `flip`.

    Args:
        jpegs: string [T], JPEG-encoded RGB frames.
        window: int32 [3], (top, left, side) from random_crop_window / central_crop_window.
        crop_size: output side S.
        flip: bool scalar: mirror left-right (never vertically).

    Returns:
        uint8 [T, S, S, 3], RGB. Frames that need neither resizing nor mirroring (the evaluation crop
        of 256-pixel frames) are the decoded pixels; the others go through one OpenCV pass per frame
        (bilinear on uint8, within one level of tf.image.resize rounded).
    """
    crop = tf.stack([window[0], window[1], window[2], window[2]])
    # decode_and_crop skips the IDCT of rows outside the window: faster than decode-then-crop.
    decode = _graph_fn(lambda jpeg: tf.io.decode_and_crop_jpeg(jpeg, crop, channels=3))
    if jpegs.shape[0] is not None:  # a clip (T known when tracing): unrolled, no while loop per frame
        frames = [decode(jpegs[i]) for i in range(jpegs.shape[0])]
        # The frames go to numpy as they are: the resize writes the output rows, with no stacking copy first.
        resize = lambda m, *f: _resize_flip_frames(f, crop_size, m)
        unchanged = lambda: tf.stack(frames)
    else:  # a whole video
        video = tf.map_fn(decode, jpegs, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
        frames = [video]
        resize = lambda m, v: _resize_flip_frames(v, crop_size, m)
        unchanged = lambda: video
    flip = tf.cast(flip, tf.bool)
    frames = tf.cond(tf.logical_or(tf.not_equal(window[2], crop_size), flip),
                     lambda: tf.numpy_function(resize, [flip, *frames], tf.uint8), unchanged)
    return tf.ensure_shape(frames, [None, crop_size, crop_size, 3])


def normalize(video: tf.Tensor, mean: Sequence[float], std: Sequence[float]) -> tf.Tensor:
    """(x / 255 - mean) / std in TF, float32: the host-side form of frames.model_input, for tests and bench."""
    scale, offset = frames_lib.normalization_affine(mean, std)  # the same float32 constants as numpy
    return tf.cast(video, tf.float32) * tf.constant(scale) - tf.constant(offset)


# ---------------------------------------------------------------------------------------------
# Per-example transforms.
# ---------------------------------------------------------------------------------------------


def _frame_hw(jpegs: tf.Tensor):
    shape = tf.io.extract_jpeg_shape(jpegs[0])
    return shape[0], shape[1]


def preprocess_train(jpegs, label, video_id, key, *, num_frames, stride, crop_size, train_scales,
                     horizontal_flip, mirror_labels=None, crop_placement: str = 'uniform') -> dict:
    """Samples and augments one training clip (uint8); randomness is stateless, from `key` (int64 [2]).

    `mirror_labels` (int [num_classes], default identity) gives the label of a flipped clip;
    `crop_placement` is 'uniform' or 'authors' (see `random_crop_window`).
    """
    u = tf.random.stateless_uniform([5], seed=key)
    offset = tf.cast(u[4] * 2 ** 24, tf.int32)  # float32 has 24 mantissa bits
    indices = train_indices(tf.shape(jpegs)[0], num_frames, stride, offset)
    height, width = _frame_hw(jpegs)
    window = random_crop_window(height, width, train_scales, u[0], u[1], u[2], placement=crop_placement)
    label = tf.cast(label, tf.int32)
    flip = tf.constant(False)
    if horizontal_flip:
        flip = u[3] < 0.5
        if mirror_labels is not None:
            label = tf.where(flip, tf.gather(tf.cast(mirror_labels, tf.int32), label), label)
    video = decode_crop_resize(tf.gather(jpegs, indices), window, crop_size, flip)
    return {'video': video, 'label': label, 'mask': tf.constant(True),
            'video_id': tf.cast(video_id, tf.int32), 'segment': tf.constant(0, tf.int32)}


def preprocess_eval(jpegs, indices, label, video_id, segment, *,
                    preprocessing: frames_lib.Preprocessing) -> dict:
    """Decodes the frames `indices` of a video (uint8) with the evaluation crop of `preprocessing` ('paper':
    the central 0.875 square; 'authors': their Scale + CenterCrop). The frames are the stored ones."""
    crop_size = preprocessing.crop_size
    if preprocessing.eval_crop == 'authors':
        video = authors_ops.decode_authors_crops(tf.gather(jpegs, indices), crop_size)
    else:
        height, width = _frame_hw(jpegs)
        video = decode_crop_resize(tf.gather(jpegs, indices), central_crop_window(height, width), crop_size)
    return {'video': video, 'label': tf.cast(label, tf.int32), 'mask': tf.constant(True),
            'video_id': tf.cast(video_id, tf.int32), 'segment': tf.cast(segment, tf.int32)}


# ---------------------------------------------------------------------------------------------
# Splits.
# ---------------------------------------------------------------------------------------------


def load_builder(data_config) -> tfds.core.DatasetBuilder:
    """Returns the prepared dataset's builder (synthetic_actions is built here if missing)."""
    return tfds_builders.build(data_config.name, data_config.data_dir, data_config.builder_config)


def num_examples(data_config, split: str) -> int:
    """Returns the number of videos in a split."""
    return load_builder(data_config).info.splits[split].num_examples


def class_names(data_config) -> list:
    """Returns the class names, index = label."""
    return list(load_builder(data_config).info.features['label'].names)


def _process_range(n: int, process_index: int, process_count: int, drop_remainder: bool):
    """Returns the [start, stop) positions of a split that one process reads."""
    if drop_remainder:  # training: equal shares so every process has the same batches per epoch
        share = n // process_count
        return process_index * share, (process_index + 1) * share
    return process_index * n // process_count, (process_index + 1) * n // process_count


def _eval_counts(lengths: Sequence[int], mode: str, num_frames: int, stride: int, process_count: int):
    """Returns the number of eval elements (clips or segments) each process yields before padding."""
    counts = []
    for p in range(process_count):
        start, stop = _process_range(len(lengths), p, process_count, drop_remainder=False)
        if mode == 'clip':
            counts.append(stop - start)
        elif mode == 'uniform10':
            counts.append(sum(authors_ops.num_uniform_clips(n) for n in lengths[start:stop]))
        else:
            counts.append(sum(num_segments(n, num_frames, stride) for n in lengths[start:stop]))
    return counts


def num_eval_batches(data_config, split: str, *, batch_size: int, mode: str, process_count: int = 1) -> int:
    """Returns how many batches every process yields for one evaluation pass of a split."""
    lengths = load_builder(data_config).info.metadata['num_frames'][split]
    counts = _eval_counts(lengths, mode, data_config.num_frames, data_config.stride, process_count)
    return max(1, math.ceil(max(counts) / batch_size))


def _read(builder, split: str, start: int, stop: int) -> tf.data.Dataset:
    """Reads positions [start, stop) of a split in storage order, frames left as JPEG strings."""
    ds = builder.as_dataset(
        split=f'{split}[{start}:{stop}]', shuffle_files=False,
        decoders={'video': tfds.decode.SkipDecoding()},
        read_config=tfds.ReadConfig(interleave_cycle_length=1))
    return ds


def create_dataset(data_config, split: str, *, batch_size: int, mode: str, seed: int = 0,
                   process_index: int = 0, process_count: int = 1, start_step: int = 0,
                   num_epochs: Optional[int] = None) -> tf.data.Dataset:
    """Builds a split as a batched tf.data.Dataset (see create_split)."""
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    preprocessing = frames_lib.Preprocessing.from_config(data_config, source='stored')
    check_crop_placement(data_config.crop_placement)
    builder = load_builder(data_config)
    options = tf.data.Options()
    options.deterministic = True
    if mode == 'train':
        ds = _train_dataset(data_config, builder, split, batch_size=batch_size, seed=seed,
                            process_index=process_index, process_count=process_count, start_step=start_step,
                            num_epochs=num_epochs)
    else:
        ds = _eval_dataset(data_config, builder, split, preprocessing, batch_size=batch_size, mode=mode,
                           process_index=process_index, process_count=process_count)
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def _train_dataset(c, builder, split: str, *, batch_size: int, seed: int, process_index: int, process_count: int,
                   start_step: int, num_epochs: Optional[int]) -> tf.data.Dataset:
    """Random augmented clips, shuffled per epoch, repeated; process p keeps its rows of every global batch."""
    n = len(builder.info.metadata['num_frames'][split])
    # Every process walks the same seeded global order and keeps its rows of each global batch
    # (the filter drops the others before decoding): together the processes read each example once
    # per epoch, and the global batch is the same whatever the process count (a single-process run
    # and a many-process run of the same global batch train identically, up to row order).
    global_batch = batch_size * process_count
    if n < global_batch:
        raise ValueError(f'{split} has {n} videos, fewer than the global batch {global_batch}')
    first_example = start_step * global_batch
    first_epoch, skip = divmod(first_example, n)
    last_epoch = num_epochs if num_epochs is not None else np.iinfo(np.int64).max
    base = _read(builder, split, 0, n)
    # Data order and augmentation depend on (seed, epoch, global position) only, so resuming at
    # start_step rebuilds the same stream; `skip` drops records before they are decoded.
    stream = tf.constant(seed * 65_537, tf.int64)
    mirror_labels = tf.constant(builder.info.metadata['mirror_labels'], tf.int32)

    def epoch_examples(epoch):
        ds = base.shuffle(c.shuffle_buffer, seed=seed * 1_000_003 + epoch)
        ds = ds.enumerate().map(_graph_fn(lambda pos, ex: (ex, epoch * n + pos)))
        return ds.skip(tf.where(epoch == first_epoch, tf.constant(skip, tf.int64), 0))

    def preprocess(ex, counter):
        return preprocess_train(
            ex['video'], ex['label'], ex['video_id'], tf.stack([stream, counter]),
            num_frames=c.num_frames, stride=c.stride, crop_size=c.crop_size,
            train_scales=tuple(c.train_scales), horizontal_flip=c.horizontal_flip,
            mirror_labels=mirror_labels, crop_placement=c.crop_placement)

    # Process p keeps rows [p * batch_size, (p + 1) * batch_size) of every global batch, so the
    # global array assembled from the processes' batches has the single-process row order.
    def is_mine(i, item):
        del item
        return (i % global_batch) // batch_size == process_index

    def drop_position(i, item):
        del i
        return item

    ds = tf.data.Dataset.range(first_epoch, last_epoch).flat_map(_graph_fn(epoch_examples))
    ds = ds.enumerate(start=first_example).filter(_graph_fn(is_mine)).map(_graph_fn(drop_position))
    ds = ds.map(_graph_fn(preprocess), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=True)


def _eval_dataset(c, builder, split: str, preprocessing: frames_lib.Preprocessing, *, batch_size: int, mode: str,
                  process_index: int, process_count: int) -> tf.data.Dataset:
    """Every clip of `mode` of this process's contiguous share of the videos, padded to equal batches."""
    lengths = builder.info.metadata['num_frames'][split]
    start, stop = _process_range(len(lengths), process_index, process_count, drop_remainder=False)
    counts = _eval_counts(lengths, mode, c.num_frames, c.stride, process_count)
    total_batches = max(1, math.ceil(max(counts) / batch_size))
    num_padding = total_batches * batch_size - counts[process_index]
    ds = _read(builder, split, start, stop)
    if mode == 'clip':
        ds = ds.map(_graph_fn(lambda ex: (ex['video'], central_indices(tf.shape(ex['video'])[0], c.num_frames,
                                                                        c.stride), ex['label'], ex['video_id'], 0)))
    else:
        starts_of, indices_of = ((authors_ops.uniform_clip_starts, authors_ops.looped_clip_indices)
                                 if mode == 'uniform10' else (segment_starts, clip_indices))

        def clips_of(ex):
            starts = starts_of(tf.shape(ex['video'])[0], c.num_frames, c.stride)
            return tf.data.Dataset.from_tensor_slices((starts, tf.range(tf.shape(starts)[0]))).map(_graph_fn(
                lambda s, i: (ex['video'], indices_of(tf.shape(ex['video'])[0], s, c.num_frames, c.stride),
                              ex['label'], ex['video_id'], i)))
        ds = ds.flat_map(_graph_fn(clips_of))
    ds = ds.map(_graph_fn(lambda jpegs, indices, label, video_id, segment: preprocess_eval(
        jpegs, indices, label, video_id, segment, preprocessing=preprocessing)),
        num_parallel_calls=tf.data.AUTOTUNE)
    padding = {
        'video': tf.zeros([c.num_frames, c.crop_size, c.crop_size, 3], tf.uint8),
        'label': tf.constant(0, tf.int32),  # a valid class index so that masked losses stay finite
        'mask': tf.constant(False), 'video_id': tf.constant(-1, tf.int32),
        'segment': tf.constant(-1, tf.int32),
    }
    ds = ds.concatenate(tf.data.Dataset.from_tensors(padding).repeat(num_padding))
    return ds.batch(batch_size, drop_remainder=True)  # exact: the padding fills the last batch


def create_video_split(data_config, split: str, *, process_index: int = 0,
                       process_count: int = 1) -> Iterator[dict]:
    """Yields whole videos of a split, every frame with the evaluation crop (for dense evaluation).

    Each process reads its contiguous share of the videos (together each video exactly once), in the
    same order and with the same decode, crop and resize as the 'clip' / 'segments' modes.

    Returns:
        Iterator of dicts: frames uint8 [N, S, S, 3] (all N frames of the video, not normalised), label
        int32 scalar, video_id int32 scalar.
    """
    c = data_config
    preprocessing = frames_lib.Preprocessing.from_config(c, source='stored')
    builder = load_builder(c)
    n = len(builder.info.metadata['num_frames'][split])
    start, stop = _process_range(n, process_index, process_count, drop_remainder=False)

    def decode(ex):
        every_frame = tf.range(tf.shape(ex['video'])[0])
        clip = preprocess_eval(ex['video'], every_frame, ex['label'], ex['video_id'], 0,
                               preprocessing=preprocessing)
        return {'frames': clip['video'], 'label': clip['label'], 'video_id': clip['video_id']}

    options = tf.data.Options()
    options.deterministic = True
    ds = _read(builder, split, start, stop).map(_graph_fn(decode), num_parallel_calls=2).prefetch(2)
    return iter(tfds.as_numpy(ds.with_options(options)))


def create_split(data_config, split: str, *, batch_size: int, mode: str, seed: int = 0,
                 process_index: int = 0, process_count: int = 1, start_step: int = 0,
                 num_epochs: Optional[int] = None) -> Iterator[dict]:
    """Builds one split as an iterator of numpy batches.

    Args:
        data_config: `config.data` (name, builder_config, data_dir, num_frames, stride, crop_size,
            train_scales, crop_placement, horizontal_flip, eval_crop, shuffle_buffer; mean and std are
            applied on the device).
        split: TFDS split name, e.g. config.data.train_split.
        batch_size: examples per batch for this process.
        mode: 'train' (random clips, augmented, shuffled, repeated, drop_remainder), 'clip' (the
            central clip of each video, one pass), 'segments' (every non-overlapping segment of
            each video, one pass) or 'uniform10' (the authors' 10 evenly spaced clips, one pass).
        seed: data order and augmentation seed (train mode).
        process_index: this process (jax.process_index()).
        process_count: number of processes (jax.process_count()).
        start_step: train mode: start at this batch of the stream (exact resume).
        num_epochs: train mode: stop after this many epochs; None repeats forever.

    Returns:
        Iterator of dicts of numpy arrays: video uint8 [B, T, S, S, 3] (normalised later, on the device, with
            data_config.mean / std: vtn_jax.data.frames.model_input), label int32 [B],
        mask bool [B], video_id int32 [B], segment int32 [B]. In evaluation modes each process
        reads its own contiguous share of the videos, together each video exactly once, the last
        batch is padded (mask False) and every process yields num_eval_batches(...) batches.
    """
    ds = create_dataset(data_config, split, batch_size=batch_size, mode=mode, seed=seed,
                        process_index=process_index, process_count=process_count,
                        start_step=start_step, num_epochs=num_epochs)
    return iter(tfds.as_numpy(ds))
