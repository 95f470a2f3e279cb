"""The quickstart end to end on the tiny model with the two-cue data: train 2 steps, evaluate, export, verify,
time, stream the rendered two-cue video with known labels through the exported pair and score it."""
import json
import os

import numpy as np
import pytest

from vtn_jax.data import two_cue
from vtn_jax.tools import quickstart


@pytest.mark.slow
def test_quickstart_end_to_end(tiny_config, tmp_path):
    forks = []  # OpenVINO's telemetry forked a process per usage event, after JAX had started its threads
    os.register_at_fork(before=lambda: forks.append(1))
    config = tiny_config
    config.data.builder_config = 'two_cue_tiny'
    config.model.num_classes = two_cue.NUM_CLASSES
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
    # One continuous two-cue stream through every class once, 64 frames each, its labels written beside it.
    assert stream['frames'] == 12 * 64 and stream['segment_changes'] == 11
    rows = (job / 'demo_timeline.csv').read_text().strip().splitlines()
    assert len(rows) == 1 + stream['frames']  # a header and one row per frame
    truth = (job / 'demo_known_labels.csv').read_text().strip().splitlines()
    assert truth[0] == 'frame,label,class' and len(truth) == 1 + stream['frames']
    assert truth[1] == f'0,{quickstart.STREAM_ORDER[0]},{two_cue.CLASS_NAMES[quickstart.STREAM_ORDER[0]]}'
    # Every frame after the first full window has a label; its accuracy is measured against the known truth.
    assert stream['labelled_frames'] == stream['frames'] - (stream['window_frames'] - 1)
    assert [s['truth'] for s in stream['segments']] == [two_cue.CLASS_NAMES[k] for k in quickstart.STREAM_ORDER]
    assert 'shown most' in (job / 'summary.md').read_text()
    assert summary['openvino'] and all(r['fps'] > 0 for r in summary['openvino'])
    assert not forks, f'{len(forks)} fork(s) during training, export and streaming'


def test_the_stream_order_shows_every_class_and_every_kind_of_change():
    order = quickstart.STREAM_ORDER
    assert sorted(order) == list(range(two_cue.NUM_CLASSES))
    changes = [(np.subtract(two_cue.class_cues(a), two_cue.class_cues(b)) != 0).tolist()
               for a, b in zip(order, order[1:])]
    assert [True, False] in changes and [False, True] in changes and [True, True] in changes


def test_a_synthetic_actions_model_gets_consecutive_synthetic_clips(tiny_config, tmp_path):
    assert quickstart.two_cue_frame_size(tiny_config.data) is None
    labels = quickstart.render_labelled_video(tmp_path / 'known.avi', tiny_config, segment_frames=20)
    assert len(labels) == 8 * 20 and len(set(labels.tolist())) == 8 and (tmp_path / 'known.avi').is_file()


def test_score_stream_counts_accuracy_and_delay():
    truth = [0] * 5 + [1] * 5
    online = [-1, -1, 0, 0, 0, 0, 0, 1, 1, 1]  # the new label appears 2 frames after the change at frame 5
    score = quickstart.score_stream(np.asarray(online), np.asarray(truth), 3)
    assert score['frame_accuracy'] == 6 / 8 and score['labelled_frames'] == 8
    assert score['median_delay_frames'] == 2 and score['changes_never_recognised'] == 0


def test_segment_timeline_reports_each_segment():
    truth = np.asarray([0] * 5 + [1] * 5)
    online = np.asarray([-1, -1, 0, 0, 0, 0, 0, 1, 1, 1])
    rows = quickstart.segment_timeline(online, truth, ['a', 'b'])
    assert [(r['start'], r['frames'], r['truth'], r['most_shown']) for r in rows] == [(0, 5, 'a', 'a'),
                                                                                       (5, 5, 'b', 'b')]
    assert rows[0]['accuracy'] == 1.0 and rows[1]['accuracy'] == 3 / 5
    assert quickstart.segment_timeline(np.full(3, -1), np.zeros(3, int), ['a'])[0]['accuracy'] is None
