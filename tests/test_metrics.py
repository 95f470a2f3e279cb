"""Metric code against hand-worked values with fixed logits (a fake model): Clip@k, Video@k, masking."""
import numpy as np
import pytest

from vtn_jax import metrics


def test_topk_correct_by_hand():
    logits = np.array([[0.1, 0.9, 0.0], [0.5, 0.2, 0.3], [0.2, 0.3, 0.5]])
    labels = np.array([1, 2, 0])
    np.testing.assert_array_equal(metrics.topk_correct(logits, labels, 1), [True, False, False])
    np.testing.assert_array_equal(metrics.topk_correct(logits, labels, 2), [True, True, False])
    np.testing.assert_array_equal(metrics.topk_correct(logits, labels, 5), [True, True, True])


def test_cross_entropy_by_hand():
    logits = np.array([[0.0, np.log(3.0)]])  # softmax = (1/4, 3/4)
    np.testing.assert_allclose(metrics.cross_entropy(logits, np.array([1])), [-np.log(0.75)])
    np.testing.assert_allclose(metrics.cross_entropy(logits, np.array([0])), [-np.log(0.25)])


def test_video_metrics_average_segments_and_ignore_padding():
    acc = metrics.EvalAccumulator()
    # Video 0 (label 0): segments score [2, 0] and [0, 1] -> mean [1, 0.5] -> correct; clips: 1 right, 1 wrong.
    # Video 1 (label 1): one segment [0, 3] -> correct. Video 2 (label 0): [0, 1], [0.2, 0] -> [0.1, 0.5] wrong.
    acc.add(np.array([[2, 0], [0, 1], [0, 3], [9, -9]]), np.array([0, 0, 1, 1]), np.array([0, 0, 1, 7]),
            np.array([1, 1, 1, 0]))  # the last row is padding: its (wrong) prediction must not count
    acc.add(np.array([[0, 1], [0.2, 0], [5, 5]]), np.array([0, 0, 0]), np.array([2, 2, 0]), np.array([1, 1, 0]))
    result = acc.compute()
    assert result['num_clips'] == 5 and result['num_videos'] == 3
    assert result['clip_top1'] == pytest.approx(3 / 5)  # [2,0] ok, [0,1] no, [0,3] ok, [0,1] no, [0.2,0] ok
    assert result['video_top1'] == pytest.approx(2 / 3)
    assert result['video_top5'] == 1.0
    ids, video_logits, labels = acc.video_logits()
    np.testing.assert_array_equal(ids, [0, 1, 2])
    np.testing.assert_allclose(video_logits[2], [0.1, 0.5])
    np.testing.assert_array_equal(labels, [0, 1, 0])


def test_conflicting_labels_and_empty_evaluations_fail():
    acc = metrics.EvalAccumulator()
    acc.add(np.zeros((2, 3)), np.array([0, 1]), np.array([4, 4]), np.array([1, 1]))
    with pytest.raises(ValueError, match=r'videos \[4\]'):
        acc.compute()
    empty = metrics.EvalAccumulator()
    empty.add(np.zeros((2, 3)), np.array([0, 1]), np.array([0, 1]), np.array([0, 0]))
    with pytest.raises(ValueError, match='no evaluation examples'):
        empty.compute()
