r"""How many clips/s one host core feeds to the devices: the training loop's host side against a free device step.

    python bench/host_feed.py                      # builds a small set in a temp dir (~1-2 min)
    VTN_BENCH_VIDEOS=<folder of videos> python bench/host_feed.py --workdir /tmp/vtn_bench --seconds 30

Runs what `vtn-train` runs on the host, with the device step replaced by one that costs nothing (it reads one pixel
of the batch, so every batch must arrive): tf.data (`input_pipeline.create_split`, 'train': read, shuffle, sample,
crop-decode, resize, flip) -> uint8 numpy batch -> `distributed.Prefetcher` (`to_global` in a background thread,
config.train.prefetch batches ahead) -> the jitted step. It counts clips over wall time and over the process's
CPU time (all threads: tf.data, the prefetch thread, the loop); clips per CPU-second is what one fully used core
feeds, and the cores a host needs for a device rate R is R / that. ResNet-34-VTN's data settings: 16 frames at
stride 2, 224 x 224, multi-scale crops, flips; frames stored at 256 (JPEG q90). On a CPU backend `to_global` may
share the numpy buffer rather than copy it; on a GPU it is a host-to-device copy of 2.4 MB per clip.
"""
import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1]), str(pathlib.Path(__file__).resolve().parent)]

import jax
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import app, flags

import bench_data  # bench/
from vtn_jax import distributed
from vtn_jax import logs
from vtn_jax.data import input_pipeline

_WORKDIR = flags.DEFINE_string('workdir', '', 'Where to build the dataset (default: a temp dir; reused if built).')
_SECONDS = flags.DEFINE_float('seconds', 30.0, 'Timing length, split over --rounds (the best round counts).')
_ROUNDS = flags.DEFINE_integer('rounds', 3, 'Timing rounds.')
_BATCH = flags.DEFINE_integer('batch_size', 8,
                              'Clips per batch (per host; at most the train split, 9 clips of the real videos).')
_PREFETCH = flags.DEFINE_integer('prefetch', 2, 'Batches sent to the device ahead (config.train.prefetch).')
_DATA_THREADS = flags.DEFINE_integer('data_threads', 0, 'tf.data threads (0: TF default, every core).')
_CROP = flags.DEFINE_integer('crop_size', 224, 'Model input side.')
_TARGETS = (500, 1_000, 2_000)  # device clips/s to feed


def main(argv):
    del argv
    logs.configure_cli_logging()
    work = pathlib.Path(_WORKDIR.value or tempfile.mkdtemp(prefix='vtn_bench_'))
    print(f'CPU: {bench_data.machine()}; TF {tf.__version__}, JAX {jax.__version__} ({jax.default_backend()})')
    bench_data.build_bench_set(work)
    config = bench_data.data_config(work / 'tfds', _CROP.value)
    mesh = distributed.create_mesh()
    dataset = input_pipeline.create_dataset(config, 'train', batch_size=_BATCH.value, mode='train')
    if _DATA_THREADS.value:
        options = tf.data.Options()
        options.threading.private_threadpool_size = _DATA_THREADS.value
        dataset = dataset.with_options(options)
    batches = iter(tfds.as_numpy(dataset))  # = input_pipeline.create_split, with the thread option
    free_step = jax.jit(lambda batch: batch['video'][0, 0, 0, 0, 0].astype('int32') + batch['label'][0])
    best = None
    with distributed.prefetch_to_device(batches, mesh, _PREFETCH.value) as device_batches:
        for _ in range(3):  # warm-up: tracing, file opening, autotune, compilation
            free_step(next(device_batches)).block_until_ready()
        for _ in range(_ROUNDS.value):
            rate = bench_data.Rate()
            stop = time.perf_counter() + _SECONDS.value / _ROUNDS.value
            with rate:
                while time.perf_counter() < stop:
                    out = free_step(next(device_batches))
                    rate.count += _BATCH.value
                out.block_until_ready()
            if best is None or rate.per_cpu_second > best.per_cpu_second:
                best = rate
    per_core = best.per_cpu_second
    print(f'batch {_BATCH.value} x 16 frames at 224x224 uint8, prefetch {_PREFETCH.value}, tf.data threads '
          f'{_DATA_THREADS.value or "default"}; best of {_ROUNDS.value} rounds of '
          f'{_SECONDS.value / _ROUNDS.value:.0f} s:')
    print('| host feed | clips/s | clips/s per core (per CPU-second) | frames/s per core | CPU busy |\n'
          '|---|---|---|---|---|')
    print(f'| tf.data -> uint8 batch -> prefetch to device -> free step | {best.per_second:.1f} | {per_core:.1f} | '
          f'{per_core * 16:,.0f} | {best.cpu / best.wall:.2f} cores |')
    print('| device clips/s to feed | ' + ' | '.join(f'{t:,}' for t in _TARGETS) + ' |\n|---|' + '---|' * len(_TARGETS))
    print('| host cores needed | ' + ' | '.join(f'{t / per_core:.0f}' for t in _TARGETS) + ' |')
    print(f'load average at the end: {", ".join(f"{x:.1f}" for x in os.getloadavg())}')


if __name__ == '__main__':
    app.run(main)
