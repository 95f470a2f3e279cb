r"""Dense evaluation of a whole video: a label for every frame and the paper's Video@1, one encoder pass per frame.

Window-by-window offline inference encodes T frames for every window, so every frame about T times. Here
every encoder input (see `vtn_jax.streaming`) is encoded once, in batches, and the decoder runs over the
embeddings of every window: per-frame logits for the window ending at each frame, identical to what
`OnlineRecognizer` returns frame by frame (same warm-up policy), and to the offline model on each clip.

Video@1 (SPEC "Evaluation"), sampled exactly as `vtn_jax.input_pipeline` mode 'segments' does: the
floor(N / (T*s)) full non-overlapping segments of T*s raw frames starting at 0, T*s, 2*T*s, ... (a partial
tail is dropped). The segment starting at `a` is the window ending at a + (T-1)s, so it reuses the per-frame
embeddings. Video logits = the mean over segments. A video shorter than T*s frames gets the pipeline's one
loop-padded segment, frames k*s mod N for k < T (the reference's LoopPadding); for the difference modalities
its steps that wrap around (two frames not s apart) cost one extra encoder pass each.

An evaluator passes any batched encode / decode pair, e.g. `streaming.JaxBackend(model, variables)`'s, and the
whole video's normalised frames (`streaming.preprocess_frame`, the eval pipeline's crop):

    result = dense_video_logits(backend.encode, backend.decode, frames, num_frames=16, stride=2, modality='rgb')
    video_top1 = result.video_logits.argmax()          # Video@1
    frame_labels = result.frame_logits.argmax(-1)      # rows before frame (T-1)s are NaN with warmup='wait'

Over a whole TFDS split (the evaluator's 'dense' mode: `train.py --eval_only --eval_mode=dense`),
`evaluate_split(backend, config.data, 'test', modality=...)` gives the 'segments' metrics plus per-frame top-1.

The command writes a per-frame timeline (CSV: frame, time_s, top-k; JSON: also segments and the video top-k):

    python -m vtn_jax.dense --config configs/tiny.py --input ../shared/data/videos/Megamind.avi \
        --output timeline.json [--checkpoint weights.npz] [--class_names names.txt]
"""
import csv
import json
import pathlib
import sys
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np

from vtn_jax import model as model_lib
from vtn_jax import streaming

EncodeFn = Callable[[np.ndarray], np.ndarray]  # [N, H, W, C] -> [N, D]
DecodeFn = Callable[[np.ndarray], np.ndarray]  # [B, S, D] -> [B, K]


class DenseLogits(NamedTuple):
    """Result of `dense_video_logits` for a video of N frames, K classes.

    Attributes:
        frame_logits: [N, K] logits of the window ending at each frame; NaN rows where the warm-up policy gives
            no prediction (the first (T-1)s frames with 'wait').
        segment_logits: [M, K] logits of the non-overlapping segments (M may be 0, see the module docstring).
        segment_starts: [M] first frame of each segment: 0, T*s, 2*T*s, ... (the clip of the segment starting
            at a is the window ending at a + (T-1)s), or [0] for a video shorter than T*s.
        encoder_passes: frames run through the encoder (N, or N - s for the difference modalities).
    """
    frame_logits: np.ndarray
    segment_logits: np.ndarray
    segment_starts: np.ndarray
    encoder_passes: int

    @property
    def video_logits(self) -> np.ndarray:
        """[K] mean of the segment logits (Video@1's score); NaN when the video has no segment."""
        if not len(self.segment_logits):
            return np.full(self.frame_logits.shape[1], np.nan, np.float32)
        return self.segment_logits.mean(axis=0)


def _apply_in_batches(fn: Callable[[np.ndarray], np.ndarray], make_inputs: Callable[[int, int], np.ndarray],
                      total: int, batch_size: int, fixed_batch: bool = False) -> np.ndarray:
    """Runs fn over inputs [0, total) built batch by batch; the last batch is padded to batch_size so a
    jitted fn compiles once (the padded rows are dropped). A single short batch is padded only with
    `fixed_batch` (an evaluator over many videos of different lengths)."""
    outputs = []
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        x = make_inputs(start, stop)
        if stop - start < batch_size and (total > batch_size or fixed_batch):
            x = np.concatenate([x, np.zeros((batch_size - (stop - start),) + x.shape[1:], x.dtype)])
        outputs.append(np.asarray(fn(x))[:stop - start])
    return np.concatenate(outputs)


