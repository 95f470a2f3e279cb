"""The quickstart end to end on the tiny config: train 2 steps, evaluate, export, verify, time, stream a rendered
video with known labels through the exported pair and score it."""
import json
import os

import numpy as np

from vtn_jax.tools import quickstart


def test_quickstart_end_to_end(tiny_config, tmp_path):
    forks = []  # OpenVINO's telemetry forked a process per usage event, after JAX had started its threads
    os.register_at_fork(before=lambda: forks.append(1))
    config = tiny_config
    config.train.num_train_steps = 2
    config.train.eval_every_steps = 2
    config.train.checkpoint_every_steps = 2
    config.data.data_dir = str(tmp_path / 'tfds')
    summary = quickstart.run_quickstart(config, tmp_path / 'job', benchmark_seconds=0.2)
    job = tmp_path / 'job'
    assert summary['verification']['passed']
    assert json.loads((job / 'summary.json').read_text())['verification']['passed']
    assert 'verification PASSED' in (job / 'summary.md').read_text()
    for part in ('whole', 'encoder', 'decoder'):
        assert (job / 'export' / f'{part}.onnx').is_file() and (job / 'export' / f'{part}.xml').is_file()
    assert (job / 'train' / 'checkpoints' / '2').is_dir()
    stream = summary['stream']
    rows = (job / 'demo_timeline.csv').read_text().strip().splitlines()
    assert len(rows) == 1 + stream['frames'] and stream['frames'] == 8 * 64  # a header and one row per frame
    # Every frame after the first full window has a label; its accuracy is measured against the known truth.
    assert stream['labelled_frames'] == stream['frames'] - (stream['window_frames'] - 1)
    assert stream['segment_changes'] == 7
    assert summary['openvino'] and all(r['fps'] > 0 for r in summary['openvino'])
    assert not forks, f'{len(forks)} fork(s) during training, export and streaming'


def test_score_stream_counts_accuracy_and_delay():
    truth = [0] * 5 + [1] * 5
    online = [-1, -1, 0, 0, 0, 0, 0, 1, 1, 1]  # the new label appears 2 frames after the change at frame 5
    score = quickstart.score_stream(np.asarray(online), np.asarray(truth), 3)
    assert score['frame_accuracy'] == 6 / 8 and score['labelled_frames'] == 8
    assert score['median_delay_frames'] == 2 and score['changes_never_recognised'] == 0
