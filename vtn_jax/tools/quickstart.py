r"""vtn-quickstart: from nothing to a trained, evaluated, exported, verified and timed VTN, streaming a video.

    vtn-quickstart --workdir runs/demo                     # what `make demo` runs
    vtn-quickstart --workdir runs/demo --config demo --config.train.num_train_steps=500 --seconds 0

Steps, each with progress output: build the config's dataset, train (resumes if the workdir has a run),
evaluate Clip@1 (central clip) and Video@1 (all segments), export ONNX + OpenVINO IR (whole model and the
encoder/decoder pair) verified against JAX, time the IRs in OpenVINO, render a video whose every frame has a
known label and stream it through the exported pair, reporting the per-frame accuracy of the online labels, the
delay after each change of class and a per-segment timeline. It ends with a summary table, also written to
<workdir>/summary.md and summary.json.

The video with a known answer: for a model of the two-cue set (configs/demo.py) one continuous two-cue stream
that shows every class once (`two_cue.make_labelled_stream`, STREAM_ORDER: some changes alter only the
appearance, some only the motion, one both), its labels in demo_known_labels.csv; for a synthetic_actions model,
consecutive synthetic clips. `--video` also streams a file of yours (a visual check: its labels are unknown).
"""
import json
import logging
import pathlib
import sys
import time

import cv2
import numpy as np
from absl import app, flags

from vtn_jax import plots
from vtn_jax.data import class_names as class_names_lib
from vtn_jax.data import input_pipeline
from vtn_jax.data import synthetic
from vtn_jax.data import tfds_builders
from vtn_jax.data import two_cue
from vtn_jax.data import video_io
from vtn_jax.export import artifacts
from vtn_jax.export import pipeline
from vtn_jax.inference import api
from vtn_jax.inference import demo_run
from vtn_jax.tools import cli
from vtn_jax.training import evaluation
from vtn_jax.training import trainer

_LOG = logging.getLogger('vtn_jax.quickstart')
_VIDEO = flags.DEFINE_string('video', '', 'Also stream this video file (a visual check; its labels are unknown).')

COMMON = (cli.CONFIG, cli.WORKDIR, cli.SECONDS)  # the shared flags this command uses (its --help lists them)

def _banner(text: str):
    _LOG.info('\n==== %s ====', text)


# The two-cue stream's classes, each once: consecutive segments change the motion only (0 -> 1), the appearance
# only (1 -> 5), or both (11 -> 6), so the per-segment timeline shows how fast each kind of change is picked up.
STREAM_ORDER = (0, 1, 5, 9, 10, 2, 3, 7, 4, 8, 11, 6)


def two_cue_frame_size(data_config):
    """(height, width) of the two-cue synthetic_actions config the data config names, else None."""
    if data_config.name != 'synthetic_actions':
        return None
    known = {c.name: c for c in tfds_builders.SyntheticActions.BUILDER_CONFIGS}
    builder_config = known.get(data_config.builder_config or 'default')
    if builder_config is None or builder_config.generator != 'two_cue':
        return None
    return builder_config.height, builder_config.width


def render_labelled_video(path, config, *, segment_frames: int = 64, seed: int = 1000) -> np.ndarray:
    """Writes a video whose every frame has a known label (25 fps MJPG); returns the labels, one per frame.

    A two-cue model gets one continuous two-cue stream through STREAM_ORDER at the dataset's frame size; any
    other model eight consecutive synthetic_actions clips of its classes.
    """
    size = two_cue_frame_size(config.data)
    if size is not None:
        frames, labels = two_cue.make_labelled_stream(STREAM_ORDER, segment_frames=segment_frames, seed=seed,
                                                      height=size[0], width=size[1])
    else:
        clips = [synthetic.make_video(i, seed=seed, num_frames=segment_frames, height=64, width=64,
                                      num_classes=config.model.num_classes) for i in range(8)]
        frames = np.concatenate([video for video, _ in clips])
        labels = np.concatenate([np.full(len(video), label) for video, label in clips])
    video_io.write_video(path, frames, fps=25.0)
    return labels


