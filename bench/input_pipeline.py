r"""Input pipeline throughput against its limit, bare JPEG decoding, per CPU core, in one run.

    python bench/input_pipeline.py                       # builds a small set in a temp dir (~1-2 min)
    VTN_BENCH_VIDEOS=<folder of videos> python bench/input_pipeline.py --workdir /tmp/vtn_bench --seconds 20

Builds a `video_folder` dataset at resize_short=256 (the paper's storage, JPEG q90) from 64-frame clips cut out of
the videos in $VTN_BENCH_VIDEOS (generated clips without it), then measures on `--data_threads` tf.data threads (1: the
per-core figure), in interleaved rounds (the best round of each counts, as others share the machine):
  1. bare JPEG decoding of the stored frames of training clips, whole frames (tf.io.decode_jpeg) and only the
     training crop window (tf.io.decode_and_crop_jpeg, windows of the four scales): the limit;
  2. the training pipeline (create_dataset 'train': read, shuffle, sample, crop-decode, resize, flip, uint8
     batches, numpy) and the evaluation pipeline ('segments', central 224 crop);
  3. where one clip's time goes, op by op on one thread.
Rates are counted in wall time and in process CPU time; frames per CPU-second is the rate of one fully used core.
Goal: the training pipeline at >= 0.75x the crop-decode rate and >= 2,000 frames/s per core.
"""
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1]), str(pathlib.Path(__file__).resolve().parent)]

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import app, flags

import bench_data  # bench/
from vtn_jax import logs
from vtn_jax.data import input_pipeline

_WORKDIR = flags.DEFINE_string('workdir', '', 'Where to build the dataset (default: a temp dir; reused if built).')
_SECONDS = flags.DEFINE_float('seconds', 24.0, 'Timing length of each pipeline, split over --rounds.')
_ROUNDS = flags.DEFINE_integer('rounds', 4, 'Interleaved rounds (the best counts).')
_DATA_THREADS = flags.DEFINE_integer('data_threads', 1,
                                     'tf.data threads (1: the per-core figure; 0: TF default, all cores).')
_BATCH = flags.DEFINE_integer('batch_size', 8, 'Clips per batch.')
_CROP = flags.DEFINE_integer('crop_size', 224, 'Model input side.')

NUM_FRAMES, STRIDE = 16, 2


def with_threads(ds: tf.data.Dataset, threads: int) -> tf.data.Dataset:
    if not threads:
        return ds
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    return ds.with_options(options)


def training_clips(builder, count: int, seed: int = 0):
    """(JPEG strings [count, T], crop windows [count, 3]) of random training clips: what the pipeline decodes."""
    rng = np.random.default_rng(seed)
    videos = list(tfds.as_numpy(builder.as_dataset(split='train', decoders={'video': tfds.decode.SkipDecoding()})))
    clips, windows = [], []
    for _ in range(count):
        jpegs = videos[rng.integers(len(videos))]['video']
        start = rng.integers(max(len(jpegs) - NUM_FRAMES * STRIDE, 0) + 1)
        clips.append(jpegs[(start + STRIDE * np.arange(NUM_FRAMES)) % len(jpegs)])
        height, width = tf.io.extract_jpeg_shape(jpegs[0]).numpy()[:2]
        windows.append(input_pipeline.random_crop_window(height, width, (1.0, 0.875, 0.75, 0.66),
                                                         *rng.uniform(size=3).astype(np.float32)).numpy())
    return np.stack(clips), np.stack(windows)


