"""How well the online labels of a stream follow a video whose every frame has a known label, and the quickstart's
summary in Markdown.

Definitions (frame t's online label comes from the window of the last W frames, t - W + 1 .. t; W = (T - 1) *
stride + 1; the first W - 1 frames have no label):

  accuracy over all frames     the share of ALL frames whose label is the true one (a frame without a label
                               counts as wrong): what a user watching the video sees.
  accuracy inside one action   the same over the frames whose whole window shows one action (the window has
                               started and no change of action lies inside it).
  delay after a change         frames from the first frame of the new action until the online label first
                               names it (0: at once); a change is recognised if that happens before the next
                               change. A window holds the new action for `delay + 1` of its W frames.

`write_overview` draws one picture of it (`vtn_jax.plots.draw_overview`). numpy and OpenCV only.
"""
from typing import Optional, Sequence

import numpy as np

from vtn_jax import plots
from vtn_jax.data import video_io


def change_frames(truth: np.ndarray) -> list[int]:
    """The first frame of every action after the first."""
    truth = np.asarray(truth)
    return [int(t) for t in np.nonzero(truth[1:] != truth[:-1])[0] + 1]


def inside_one_action(truth: np.ndarray, window: int) -> np.ndarray:
    """(N,) bool: frame t's window of `window` frames has started and shows one action only."""
    truth = np.asarray(truth)
    starts = np.zeros(len(truth), np.int64)  # the first frame of each frame's action
    for t in change_frames(truth):
        starts[t:] = t
    return np.arange(len(truth)) - window + 1 >= starts


def change_delays(frame_top1: np.ndarray, truth: np.ndarray) -> list[Optional[int]]:
    """For each change of action: frames until the online label first names the new action (None: never
    before the next change)."""
    frame_top1, truth = np.asarray(frame_top1), np.asarray(truth)
    changes = change_frames(truth)
    delays = []
    for start, stop in zip(changes, changes[1:] + [len(truth)]):
        hit = np.nonzero(frame_top1[start:stop] == truth[start])[0]
        delays.append(int(hit[0]) if len(hit) else None)
    return delays


def _share(mask: np.ndarray) -> Optional[float]:
    return float(np.mean(mask)) if len(mask) else None


def score_stream(frame_top1: np.ndarray, truth: np.ndarray, window: int) -> dict:
    """Online labels (-1: none yet) against the truth, one of each per frame (module docstring).

    Returns:
        {'frames', 'labelled_frames', 'window_frames', 'accuracy_all', 'inside_frames', 'accuracy_inside',
        'changes', 'changes_recognised', 'delays' (per change, None: never), 'median_delay_frames'}.
    """
    frame_top1, truth = np.asarray(frame_top1), np.asarray(truth)
    if frame_top1.shape != truth.shape:
        raise ValueError(f'{len(frame_top1)} online labels for {len(truth)} true ones')
    right, inside = frame_top1 == truth, inside_one_action(truth, window)
    delays = change_delays(frame_top1, truth)
    found = [d for d in delays if d is not None]
    return {'frames': int(len(truth)), 'labelled_frames': int((frame_top1 >= 0).sum()), 'window_frames': window,
            'accuracy_all': _share(right), 'inside_frames': int(inside.sum()), 'accuracy_inside': _share(right[inside]),
            'changes': len(delays), 'changes_recognised': len(found), 'delays': delays,
            'median_delay_frames': float(np.median(found)) if found else None}


def segment_timeline(frame_top1: np.ndarray, truth: np.ndarray, class_names: Sequence[str], window: int) -> list:
    """One row per segment of one true action: its first frame, length, true class, accuracy over all its frames
    and over those whose window lies inside it, the delay until it was first named (None for the first
    segment and for one never named) and the online label shown most often (None if none)."""
    frame_top1, truth = np.asarray(frame_top1), np.asarray(truth)
    starts = [0] + change_frames(truth)
    delays = [None] + change_delays(frame_top1, truth)
    inside = inside_one_action(truth, window)
    rows = []
    for start, stop, delay in zip(starts, starts[1:] + [len(truth)], delays):
        shown, right = frame_top1[start:stop], frame_top1[start:stop] == truth[start]
        labelled = shown[shown >= 0]
        rows.append({'start': start, 'frames': stop - start, 'truth': class_names[truth[start]],
                     'accuracy': _share(right), 'accuracy_inside': _share(right[inside[start:stop]]),
                     'delay': delay,
                     'most_shown': class_names[int(np.bincount(labelled).argmax())] if len(labelled) else None})
    return rows


