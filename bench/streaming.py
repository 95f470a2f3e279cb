r"""Streaming: the online loop's frame rate against the encoder's own, per model, precision and source.

    python bench/streaming.py --video street.avi                   # + a rendered 640x480 camera-like source
    python bench/streaming.py --models resnet34 --precisions bf16,int8 --frames 100 --rounds 4
    python bench/streaming.py --camera 0x0 --video street.avi --loops before,overlap

Models: ResNet-34-VTN and MobileNetV2-VTN (RGB, 16 frames at stride 2, 400 classes, 224 crops, random weights:
timing does not depend on them), exported once with `vtn_jax.export.pipeline` (encoder and decoder, float IR
and NNCF INT8 IR) into --workdir and reused. Precisions: f32, bf16 (where OpenVINO reports BF16) and int8
(the INT8 IRs; their float parts in the CPU's default precision), as --precisions asks. Sources: --video (any
file), and --camera WxH: frames rendered here (moving textured shapes) and written as an MJPG AVI, the format
a USB camera delivers, so that its decode cost is real too.

Per model, precision and source, in --rounds alternating rounds of --frames frames each:
  encoder alone  the encoder IR on one preprocessed 224 crop, back to back: the encoder's own rate;
  loops (--loops), each from decoded frame to top-k:
    before   the loop as it was: decode (to RGB), numpy preprocessing ('stored': INTER_AREA to 256, crop),
             encoder, ring buffer, decoder window, one after another on one thread
    raw      decode (BGR, as OpenCV gives it), the raw-frame encoder (crop, resize, BGR -> RGB and
             normalisation inside the IR), decoder window, on one thread
    overlap  raw, plus the next frame decoded in a thread and the decoder window running while the next
             frame is encoded (`Recognizer.stream` does this)
    every4   overlap with the decoder on every 4th window only (labels up to 3 frames old)
Ratio = loop FPS / encoder-alone FPS in the same round, the median (range) over rounds, and its value in the
round where the encoder alone was fastest (the one least slowed by other processes). Per-stage times are
ms per frame (means); 'video decode' is the time the loop waited for its next frame, 'decoder window' the
time it waited for the decoder (in the overlapped loops, what was not hidden), 'rest' is the ring buffer,
softmax, top-k and Python. The load average is printed at the start and the end: rerun on a busy machine.
"""
import itertools
import os
import pathlib
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repo root, for `vtn_jax`

import bench_models  # bench/

from vtn_jax.data import frames as frames_lib
from vtn_jax.data import synthetic, video_io
from vtn_jax.export import benchmark as benchmark_lib
from vtn_jax.inference import openvino_backend
from vtn_jax.inference import recognizer as recognizer_lib
from vtn_jax.models import modality as modality_lib

_MODELS = flags.DEFINE_list('models', ['resnet34', 'mobilenetv2'], 'Encoders.')
_PRECISIONS = flags.DEFINE_list('precisions', ['f32', 'bf16', 'int8'], 'Any of f32, bf16, int8 (those the CPU '
                                'lacks are skipped).')
_LOOPS = flags.DEFINE_list('loops', ['before', 'raw', 'overlap', 'every4'], 'Loops to time (see the docstring).')
_VIDEO = flags.DEFINE_string('video', '', 'A video file to stream (looped).')
_CAMERA = flags.DEFINE_string('camera', '640x480', 'WxH of a rendered camera-like source (0x0: none).')
_FRAMES = flags.DEFINE_integer('frames', 100, 'Timed frames per loop and round.')
_ROUNDS = flags.DEFINE_integer('rounds', 6, 'Alternating rounds.')
_THREADS = flags.DEFINE_integer('threads', 0, 'OpenVINO inference threads (0: all cores).')
_DECODER = flags.DEFINE_enum('decoder_precision', 'same', ['same', 'f32', 'bf16'], 'The decoder\'s precision '
                             'hint in the float rows (same: the row\'s).')
_WORKDIR = flags.DEFINE_string('workdir', os.path.join(tempfile.gettempdir(), 'vtn_bench_streaming'),
                                'Exported models and the rendered source (reused).')

WARMUP_FRAMES = 40  # the first window fills (31 frames) and OpenVINO's first calls settle


