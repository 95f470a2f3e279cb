"""Showing predictions to a person: labels drawn on frames, an annotated copy of the video, a printable line."""
import pathlib
from typing import Sequence

import cv2
import numpy as np

CODECS = {'.avi': 'MJPG', '.mp4': 'mp4v', '.mov': 'mp4v'}


def printable(text: str) -> str:
    """`text` for one console line: control characters and line breaks (a newline in a class name) written as
    escapes (\\n, \\x1b, \\u2028), so a name never splits a line or drives the terminal."""
    return ''.join(c if c.isprintable() else c.encode('unicode_escape').decode('ascii') for c in text)


def format_top(top: Sequence[tuple[int, float]], class_names: Sequence[str]) -> str:
    """'label 0.531 | label 0.212 | ...' for printing (names through `printable`)."""
    return ' | '.join(f'{printable(class_names[c])} {p:.3f}' for c, p in top)


def draw_prediction(frame_BGR: np.ndarray, top: Sequence[tuple[int, float]], class_names: Sequence[str],
                    status: str) -> np.ndarray:
    """Draws the top-k labels with their probabilities and a status line on a BGR frame (in place)."""
    height, width = frame_BGR.shape[:2]
    scale = max(0.35, min(height, width) / 720.0)
    line = int(round(30 * scale)) + 4
    lines = [f'{class_names[c]}  {100 * p:.1f}%' for c, p in top] + [status]
    box_h = min(height, line * len(lines) + line // 2)
    # A darkened band under the text keeps it readable on any background.
    frame_BGR[:box_h] = (frame_BGR[:box_h] * 0.45).astype(np.uint8)
    for i, text in enumerate(lines):
        color = (255, 255, 255) if i < len(lines) - 1 else (160, 220, 255)
        cv2.putText(frame_BGR, text, (int(8 * scale) + 4, line * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.8 * scale, color, max(1, int(round(2 * scale))), cv2.LINE_AA)
    return frame_BGR


def choose_codec(path) -> str:
    """The OpenCV codec for an annotated video: MJPG for .avi, mp4v for .mp4 / .mov."""
    suffix = pathlib.Path(path).suffix.lower()
    if suffix not in CODECS:
        raise ValueError(f'annotated video {path} must end in .avi (MJPG) or .mp4 (mp4v)')
    return CODECS[suffix]


def create_writer(path, fps: float, width: int, height: int) -> cv2.VideoWriter:
    """An OpenCV writer for `path` (see `choose_codec`); OSError if OpenCV cannot write it."""
    codec = choose_codec(path)
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        raise OSError(f'OpenCV cannot write {path} with codec {codec}')
    return writer
