r"""Streams per machine: how many simultaneous 30-FPS live sources one CPU labels in real time.

    python bench/streams.py                                   # ResNet-34-VTN, rendered 768x576 MJPEG, about 8 min
    python bench/streams.py --video street.avi --precisions bf16,int8 --modes every
    VTN_BENCH_VIDEOS=/data/videos python bench/streams.py     # the first video of that folder as the source

The model: ResNet-34-VTN (configs/default.py: RGB, 16 frames at stride 2, 400 classes, 224 crops), random weights
(timing does not depend on them), exported once (float and NNCF INT8 IR) into --workdir and reused, as
bench/streaming.py does (`bench_models.export_model`). The sources: a 768x576 MJPEG video (rendered moving shapes,
or --video), served at --fps by loopback HTTP MJPEG servers (`vtn_jax.data.mjpeg`), read live (`vtn_jax.data.live`:
capture thread, newest frame wins), one server per stream.

Stage times, measured first in the same run with all cores: encoder alone (the raw-frame encoder IR on a decoded
768x576 frame, back to back), video decode (one 768x576 JPEG, cv2.imdecode), decoder window (one window, the
batch-1 decoder IR; and per window in a batch-B call, `decode_many`). The ceiling for a label on every frame is
1 / (fps x (t_encoder + t_decode + t_window)) streams; at the model's stride s only one frame in s is encoded
and labelled, so it is 1 / (fps x (t_decode + (t_encoder + t_window) / s)).

A trial runs N streams for --warmup seconds (not counted: OpenVINO's first calls, the first windows) and then
--seconds counted. It is in real time when
  - at least 98% of the frames due a label got one (every frame, or every s-th at the stride), and
  - the p95 of the capture-to-label latency over all labels of all streams is at most the bound
    t_encoder + t_decode + t_window + 2 frame intervals (2 / fps): a frame waits at most for the round of
    frames in progress (at most one frame interval when the machine keeps up) and for its own round (another),
    plus its own label's work.
Per precision and labelling, the largest N in real time is searched from the ceiling (up until a trial fails, or
down until one passes) for
  one process   `Recognizer.stream_many` of N sources (one compiled encoder and decoder; the N frames of a round
                on parallel infer requests, their windows in one batched decoder call)
  N processes   N worker processes, each with its own model running `Recognizer.stream` of one source (what
                N vtn-demo processes do, without drawing), started together.
Then a source faster than the model (--overload_factor times the model's label rate, one stream): the latency
p95 against the same bound, the memory of the process at the start and the end of the counted seconds, and
whether every frame the source captured was either labelled or counted as dropped.

The load average is printed at the start, per trial and at the end: other processes on the same cores slow
every trial down, so on a shared machine the figures are noisy; rerun on a quiet one.
"""
import dataclasses
import multiprocessing
import os
import pathlib
import sys
import tempfile
import time

import cv2
import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repo root, for `vtn_jax`

import bench_models  # bench/
from vtn_jax.data import mjpeg, synthetic, video_io

_PRECISIONS = flags.DEFINE_list('precisions', ['f32', 'bf16', 'int8'], 'Any of f32, bf16, int8.')
_MODES = flags.DEFINE_list('modes', ['every', 'stride'], 'every: a label on every frame; stride: at the model\'s '
                           'stride (label_every = stride).')
_VIDEO = flags.DEFINE_string('video', '', 'A video file to serve (default: the first file of $VTN_BENCH_VIDEOS, '
                             'else a rendered 768x576 MJPEG video).')