def decode_dataset(clips, windows, crop: bool, batch_size: int) -> tf.data.Dataset:
    """Bare decoding of in-memory clips: whole frames, or only each clip's crop window."""
    def decode(jpegs, window):  # the frames decoded one by one, unrolled as the pipeline does, nothing else
        box = tf.stack([window[0], window[1], window[2], window[2]])
        fn = (lambda j: tf.io.decode_and_crop_jpeg(j, box, channels=3)) if crop else \
            (lambda j: tf.io.decode_jpeg(j, channels=3))
        return tf.add_n([tf.shape(fn(jpegs[i]))[2] // 3 for i in range(NUM_FRAMES)])  # = frames decoded

    ds = tf.data.Dataset.from_tensor_slices((clips, windows)).repeat()
    return ds.map(tf.autograph.experimental.do_not_convert(decode), num_parallel_calls=tf.data.AUTOTUNE) \
        .batch(batch_size).prefetch(tf.data.AUTOTUNE)


def read_only_dataset(config, batch_size: int) -> tf.data.Dataset:
    """The training pipeline's read, shuffle and temporal sampling with nothing decoded: its cost beyond decoding."""
    builder = input_pipeline.load_builder(config)
    n = builder.info.splits[config.train_split].num_examples
    ds = input_pipeline._read(builder, config.train_split, 0, n).repeat()
    ds = ds.shuffle(config.shuffle_buffer, seed=1)

    def sample(example):
        jpegs = example['video']
        offset = tf.random.stateless_uniform([], seed=[1, 2], maxval=2 ** 24, dtype=tf.int32)
        picked = tf.gather(jpegs, input_pipeline.train_indices(tf.shape(jpegs)[0], NUM_FRAMES, STRIDE, offset))
        # Frames counted through their bytes, so that nothing is optimised away.
        return tf.size(picked) * tf.cast(tf.reduce_sum(tf.strings.length(picked)) > 0, tf.int32)

    return ds.map(tf.autograph.experimental.do_not_convert(sample), num_parallel_calls=tf.data.AUTOTUNE) \
        .batch(batch_size).prefetch(tf.data.AUTOTUNE)


def measure(pipelines: dict, seconds: float, rounds: int) -> dict:
    """{name: best Rate of its rounds}; each pipeline is (iterator, frames of a batch)."""
    best = {}
    for name, (iterator, frames_of) in pipelines.items():
        for _ in range(3):  # warm-up: tracing, file opening, autotune
            next(iterator)
    for _ in range(rounds):
        for name, (iterator, frames_of) in pipelines.items():
            rate = bench_data.Rate()
            with rate:
                stop = time.perf_counter() + seconds / rounds
                while time.perf_counter() < stop:
                    rate.count += frames_of(next(iterator))
            if name not in best or rate.per_cpu_second > best[name].per_cpu_second:
                best[name] = rate
    return best


def time_op(fn, frames: int, repeats: int = 20) -> float:
    """Best process CPU ms per frame of fn() over `repeats` calls (after one warm-up call)."""
    fn()
    best = float('inf')
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best / frames * 1e3


def stored_formats(clips) -> list:
    """(format, KiB per frame, CPU ms to decode a frame) of 16 stored frames as JPEG (stored), PNG and raw."""
    jpegs = tf.constant(clips[0])
    frames = tf.map_fn(lambda j: tf.io.decode_jpeg(j, channels=3), jpegs, fn_output_signature=tf.uint8)
    pngs = tf.stack([tf.io.encode_png(f) for f in frames])
    rows = []
    for name, data, decode in (('JPEG q90 (stored)', jpegs, tf.io.decode_jpeg), ('PNG', pngs, tf.io.decode_png)):
        fn = tf.function(lambda d=data, f=decode: tf.map_fn(lambda x: f(x, channels=3), d,
                                                            fn_output_signature=tf.uint8))
        rows.append((name, np.mean([len(x) for x in data.numpy()]) / 1024, time_op(fn, len(clips[0]), 5)))
    rows.append(('raw uint8', frames[0].numpy().nbytes / 1024, 0.0))
    return rows


def where_the_time_goes(clips, windows, crop_size: int) -> list:
    """(op, CPU ms per frame) of one training clip, op by op, on one thread."""
    jpegs = tf.constant(clips[0])
    side = 192  # the 0.75 scale of a 256-pixel frame: a typical training crop
    box = tf.constant([32, 32, side, side])
    cropped = tf.map_fn(lambda j: tf.io.decode_and_crop_jpeg(j, box, channels=3), jpegs,
                        fn_output_signature=tf.uint8)
    cropped_np = cropped.numpy()
    resized = tf.image.resize(cropped, (crop_size, crop_size))
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    ops = [
        ('decode whole JPEG', tf.function(lambda: tf.map_fn(
            lambda j: tf.io.decode_jpeg(j, channels=3), jpegs, fn_output_signature=tf.uint8))),
        (f'decode crop window {side}x{side} only', tf.function(lambda: tf.map_fn(
            lambda j: tf.io.decode_and_crop_jpeg(j, box, channels=3), jpegs, fn_output_signature=tf.uint8))),
        (f'resize {side}->{crop_size} + flip, uint8 (OpenCV, used)',
         lambda: input_pipeline._resize_flip_frames(cropped_np, crop_size, True)),
        (f'resize {side}->{crop_size}, float (tf.image.resize, before)',
         tf.function(lambda: tf.image.resize(cropped, (crop_size, crop_size)))),
        ('flip, float (tf.reverse, before)', tf.function(lambda: tf.reverse(resized, axis=[2]))),
        ('normalise on the host, float (before)', tf.function(lambda: input_pipeline.normalize(resized, mean, std))),
        ('train: decode_crop_resize + flip (used)', tf.function(lambda: input_pipeline.decode_crop_resize(
            jpegs, tf.constant([32, 32, side]), crop_size, True))),
    ]
    return [(name, time_op(fn, len(clips[0]))) for name, fn in ops]


def main(argv):
    del argv
    logs.configure_cli_logging()
    work = pathlib.Path(_WORKDIR.value or tempfile.mkdtemp(prefix='vtn_bench_'))
    print(f'CPU: {bench_data.machine()}; TF {tf.__version__}')
    builder = bench_data.build_bench_set(work)
    size = sum(f.stat().st_size for f in pathlib.Path(builder.data_dir).glob('*.tfrecord*'))
    num_stored = sum(sum(v) for v in builder.info.metadata['num_frames'].values())
    first = next(iter(tfds.as_numpy(builder.as_dataset(split='train[:1]', decoders={
        'video': tfds.decode.SkipDecoding()}))))['video'][0]
    height, width = tf.io.extract_jpeg_shape(first).numpy()[:2]
    print(f'stored: {num_stored} frames of {width}x{height}, {size / num_stored / 1024:.1f} KiB/frame (JPEG q90)')

    clips, windows = training_clips(builder, 64)
    config = bench_data.data_config(work / 'tfds', _CROP.value)
    threads, batch = _DATA_THREADS.value, _BATCH.value
    train = input_pipeline.create_dataset(config, 'train', batch_size=batch, mode='train')
    evaluation = input_pipeline.create_dataset(config, 'test', batch_size=batch, mode='segments').repeat()
    clip_frames = lambda b: int(b['mask'].sum()) * NUM_FRAMES
    pipelines = {
        'bare JPEG decode, whole frames': (iter(tfds.as_numpy(with_threads(
            decode_dataset(clips, windows, False, batch), threads))), lambda n: int(n.sum())),
        'bare JPEG decode, crop window (the limit)': (iter(tfds.as_numpy(with_threads(
            decode_dataset(clips, windows, True, batch), threads))), lambda n: int(n.sum())),
        'training pipeline (create_dataset train)': (iter(tfds.as_numpy(with_threads(train, threads))), clip_frames),
        'evaluation pipeline (segments)': (iter(tfds.as_numpy(with_threads(evaluation, threads))), clip_frames),
        'read + shuffle + sample only, nothing decoded': (iter(tfds.as_numpy(with_threads(
            read_only_dataset(config, batch), threads))), lambda n: int(n.sum())),
    }
    print(f'measuring {_SECONDS.value:.0f} s per pipeline in {_ROUNDS.value} rounds on {threads or "all"} tf.data '
          f'thread(s), batch {batch}, {NUM_FRAMES} frames at stride {STRIDE}, {_CROP.value}x{_CROP.value} uint8 ...',
          flush=True)
    rates = measure(pipelines, _SECONDS.value, _ROUNDS.value)
    limit = rates['bare JPEG decode, crop window (the limit)'].per_cpu_second
    print('| what | frames/s (wall) | frames per CPU-second (per core) | x crop decode | CPU busy |\n'
          '|---|---|---|---|---|')
    for name, rate in rates.items():
        print(f'| {name} | {rate.per_second:,.0f} | {rate.per_cpu_second:,.0f} | '
              f'{rate.per_cpu_second / limit:.2f} | {rate.cpu / rate.wall:.2f} cores |')
    training = rates['training pipeline (create_dataset train)'].per_cpu_second
    print(f'training pipeline / bare crop decode: {training / limit:.2f}x (goal >= 0.75); training frames/s per '
          f'core: {training:,.0f} (goal >= 2,000)')
    reading = rates['read + shuffle + sample only, nothing decoded'].per_cpu_second
    ms = {'pipeline': 1e3 / training, 'decode': 1e3 / limit, 'read': 1e3 / reading}
    print(f'per training frame, CPU ms: pipeline {ms["pipeline"]:.3f} = crop decode {ms["decode"]:.3f} + reading the '
          f'record, shuffling, sampling {ms["read"]:.3f} + resize, flip, batching and the rest '
          f'{ms["pipeline"] - ms["decode"] - ms["read"]:.3f}')
    print('| stored format | KiB per frame | decode CPU ms per frame |\n|---|---|---|')
    for name, kib, ms in stored_formats(clips):
        print(f'| {name} | {kib:.1f} | {ms:.2f} |' if ms else f'| {name} | {kib:.1f} | - |')
    print('where one training clip\'s time goes, CPU ms per frame, one thread:')
    for name, ms in where_the_time_goes(clips, windows, _CROP.value):
        print(f'  {name:58s} {ms:6.3f}')
    print(f'load average at the end: {", ".join(f"{x:.1f}" for x in os.getloadavg())}')


if __name__ == '__main__':
    app.run(main)
