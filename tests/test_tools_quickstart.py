"""The quickstart end to end on the demo model with the small light data: train briefly, evaluate, export, verify,
time, stream the rendered video with known labels through the exported pair, score it and draw the overview."""
import json
import os

import pytest

from vtn_jax import configs
from vtn_jax import errors
from vtn_jax import plots
from vtn_jax.data import synthetic
from vtn_jax.tools import quickstart_stages

STEPS = 300  # enough to be well above chance on light_tiny (48 training videos; measured Video@1 0.69)


@pytest.mark.slow
def test_quickstart_end_to_end(tmp_path):
    forks = []  # OpenVINO's telemetry forked a process per usage event, after JAX had started its threads
    os.register_at_fork(before=lambda: forks.append(1))
    config = configs.load('demo')
    config.data.builder_config = 'light_tiny'
    config.data.data_dir = str(tmp_path / 'tfds')
    config.train.num_train_steps = config.train.eval_every_steps = config.train.checkpoint_every_steps = STEPS
    summary = quickstart_stages.run_quickstart(config, tmp_path / 'job', benchmark_seconds=0.05)
    job = tmp_path / 'job'
    assert summary['verification']['passed']
    assert json.loads((job / 'summary.json').read_text())['verification']['passed']
    text = (job / 'summary.md').read_text()
    assert 'verification PASSED' in text and 'whose window lies inside one action' in text
    for part in ('whole', 'encoder', 'decoder'):
        assert (job / 'export' / f'{part}.onnx').is_file() and (job / 'export' / f'{part}.xml').is_file()
    assert (job / 'train' / 'checkpoints' / str(STEPS)).is_dir()
    assert (job / 'evaluation' / 'confusion_matrix.png').is_file()
    stream = summary['stream']
    # One continuous stream through every class once, its labels written beside it, a timeline row per frame.
    segment = 64
    assert stream['frames'] == 8 * segment and stream['changes'] == 7
    assert len((job / 'demo_timeline.csv').read_text().strip().splitlines()) == 1 + stream['frames']
    truth = (job / 'demo_known_labels.csv').read_text().strip().splitlines()
    assert truth[1] == f'0,{synthetic.STREAM_ORDER[0]},{synthetic.CLASS_NAMES[synthetic.STREAM_ORDER[0]]}'
    assert [s['truth'] for s in stream['segments']] == [synthetic.CLASS_NAMES[k] for k in synthetic.STREAM_ORDER]
    assert stream['labelled_frames'] == stream['frames'] - (stream['window_frames'] - 1)
    # A floor, not the demo's figures: after a short training the model is well above chance (1/8) both in
    # the evaluation and on the streamed video.
    assert summary['accuracy']['video@1'] >= 0.3, summary['accuracy']
    assert stream['accuracy_inside'] >= 0.25 and stream['changes_recognised'] >= 3, stream
    assert plots.read_png(job / 'overview.png').shape[0] > 240
    assert summary['openvino'] and all(r['fps'] > 0 for r in summary['openvino'])
    assert not forks, f'{len(forks)} fork(s) during training, export and streaming'


def test_data_without_a_video_with_known_labels_is_refused_before_anything_runs(tmp_path):
    config = configs.load('demo')
    config.data.name, config.data.builder_config = 'video_folder', 'ucf101_split1'
    with pytest.raises(errors.UserError, match='synthetic_actions configs only; config.data names video_folder'):
        quickstart_stages.run_quickstart(config, tmp_path / 'job')
    assert not (tmp_path / 'job').exists()