_FPS = flags.DEFINE_float('fps', 30.0, 'Frames per second of every source.')
_SECONDS = flags.DEFINE_float('seconds', 5.0, 'Counted seconds per trial.')
_WARMUP = flags.DEFINE_float('warmup', 3.0, 'Seconds per trial before counting.')
_MAX_STREAMS = flags.DEFINE_integer('max_streams', 16, 'The largest N tried.')
_PROCESSES = flags.DEFINE_bool('processes', True, 'Also run N separate processes.')
_HINT = flags.DEFINE_enum('hint', 'LATENCY', ['LATENCY', 'THROUGHPUT'], 'OpenVINO hint of the one-process encoder.')
_THREADS = flags.DEFINE_integer('threads', 0, 'OpenVINO inference threads (0: all cores).')
_OVERLOAD = flags.DEFINE_float('overload_factor', 2.0, 'The overload trial\'s source rate, in model label rates '
                               '(0: skip it).')
_WORKDIR = flags.DEFINE_string('workdir', os.path.join(tempfile.gettempdir(), 'vtn_bench_streaming'),
                                'Exported models and the rendered source (reused; shared with bench/streaming.py).')

REAL_TIME_FRACTION = 0.98  # labels made / labels due, for a trial to count as real time


def load_average() -> str:
    return ' '.join(f'{x:.2f}' for x in os.getloadavg())


def rss_mb() -> float:
    """This process's resident memory, MB."""
    for line in pathlib.Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) / 1024
    return float('nan')


def source_jpegs(work_dir: pathlib.Path) -> tuple:
    """(JPEG frames, description): --video, the first file of $VTN_BENCH_VIDEOS, or a rendered 768x576 video."""
    path = _VIDEO.value
    folder = os.environ.get('VTN_BENCH_VIDEOS')
    if not path and folder:
        files = sorted(p for p in pathlib.Path(folder).iterdir() if p.is_file())
        path = str(files[0]) if files else ''
    if path:
        frames = np.stack([f for _, f in zip(range(150), video_io.iter_frames(path))])
        name = f'{pathlib.Path(path).name} {frames.shape[2]}x{frames.shape[1]}'
    else:
        cache = work_dir / 'streams_768x576.npz'
        if not cache.is_file():
            clips = [synthetic.make_video(i, seed=3, num_frames=30, height=576, width=768)[0] for i in range(3)]
            np.savez(cache, jpegs=np.array(video_io.encode_jpegs(np.concatenate(clips), 90), dtype=object))
        return list(np.load(cache, allow_pickle=True)['jpegs']), 'rendered 768x576 MJPEG (quality 90)'
    return video_io.encode_jpegs(frames, 90), name


def open_recognizer(export_dir, precision: str, hint: str, threads: int, frame_bgr: np.ndarray):
    """The exported model, with its raw-frame encoder compiled for the source's frame size."""
    from vtn_jax.inference import api
    rec = api.Recognizer.from_export(export_dir, precision=precision, threads=threads, hint=hint,
                                     allow_unverified=True)
    rec.online(frame_color='BGR').push(frame_bgr)
    return rec


def median_ms(fn, n: int = 30) -> float:
    fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def stage_times(rec, jpegs, batches) -> dict:
    """t_encoder, t_decode, t_window (ms) and the decoder's ms per window in batches of B."""
    frame = cv2.imdecode(np.frombuffer(jpegs[0], np.uint8), cv2.IMREAD_COLOR)
    staged = rec.preprocessing.host_stage(frame)
    backend = rec.backend
    out = {'encoder': median_ms(lambda: backend.encode_frame(staged)),
           'decode': median_ms(lambda: cv2.imdecode(np.frombuffer(jpegs[1], np.uint8), cv2.IMREAD_COLOR))}
    window = np.random.default_rng(0).standard_normal((1, backend.num_steps, backend.embed_dim)).astype(np.float32)
    out['window'] = median_ms(lambda: backend.decode(window))
    for batch in batches:
        windows = np.repeat(window, batch, axis=0)
        out[f'window_x{batch}'] = median_ms(lambda w=windows: backend.decode_many(w)) / batch
    return out


