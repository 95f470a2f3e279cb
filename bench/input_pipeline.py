r"""Input pipeline throughput: clips/s and frames/s per CPU core from the stored format.

    python bench/input_pipeline.py                 # builds a small set in /tmp, ~1-2 minutes
    python bench/input_pipeline.py --threads 1     # one tf.data thread: the per-core figure

Builds a `video_folder` dataset at resize_short=256 (the paper's storage) from clips cut out of
the video files in $VTN_BENCH_VIDEOS (a folder; synthetic clips without it), then times:
  1. the stored format: bytes per frame and decode time for JPEG (what is stored), PNG and raw;
  2. where the time of one clip goes: JPEG decode, crop-window decode, resize, normalise;
  3. the training pipeline (random multi-scale 224 crop + flip) and the evaluation pipeline
     (all segments, central 224 crop), end to end through create_dataset, 16 frames at stride 2.
Goal (issue 4): >= 600 decoded, cropped, normalised 224x224 frames/s per core.
"""
import argparse
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import ml_collections  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from vtn_jax.data import tfds_builders as datasets  # noqa: E402
from vtn_jax.data import input_pipeline  # noqa: E402
from vtn_jax.data import synthetic  # noqa: E402
from vtn_jax.data import video_io  # noqa: E402

VIDEOS = os.environ.get('VTN_BENCH_VIDEOS', '')  # a folder of real videos to cut the clips from (optional)


def cpu_model() -> str:
    """Returns the CPU model name from /proc/cpuinfo."""
    try:
        for line in open('/proc/cpuinfo', encoding='utf-8'):
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return 'unknown CPU'


def make_videos(root: pathlib.Path, clip_frames: int) -> str:
    """Writes clips of `clip_frames` frames into root/<class>/, from the videos of $VTN_BENCH_VIDEOS if set."""
    sources = sorted(p for p in pathlib.Path(VIDEOS).iterdir() if p.is_file()) if VIDEOS else []
    if sources:
        for source in sources:
            frames = list(video_io.iter_frames(source))
            for i in range(0, len(frames) - clip_frames + 1, clip_frames):
                path = root / source.stem / f'{source.stem}_{i:05d}.avi'
                path.parent.mkdir(parents=True, exist_ok=True)
                video_io.write_video(path, np.stack(frames[i:i + clip_frames]))
        return 'clips of ' + ', '.join(f'{s.name} ({video_io.video_info(s)["width"]}x'
                                       f'{video_io.video_info(s)["height"]})' for s in sources)
    for i in range(16):
        frames, label = synthetic.make_video(i, seed=0, num_frames=clip_frames, height=240, width=320,
                                             num_classes=2)
        path = root / synthetic.CLASS_NAMES[label] / f'{i:03d}.avi'
        path.parent.mkdir(parents=True, exist_ok=True)
        video_io.write_video(path, frames)
    return 'synthetic 320x240 clips (set VTN_BENCH_VIDEOS to a folder of real videos)'


def time_it(fn, repeats: int) -> float:
    """Returns the best seconds per call of fn() over `repeats` calls, after one warm-up call."""
    fn()
    best = float('inf')
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench_format(frames: np.ndarray) -> None:
    """Prints bytes per frame and decode time for JPEG (stored), PNG and raw uint8 frames."""
    jpegs = tf.constant(datasets.encode_frames(frames, 90))
    pngs = tf.stack([tf.io.encode_png(f) for f in frames])
    decode_jpeg = tf.function(lambda x: tf.map_fn(lambda j: tf.io.decode_jpeg(j, channels=3), x,
                                                  fn_output_signature=tf.uint8))
    decode_png = tf.function(lambda x: tf.map_fn(lambda j: tf.io.decode_png(j, channels=3), x,
                                                 fn_output_signature=tf.uint8))
    n = len(frames)
    print(f'stored format, {n} frames {frames.shape[2]}x{frames.shape[1]}:')
    for name, data, decode in (('JPEG q90 (stored)', jpegs, decode_jpeg), ('PNG', pngs, decode_png)):
        size = np.mean([len(x) for x in data.numpy()])
        seconds = time_it(lambda: decode(data), 3) / n
        print(f'  {name:18s} {size / 1024:7.1f} KiB/frame, decode {seconds * 1e3:6.2f} ms/frame')
    print(f'  {"raw uint8":18s} {frames[0].nbytes / 1024:7.1f} KiB/frame, no decode')


