"""What the input benchmarks share (no flags here): the CPU's name and load, a small `video_folder` build at the
paper's storage size from real videos ($VTN_BENCH_VIDEOS, a folder) or generated ones, the ResNet-34-VTN data
config, and a rate measured in wall time and in process CPU time (the per-core figure, robust to a shared machine).
"""
import os
import pathlib
import time

import ml_collections
import numpy as np

from vtn_jax.configs import default
from vtn_jax.data import synthetic
from vtn_jax.data import tfds_builders
from vtn_jax.data import video_io

VIDEOS = os.environ.get('VTN_BENCH_VIDEOS', '')  # a folder of real videos to cut the clips from (optional)


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    try:
        for line in open('/proc/cpuinfo', encoding='utf-8'):
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return 'unknown CPU'


def machine() -> str:
    """CPU, cores available to this process, and the load average (others' work shares the cores)."""
    load = ', '.join(f'{x:.1f}' for x in os.getloadavg())
    return f'{cpu_model()}, {len(os.sched_getaffinity(0))} core(s) available, load average {load}'


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


def build_bench_set(work: pathlib.Path, clip_frames: int = 64):
    """The `video_folder/bench` build (shorter side 256, JPEG q90; half train, half test) in work/tfds."""
    data_dir = work / 'tfds'
    if tfds_builders.prepared_dir('video_folder', data_dir, 'bench') is None:
        source = make_videos(work / 'videos', clip_frames)
        print(f'building video_folder/bench at resize_short=256 from {source}', flush=True)
    return tfds_builders.build('video_folder', data_dir, 'bench', root=str(work / 'videos'), layout='folder',
                               test_percent=50, resize_short=256)


def data_config(data_dir, crop_size: int = 224) -> ml_collections.ConfigDict:
    """configs/default.py's data section (16 frames at stride 2, multi-scale crops, flip) on the bench set."""
    data = default.get_config().data
    data.update(name='video_folder', builder_config='bench', data_dir=str(data_dir), crop_size=crop_size,
                shuffle_buffer=64)
    return data


class Rate:
    """Counts items over wall time and over this process's CPU time (all its threads)."""

    def __init__(self):
        self.count = 0
        self.wall = self.cpu = 0.0
        self._start = None

    def __enter__(self):
        self._start = (time.perf_counter(), time.process_time())
        return self

    def __exit__(self, *exc):
        self.wall += time.perf_counter() - self._start[0]
        self.cpu += time.process_time() - self._start[1]

    @property
    def per_second(self) -> float:
        return self.count / self.wall if self.wall else 0.0

    @property
    def per_cpu_second(self) -> float:
        """Items per CPU-second: the rate of one fully used core."""
        return self.count / self.cpu if self.cpu else 0.0