@dataclasses.dataclass
class Meter:
    """Labels and frames of the streams of a trial within the counted seconds [start, end] (time.monotonic)."""
    start: float
    end: float
    label_every: int

    def __post_init__(self):
        self.latencies, self.indices, self.labels = [], {}, {}

    def add(self, step, now: float) -> None:
        if not self.start <= now <= self.end:
            return
        self.indices.setdefault(step.stream, []).append(step.frame_index)
        if step.latency_s is not None:
            self.latencies.append(step.latency_s)
            self.labels.setdefault(step.stream, []).append(step.frame_index)

    def result(self) -> dict:
        """{'due', 'labelled', 'latencies'}: labels due (source frames of the labelled phase in the counted
        span of each stream), labels made, and every label's latency."""
        due = labelled = 0
        for stream, indices in self.indices.items():
            labels = self.labels.get(stream, [])
            phase = labels[0] % self.label_every if labels else 0
            first, last = indices[0], indices[-1]
            due += len([i for i in range(first, last + 1) if i % self.label_every == phase])
            labelled += len(labels)
        return {'due': due, 'labelled': labelled, 'latencies': list(self.latencies)}


def run_streams(rec, urls, label_every: int, start_at: float, warmup: float, seconds: float) -> dict:
    """`stream_many` of `urls` from `start_at`; the counted result, the counts and the memory."""
    while time.monotonic() < start_at:
        time.sleep(0.005)
    meter = Meter(start_at + warmup, start_at + warmup + seconds, label_every)
    streams = rec.stream_many(urls, live=True, label_every=label_every)
    rss = []
    for step in streams:
        now = time.monotonic()
        meter.add(step, now)
        if not rss and now >= meter.start:
            rss.append(rss_mb())
        if now > meter.end:
            break
    rss.append(rss_mb())
    streams.close()
    result = meter.result()
    reports = streams.report()
    result.update(rss=rss, counted_all=all(r.captured == r.frames + r.dropped for r in reports),
                  dropped=sum(r.dropped for r in reports), captured=sum(r.captured for r in reports))
    return result


def worker(conn, export_dir, precision, threads, frame_bgr) -> None:
    """A separate process with its own model: runs one stream per command, as `vtn-demo --input URL` does."""
    from vtn_jax.data import live
    live.quiet_backend_logs()
    rec = open_recognizer(export_dir, precision, 'LATENCY', threads, frame_bgr)
    conn.send('ready')
    while True:
        command = conn.recv()
        if command is None:
            return
        conn.send(run_streams(rec, *command))


class Workers:
    """Worker processes of one precision, started when first needed and kept for the next trials."""

    def __init__(self, export_dir, precision, threads, frame_bgr):
        self.args, self.pipes, self.procs = (export_dir, precision, threads, frame_bgr), [], []
        self.context = multiprocessing.get_context('spawn')

    def ensure(self, count: int) -> None:
        new = []
        while len(self.pipes) < count:
            mine, theirs = self.context.Pipe()
            proc = self.context.Process(target=worker, args=(theirs,) + self.args, daemon=True)
            proc.start()
            self.pipes.append(mine)
            self.procs.append(proc)
            new.append(mine)
        for pipe in new:
            assert pipe.recv() == 'ready'

    def run(self, urls, label_every, warmup, seconds) -> dict:
        self.ensure(len(urls))
        start_at = time.monotonic() + 1.0
        for pipe, url in zip(self.pipes, urls):
            pipe.send(([url], label_every, start_at, warmup, seconds))
        parts = [pipe.recv() for pipe in self.pipes[:len(urls)]]
        return {'due': sum(p['due'] for p in parts), 'labelled': sum(p['labelled'] for p in parts),
                'latencies': [x for p in parts for x in p['latencies']],
                'rss': [sum(p['rss'][0] for p in parts), sum(p['rss'][-1] for p in parts)],
                'counted_all': all(p['counted_all'] for p in parts), 'dropped': sum(p['dropped'] for p in parts),
                'captured': sum(p['captured'] for p in parts)}

    def close(self) -> None:
        for pipe, proc in zip(self.pipes, self.procs):
            pipe.send(None)
            proc.join(30)


