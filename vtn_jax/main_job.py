r"""The main job: from nothing to a trained, evaluated, exported, verified and timed VTN, plus the streaming demo.

    python -m vtn_jax.main_job --workdir runs/demo                    # what `make demo` runs
    python -m vtn_jax.main_job --workdir runs/demo --config configs/demo.py --config.train.num_train_steps=500

Steps, each with progress output: build `synthetic_actions`, train (resumes if the workdir has a run),
evaluate Clip@1 (central clip) and Video@1 (all segments), export ONNX + OpenVINO IR (whole model and the
encoder/decoder pair) with the built-in verification against JAX, time the IRs in OpenVINO, run the streaming
demo over a shared AVI. It ends with a summary table, also written to <workdir>/summary.md and summary.json.
"""
import json
import os
import pathlib
import subprocess
import sys
import time
from typing import Optional

from absl import app, flags
from ml_collections import config_flags

from vtn_jax import logs

REPO = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / 'shared' / 'data' / 'videos' / 'vtest.avi'

_CONFIG = config_flags.DEFINE_config_file('config', str(REPO / 'configs' / 'demo.py'), 'Config file.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', 'runs/demo', 'Where the dataset, run, export and demo outputs go.')
_VIDEO = flags.DEFINE_string('video', str(DEFAULT_VIDEO), 'Video for the streaming demo ("" skips the demo).')
_BENCH_SECONDS = flags.DEFINE_float('benchmark_seconds', 3.0, 'OpenVINO timing per measurement (0 skips).')


def _banner(text: str):
    print(f'\n==== {text} ====', flush=True)


def run(config, workdir, *, video: Optional[str] = None, benchmark_seconds: float = 3.0) -> dict:
    """Runs every step of the main job; returns the summary (also written to workdir/summary.{md,json})."""
    from vtn_jax import datasets, export, input_pipeline, trainer  # pylint: disable=import-outside-toplevel
    workdir = pathlib.Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    config.unlock()
    if not pathlib.Path(config.data.data_dir).is_absolute():
        config.data.data_dir = str(workdir / 'tfds')
    config.lock()
    times, summary = {}, {'workdir': str(workdir)}

    t = time.time()
    _banner(f'1/6 dataset {config.data.name}/{config.data.builder_config or "default"}')
    datasets.build(config.data.name, config.data.data_dir, config.data.builder_config)
    names = input_pipeline.class_names(config.data)
    names_file = workdir / 'class_names.txt'
    names_file.write_text('\n'.join(names) + '\n')
    times['dataset'] = time.time() - t

    t = time.time()
    _banner(f'2/6 training {config.model.encoder} ({config.model.modality}) for {config.train.num_train_steps} steps')
    train_dir = workdir / 'train'
    trainer.train_and_evaluate(config, train_dir)
    times['train'] = time.time() - t

    t = time.time()
    _banner('3/6 evaluation (best checkpoint)')
    clip = trainer.evaluate_checkpoint(config, str(train_dir), mode='clip')
    segments = trainer.evaluate_checkpoint(config, str(train_dir), mode='segments')
    summary['accuracy'] = {'clip@1 (central clip)': clip['clip_top1'], 'clip@1 (all segments)': segments['clip_top1'],
                           'video@1': segments['video_top1'], 'video@5': segments['video_top5'],
                           'chance': 1.0 / config.model.num_classes, 'videos': segments['num_videos']}
    print(json.dumps(summary['accuracy'], indent=1), flush=True)
    times['evaluate'] = time.time() - t

    t = time.time()
    _banner('4/6 export to ONNX and OpenVINO IR, verified against JAX')
    export_dir = workdir / 'export'
    options = export.ExportOptions(verify_clips=4)
    bench_args = ({'seconds': benchmark_seconds, 'hints': ('LATENCY',)} if benchmark_seconds > 0 else None)
    result = export.run(config, checkpoint=str(train_dir), out_dir=export_dir, options=options,
                        class_names_file=str(names_file), benchmark_args=bench_args)
    report = result['sidecar']['verification']
    summary['verification'] = {'passed': report['passed'], 'rows': [
        {k: r[k] for k in ('part', 'stage', 'reference', 'precision', 'max_abs_diff', 'passed')}
        for r in report['rows']]}
    times['export+verify+benchmark'] = time.time() - t
    if result['benchmark']:
        summary['openvino'] = [{'part': r['model'], **{k: r.get(k) for k in ('variant', 'hint', 'precision', 'fps', 'median_ms')}}
                               for r in result['benchmark']['rows']]
        summary['cpu'] = result['benchmark'].get('cpu', {}).get('summary')

    if video:
        t = time.time()
        _banner(f'5/6 streaming demo on {video}')
        out_video, timeline = workdir / 'demo_annotated.avi', workdir / 'demo_timeline.csv'
        cmd = [sys.executable, '-m', 'vtn_jax.demo', '--input', str(video), '--class_names', str(names_file),
               '--config', str(REPO / 'configs' / 'default.py'), '--checkpoint', str(train_dir),
               '--output', str(out_video), '--timeline', str(timeline), '--print_every', '50']
        # The demo loads the default config; these overrides make it this run's model and preprocessing.
        cmd += [f'--config.{section}.{key}={value!r}' for section in ('model', 'data')
                for key, value in config[section].items() if not isinstance(value, str) or section == 'model']
        proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=False)
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        print('\n'.join(tail), flush=True)
        summary['demo'] = {'returncode': proc.returncode, 'annotated_video': str(out_video),
                           'timeline': str(timeline), 'last_lines': tail}
        times['demo'] = time.time() - t

    _banner('6/6 summary')
    summary['seconds'] = {k: round(v, 1) for k, v in times.items()}
    summary['artifacts'] = {'checkpoints': str(train_dir), 'export': str(export_dir),
                            'tensorboard': str(train_dir)}
    text = format_summary(summary)
    print(text, flush=True)
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
    if 'demo' in summary:
        d = summary['demo']
        lines += ['', f'demo: exit {d["returncode"]}; annotated video {d["annotated_video"]}; timeline {d["timeline"]}']
    lines += ['', 'seconds: ' + ', '.join(f'{k} {v}' for k, v in summary['seconds'].items()),
              'artifacts: ' + ', '.join(f'{k} {v}' for k, v in summary['artifacts'].items())]
    return '\n'.join(lines)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    logs.configure_cli_logging()  # WARNING, without the libraries' routine notices; -v 0 shows everything
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    t = time.time()
    summary = run(_CONFIG.value, _WORKDIR.value, video=_VIDEO.value or None, benchmark_seconds=_BENCH_SECONDS.value)
    print(f'main job done in {time.time() - t:.0f} s', flush=True)
    if not summary['verification']['passed'] or summary.get('demo', {}).get('returncode', 0):
        sys.exit(1)


if __name__ == '__main__':
    app.run(main)