def write_overview(path, video_path, frame_top1: np.ndarray, truth: np.ndarray, class_names: Sequence[str],
                   timeline_png, segments: Sequence[int] = (1, 3, 4), trail: int = 0):
    """Writes one picture of a streamed video: the middle frames of the given segments (of one true action each),
    with the label shown online and the true one, above the timeline picture `timeline_png`. With `trail` > 0
    each frame is blended with the one `trail` frames earlier (40%), a faint trace of the motion. Returns the
    path."""
    video, truth = video_io.read_video(video_path).astype(np.float32), np.asarray(truth)
    starts = [0] + change_frames(truth) + [len(truth)]
    picks = [(starts[s] + starts[s + 1]) // 2 for s in segments if s + 1 < len(starts)]
    frames = [(0.6 * video[t] + 0.4 * video[max(t - trail, 0)]) if trail else video[t] for t in picks]
    shown = [class_names[frame_top1[t]] if frame_top1[t] >= 0 else '(warming up)' for t in picks]
    image = plots.draw_overview([np.round(f).astype(np.uint8) for f in frames], shown,
                                [class_names[truth[t]] for t in picks], plots.read_png(timeline_png))
    return plots.save_png(path, image)


def _number(value, spec: str = '.2f') -> str:
    return '-' if value is None else format(value, spec)


def format_stream(stream: dict) -> list[str]:
    """The stream's part of the summary: the scores with their definitions and the per-segment table."""
    delays = ', '.join(_number(d, 'd') if d is not None else 'never' for d in stream['delays'])
    lines = [f'streamed {stream["video"]} through the exported encoder/decoder (OpenVINO, online, '
             f'{stream["fps"]:.0f} FPS end to end); its true labels: {stream["truth"]}', '',
             '| online labels | value |', '|---|---|',
             f'| per-frame accuracy, all {stream["frames"]} frames | {_number(stream["accuracy_all"], ".3f")} |',
             f'| per-frame accuracy, the {stream["inside_frames"]} frames whose window lies inside one action | '
             f'{_number(stream["accuracy_inside"], ".3f")} |',
             f'| changes of action recognised | {stream["changes_recognised"]} of {stream["changes"]} |',
             f'| median delay after a change (frames) | {_number(stream["median_delay_frames"], ".1f")} '
             f'(window {stream["window_frames"]}; each change: {delays}) |', '',
             f'A frame\'s label comes from the window of its last {stream["window_frames"]} frames; the first '
             f'{stream["window_frames"] - 1} have none and count as wrong. The delay is the number of frames from '
             f'the first frame of a new action until the online label first names it.', '',
             '| first frame | frames | true class | accuracy | inside one action | delay | shown most |',
             '|---|---|---|---|---|---|---|']
    for r in stream['segments']:
        lines.append(f'| {r["start"]} | {r["frames"]} | {r["truth"]} | {_number(r["accuracy"])} | '
                     f'{_number(r["accuracy_inside"])} | {_number(r["delay"], "d")} | {r["most_shown"] or "-"} |')
    return lines


def format_summary(summary: dict) -> str:
    """The quickstart's summary as Markdown: accuracy, verification, OpenVINO timing, the stream, times, files."""
    lines = ['| evaluation (paper protocol) | value |', '|---|---|']
    lines += [f'| {k} | {v:.3f} |' if isinstance(v, float) else f'| {k} | {v} |'
              for k, v in summary['accuracy'].items()]
    lines += ['', '| verification: part | stage | vs | precision | max abs diff | gate |', '|---|---|---|---|---|---|']
    for r in summary['verification']['rows']:
        gate = {True: 'PASS', False: 'FAIL', None: 'reported'}[r['passed']]
        lines.append(f'| {r["part"]} | {r["stage"]} | {r["reference"]} | {r["precision"]} | '
                     f'{r["max_abs_diff"]:.2e} | {gate} |')
    lines.append(f'verification {"PASSED" if summary["verification"]["passed"] else "FAILED"}')
    if summary.get('openvino'):
        lines += ['', f'OpenVINO on {summary.get("cpu")}', '| part | variant | hint | precision | FPS | median ms |',
                  '|---|---|---|---|---|---|']
        for r in summary['openvino']:
            lines.append(f'| {r["part"]} | {r["variant"]} | {r["hint"]} | {r["precision"]} | '
                         f'{_number(r.get("fps") or None, ".1f")} | {_number(r.get("median_ms") or None)} |')
    lines += [''] + format_stream(summary['stream'])
    lines += ['', 'files: ' + ', '.join(f'{k} {v}' for k, v in summary['files'].items()),
              'seconds: ' + ', '.join(f'{k} {v}' for k, v in summary['seconds'].items())]
    return '\n'.join(lines)