def judge(result: dict, bound_ms: float) -> dict:
    latencies = np.asarray(result['latencies']) * 1e3
    p50, p95 = (np.percentile(latencies, [50, 95]) if len(latencies) else (float('inf'),) * 2)
    fraction = result['labelled'] / max(result['due'], 1)
    return dict(result, p50=float(p50), p95=float(p95), fraction=fraction,
                ok=fraction >= REAL_TIME_FRACTION and p95 <= bound_ms)


def search(trial, start: int, limit: int) -> tuple:
    """The largest N in 1 .. limit for which trial(N)['ok'], searched from `start`; (N, {N: result})."""
    results = {}
    n = max(1, min(start, limit))
    results[n] = trial(n)
    if results[n]['ok']:
        while n < limit:
            results[n + 1] = trial(n + 1)
            if not results[n + 1]['ok']:
                break
            n += 1
        return n, results
    while n > 1:
        n -= 1
        results[n] = trial(n)
        if results[n]['ok']:
            return n, results
    return 0, results


def describe(n: int, result: dict) -> str:
    return (f'N={n}: {result["labelled"]}/{result["due"]} labels ({100 * result["fraction"]:.1f}%), latency p50 '
            f'{result["p50"]:.0f} ms, p95 {result["p95"]:.0f} ms -> {"real time" if result["ok"] else "not"} '
            f'(load {load_average()})')