def segment_timeline(frame_top1: np.ndarray, truth: np.ndarray, class_names) -> list:
    """One row per segment of constant true label: its first frame, length, true class, the share of its
    labelled frames that are right, and the online label it showed most often (None before any label)."""
    starts = [0] + [t for t in range(1, len(truth)) if truth[t] != truth[t - 1]]
    rows = []
    for start, stop in zip(starts, starts[1:] + [len(truth)]):
        shown = frame_top1[start:stop][frame_top1[start:stop] >= 0]
        most = int(np.bincount(shown).argmax()) if len(shown) else None
        rows.append({'start': start, 'frames': stop - start, 'truth': class_names[truth[start]],
                     'accuracy': float(np.mean(shown == truth[start])) if len(shown) else None,
                     'most_shown': class_names[most] if most is not None else None})
    return rows


def write_overview(path, video_path, top1, truth, class_names, timeline_png, fractions=(0.3, 0.55, 0.8)):
    """One picture of the run: three frames of the streamed video, enlarged, each with the label the online
    recognizer showed and the true one, above the timeline of every frame's label."""
    video = video_io.read_video(video_path)
    tiles = []
    for fraction in fractions:
        t = min(int(fraction * len(video)), len(video) - 1)
        tile = cv2.resize(video[t], (240, 240), interpolation=cv2.INTER_NEAREST)
        tile[:58] = (tile[:58] * 0.35).astype(np.uint8)
        shown = class_names[top1[t]] if top1[t] >= 0 else '(warming up)'
        colour = (120, 255, 120) if top1[t] == truth[t] else (255, 140, 120)
        cv2.putText(tile, f'shown: {shown}', (6, 22), cv2.FONT_HERSHEY_SIMPLEX, 0.55, colour, 1, cv2.LINE_AA)
        cv2.putText(tile, f'true:  {class_names[truth[t]]}', (6, 46), cv2.FONT_HERSHEY_SIMPLEX, 0.55,
                    (255, 255, 255), 1, cv2.LINE_AA)
        tiles.append(np.pad(tile, ((0, 0), (0, 8), (0, 0)), constant_values=255))
    strip = np.concatenate(tiles, axis=1)
    plot = cv2.cvtColor(cv2.imread(str(timeline_png)), cv2.COLOR_BGR2RGB)
    width = max(plot.shape[1], strip.shape[1])
    rows = [np.pad(image, ((0, 0), (0, width - image.shape[1]), (0, 0)), constant_values=255)
            for image in (strip, plot)]
    return plots.save_png(path, np.concatenate(rows, axis=0))


def score_stream(frame_top1: np.ndarray, truth: np.ndarray, window: int) -> dict:
    """Per-frame accuracy of online labels (-1: no label yet) against the truth, and the delay after each
    change of the true label until the online label first matches it."""
    labelled = frame_top1 >= 0
    changes = [t for t in range(1, len(truth)) if truth[t] != truth[t - 1]]
    delays = []
    for t in changes:
        stop = next((c for c in changes if c > t), len(truth))
        hit = np.nonzero(frame_top1[t:stop] == truth[t])[0]
        delays.append(int(hit[0]) if len(hit) else None)
    found = [d for d in delays if d is not None]
    return {'frame_accuracy': float(np.mean(frame_top1[labelled] == truth[labelled])) if labelled.any() else 0.0,
            'labelled_frames': int(labelled.sum()), 'frames': int(len(truth)),
            'median_delay_frames': float(np.median(found)) if found else None, 'window_frames': window,
            'segment_changes': len(changes), 'changes_never_recognised': delays.count(None)}


