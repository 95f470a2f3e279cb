"""Pictures: the confusion matrix, the timeline and the overview show what they are given."""
import numpy as np
import pytest

from vtn_jax import metrics
from vtn_jax import plots


def test_confusion_matrix_cells_darken_with_their_share():
    matrix = metrics.confusion_matrix(np.array([0, 0, 1, 1, 1, 2]), np.array([0, 1, 1, 1, 2, 2]), 3)
    assert matrix.tolist() == [[1, 0, 0], [1, 2, 0], [0, 1, 1]]
    report = metrics.per_class_report(matrix, ['a', 'b', 'c'])
    assert [c['accuracy'] for c in report['classes']] == [1.0, 2 / 3, 0.5]
    image = plots.draw_confusion_matrix(matrix, ['a', 'b', 'c'])
    # The diagonal cell of class a (all its videos right) is darker red than an empty off-diagonal cell.
    label_w, top, cell = 8 + 7, 40, 28
    diagonal = image[top + cell // 2, label_w + cell // 2]
    empty = image[top + cell // 2, label_w + 2 * cell + cell // 2]
    assert diagonal[0] < empty[0] and tuple(empty) == (255, 255, 255)


def test_timeline_draws_the_predicted_class_row_and_the_truth():
    top1 = np.array([-1, -1, 2, 2, 0, 0])
    image = plots.draw_timeline(top1, np.array([0, 0, 1, 1, 1, 1.0]), ['a', 'b', 'c'], fps=2.0,
                                truth=np.array([2, 2, 2, 2, 0, 0]), width=400)
    label_w, row, top = 8 + 7, 16, 46
    plot_w = 400 - label_w - 10
    x_late, x_early = label_w + int(3.5 * plot_w / 6), label_w + int(0.5 * plot_w / 6)
    row_c, row_a = top + 2 * row + row // 2, top + row // 2
    assert image[row_c, x_late].min() < 250 and image[row_a, x_late].min() == 255  # class c at frame 3
    assert image[row_c, x_early].min() == 255  # no label in the warm-up
    assert image[29, x_late].min() < 250  # the true class band


def test_overview_puts_the_frames_with_their_labels_above_the_timeline(tmp_path):
    frames = [np.full((10, 10, 3), 90, np.uint8), np.full((10, 10, 3), 200, np.uint8)]
    timeline = np.zeros((20, 600, 3), np.uint8)
    image = plots.draw_overview(frames, ['run', 'jump'], ['run', 'walk'], timeline, tile=100)
    top = 100 + 56 + 8  # a tile, its caption and a margin
    assert image.shape == (top + 20, 600, 3)
    assert image[80, 50].tolist() == [90] * 3 and image[80, 158].tolist() == [200] * 3  # enlarged, side by side
    assert (image[top:] == 0).all() and (image[:top, 216:] == 255).all()  # the timeline below, white padding
    # The shown label is written green in the caption where it is the true one, red where it is not.
    right, wrong = (image[100:130, a:a + 100].reshape(-1, 3).astype(int) for a in (0, 108))
    assert (right[:, 1] > right[:, 0] + 60).any() and not (right[:, 0] > right[:, 1] + 60).any()
    assert (wrong[:, 0] > wrong[:, 1] + 60).any()
    path = plots.save_png(tmp_path / 'o.png', image)
    np.testing.assert_array_equal(plots.read_png(path), image)


def test_read_png_names_a_file_it_cannot_read(tmp_path):
    (tmp_path / 'bad.png').write_text('not a picture')
    with pytest.raises(OSError, match='bad.png'):
        plots.read_png(tmp_path / 'bad.png')