def main(argv):
    del argv
    import openvino as ov
    from vtn_jax.data import live
    from vtn_jax.export import benchmark as benchmark_lib
    live.quiet_backend_logs()
    work_dir = pathlib.Path(_WORKDIR.value)
    work_dir.mkdir(parents=True, exist_ok=True)
    export_dir, config = bench_models.export_model('resnet34', work_dir)
    stride = config.data.stride
    jpegs, source_name = source_jpegs(work_dir)
    frame_bgr = cv2.imdecode(np.frombuffer(jpegs[0], np.uint8), cv2.IMREAD_COLOR)
    capabilities = ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')
    precisions = [p for p in _PRECISIONS.value if {'bf16': 'BF16', 'int8': 'INT8'}.get(p, 'FP32') in capabilities]
    fps, interval_ms = _FPS.value, 1e3 / _FPS.value
    print(f'CPU: {benchmark_lib.cpu_info()["summary"]}')
    print(f'OpenVINO {ov.get_version()}; ResNet-34-VTN (random weights); source {source_name} at {fps:g} FPS, '
          f'{len(jpegs)} frames looped; trials {_WARMUP.value:g} s + {_SECONDS.value:g} s counted; one-process hint '
          f'{_HINT.value}; load average at the start {load_average()}', flush=True)
    servers = [mjpeg.MjpegServer(jpegs, fps=fps) for _ in range(_MAX_STREAMS.value)]
    urls = [s.url for s in servers]
    stage_rows, stream_rows, overload_rows = [], [], []
    try:
        for precision in precisions:
            rec = open_recognizer(export_dir, precision, _HINT.value, _THREADS.value, frame_bgr)
            rec.backend.prepare_decoder(_MAX_STREAMS.value)
            t = stage_times(rec, jpegs, (2, 4, 8))
            label_ms = t['encoder'] + t['decode'] + t['window']
            bound = label_ms + 2 * interval_ms
            stage_rows.append(f'| {precision} | {t["encoder"]:.2f} ({1e3 / t["encoder"]:.0f} FPS) | {t["decode"]:.2f} '
                              f'| {t["window"]:.2f} | {t["window_x2"]:.2f} / {t["window_x4"]:.2f} / '
                              f'{t["window_x8"]:.2f} | {bound:.0f} |')
            print(f'\n{precision}: encoder {t["encoder"]:.2f} ms, decode {t["decode"]:.2f} ms, '
                  f'window {t["window"]:.2f} '
                  f'ms (x2 {t["window_x2"]:.2f}, x4 {t["window_x4"]:.2f}, x8 {t["window_x8"]:.2f} per window); '
                  f'bound {bound:.0f} ms', flush=True)
            workers = Workers(export_dir, precision, _THREADS.value, frame_bgr) if _PROCESSES.value else None
            for mode in _MODES.value:
                every = 1 if mode == 'every' else stride
                per_label = t['decode'] + (t['encoder'] + t['window']) / every
                ceiling = 1e3 / (fps * per_label)

                def one(n, every=every):
                    result = judge(run_streams(rec, urls[:n], every, time.monotonic() + 0.5, _WARMUP.value,
                                               _SECONDS.value), bound)
                    print(f'  {precision} {mode} one process {describe(n, result)}', flush=True)
                    return result

                def many(n, every=every):
                    result = judge(workers.run(urls[:n], every, _WARMUP.value, _SECONDS.value), bound)
                    print(f'  {precision} {mode} {n} processes {describe(n, result)}', flush=True)
                    return result
                best, results = search(one, int(np.floor(ceiling)), _MAX_STREAMS.value)
                row = (f'| {precision} | {mode} | {ceiling:.2f} | {best} | {best / ceiling:.2f} | '
                       f'{results[best]["p95"] if best else float("nan"):.0f} |')
                if workers is not None:
                    separate, sep_results = search(many, max(1, best), _MAX_STREAMS.value)
                    ratio = f'{best / separate:.2f}' if separate else 'inf'
                    rss = (f'{results[best]["rss"][-1]:.0f} / {sep_results[separate]["rss"][-1]:.0f}'
                           if best and separate else 'n/a')
                    row += (f' {separate} | {sep_results[separate]["p95"] if separate else float("nan"):.0f} | '
                            f'{ratio} | {rss} |')
                stream_rows.append(row)
            if workers is not None:
                workers.close()
            if _OVERLOAD.value:
                over_fps = _OVERLOAD.value * 1e3 / label_ms
                with mjpeg.MjpegServer(jpegs, fps=over_fps) as fast:
                    result = judge(run_streams(rec, [fast.url], 1, time.monotonic() + 0.5, _WARMUP.value,
                                               _SECONDS.value), bound)
                overload_rows.append(
                    f'| {precision} | {over_fps:.0f} | {result["captured"]} | {result["dropped"]} | '
                    f'{"yes" if result["counted_all"] else "NO"} | {result["p50"]:.0f} | {result["p95"]:.0f} | '
                    f'{bound:.0f} | {result["rss"][0]:.0f} -> {result["rss"][-1]:.0f} |')
                print(f'  {precision} overload {over_fps:.0f} FPS: {describe(1, result)}', flush=True)
            rec = None  # the model is released before the next precision loads
    finally:
        for server in servers:
            server.stop()
    print('\nStage times (ms, all cores; window xB: ms per window when B windows share one call):\n'
          '| precision | encoder alone | video decode | decoder window | window x2 / x4 / x8 | latency bound |\n'
          '|---|---|---|---|---|---|')
    print('\n'.join(stage_rows))
    header = '| precision | labels | ceiling | one process | of ceiling | p95 ms |'
    if _PROCESSES.value:
        header += ' N processes | p95 ms | one / N | memory MB (one / N) |'
    print(f'\nStreams labelled in real time at {fps:g} FPS:\n{header}\n|' + '---|' * (header.count('|') - 1))
    print('\n'.join(stream_rows))
    if overload_rows:
        print('\nA source faster than the model (one stream):\n| precision | source FPS | captured | dropped | '
              'all counted | p50 ms | p95 ms | bound ms | memory MB (start -> end) |\n'
              '|---|---|---|---|---|---|---|---|---|')
        print('\n'.join(overload_rows))
    print(f'\nload average at the end {load_average()}')


if __name__ == '__main__':
    app.run(main)
