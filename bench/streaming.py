r"""Streaming latency and dense-evaluation cost of VTN with the OpenVINO backend (issue 9).

    python bench/streaming.py                                   # ResNet-34-VTN and MobileNetV2-VTN, 224x224
    python bench/streaming.py --models mobilenetv2 --frames 100 --dense_frames 0

For each model (RGB, 16 frames at stride 2, 400 classes, random weights: timing does not depend on them):
  1. export the encoder, the decoder and the whole model with `vtn_jax.export` (cached in --work_dir);
  2. per precision (f32, and the CPU's fast one: bf16 where OpenVINO reports BF16, else the INT8 IR), in
     alternating rounds:
     * encoder alone: back-to-back passes on one preprocessed frame;
     * online: frames of --video read with `video_io.iter_frames` and pushed into `OnlineRecognizer`;
       per-frame latency of `push` (preprocess + encode + ring buffer + decoder window) and end to end
       (+ video decode), median and p99, and the stage breakdown;
     * ratio = end-to-end frame rate / encoder-alone rate (goal >= 0.85);
  3. dense evaluation of --dense_frames frames (f32) with `dense.dense_video_logits`, against window-by-window
     offline inference with the whole-model IR (one window of 16 frames per frame): encoder passes, time and
     the largest logit difference (goal: >= 10x fewer passes, >= 8x less time).

Timings are wall-clock, so other processes on the machine inflate them: run it on an idle machine, or read the
"quietest round" column. The load average is printed before and after.
"""
import argparse
import os
import pathlib
import platform
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

from vtn_jax.configs import default  # noqa: E402  pylint: disable=wrong-import-position
from vtn_jax.inference import whole_video as dense  # noqa: E402  pylint: disable=wrong-import-position
from vtn_jax.inference import openvino_backend  # noqa: E402  pylint: disable=wrong-import-position
from vtn_jax.inference import recognizer as recognizer_lib  # noqa: E402  pylint: disable=wrong-import-position
from vtn_jax.data import video_io  # noqa: E402  pylint: disable=wrong-import-position

WARMUP_FRAMES = 40  # the first window fills (31 frames) and OpenVINO's first calls settle