def find_window_steps(t: int, *, num_frames: int, stride: int, modality: str, warmup: str) -> Optional[np.ndarray]:
    """Raw frame indices of the decoder steps of the window ending at frame t (None: no prediction).

    A step is named by its later frame: for the difference modalities step f encodes f and f - stride.
    """
    steps = num_frames if modality == 'rgb' else num_frames - 1
    first = 0 if modality == 'rgb' else stride  # the earliest frame that can be a step
    available = np.arange(t - (steps - 1) * stride, t + 1, stride)
    if available[0] >= first:
        return available
    if warmup == 'wait' or t < first:
        return None
    have = available[available >= first]
    return have[np.arange(steps) % len(have)]  # 'repeat': cycle through the steps present, oldest first


def dense_video_logits(apply_encode: EncodeFn, apply_decode: DecodeFn, frames_NHWC: np.ndarray, *,
                       num_frames: int, stride: int, modality: str, warmup: str = 'wait',
                       batch_size: int = 32, fixed_batch: bool = False) -> DenseLogits:
    """Per-frame and per-segment logits of a whole video, encoding every frame once.

    Args:
        apply_encode: encoder inputs [B, H, W, C] -> embeddings [B, D] (e.g. `JaxBackend.encode`).
        apply_decode: embeddings [B, S, D] -> clip logits [B, K].
        frames_NHWC: the video's normalised RGB frames [N, H, W, 3] float32 (after crop and normalisation).
        num_frames: T, frames per clip.
        stride: s, raw frames between clip frames.
        modality: 'rgb', 'rgbdiff' or 'stacked'.
        warmup: 'wait' or 'repeat' for the first (T-1)s frames (see `vtn_jax.streaming`).
        batch_size: encoder and decoder batch.
        fixed_batch: pad every batch to batch_size, so a jitted backend compiles once for videos of any
            length (without it, a video shorter than a batch runs at its own size).

    Returns:
        A `DenseLogits`.
    """
    if modality not in model_lib.MODALITIES:
        raise ValueError(f'modality must be one of {model_lib.MODALITIES}, got {modality!r}')
    if warmup not in streaming.WARMUP_POLICIES:
        raise ValueError(f'warmup must be one of {streaming.WARMUP_POLICIES}, got {warmup!r}')
    n = len(frames_NHWC)
    if not n:
        raise ValueError('dense_video_logits needs at least one frame')
    offset = 0 if modality == 'rgb' else stride  # embedding row e holds step frame e + offset
    num_steps = num_frames if modality == 'rgb' else num_frames - 1
    passes = max(n - offset, 0)

    def encoder_inputs(start, stop):
        frames = frames_NHWC[start + offset:stop + offset]
        previous = frames_NHWC[start:stop] if offset else None
        return streaming.make_encoder_input(frames, previous, modality).astype(np.float32, copy=False)

    steps = [find_window_steps(t, num_frames=num_frames, stride=stride, modality=modality, warmup=warmup)
             for t in range(n)]
    ends = [t for t in range(n) if steps[t] is not None]
    span, length = (num_frames - 1) * stride, num_frames * stride
    segment_starts = list(range(0, (n // length) * length, length))
    segment_ends = [start + span for start in segment_starts]
    emb_ND = _apply_in_batches(apply_encode, encoder_inputs, passes, batch_size, fixed_batch) if passes else None
    # Every full segment's window is a per-frame window (t >= (T-1)s has a full window under either policy).
    rows_WS = np.stack([steps[t] - offset for t in ends]) if ends else np.zeros((0, num_steps), np.int64)
    table_ND = emb_ND
    if n < length:
        # The single loop-padded segment of a short video, as the input pipeline samples it: frames k*s mod n.
        rows, extra = _short_clip_rows(n, num_frames, stride, modality, offset)
        if extra:
            inputs = np.stack([streaming.make_encoder_input(frames_NHWC[cur], frames_NHWC[prev], modality)
                               for cur, prev in extra]).astype(np.float32)
            emb_extra = _apply_in_batches(apply_encode, lambda a, b: inputs[a:b], len(extra), batch_size,
                                              fixed_batch)
            table_ND = emb_extra if emb_ND is None else np.concatenate([emb_ND, emb_extra])
            passes += len(extra)
        rows_WS = np.concatenate([rows_WS, rows[None]])
        segment_starts = [0]
    logits_WK = _apply_in_batches(apply_decode, lambda a, b: table_ND[rows_WS[a:b]], len(rows_WS), batch_size,
                                  fixed_batch)
    frame_logits = np.full((n, logits_WK.shape[1]), np.nan, np.float32)
    frame_logits[ends] = logits_WK[:len(ends)]
    segment_logits = frame_logits[segment_ends] if n >= length else logits_WK[len(ends):]
    return DenseLogits(frame_logits, segment_logits, np.asarray(segment_starts, np.int64), passes)


def _short_clip_rows(n: int, num_frames: int, stride: int, modality: str, offset: int):
    """Embedding rows of the loop-padded clip of a video shorter than T*s (frames k*s mod n, k < T).

    Returns (rows [S], extra): a step whose two frames are not `stride` apart (where the clip wraps around)
    is not among the per-frame embeddings; it gets row N' + j for the j-th (current, previous) pair in
    `extra`, which the caller encodes after the N' per-frame embeddings.
    """
    idx = (np.arange(num_frames) * stride) % n
    if modality == 'rgb':
        return idx, []
    rows, extra = [], []
    base = max(n - offset, 0)
    for cur, prev in zip(idx[1:], idx[:-1]):
        if cur - prev == stride:
            rows.append(cur - offset)
        else:
            rows.append(base + len(extra))
            extra.append((int(cur), int(prev)))
    return np.asarray(rows), extra


def _gather_rows(x: np.ndarray) -> np.ndarray:
    """Concatenates every process's rows of x (their counts may differ); x itself with one process."""
    import jax  # pylint: disable=import-outside-toplevel
    if jax.process_count() == 1:
        return x
    from jax.experimental import multihost_utils  # pylint: disable=import-outside-toplevel
    counts = np.asarray(multihost_utils.process_allgather(np.int64(len(x)))).reshape(-1)
    padded = np.zeros((int(counts.max()),) + x.shape[1:], x.dtype)
    padded[:len(x)] = x
    gathered = np.asarray(multihost_utils.process_allgather(padded))
    return np.concatenate([gathered[p, :counts[p]] for p in range(len(counts))])


def evaluate_split(backend, data_config, split: str, *, modality: str, warmup: str = 'wait',
                   batch_size: int = 32, verbose: bool = False) -> dict[str, float]:
    """Dense evaluation of a split: the paper's metrics from every frame encoded once, plus per-frame ones.

    Every video is decoded whole with the evaluation crop (`input_pipeline.create_video_split`), encoded
    once per frame and decoded over its non-overlapping segments and over the window ending at every frame.
    The clip and video metrics are those of `trainer.evaluate` in 'segments' mode (same clips, same
    logits up to float rounding); the extra ones are:
        frame_top1: top-1 accuracy over every frame that has a prediction (its window's label).
        num_predicted_frames: frames with a prediction.
        encoder_passes: frames run through the encoder.
        window_encoder_passes: what running the offline model window by window would cost (windows * T).

    Many processes: each evaluates its share of the videos and the results are gathered, so every
    process returns the same numbers. One video's frames are held in memory at a time (N x S x S x 3 float32).

    Args:
        backend: batched encode / decode, e.g. `streaming.JaxBackend(model, variables)`.
        data_config: `config.data`.
        split: TFDS split name.
        modality: the model's modality ('rgb', 'rgbdiff', 'stacked'; config.model.modality).
        warmup: 'wait' or 'repeat' for the per-frame labels of the first (T-1)s frames.
        batch_size: encoder and decoder batch (every batch padded to it: one compilation).
        verbose: print progress every 20 videos (process 0).
    """
    import jax  # pylint: disable=import-outside-toplevel
    from vtn_jax import input_pipeline  # pylint: disable=import-outside-toplevel  (TF only for evaluation)
    from vtn_jax import metrics as metrics_lib  # pylint: disable=import-outside-toplevel
    c = data_config
    clips, clip_labels, clip_videos, frame_hits = [], [], [], []
    passes = window_passes = 0
    videos = input_pipeline.create_video_split(c, split, process_index=jax.process_index(),
                                               process_count=jax.process_count())
    for i, video in enumerate(videos):
        result = dense_video_logits(backend.encode, backend.decode, video['frames'], num_frames=c.num_frames,
                                    stride=c.stride, modality=modality, warmup=warmup, batch_size=batch_size,
                                    fixed_batch=True)
        label = int(video['label'])
        clips.append(result.segment_logits)
        clip_labels.append(np.full(len(result.segment_logits), label, np.int64))
        clip_videos.append(np.full(len(result.segment_logits), int(video['video_id']), np.int64))
        predicted = result.frame_logits[~np.isnan(result.frame_logits).any(axis=1)]
        frame_hits.append(predicted.argmax(axis=1) == label)
        passes += result.encoder_passes
        window_passes += len(predicted) * backend.num_steps
        if verbose and jax.process_index() == 0 and (i + 1) % 20 == 0:
            print(f'  dense: evaluated {i + 1} videos', flush=True)
    if not clips:  # a process with no videos (more processes than videos) still joins the gathers
        clips, clip_labels, clip_videos = [np.zeros((0, backend.num_classes), np.float32)], [np.zeros(0, np.int64)], \
            [np.zeros(0, np.int64)]
        frame_hits = [np.zeros(0, bool)]
    logits = _gather_rows(np.concatenate(clips).astype(np.float32))
    accumulator = metrics_lib.EvalAccumulator()
    accumulator.add(logits, _gather_rows(np.concatenate(clip_labels)), _gather_rows(np.concatenate(clip_videos)),
                    np.ones(len(logits), bool))
    hits = _gather_rows(np.concatenate(frame_hits))
    counts = _gather_rows(np.asarray([[passes, window_passes]], np.int64)).sum(axis=0)
    out = accumulator.compute()
    out.update({'frame_top1': float(hits.mean()) if len(hits) else float('nan'),
                'num_predicted_frames': float(len(hits)),
                'encoder_passes': float(counts[0]), 'window_encoder_passes': float(counts[1])})
    return out


def format_timeline_header(k: int) -> list[str]:
    """CSV columns of a per-frame timeline: frame, time_s, then label_i and prob_i for the top k."""
    return ['frame', 'time_s'] + [f'{name}{i}' for i in range(1, k + 1) for name in ('label', 'prob')]


def format_timeline_row(frame_index: int, time_s: float, top: Sequence[tuple[int, float]], class_names: Sequence[str],
                 k: int) -> list:
    """One CSV row; the label and probability cells are empty for a frame without a prediction."""
    cells = [frame_index, f'{time_s:.3f}']
    for i in range(k):
        cells += [class_names[top[i][0]], f'{top[i][1]:.4f}'] if i < len(top) else ['', '']
    return cells


def write_timeline(path, result: DenseLogits, class_names: Sequence[str], *, fps: float, k: int = 5):
    """Writes the per-frame top-k of a dense result as CSV (by suffix .csv) or JSON (.json).

    The JSON also holds the segments and the video-level top-k (Video@1).
    """
    path = pathlib.Path(path)
    k = min(k, len(class_names))
    frames = []
    for t, logits in enumerate(result.frame_logits):
        top = () if np.isnan(logits).any() else streaming.select_top_k(streaming.softmax(logits), k)
        frames.append((t, t / fps, top))
    if path.suffix == '.csv':
        with path.open('w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(format_timeline_header(k))
            writer.writerows(format_timeline_row(t, time_s, top, class_names, k) for t, time_s, top in frames)
        return
    if path.suffix != '.json':
        raise ValueError(f'timeline {path} must end in .csv or .json')

    def named(top):
        return [{'label': class_names[c], 'prob': round(p, 6)} for c, p in top]

    video = result.video_logits
    doc = {
        'fps': fps,
        'frames': [{'frame': t, 'time_s': round(time_s, 4), 'top': named(top)} for t, time_s, top in frames],
        'segments': [{'start_frame': int(a), 'top': named(streaming.select_top_k(streaming.softmax(l), k))}
                     for a, l in zip(result.segment_starts, result.segment_logits)],
        'video_top': [] if np.isnan(video).any() else named(streaming.select_top_k(streaming.softmax(video), k)),
        'encoder_passes': result.encoder_passes,
    }
    path.write_text(json.dumps(doc, indent=1))


def main(argv=None):
    """`python -m vtn_jax.dense`: dense per-frame timeline of one video (see the module docstring)."""
    from vtn_jax import demo  # pylint: disable=import-outside-toplevel  (shared model / input loading)
    parser = demo.build_parser(description='Dense per-frame and Video@1 predictions of one video, encoding '
                                           'every frame once; writes a per-frame timeline (CSV or JSON).',
                               dense=True)
    args = demo.parse_args(parser, argv)
    try:
        demo.run_dense(args)
    except demo.DemoError as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main()