def bench_ops(frames: np.ndarray, num_frames: int, crop_size: int) -> None:
    """Prints where the time of one clip goes, single-threaded op by op (ms per frame)."""
    jpegs = tf.constant(datasets.encode_frames(frames[:num_frames], 90))
    height, width = frames.shape[1:3]
    train_window = input_pipeline.random_crop_window(height, width, (0.75,), 0.0, 0.5, 0.5)
    eval_window = input_pipeline.central_crop_window(height, width)
    decoded = tf.map_fn(lambda j: tf.io.decode_jpeg(j, channels=3), jpegs, fn_output_signature=tf.uint8)
    crop = decoded[:, :int(train_window[2]), :int(train_window[2])]
    resized = tf.image.resize(crop, (crop_size, crop_size))
    steps = {
        'decode whole JPEG': tf.function(lambda: tf.map_fn(
            lambda j: tf.io.decode_jpeg(j, channels=3), jpegs, fn_output_signature=tf.uint8)),
        'decode crop window only (train, s=.75)': tf.function(lambda: tf.map_fn(
            lambda j: tf.io.decode_and_crop_jpeg(j, tf.stack([0, 0, train_window[2], train_window[2]]), channels=3),
            jpegs, fn_output_signature=tf.uint8)),
        f'resize {int(train_window[2])}->{crop_size} bilinear': tf.function(
            lambda: tf.image.resize(crop, (crop_size, crop_size))),
        'normalise (x*a+b) float32': tf.function(
            lambda: input_pipeline.normalize(resized, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))),
        'train: decode_crop_resize': tf.function(
            lambda: input_pipeline.decode_crop_resize(jpegs, train_window, crop_size)),
        'eval: decode_crop_resize (224 crop, no resize)': tf.function(
            lambda: input_pipeline.decode_crop_resize(jpegs, eval_window, crop_size)),
    }
    print(f'where the time goes, one thread, ms per frame ({width}x{height} JPEG -> {crop_size}):')
    for name, fn in steps.items():
        print(f'  {name:46s} {time_it(fn, 5) / num_frames * 1e3:6.2f}')


def bench_pipeline(data_config, split: str, mode: str, batch_size: int, seconds: float, threads: int,
                   cores: int) -> None:
    """Runs create_dataset for `seconds` after a warm-up and prints clips/s and frames/s (per core)."""
    ds = input_pipeline.create_dataset(data_config, split, batch_size=batch_size, mode=mode)
    if mode != 'train':
        ds = ds.repeat()
    if threads:
        options = tf.data.Options()
        options.threading.private_threadpool_size = threads
        options.threading.max_intra_op_parallelism = 1
        ds = ds.with_options(options)
    iterator = iter(ds)
    for _ in range(3):  # warm-up: tracing, file opening, autotune
        next(iterator)
    clips = 0
    start = time.perf_counter()
    cpu_start = time.process_time()
    while time.perf_counter() - start < seconds:
        batch = next(iterator)
        clips += int(batch['mask'].numpy().sum())
    wall = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    frames = clips * data_config.num_frames
    used = threads or cores
    print(f'  {mode:8s} {clips / wall:7.1f} clips/s  {frames / wall:7.0f} frames/s  '
          f'{frames / wall / used:6.0f} frames/s/core ({used} core(s))  '
          f'{frames / cpu:6.0f} frames per CPU-second (process CPU time {cpu / wall:.2f} cores busy)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--work_dir', default='', help='where to build the dataset (default: a temp dir)')
    parser.add_argument('--seconds', type=float, default=15.0, help='timing length of each pipeline')
    parser.add_argument('--threads', type=int, default=0, help='tf.data threads (0 = TF default, all cores)')
    parser.add_argument('--batch_size', type=int, default=8)
    args = parser.parse_args()

    work = pathlib.Path(args.work_dir or tempfile.mkdtemp(prefix='vtn_bench_'))
    cores = len(os.sched_getaffinity(0))
    print(f'CPU: {cpu_model()}, {cores} core(s) available; TF {tf.__version__}')
    data_dir = work / 'tfds'
    if datasets.prepared_dir('video_folder', data_dir, 'bench') is None:  # pylint: disable=protected-access
        source = make_videos(work / 'videos', clip_frames=64)
        print(f'building video_folder/bench at resize_short=256 from {source}')
    builder = datasets.build('video_folder', data_dir, 'bench', root=str(work / 'videos'), layout='folder',
                             test_percent=50, resize_short=256)
    size = sum(f.stat().st_size for f in pathlib.Path(builder.data_dir).glob('*.tfrecord*'))
    num_stored = sum(sum(v) for v in builder.info.metadata['num_frames'].values())
    print(f'stored: {num_stored} frames, {size / 2 ** 20:.1f} MiB, {size / num_stored / 1024:.1f} KiB/frame')

    example = next(iter(builder.as_dataset(split='train[:1]')))
    frames = example['video'].numpy()[:32]
    bench_format(frames)
    bench_ops(frames, num_frames=16, crop_size=224)

    data_config = ml_collections.ConfigDict(dict(
        name='video_folder', builder_config='bench', data_dir=str(data_dir), train_split='train',
        eval_split='test', num_frames=16, stride=2, crop_size=224, train_scales=(1.0, 0.875, 0.75, 0.66),
        horizontal_flip=True, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), shuffle_buffer=64))
    print(f'pipelines (create_dataset), batch {args.batch_size}, 16 frames at stride 2, 224x224, '
          f'tf.data threads: {args.threads or "default"}:')
    bench_pipeline(data_config, 'train', 'train', args.batch_size, args.seconds, args.threads, cores)
    bench_pipeline(data_config, 'test', 'segments', args.batch_size, args.seconds, args.threads, cores)


if __name__ == '__main__':
    main()