def run_quickstart(config, workdir, *, video: str = '', benchmark_seconds: float = 3.0) -> dict:
    """Runs every step; returns the summary (also written to workdir/summary.{md,json})."""
    workdir = pathlib.Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with config.unlocked():
        if not pathlib.Path(config.data.data_dir).is_absolute():
            config.data.data_dir = str(workdir / 'tfds')
    times, summary = {}, {'workdir': str(workdir)}

    t = time.time()
    _banner(f'1/6 dataset {config.data.name}/{config.data.builder_config or "default"}')
    tfds_builders.build(config.data.name, config.data.data_dir, config.data.builder_config)
    names = input_pipeline.class_names(config.data)
    names_file = workdir / 'class_names.txt'
    class_names_lib.write_class_names(names_file, names)
    times['dataset'] = time.time() - t

    t = time.time()
    _banner(f'2/6 training {config.model.encoder} ({config.model.modality}) for {config.train.num_train_steps} steps')
    train_dir = workdir / 'train'
    trainer.train_and_evaluate(config, train_dir)
    times['train'] = time.time() - t

    t = time.time()
    _banner('3/6 evaluation (best checkpoint)')
    clip = evaluation.evaluate_checkpoint(config, str(train_dir), mode='clip')
    segments = evaluation.evaluate_checkpoint(config, str(train_dir), mode='segments')
    summary['accuracy'] = {'clip@1 (central clip)': clip['clip_top1'], 'clip@1 (all segments)': segments['clip_top1'],
                           'video@1': segments['video_top1'], 'video@5': segments['video_top5'],
                           'chance': 1.0 / config.model.num_classes, 'videos': segments['num_videos']}
    _LOG.info('%s', json.dumps(summary['accuracy'], indent=1))
    times['evaluate'] = time.time() - t

    t = time.time()
    _banner('4/6 export to ONNX and OpenVINO IR, verified against JAX' + (', timed' if benchmark_seconds else ''))
    export_dir = workdir / 'export'
    bench_args = {'seconds': benchmark_seconds, 'hints': ('LATENCY',)} if benchmark_seconds > 0 else None
    result = pipeline.run(config, checkpoint=str(train_dir), out_dir=export_dir,
                          options=artifacts.ExportOptions(verify_clips=4), class_names_file=str(names_file),
                          benchmark_args=bench_args)
    report = result['record'].verification
    summary['verification'] = {'passed': report['passed'], 'rows': [
        {k: r[k] for k in ('part', 'stage', 'reference', 'precision', 'max_abs_diff', 'passed')}
        for r in report['rows']]}
    if result['benchmark']:
        summary['openvino'] = [{'part': r['model'], **{k: r.get(k) for k in ('variant', 'hint', 'precision', 'fps',
                                                                              'median_ms')}}
                               for r in result['benchmark']['rows']]
        summary['cpu'] = result['benchmark']['cpu']['summary']
    times['export+verify+benchmark'] = time.time() - t

    t = time.time()
    _banner('5/6 streaming a rendered video with known labels through the exported encoder/decoder (OpenVINO)')
    recognizer = api.Recognizer.from_export(export_dir)
    known = workdir / 'demo_known_labels.avi'
    truth = render_labelled_video(known, config)
    truth_file = workdir / 'demo_known_labels.csv'
    truth_file.write_text('frame,label,class\n' + ''.join(f'{i},{k},{names[k]}\n' for i, k in enumerate(truth)))
    out_video, timeline = workdir / 'demo_annotated.avi', workdir / 'demo_timeline.csv'
    streamed = demo_run.run_demo(recognizer, str(known), output=str(out_video), timeline=str(timeline), print_every=0,
                             truth=truth)
    window = (config.model.num_frames - 1) * config.data.stride + 1
    top1 = np.asarray(streamed['top1'])
    summary['stream'] = {'video': str(known), 'truth': str(truth_file), 'fps': streamed['fps'],
                         **score_stream(top1, truth, window), 'segments': segment_timeline(top1, truth, names)}
    summary['demo'] = {'annotated_video': str(out_video), 'timeline': str(timeline),
                       'overview': str(write_overview(workdir / 'overview.png', known, top1, truth, names,
                                                                 streamed['timeline_png']))}
    if video:  # a visual check on the user's own video: no labels to score
        demo_run.run_demo(recognizer, video, output=str(workdir / 'video_annotated.avi'), print_every=0)
    times['stream'] = time.time() - t

    _banner('6/6 summary')
    summary['seconds'] = {k: round(v, 1) for k, v in times.items()}
    summary['artifacts'] = {'checkpoints': str(train_dir), 'export': str(export_dir), 'tensorboard': str(train_dir)}
    text = format_summary(summary)
    _LOG.info('%s', text)
    (workdir / 'summary.md').write_text(text + '\n')
    (workdir / 'summary.json').write_text(json.dumps(summary, indent=1))
    return summary


