"""Per-frame timelines of predictions: CSV rows as a stream is recognised, or a whole-video result as CSV/JSON."""
import csv
import json
import pathlib
from typing import Sequence

import numpy as np

from vtn_jax.inference import recognizer
from vtn_jax.inference import whole_video


# A cell starting with one of these is run as a formula by spreadsheets (OWASP, "CSV Injection").
FORMULA_STARTS = ('=', '+', '-', '@', '\t', '\r')


def spreadsheet_safe(text: str) -> str:
    """A text cell a spreadsheet will show as text: OWASP's rule, a leading single quote on a cell that starts
    like a formula; any other cell unchanged (the csv module quotes commas, quotes and newlines)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def format_timeline_header(k: int) -> list[str]:
    """CSV columns of a per-frame timeline: frame, time_s, then label_i and prob_i for the top k."""
    return ['frame', 'time_s'] + [f'{name}{i}' for i in range(1, k + 1) for name in ('label', 'prob')]


def format_timeline_row(frame_index: int, time_s: float, top: Sequence[tuple[int, float]],
                        class_names: Sequence[str], k: int) -> list:
    """One CSV row; the label and probability cells are empty for a frame without a prediction. Labels pass
    through `spreadsheet_safe` (a class name such as '=cmd()' is not run as a formula by a spreadsheet)."""
    cells = [frame_index, f'{time_s:.3f}']
    for i in range(k):
        cells += [spreadsheet_safe(class_names[top[i][0]]), f'{top[i][1]:.4f}'] if i < len(top) else ['', '']
    return cells


def check_timeline_path(path) -> pathlib.Path:
    """A timeline file name: .csv or .json (ValueError naming the file otherwise)."""
    path = pathlib.Path(path)
    if path.suffix not in ('.csv', '.json'):
        raise ValueError(f'timeline {path} must end in .csv or .json')
    return path


def write_timeline(path, result: whole_video.DenseLogits, class_names: Sequence[str], *, fps: float, k: int = 5):
    """Writes the per-frame top-k of a whole-video result as CSV (by suffix .csv) or JSON (.json).

    The JSON also holds the segments and the video-level top-k (Video@1).
    """
    path = check_timeline_path(path)
    k = min(k, len(class_names))
    frames = [(t, t / fps, recognizer.top_k_of_logits(logits, k)) for t, logits in enumerate(result.frame_logits)]
    if path.suffix == '.csv':
        with path.open('w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(format_timeline_header(k))
            writer.writerows(format_timeline_row(t, time_s, top, class_names, k) for t, time_s, top in frames)
        return

    def named(top):
        return [{'label': class_names[c], 'prob': round(p, 6)} for c, p in top]

    doc = {
        'fps': fps,
        'frames': [{'frame': t, 'time_s': round(time_s, 4), 'top': named(top)} for t, time_s, top in frames],
        'segments': [{'start_frame': int(a), 'top': named(recognizer.top_k_of_logits(logits, k))}
                     for a, logits in zip(result.segment_starts, result.segment_logits)],
        'video_top': named(recognizer.top_k_of_logits(result.video_logits, k)),
        'encoder_passes': result.encoder_passes,
    }
    path.write_text(json.dumps(doc, indent=1))


def frame_top1(result: whole_video.DenseLogits) -> tuple[np.ndarray, np.ndarray]:
    """(best class of every frame, -1 without a prediction; its probability) of a whole-video result."""
    labelled = ~np.isnan(result.frame_logits).any(axis=1)
    probs = np.zeros(len(labelled))
    top1 = np.full(len(labelled), -1)
    if labelled.any():
        p = recognizer.softmax(result.frame_logits[labelled])
        top1[labelled], probs[labelled] = p.argmax(-1), p.max(-1)
    return top1, probs
