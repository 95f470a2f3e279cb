"""The stages of vtn-quickstart (`vtn_jax/tools/quickstart.py`): dataset, training, evaluation, the verified and
timed export, and the streamed video with known labels, each a function of (config, workdir, ...);
`run_quickstart` runs them all and writes the summary. A module of its own so that `vtn-quickstart --help` loads
none of the library."""
import json
import logging
import pathlib
import time

import numpy as np

from vtn_jax.data import class_names as class_names_lib
from vtn_jax.data import input_pipeline
from vtn_jax.data import labelled_video
from vtn_jax.data import tfds_builders
from vtn_jax.export import artifacts
from vtn_jax.export import pipeline
from vtn_jax.inference import api
from vtn_jax.inference import demo_run
from vtn_jax.inference import stream_report
from vtn_jax.training import evaluation
from vtn_jax.training import trainer

_LOG = logging.getLogger('vtn_jax.quickstart')
# Seconds per timing round unless --seconds is given: the tiny IRs take well under a millisecond, so half
# a second is thousands of runs per round (the timing has 3 rounds of 6 rows).
BENCHMARK_SECONDS = 0.5


def _stage(text: str):
    _LOG.info('\n==== %s ====', text)


def prepare(config, workdir) -> pathlib.Path:
    """The absolute workdir, created; a relative data_dir of the config goes inside it."""
    workdir = pathlib.Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with config.unlocked():
        if not pathlib.Path(config.data.data_dir).is_absolute():
            config.data.data_dir = str(workdir / 'tfds')
    return workdir


def build_dataset(config, workdir: pathlib.Path) -> list:
    """Builds the config's dataset (if missing); returns its class names, also written to class_names.txt."""
    _stage(f'1/5 dataset {config.data.name}/{config.data.builder_config or "default"}')
    tfds_builders.build(config.data.name, config.data.data_dir, config.data.builder_config)
    names = input_pipeline.class_names(config.data)
    class_names_lib.write_class_names(workdir / 'class_names.txt', names)
    return names


def train(config, workdir: pathlib.Path):
    _stage(f'2/5 training {config.model.encoder} ({config.model.modality}) for {config.train.num_train_steps} '
           'steps')
    trainer.train_and_evaluate(config, workdir / 'train')


def evaluate(config, workdir: pathlib.Path) -> dict:
    """Video@1 and Clip@1 of the best checkpoint over every segment of the test split (the paper's protocol)."""
    segment = config.model.num_frames * config.data.stride
    _stage(f"3/5 evaluation of the best checkpoint (the paper's protocol: every {segment}-frame segment)")
    result = evaluation.evaluate_checkpoint(config, str(workdir / 'train'), mode='segments',
                                            report_dir=workdir / 'evaluation')
    accuracy = {'video@1': result['video_top1'], 'video@5': result['video_top5'],
                'clip@1 (every segment)': result['clip_top1'], 'chance': 1.0 / config.model.num_classes,
                'videos': int(result['num_videos'])}
    _LOG.info('%s', json.dumps(accuracy, indent=1))
    return accuracy


def export(config, workdir: pathlib.Path, benchmark_seconds: float) -> dict:
    """Exports the best checkpoint, verifies every file against JAX and times the IRs; their reports."""
    _stage('4/5 export to ONNX and OpenVINO IR, verified against JAX' + (', timed' if benchmark_seconds else ''))
    bench_args = {'seconds': benchmark_seconds, 'hints': ('LATENCY',)} if benchmark_seconds > 0 else None
    result = pipeline.run(config, checkpoint=str(workdir / 'train'), out_dir=workdir / 'export',
                          options=artifacts.ExportOptions(verify_clips=4),
                          class_names_file=str(workdir / 'class_names.txt'), benchmark_args=bench_args)
    report = result['record'].verification
    out = {'verification': {'passed': report['passed'], 'rows': [
        {k: r[k] for k in ('part', 'stage', 'reference', 'precision', 'max_abs_diff', 'passed')}
        for r in report['rows']]}}
    if result['benchmark']:
        out['openvino'] = [{'part': r['model'], **{k: r.get(k) for k in ('variant', 'hint', 'precision', 'fps',
                                                                         'median_ms')}}
                           for r in result['benchmark']['rows']]
        out['cpu'] = result['benchmark']['cpu']['summary']
    return out


def _run_demo(recognizer, source, workdir: pathlib.Path, name: str, truth=None) -> dict:
    """Streams `source` through the recognizer (vtn-demo's loop): <name>_annotated.avi and <name>_timeline.csv
    (and .png) in the workdir."""
    return demo_run.run_demo(recognizer, str(source), output=str(workdir / f'{name}_annotated.avi'),
                         timeline=str(workdir / f'{name}_timeline.csv'), print_every=0, truth=truth)


def stream(config, workdir: pathlib.Path, names, video: str = '') -> dict:
    """Renders the video with known labels, streams it through the exported pair and scores the online labels."""
    _stage('5/5 streaming a rendered video with known labels through the exported encoder/decoder (OpenVINO)')
    known, truth_file = workdir / 'demo_known_labels.avi', workdir / 'demo_known_labels.csv'
    truth = labelled_video.write(known, truth_file, config.data, names)
    recognizer = api.Recognizer.from_export(workdir / 'export')
    streamed = _run_demo(recognizer, known, workdir, 'demo', truth)
    window = recognizer.clip.span + 1  # frames in a window
    top1 = np.asarray(streamed['top1'])
    overview = stream_report.write_overview(workdir / 'overview.png', known, top1, truth, names,
                                            streamed['timeline_png'], trail=window - 1)
    if video:  # a visual check on the user's own video: no labels to score
        _run_demo(recognizer, video, workdir, 'video')
    return {'stream': {'video': str(known), 'truth': str(truth_file), 'fps': streamed['fps'],
                       **stream_report.score_stream(top1, truth, window),
                       'segments': stream_report.segment_timeline(top1, truth, names, window)},
            'files': {'overview': str(overview), 'annotated video': str(workdir / 'demo_annotated.avi'),
                      'timeline': str(workdir / 'demo_timeline.csv'), 'checkpoints': str(workdir / 'train'),
                      'evaluation report': str(workdir / 'evaluation'), 'export': str(workdir / 'export')}}


def run_quickstart(config, workdir, *, video: str = '', benchmark_seconds: float = BENCHMARK_SECONDS) -> dict:
    """Runs every stage; returns the summary (also written to workdir/summary.{md,json})."""
    labelled_video.require_config(config.data)  # the stream needs built-in synthetic data: say so before training
    workdir = prepare(config, workdir)
    summary, seconds = {'workdir': str(workdir)}, {}

    def timed(name, stage, *args):
        start = time.time()
        result = stage(config, workdir, *args)
        seconds[name] = round(time.time() - start, 1)
        return result

    names = timed('dataset', build_dataset)
    timed('train', train)
    summary['accuracy'] = timed('evaluate', evaluate)
    summary.update(timed('export+verify+benchmark', export, benchmark_seconds))
    summary.update(timed('stream', stream, names, video))
    summary['seconds'] = seconds
    text = stream_report.format_summary(summary)
    _LOG.info('\n%s', text)
    (workdir / 'summary.md').write_text(text + '\n')
    (workdir / 'summary.json').write_text(json.dumps(summary, indent=1))
    return summary