def format_summary(summary: dict) -> str:
    """The summary as Markdown tables."""
    acc = summary['accuracy']
    lines = ['| metric | value |', '|---|---|']
    lines += [f'| {k} | {v:.3f} |' if isinstance(v, float) else f'| {k} | {v} |' for k, v in acc.items()]
    lines += ['', '| verification: part | stage | vs | precision | max abs diff | gate |', '|---|---|---|---|---|---|']
    for r in summary['verification']['rows']:
        gate = {True: 'PASS', False: 'FAIL', None: 'reported'}[r['passed']]
        lines.append(f'| {r["part"]} | {r["stage"]} | {r["reference"]} | {r["precision"]} | '
                     f'{r["max_abs_diff"]:.2e} | {gate} |')
    lines.append(f'verification {"PASSED" if summary["verification"]["passed"] else "FAILED"}')
    if summary.get('openvino'):
        lines += ['', f'OpenVINO on {summary.get("cpu")}', '| part | variant | hint | precision | FPS | median ms |',
                  '|---|---|---|---|---|---|']
        for r in summary['openvino']:
            fps = f'{r["fps"]:.1f}' if r.get('fps') else '-'
            med = f'{r["median_ms"]:.2f}' if r.get('median_ms') else '-'
            lines.append(f'| {r["part"]} | {r["variant"]} | {r["hint"]} | {r["precision"]} | {fps} | {med} |')
    s = summary['stream']
    delay = f'{s["median_delay_frames"]:.0f}' if s['median_delay_frames'] is not None else '-'
    lines += ['', f'streaming {s["video"]} (OpenVINO, online): per-frame accuracy {s["frame_accuracy"]:.3f} over '
                  f'{s["labelled_frames"]} labelled of {s["frames"]} frames; median delay after a change of action '
                  f'{delay} frames (window {s["window_frames"]}); {s["changes_never_recognised"]} of '
                  f'{s["segment_changes"]} changes never recognised',
              f'annotated video {summary["demo"]["annotated_video"]}; timeline {summary["demo"]["timeline"]} '
              f'(and .png); overview {summary["demo"]["overview"]}; true labels {s["truth"]}', '',
              '| first frame | frames | true class | accuracy | shown most |', '|---|---|---|---|---|']
    for r in s['segments']:
        accuracy = f'{r["accuracy"]:.2f}' if r['accuracy'] is not None else '-'
        lines.append(f'| {r["start"]} | {r["frames"]} | {r["truth"]} | {accuracy} | {r["most_shown"] or "-"} |')
    lines += ['', 'seconds: ' + ', '.join(f'{k} {v}' for k, v in summary['seconds'].items()),
              'artifacts: ' + ', '.join(f'{k} {v}' for k, v in summary['artifacts'].items())]
    return '\n'.join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    t = time.time()
    summary = run_quickstart(cli.config_or('demo'), cli.WORKDIR.value or 'runs/demo', video=_VIDEO.value,
                             benchmark_seconds=cli.SECONDS.value)
    _LOG.info('quickstart done in %.0f s', time.time() - t)
    if not summary['verification']['passed']:
        sys.exit(1)


def run():
    """Console entry point `vtn-quickstart`."""
    cli.run(main, common=COMMON)


if __name__ == '__main__':
    run()