def cpu_description() -> str:
    """CPU model name (with family/model numbers: VMs often hide the name), cores and the vector extensions
    that decide OpenVINO's precision."""
    info = {}
    try:
        for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
            key, _, value = line.partition(':')
            info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = info.get('model name', platform.processor() or 'unknown CPU')
    flags = set(info.get('flags', '').split())
    wanted = ('avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'amx_bf16', 'amx_int8')
    return (f'{name} (family {info.get("cpu family", "?")}, model {info.get("model", "?")}), '
            f'{os.cpu_count()} logical cores, {" ".join(f for f in wanted if f in flags) or "no AVX2"}')


def export_model(encoder: str, work_dir: pathlib.Path, int8: bool) -> tuple[pathlib.Path, object]:
    """Exports (or reuses) encoder, decoder and whole model of a random-weight 224x224 RGB VTN."""
    config = default.get_config()
    config.model.encoder = encoder
    out = work_dir / encoder
    wanted = ['encoder.xml', 'decoder.xml', 'whole.xml'] + (['encoder_int8.xml', 'decoder_int8.xml'] if int8 else [])
    if all((out / name).is_file() for name in wanted):
        return out, config
    from vtn_jax import checkpoints  # pylint: disable=import-outside-toplevel
    from vtn_jax.export import artifacts, pipeline  # pylint: disable=import-outside-toplevel
    from vtn_jax.models import vtn as model_lib  # pylint: disable=import-outside-toplevel
    model = model_lib.create_model(config.model)
    variables = checkpoints.random_variables(model, image_size=config.data.crop_size)
    options = artifacts.ExportOptions(parts=('encoder', 'decoder', 'whole'), int8=int8, calib_clips=32,
                                   calib_split='synthetic')
    t0 = time.perf_counter()
    pipeline.export(config, variables, out, options, weights='random (benchmark)', verify_exports=False)
    print(f'  exported {encoder} to {out} in {time.perf_counter() - t0:.0f} s', flush=True)
    return out, config


def summarize(seconds) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {'median': float(np.median(ms)), 'p99': float(np.percentile(ms, 99))}


class TimedBackend:
    """Wraps a backend and records how long each encode and decode call takes."""

    def __init__(self, backend):
        self.backend = backend
        self.num_steps, self.frame_channels = backend.num_steps, backend.frame_channels
        self.embed_dim, self.num_classes = backend.embed_dim, backend.num_classes
        self.image_size = backend.image_size
        self.encode_s, self.decode_s = [], []

    def encode(self, frames):
        t0 = time.perf_counter()
        out = self.backend.encode(frames)
        self.encode_s.append(time.perf_counter() - t0)
        return out

    def decode(self, emb):
        t0 = time.perf_counter()
        out = self.backend.decode(emb)
        self.decode_s.append(time.perf_counter() - t0)
        return out


def bench_online(backend, config, video: str, frames: int, rounds: int) -> dict:
    """Encoder alone and the recognizer on real frames, in alternating rounds.

    Other processes on a shared machine slow some rounds down; alternating the two measurements and taking
    the median of the per-round ratios keeps such drift out of the ratio.
    """
    timed = TimedBackend(backend)
    recognizer = recognizer_lib.OnlineRecognizer.from_config(timed, config)
    source = video_io.iter_frames(video)

    def next_frame():
        nonlocal source
        try:
            return next(source)
        except StopIteration:  # loop a short video
            source = video_io.iter_frames(video)
            return next(source)

    sample = recognizer.preprocess(next_frame())[None]
    for _ in range(WARMUP_FRAMES):
        backend.encode(sample)
        recognizer.push(next_frame())
    per_round = max(frames // rounds, 1)
    alone, total, read, push, ratios, rounds_ms = [], [], [], [], [], []
    timed.encode_s.clear()
    timed.decode_s.clear()
    for _ in range(rounds):
        block = []
        for _ in range(per_round):
            t0 = time.perf_counter()
            backend.encode(sample)
            block.append(time.perf_counter() - t0)
        alone += block
        loop = []
        for _ in range(per_round):
            t0 = time.perf_counter()
            frame = next_frame()
            t1 = time.perf_counter()
            assert recognizer.push(frame) is not None
            t2 = time.perf_counter()
            read.append(t1 - t0)
            push.append(t2 - t1)
            loop.append(t2 - t0)
        total += loop
        ratios.append(np.median(block) / np.median(loop))
        rounds_ms.append((1e3 * np.median(block), 1e3 * np.median(loop)))
    rest = np.asarray(push) - np.asarray(timed.encode_s) - np.asarray(timed.decode_s)
    return {'alone': summarize(alone), 'total': summarize(total), 'read': summarize(read),
            'push': summarize(push), 'encode': summarize(timed.encode_s), 'decode': summarize(timed.decode_s),
            'rest': summarize(rest), 'ratio': float(np.median(ratios)), 'ratios': ratios,
            # The round least disturbed by other processes: the lowest encoder-alone median.
            'quietest': min(rounds_ms),
            'precision': backend.inference_precision}


def bench_dense(model_dir: pathlib.Path, config, video: str, num_frames: int) -> dict:
    """Dense evaluation vs window-by-window offline inference (whole-model IR), float32."""
    import openvino as ov  # pylint: disable=import-outside-toplevel
    backend = openvino_backend.OpenVinoBackend(model_dir / 'encoder.xml', model_dir / 'decoder.xml', precision='f32')
    recognizer = recognizer_lib.OnlineRecognizer.from_config(backend, config)
    raw = []
    for frame in video_io.iter_frames(video):
        raw.append(frame)
        if len(raw) == num_frames:
            break
    frames = np.stack([recognizer.preprocess(f) for f in raw])
    t, s = config.model.num_frames, config.data.stride
    passes = {'n': 0}

    def encode(x):
        passes['n'] += len(x)
        return backend.encode(x)

    t0 = time.perf_counter()
    result = dense.dense_video_logits(encode, backend.decode, frames, num_frames=t, stride=s, modality='rgb',
                                      batch_size=1)
    dense_s = time.perf_counter() - t0

    core = ov.Core()
    whole = core.compile_model(core.read_model(str(model_dir / 'whole.xml')), 'CPU',
                               {'PERFORMANCE_HINT': 'LATENCY', 'INFERENCE_PRECISION_HINT': 'f32'})
    request = whole.create_infer_request()
    span = (t - 1) * s
    offline = np.full_like(result.frame_logits, np.nan)
    t0 = time.perf_counter()
    for end in range(span, len(frames)):
        clip = np.ascontiguousarray(frames[end - span:end + 1:s][None])
        offline[end] = request.infer({0: clip})[0][0]
    offline_s = time.perf_counter() - t0
    windows = len(frames) - span
    diff = float(np.nanmax(np.abs(offline - result.frame_logits)))
    same = float(np.mean(offline[span:].argmax(-1) == result.frame_logits[span:].argmax(-1)))
    return {'frames': len(frames), 'windows': windows, 'dense_passes': passes['n'], 'offline_passes': windows * t,
            'dense_s': dense_s, 'offline_s': offline_s, 'max_diff': diff, 'top1_agreement': same,
            'segments': len(result.segment_starts)}


def scaled_copy(video: str, short: int, work_dir: pathlib.Path) -> pathlib.Path:
    """Writes `video` with its shorter side resized to `short` (XVID AVI, same frame rate) into work_dir."""
    out_path = work_dir / f'{pathlib.Path(video).stem}_{short}p.avi'
    work_dir.mkdir(parents=True, exist_ok=True)
    frames = np.stack([video_io.resize_short_side(f, short) for f in video_io.iter_frames(video)])
    video_io.write_video(out_path, frames, fps=video_io.video_info(video)['fps'], fourcc='XVID')
    return out_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', 1)[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument('--models', default='resnet34,mobilenetv2', help='comma-separated encoders')
    parser.add_argument('--video', required=True, help='a video file to stream (e.g. a 768x576 street scene)')
    parser.add_argument('--frames', type=int, default=200, help='timed frames per measurement')
    parser.add_argument('--rounds', type=int, default=10, help='alternating encoder-alone / online rounds')
    parser.add_argument('--dense_frames', type=int, default=300, help='frames of the dense comparison (0: skip)')
    parser.add_argument('--dense_models', default='resnet34,mobilenetv2', help='models of the dense comparison')
    parser.add_argument('--work_dir', default='/tmp/vtn_bench_streaming', help='exported models (reused)')
    parser.add_argument('--source_short', type=int, default=0,
                        help='first write a copy of --video with its shorter side resized to this (INTER_AREA, as '
                             'the datasets store frames) into --work_dir and time that: the cost of a source that '
                             'already has the model\'s input scale, e.g. a camera set to a low resolution (0: off)')
    args = parser.parse_args(argv)
    if args.source_short:
        args.video = str(scaled_copy(args.video, args.source_short, pathlib.Path(args.work_dir)))

    import openvino as ov  # pylint: disable=import-outside-toplevel
    capabilities = ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')
    fast = 'bf16' if 'BF16' in capabilities else 'int8'
    print(f'CPU: {cpu_description()}')
    print(f'OpenVINO {ov.get_version()}, CPU capabilities {" ".join(capabilities)}; fast precision: {fast}')
    print(f'video: {args.video}; {args.frames} timed frames after {WARMUP_FRAMES} warm-up frames; '
          f'load average {" ".join(f"{x:.2f}" for x in os.getloadavg())}\n', flush=True)
    work_dir = pathlib.Path(args.work_dir)
    rows, dense_rows = [], []
    for encoder in args.models.split(','):
        model_dir, config = export_model(encoder, work_dir, int8=fast == 'int8')
        for precision in ('f32', fast):
            suffix = '_int8' if precision == 'int8' else ''
            backend = openvino_backend.OpenVinoBackend(model_dir / f'encoder{suffix}.xml', model_dir / f'decoder{suffix}.xml',
                                                precision=None if precision == 'int8' else precision)
            r = bench_online(backend, config, args.video, args.frames, args.rounds)
            used = r['precision'] + (' + int8 weights' if precision == 'int8' else '')
            rows.append(f'| {encoder} | {precision} -> {used} | {r["alone"]["median"]:.2f} / {r["alone"]["p99"]:.2f} '
                        f'| {r["total"]["median"]:.2f} / {r["total"]["p99"]:.2f} '
                        f'| {r["push"]["median"]:.2f} / {r["push"]["p99"]:.2f} | {r["read"]["median"]:.2f} '
                        f'| {r["rest"]["median"]:.2f} | {r["encode"]["median"]:.2f} | {r["decode"]["median"]:.2f} '
                        f'| {1e3 / r["alone"]["median"]:.1f} | {1e3 / r["total"]["median"]:.1f} '
                        f'| {r["ratio"]:.2f} ({min(r["ratios"]):.2f}-{max(r["ratios"]):.2f}) '
                        f'| {r["quietest"][0]:.2f} / {r["quietest"][1]:.2f} = {r["quietest"][0] / r["quietest"][1]:.2f} |')
            print(rows[-1], flush=True)
        if args.dense_frames and encoder in args.dense_models.split(','):
            d = bench_dense(model_dir, config, args.video, args.dense_frames)
            dense_rows.append(
                f'| {encoder} | {d["frames"]} | {d["windows"]} | {d["dense_passes"]} | {d["offline_passes"]} '
                f'| {d["offline_passes"] / d["dense_passes"]:.1f}x | {d["dense_s"]:.1f} | {d["offline_s"]:.1f} '
                f'| {d["offline_s"] / d["dense_s"]:.1f}x | {d["max_diff"]:.1e} | {d["top1_agreement"]:.3f} |')
            print(dense_rows[-1], flush=True)

    print('\nOnline recognizer, OpenVINO backend, 224x224, T=16 at stride 2, one thread pool over all cores. '
          'Times in ms, median / p99; FPS from the medians; ratio = end-to-end FPS / encoder-alone FPS, the median '
          f'(range) over {args.rounds} alternating rounds; the last column is the round with the fastest encoder '
          '(the least disturbed by other processes): encoder alone / end to end = ratio.\n')
    print('| model | precision (hint -> used) | encoder alone | end to end | push | video decode '
          '| preprocess + ring | encoder in loop | decoder window | encoder FPS | end-to-end FPS | ratio '
          '| quietest round |')
    print('|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    print('\n'.join(rows))
    if dense_rows:
        print(f'\nDense evaluation vs window-by-window offline (whole-model IR), f32, {args.video}:\n')
        print('| model | frames | windows | encoder passes dense | offline | fewer | dense s | offline s | faster '
              '| max logit diff | top-1 agreement |')
        print('|---|---|---|---|---|---|---|---|---|---|---|')
        print('\n'.join(dense_rows))
    print(f'\nload average at the end: {" ".join(f"{x:.2f}" for x in os.getloadavg())}')


if __name__ == '__main__':
    main()
