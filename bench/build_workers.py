r"""Dataset build speed with worker processes: the same `video_folder` built with 1 and 2 (or --workers) processes.

    python bench/build_workers.py                                   # generated clips in a temp dir
    VTN_BENCH_VIDEOS=<folder of videos> python bench/build_workers.py --workdir /tmp/vtn_build --workers 1,2,4

Cuts 64-frame clips out of the videos in $VTN_BENCH_VIDEOS (generated clips without it), then builds them at
resize_short=256 (JPEG q90) once per worker count into a fresh directory and prints the wall time, videos/s and the
speed-up over the first count. Each build includes starting its worker processes (spawned: a few seconds).
"""
import os
import pathlib
import shutil
import sys
import tempfile
import time

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
sys.path[:0] = [str(pathlib.Path(__file__).resolve().parents[1]), str(pathlib.Path(__file__).resolve().parent)]

from absl import app, flags

import bench_data  # bench/
from vtn_jax import logs
from vtn_jax.data import tfds_builders

_WORKDIR = flags.DEFINE_string('workdir', '', 'Where the clips and builds go (default: a temp dir).')
_WORKERS = flags.DEFINE_list('workers', ['1', '2'], 'Worker process counts to build with, in order.')


def main(argv):
    del argv
    logs.configure_cli_logging()
    work = pathlib.Path(_WORKDIR.value or tempfile.mkdtemp(prefix='vtn_build_'))
    print(f'CPU: {bench_data.machine()}')
    videos = work / 'videos'
    if not videos.is_dir():
        print(f'clips: {bench_data.make_videos(videos, clip_frames=64)}')
    count = sum(1 for p in videos.rglob('*') if p.is_file())
    print('| worker processes | build s | videos/s | speed-up |\n|---|---|---|---|')
    first = None
    for workers in (int(w) for w in _WORKERS.value):
        data_dir = work / f'tfds_{workers}'
        shutil.rmtree(data_dir, ignore_errors=True)
        start = time.perf_counter()
        tfds_builders.build('video_folder', data_dir, 'bench', root=str(videos), layout='folder', test_percent=50,
                            resize_short=256, workers=workers)
        seconds = time.perf_counter() - start
        first = first or seconds
        print(f'| {workers} | {seconds:.1f} | {count / seconds:.2f} | {first / seconds:.2f}x |', flush=True)
    print(f'{count} videos of 64 frames; load average at the end: {", ".join(f"{x:.1f}" for x in os.getloadavg())}')


if __name__ == '__main__':
    app.run(main)
