"""Pictures a person would rather look at than read: a confusion matrix, a timeline of per-frame labels and an
overview of a streamed video (frames with their labels above the timeline).

Drawn with OpenCV into RGB uint8 images (no plotting library: a deployment has only OpenCV and numpy);
`save_png` writes them.
"""
import pathlib
from typing import Optional, Sequence

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX
# A colour per class, spread over the hue circle (OpenCV hue is 0..179), full saturation and value.
_WHITE, _BLACK, _GREY = (255, 255, 255), (0, 0, 0), (140, 140, 140)
_CAPTION = 56  # rows under each overview tile for its labels


def class_colours(num_classes: int) -> np.ndarray:
    """[num_classes, 3] distinct RGB uint8 colours."""
    hues = (np.arange(num_classes) * 180 / max(num_classes, 1)).astype(np.uint8)
    hsv = np.stack([hues, np.full_like(hues, 200), np.full_like(hues, 230)], axis=-1)[None]
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0]


def _text(image, text, x, y, scale=0.4, colour=_BLACK):
    cv2.putText(image, text, (int(x), int(y)), _FONT, scale, colour, 1, cv2.LINE_AA)


def draw_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], title: str = '', cell: int = 28):
    """The confusion matrix as a heat map, rows = true class, columns = predicted, counts in the cells."""
    k = len(class_names)
    label_w = 8 + 7 * max((len(n) for n in class_names), default=4)
    top = 40
    image = np.full((top + k * cell + 10, label_w + k * cell + 10, 3), 255, np.uint8)
    rows = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    for i in range(k):
        _text(image, class_names[i], 4, top + i * cell + cell * 0.65)
        for j in range(k):
            shade = int(255 * (1 - rows[i, j]))
            x, y = label_w + j * cell, top + i * cell
            cv2.rectangle(image, (x, y), (x + cell - 1, y + cell - 1), (shade, shade, 255), -1)
            if matrix[i, j]:
                _text(image, str(int(matrix[i, j])), x + 3, y + cell * 0.65, 0.35,
                      _WHITE if rows[i, j] > 0.5 else _BLACK)
        _text(image, str(i), label_w + i * cell + 8, top - 6, 0.35)
    _text(image, title or 'rows: true class, columns: predicted (index)', 4, 14)
    return image


def draw_timeline(top1: np.ndarray, probs: np.ndarray, class_names: Sequence[str], *, fps: float,
                  truth: Optional[np.ndarray] = None, width: int = 960) -> np.ndarray:
    """Per-frame top-1 over time: one row per class, a bar where that class is the label (darker = more
    probable), the true class (when known) as a band above; frames without a label are left blank."""
    k, n = len(class_names), len(top1)
    label_w, row, top = 8 + 7 * max(len(c) for c in class_names), 16, 46 if truth is not None else 26
    plot_w = width - label_w - 10
    image = np.full((top + k * row + 30, width, 3), 255, np.uint8)
    colours = class_colours(k)
    xs = label_w + (np.arange(n + 1) * plot_w / max(n, 1)).astype(int)
    for c in range(k):
        _text(image, class_names[c], 4, top + c * row + 12)
        cv2.line(image, (label_w, top + c * row + row - 1), (label_w + plot_w, top + c * row + row - 1), (235,) * 3)
    for t in range(n):
        if top1[t] < 0:
            continue
        alpha = float(np.clip(probs[t], 0.15, 1.0))
        colour = tuple(int(255 - alpha * (255 - v)) for v in colours[top1[t]])
        y = top + int(top1[t]) * row
        cv2.rectangle(image, (xs[t], y + 2), (max(xs[t + 1] - 1, xs[t]), y + row - 3), colour, -1)
    if truth is not None:
        _text(image, 'true', 4, 32)
        for t in range(n):
            colour = tuple(int(v) for v in colours[int(truth[t])])
            cv2.rectangle(image, (xs[t], 22), (max(xs[t + 1] - 1, xs[t]), 36), colour, -1)
    seconds = n / fps if fps else 0
    for s in range(0, int(seconds) + 1, max(1, int(seconds) // 10 or 1)):
        x = label_w + int(s * fps * plot_w / max(n, 1))
        _text(image, f'{s}s', x, top + k * row + 16, 0.35, _GREY)
    _text(image, 'label of every frame (darker: more probable)', label_w, 14)
    return image


def draw_overview(frames: Sequence[np.ndarray], shown: Sequence[str], true: Sequence[str],
                  timeline_RGB: np.ndarray, *, tile: int = 240) -> np.ndarray:
    """Frames of a streamed video enlarged side by side, each above a caption with the label shown online (green
    when it is the true one, red otherwise) and the true label, all above the timeline picture."""
    tiles = []
    for frame, label, answer in zip(frames, shown, true):
        image = cv2.resize(np.asarray(frame), (tile, tile), interpolation=cv2.INTER_NEAREST)
        caption = np.full((_CAPTION, tile, 3), 40, np.uint8)
        colour = (120, 255, 120) if label == answer else (255, 140, 120)
        _text(caption, f'shown: {label}', 6, 22, 0.55, colour)
        _text(caption, f'true:  {answer}', 6, 46, 0.55, _WHITE)
        tiles.append(np.pad(np.concatenate([image, caption]), ((0, 8), (0, 8), (0, 0)), constant_values=255))
    strip = np.concatenate(tiles, axis=1)
    width = max(timeline_RGB.shape[1], strip.shape[1])
    rows = [np.pad(image, ((0, 0), (0, width - image.shape[1]), (0, 0)), constant_values=255)
            for image in (strip, timeline_RGB)]
    return np.concatenate(rows, axis=0)


def save_png(path, image_RGB: np.ndarray) -> pathlib.Path:
    """Writes an RGB image as PNG; OSError naming the file if it cannot."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image_RGB, cv2.COLOR_RGB2BGR)):
        raise OSError(f'cannot write {path}')
    return path


def read_png(path) -> np.ndarray:
    """An image file as RGB uint8 (what `save_png` wrote); OSError naming the file if it cannot be read."""
    image = cv2.imread(str(path))
    if image is None:
        raise OSError(f'cannot read {path}')
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