def render_camera(width: int, height: int, work_dir: pathlib.Path, num_frames: int = 240) -> pathlib.Path:
    """A camera-like MJPG AVI of moving textured shapes (synthetic scenes), rendered once."""
    path = work_dir / f'camera_{width}x{height}.avi'
    if not path.is_file():
        clips = [synthetic.make_video(i, seed=3, num_frames=60, height=height, width=width)[0]
                 for i in range(num_frames // 60)]
        video_io.write_video(path, np.concatenate(clips), fps=30.0)
    return path


def looping(path, color: str):
    """The frames of a video file, over and over."""
    return itertools.chain.from_iterable(video_io.iter_frames(path, color=color) for _ in itertools.count())


class Timed:
    """A backend whose encode / decode calls (and waits for asynchronous decoder windows) are timed."""

    def __init__(self, backend):
        self.backend = backend
        for name in ('num_steps', 'frame_channels', 'embed_dim', 'num_classes', 'image_size', 'raw_frames_only'):
            setattr(self, name, getattr(backend, name))
        self.seconds = {'encode': 0.0, 'decode': 0.0}

    def _timed(self, stage, fn, *args):
        t0 = time.perf_counter()
        out = fn(*args)
        self.seconds[stage] += time.perf_counter() - t0
        return out

    def encode(self, x):
        return self._timed('encode', self.backend.encode, x)

    def encode_frame(self, frame, previous=None):
        return self._timed('encode', self.backend.encode_frame, frame, previous)

    def prepare_frames(self, height, width, **settings):
        self.backend.prepare_frames(height, width, **settings)

    def decode(self, emb):
        return self._timed('decode', self.backend.decode, emb)

    def decode_async(self, emb):
        pending, outer = self.backend.decode_async(emb), self

        class Waited:
            def result(self):
                return outer._timed('decode', pending.result)
        return Waited()


class Loop:
    """One way of running the online loop, kept warm across rounds."""

    def __init__(self, name: str, backend, config, source):
        self.name, self.timed = name, Timed(backend)
        overlap, color = name in ('overlap', 'every4'), 'RGB' if name == 'before' else 'BGR'
        # 'before': the numpy path on frames as the datasets store them (the loop of round 1).
        clip = modality_lib.Clip.from_config(config)
        preprocessing = frames_lib.Preprocessing.from_config(config.data,
                                                             source='stored' if name == 'before' else 'raw')
        self.recognizer = recognizer_lib.OnlineRecognizer(
            self.timed, clip, preprocessing, raw_frames=name != 'before', pipelined=overlap,
            decode_every=4 if name == 'every4' else 1, frame_color=color)
        self.preprocess_s = 0.0
        if name == 'before':
            plain = self.recognizer.preprocess

            def preprocess(frame):
                t0 = time.perf_counter()
                out = plain(frame)
                self.preprocess_s += time.perf_counter() - t0
                return out
            self.recognizer.preprocess = preprocess
        self.frames = video_io.prefetched(looping(source, color)) if overlap else looping(source, color)
        self.run(WARMUP_FRAMES)
        self.stages = {k: [] for k in ('read', 'preprocess', 'encode', 'decode', 'push', 'total')}
        self.fps = []

    def run(self, n: int) -> None:
        self.preprocess_s, read, push = 0.0, 0.0, 0.0
        self.timed.seconds = {'encode': 0.0, 'decode': 0.0}
        start = time.perf_counter()
        for _ in range(n):
            t0 = time.perf_counter()
            frame = next(self.frames)
            t1 = time.perf_counter()
            self.recognizer.push(frame)
            read, push = read + t1 - t0, push + time.perf_counter() - t1
        t0 = time.perf_counter()
        self.recognizer.flush()
        push += time.perf_counter() - t0
        total = time.perf_counter() - start
        if hasattr(self, 'stages'):
            for key, value in (('read', read), ('preprocess', self.preprocess_s), ('push', push),
                               ('encode', self.timed.seconds['encode']), ('decode', self.timed.seconds['decode']),
                               ('total', total)):
                self.stages[key].append(1e3 * value / n)
            self.fps.append(n / total)

    def close(self):
        if hasattr(self.frames, 'close'):
            self.frames.close()


def encoder_alone(backend, n: int) -> float:
    """Frames per second of the encoder IR on one preprocessed crop, back to back."""
    crop = np.random.default_rng(0).standard_normal((1, 224, 224, 3)).astype(np.float32)
    if backend.raw_frames_only:
        raise ValueError('encoder alone needs a float encoder')
    start = time.perf_counter()
    for _ in range(n):
        backend.encode(crop)
    return n / (time.perf_counter() - start)


def bench_row(model_dir, config, precision: str, source, loops, frames: int, rounds: int) -> list:
    int8 = precision == 'int8'
    hint = None if int8 else precision
    decoder_hint = hint if _DECODER.value == 'same' or int8 else _DECODER.value
    backend = openvino_backend.OpenVinoBackend(model_dir / f'encoder{"_int8" if int8 else ""}.xml',
                                               model_dir / f'decoder{"_int8" if int8 else ""}.xml',
                                               precision=hint, num_threads=_THREADS.value,
                                               decoder_precision=decoder_hint)
    runners = [Loop(name, backend, config, source) for name in loops]
    encoder_alone(backend, 20)
    alone = []
    for r in range(rounds):
        alone.append(encoder_alone(backend, frames))
        for runner in (runners if r % 2 == 0 else runners[::-1]):
            runner.run(frames)
    rows = []
    used = openvino_backend.runtime_precision(backend.encoder)
    for runner in runners:
        runner.close()
        ratios = np.asarray(runner.fps) / np.asarray(alone)
        stage = {k: float(np.mean(v)) for k, v in runner.stages.items()}
        rest = stage['push'] - stage['preprocess'] - stage['encode'] - stage['decode']
        quiet = int(np.argmax(alone))  # the round least slowed by other processes
        rows.append(f'| {runner.name} | {1e3 / np.median(alone):.2f} | {stage["read"]:.2f} | {stage["preprocess"]:.2f} '
                    f'| {stage["encode"]:.2f} | {stage["decode"]:.2f} | {rest:.2f} | {stage["total"]:.2f} '
                    f'| {np.median(alone):.1f} | {np.median(runner.fps):.1f} '
                    f'| {np.median(ratios):.2f} ({ratios.min():.2f}-{ratios.max():.2f}) | {ratios[quiet]:.2f} |')
    return used, rows


def main(argv):
    del argv
    import openvino as ov
    work_dir = pathlib.Path(_WORKDIR.value)
    work_dir.mkdir(parents=True, exist_ok=True)
    capabilities = ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')
    precisions = [p for p in _PRECISIONS.value if {'bf16': 'BF16', 'int8': 'INT8'}.get(p, 'FP32') in capabilities]
    sources = []
    if _VIDEO.value:
        info = video_io.video_info(_VIDEO.value)
        sources.append((f'{pathlib.Path(_VIDEO.value).name} {info["width"]}x{info["height"]}', _VIDEO.value))
    width, height = (int(v) for v in _CAMERA.value.lower().split('x'))
    if width and height:
        sources.append((f'rendered {width}x{height} MJPG', str(render_camera(width, height, work_dir))))
    if not sources:
        raise app.UsageError('nothing to stream: give --video and/or --camera WxH')
    exports = {name: bench_models.export_model(name, work_dir) for name in _MODELS.value}
    print(f'CPU: {benchmark_lib.cpu_info()["summary"]}')
    print(f'OpenVINO {ov.get_version()}; threads: {_THREADS.value or "all"}; {_ROUNDS.value} rounds x {_FRAMES.value} '
          f'frames; load average at the start {" ".join(f"{x:.2f}" for x in os.getloadavg())}', flush=True)
    header = ('| loop | encoder alone | video decode | preprocess | encoder in loop | decoder window | rest '
              '| end to end | encoder FPS | loop FPS | ratio | quietest round |\n'
              '|---|---|---|---|---|---|---|---|---|---|---|---|')
    for label, path in sources:
        for name, (model_dir, config) in exports.items():
            for precision in precisions:
                used, rows = bench_row(model_dir, config, precision, path, _LOOPS.value, _FRAMES.value,
                                       _ROUNDS.value)
                print(f'\n{label}, {name}, {precision} (runs: {used})\n{header}')
                print('\n'.join(rows), flush=True)
    print(f'\nload average at the end {" ".join(f"{x:.2f}" for x in os.getloadavg())}')


if __name__ == '__main__':
    app.run(main)
