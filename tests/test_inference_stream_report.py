"""Scoring online labels against a video with known labels, the per-segment table, the overview picture and the
quickstart's Markdown summary."""
import subprocess
import sys

import numpy as np
import pytest

from vtn_jax import plots
from vtn_jax.data import video_io
from vtn_jax.inference import stream_report

TRUTH = np.asarray([0] * 6 + [1] * 6 + [2] * 6)
# Window 3: no label for frames 0-1; the change at 6 is named 2 frames late, the change at 12 never.
ONLINE = np.asarray([-1, -1, 0, 0, 0, 0, 0, 0, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1])


def test_the_frames_whose_window_lies_inside_one_action():
    inside = stream_report.inside_one_action(TRUTH, 3)
    # A window of 3 frames: frames 2..5, 8..11 and 14..17 (the window has started and holds no change).
    assert np.nonzero(inside)[0].tolist() == [2, 3, 4, 5, 8, 9, 10, 11, 14, 15, 16, 17]
    assert stream_report.inside_one_action(TRUTH, 1).all()
    assert stream_report.change_frames(TRUTH) == [6, 12] and stream_report.change_frames(np.zeros(4)) == []


def test_score_stream_counts_every_frame_and_each_change():
    score = stream_report.score_stream(ONLINE, TRUTH, 3)
    right = (ONLINE == TRUTH).sum()  # 4 + 4 - 1 (frame 10 shows 2 during class 1) + 0
    assert right == 7 and score['accuracy_all'] == 7 / 18  # the two frames without a label count as wrong
    assert score['inside_frames'] == 12 and score['accuracy_inside'] == 7 / 12
    assert score['labelled_frames'] == 16 and score['window_frames'] == 3
    assert score['delays'] == [2, None] and score['changes'] == 2 and score['changes_recognised'] == 1
    assert score['median_delay_frames'] == 2.0
    perfect = stream_report.score_stream(TRUTH, TRUTH, 3)
    assert perfect['accuracy_all'] == perfect['accuracy_inside'] == 1.0 and perfect['delays'] == [0, 0]
    with pytest.raises(ValueError, match='17 online labels for 18'):
        stream_report.score_stream(ONLINE[:-1], TRUTH, 3)


def test_segment_timeline_reports_each_segment():
    rows = stream_report.segment_timeline(ONLINE, TRUTH, ['a', 'b', 'c'], 3)
    assert [(r['start'], r['frames'], r['truth'], r['delay'], r['most_shown']) for r in rows] == [
        (0, 6, 'a', None, 'a'), (6, 6, 'b', 2, 'b'), (12, 6, 'c', None, 'b')]
    assert rows[0]['accuracy'] == 4 / 6 and rows[0]['accuracy_inside'] == 1.0
    assert rows[1]['accuracy'] == 3 / 6 and rows[1]['accuracy_inside'] == 3 / 4 and rows[2]['accuracy'] == 0.0
    assert stream_report.segment_timeline(np.full(3, -1), np.zeros(3, int), ['a'], 5)[0]['most_shown'] is None


def summary():
    stream = {'video': 'known.avi', 'truth': 'known.csv', 'fps': 250.0,
              **stream_report.score_stream(ONLINE, TRUTH, 3),
              'segments': stream_report.segment_timeline(ONLINE, TRUTH, ['a', 'b', 'c'], 3)}
    return {'accuracy': {'video@1': 0.5, 'videos': 4},
            'verification': {'passed': True, 'rows': [{'part': 'whole', 'stage': 'openvino f32', 'reference': 'JAX',
                                                       'precision': 'f32', 'max_abs_diff': 1e-6, 'passed': True}]},
            'openvino': [{'part': 'encoder', 'variant': 'f32', 'hint': 'LATENCY', 'precision': 'f32', 'fps': 99.0,
                          'median_ms': None}],
            'cpu': 'a CPU', 'stream': stream, 'files': {'overview': 'o.png'}, 'seconds': {'train': 1.5}}


def test_format_summary_shows_every_part_and_the_definitions():
    text = stream_report.format_summary(summary())
    assert '| video@1 | 0.500 |' in text and '| videos | 4 |' in text
    assert '| whole | openvino f32 | JAX | f32 | 1.00e-06 | PASS |' in text and 'verification PASSED' in text
    assert '| encoder | f32 | LATENCY | f32 | 99.0 | - |' in text
    assert '| per-frame accuracy, all 18 frames | 0.389 |' in text
    assert '| per-frame accuracy, the 12 frames whose window lies inside one action | 0.583 |' in text
    assert '| changes of action recognised | 1 of 2 |' in text and 'each change: 2, never' in text
    assert 'the first 2 have none and count as wrong' in text
    assert '| 6 | 6 | b | 0.50 | 0.75 | 2 | b |' in text and '| 0 | 6 | a | 0.67 | 1.00 | - | a |' in text
    assert 'files: overview o.png' in text and 'seconds: train 1.5' in text


def test_write_overview_shows_the_middle_frame_of_each_chosen_segment(tmp_path):
    frames = np.zeros((18, 16, 16, 3), np.uint8)
    frames[9] = 200  # the middle frame of segment 1 (frames 6..11)
    video_io.write_video(tmp_path / 'v.avi', frames, fps=10.0)
    plots.save_png(tmp_path / 't.png', np.full((30, 500, 3), 255, np.uint8))
    path = stream_report.write_overview(tmp_path / 'o.png', tmp_path / 'v.avi', ONLINE, TRUTH, ['a', 'b', 'c'],
                                        tmp_path / 't.png', segments=(1, 2, 5))
    image = plots.read_png(path)
    assert image.shape == (240 + 56 + 8 + 30, 500, 3)  # two tiles (there is no segment 5) above the timeline
    assert image[200, 100].min() > 150 > image[200, 350].max()  # segment 1's bright middle frame, then segment 2
    traced = plots.read_png(stream_report.write_overview(tmp_path / 'p.png', tmp_path / 'v.avi', ONLINE, TRUTH,
                                                         ['a', 'b', 'c'], tmp_path / 't.png', segments=(1,), trail=3))
    assert abs(int(traced[200, 100, 0]) - round(0.6 * image[200, 100, 0])) <= 3  # 40% of the dark frame 6


def test_the_report_needs_neither_tensorflow_nor_jax():
    code = ('import sys, vtn_jax.inference.stream_report\n'
            'print(",".join(sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "jax", "flax"))))')
    loaded = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True, timeout=120)
    assert loaded.stdout.strip() == ''
