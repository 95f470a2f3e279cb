"""The whole-video ("dense") pass: a label for every frame and the paper's Video@1, one encoder pass per frame.

Window-by-window offline inference encodes T frames for every window, so every frame about T times. Here
every encoder input (see `vtn_jax.models.modality`) is encoded once, in batches, and the decoder runs over the
embeddings of every window: per-frame logits for the window ending at each frame, identical to what
`OnlineRecognizer` returns frame by frame (same warm-up policy), and to the offline model on each clip.

Video@1 (the paper's protocol), sampled exactly as `vtn_jax.data.input_pipeline` mode 'segments' does: the
floor(N / (T*s)) full non-overlapping segments of T*s raw frames starting at 0, T*s, 2*T*s, ... (a partial
tail is dropped). The segment starting at `a` is the window ending at a + (T-1)s, so it reuses the per-frame
embeddings. Video logits = the mean over segments. A video shorter than T*s frames gets the pipeline's one
loop-padded segment, frames k*s mod N for k < T (the reference's LoopPadding); for the difference modalities
its steps that wrap around (two frames not s apart) cost one extra encoder pass each.

An evaluator passes any batched encode / decode pair, e.g. `JaxBackend(model, variables)`'s, and the whole
video's normalised frames (`vtn_jax.data.frames.Preprocessing.numpy`, the eval pipeline's crop):

    result = dense_video_logits(backend.encode, backend.decode, frames, Clip(16, 2, 'rgb'))
    video_top1 = result.video_logits.argmax()          # Video@1
    frame_labels = result.frame_logits.argmax(-1)      # rows before frame (T-1)s are NaN with warmup='wait'

Over a whole TFDS split this is the evaluator's 'dense' mode (`vtn_jax.training.evaluation`).
"""
import collections
from typing import Callable, Iterable, NamedTuple, Optional

import numpy as np

from vtn_jax import errors
from vtn_jax.data import frames as frames_lib
from vtn_jax.inference import recognizer
from vtn_jax.models import modality as modality_lib

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


def apply_in_batches(fn: Callable[[np.ndarray], np.ndarray], make_inputs: Callable[[int, int], np.ndarray],
                     total: int, batch_size: int, fixed_batch: bool = False) -> np.ndarray:
    """Runs fn over inputs [0, total) built batch by batch; the last batch is padded to batch_size so a
    jitted fn compiles once (the padded rows are dropped). A single short batch is padded only with
    `fixed_batch` (an evaluator over many videos of different lengths)."""
    outputs = []
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        outputs.append(_run_batch(fn, make_inputs(start, stop), batch_size, total > batch_size or fixed_batch))
    return np.concatenate(outputs)


def _run_batch(fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch_size: int, pad: bool) -> np.ndarray:
    """fn(x), a short batch padded with zeros to batch_size first when `pad` (the padded rows dropped)."""
    n = len(x)
    if n < batch_size and pad:
        x = np.concatenate([x, np.zeros((batch_size - n,) + x.shape[1:], x.dtype)])
    return np.asarray(fn(x))[:n]


def find_window_steps(t: int, clip: modality_lib.Clip, warmup: str) -> Optional[np.ndarray]:
    """Raw frame indices of the decoder steps of the window ending at frame t (None: no prediction).

    A step is named by its later frame: for the difference modalities step f encodes f and f - stride.
    """
    steps, stride = clip.num_steps, clip.stride
    first = clip.step_offset  # the earliest frame that can be a step
    available = np.arange(t - (steps - 1) * stride, t + 1, stride)
    if available[0] >= first:
        return available
    if warmup == 'wait' or t < first:
        return None
    have = available[available >= first]
    return have[np.arange(steps) % len(have)]  # 'repeat': cycle through the steps present, oldest first


def dense_video_logits(apply_encode: EncodeFn, apply_decode: DecodeFn, frames_NHWC: np.ndarray,
                       clip: modality_lib.Clip, *, warmup: str = 'wait', batch_size: int = 32,
                       fixed_batch: bool = False, raw_frames: bool = False) -> DenseLogits:
    """Per-frame and per-segment logits of a whole video, encoding every frame once.

    Args:
        apply_encode: encoder inputs [B, H, W, C] -> embeddings [B, D] (e.g. `JaxBackend.encode`); with
            raw_frames, raw frames [B, P, H, W, 3] -> [B, D] (`OpenVinoBackend.encode_frames`: P = 1 for rgb,
            2 for the difference modalities, the frame and the one a stride earlier).
        apply_decode: embeddings [B, S, D] -> clip logits [B, K].
        frames_NHWC: the video's normalised RGB frames [N, H, W, 3] float32 (after crop and normalisation), or
            with raw_frames its decoded uint8 frames (the encoder preprocesses them).
        clip: T, the stride s and the modality.
        warmup: 'wait' or 'repeat' for the first (T-1)s frames (see `recognizer`).
        batch_size: encoder and decoder batch.
        fixed_batch: pad every batch to batch_size, so a jitted backend compiles once for videos of any
            length (without it, a video shorter than a batch runs at its own size).

    Returns:
        A `DenseLogits`.
    """
    frames_lib.check_choice('warmup', warmup, recognizer.WARMUP_POLICIES)
    n = len(frames_NHWC)
    if not n:
        raise errors.UserError('dense_video_logits needs at least one frame')
    num_frames, stride, modality = clip.num_frames, clip.stride, clip.modality
    offset = clip.step_offset  # embedding row e holds step frame e + offset
    num_steps = clip.num_steps
    passes = max(n - offset, 0)

    def pair(current, previous):
        if raw_frames:
            return np.stack([current, previous], axis=-4) if previous is not None else current[..., None, :, :, :]
        return modality_lib.encoder_input(current, previous, modality).astype(np.float32, copy=False)

    def encoder_inputs(start, stop):
        return pair(frames_NHWC[start + offset:stop + offset], frames_NHWC[start:stop] if offset else None)

    steps = [find_window_steps(t, clip, warmup) for t in range(n)]
    ends = [t for t in range(n) if steps[t] is not None]
    span, length = (num_frames - 1) * stride, num_frames * stride
    segment_starts = list(range(0, (n // length) * length, length))
    segment_ends = [start + span for start in segment_starts]
    emb_ND = apply_in_batches(apply_encode, encoder_inputs, passes, batch_size, fixed_batch) if passes else None
    # Every full segment's window is a per-frame window (t >= (T-1)s has a full window under either policy).
    rows_WS = np.stack([steps[t] - offset for t in ends]) if ends else np.zeros((0, num_steps), np.int64)
    table_ND = emb_ND
    if n < length:
        # The single loop-padded segment of a short video, as the input pipeline samples it: frames k*s mod n.
        rows, extra = _short_clip_rows(n, clip)
        if extra:
            inputs = np.stack([pair(frames_NHWC[cur], frames_NHWC[prev]) for cur, prev in extra])
            emb_extra = apply_in_batches(apply_encode, lambda a, b: inputs[a:b], len(extra), batch_size,
                                              fixed_batch)
            table_ND = emb_extra if emb_ND is None else np.concatenate([emb_ND, emb_extra])
            passes += len(extra)
        rows_WS = np.concatenate([rows_WS, rows[None]])
        segment_starts = [0]
    logits_WK = apply_in_batches(apply_decode, lambda a, b: table_ND[rows_WS[a:b]], len(rows_WS), batch_size,
                                  fixed_batch)
    frame_logits = np.full((n, logits_WK.shape[1]), np.nan, np.float32)
    frame_logits[ends] = logits_WK[:len(ends)]
    segment_logits = frame_logits[segment_ends] if n >= length else logits_WK[len(ends):]
    return DenseLogits(frame_logits, segment_logits, np.asarray(segment_starts, np.int64), passes)


def _short_clip_rows(n: int, clip: modality_lib.Clip):
    """Embedding rows of the loop-padded clip of a video shorter than T*s (frames k*s mod n, k < T).

    Returns (rows [S], extra): a step whose two frames are not `stride` apart (where the clip wraps around)
    is not among the per-frame embeddings; it gets row N' + j for the j-th (current, previous) pair in
    `extra`, which the caller encodes after the N' per-frame embeddings.
    """
    idx = (np.arange(clip.num_frames) * clip.stride) % n
    if not clip.needs_previous_frame:
        return idx, []
    rows, extra = [], []
    offset = clip.step_offset
    base = max(n - offset, 0)
    for cur, prev in zip(idx[1:], idx[:-1]):
        if cur - prev == clip.stride:
            rows.append(cur - offset)
        else:
            rows.append(base + len(extra))
            extra.append((int(cur), int(prev)))
    return np.asarray(rows), extra



def dense_video_logits_stream(apply_encode: EncodeFn, apply_decode: DecodeFn, frames: Iterable[np.ndarray],
                              clip: modality_lib.Clip, *, warmup: str = 'wait', batch_size: int = 32,
                              fixed_batch: bool = False, raw_frames: bool = False) -> DenseLogits:
    """`dense_video_logits` over frames that arrive one at a time (a long file as it is decoded): the same result,
    bit for bit (the same encoder and decoder batches), holding batch_size + s frames and the embeddings of one
    decoder batch instead of the whole video (the difference modalities also keep the first T*s frames until the
    video proves longer than one clip: a shorter one's loop-padded clip may pair any two of them).

    Args:
        frames: the video's frames in order, each as `dense_video_logits` takes them ([H, W, 3] normalised
            float32, or uint8 with raw_frames); any iterable, read once.
        The rest: as `dense_video_logits`.
    """
    frames_lib.check_choice('warmup', warmup, recognizer.WARMUP_POLICIES)
    offset, length = clip.step_offset, clip.num_frames * clip.stride
    span = (clip.num_frames - 1) * clip.stride
    recent = collections.deque(maxlen=offset + batch_size)  # (index, frame): what the next encoder batch reads
    first = []  # difference modalities: the first T*s frames, while the video may still be shorter than a clip
    embeddings = {}  # row -> [D], dropped once no window still to come reads it
    windows, logits = collections.deque(), {}  # (end frame, rows) of the windows not yet decoded; end -> [K]
    encoded = n = 0  # encoder passes run; frames read

    def pair(current, previous):
        if raw_frames:
            return np.stack([current, previous], axis=-4) if previous is not None else current[..., None, :, :, :]
        return modality_lib.encoder_input(current, previous, clip.modality).astype(np.float32, copy=False)

    def encode(count: int, pad: bool):
        nonlocal encoded
        held = dict(recent)
        current = np.stack([held[e + offset] for e in range(encoded, encoded + count)])
        previous = np.stack([held[e] for e in range(encoded, encoded + count)]) if offset else None
        embeddings.update(enumerate(_run_batch(apply_encode, pair(current, previous), batch_size, pad), encoded))
        encoded += count

    def decode(batch: list, table: dict, pad: bool) -> np.ndarray:
        out = _run_batch(apply_decode, np.stack([np.stack([table[r] for r in rows]) for _, rows in batch]),
                         batch_size, pad)
        logits.update((t, out[i]) for i, (t, _) in enumerate(batch) if t is not None)
        return out

    for frame in frames:
        recent.append((n, frame))
        if offset and n < length:
            first.append(frame)
        steps = find_window_steps(n, clip, warmup)
        if steps is not None:
            windows.append((n, steps - offset))
        n += 1
        if n - offset - encoded >= batch_size:
            encode(batch_size, False)
        while len(windows) >= batch_size and windows[batch_size - 1][0] - offset < encoded:
            decode([windows.popleft() for _ in range(batch_size)], embeddings, False)
        if n >= length:  # longer than one clip: only the windows still to come read embeddings
            first.clear()
            keep = min(windows[0][1].min() if windows else n, n - span - offset)
            for row in [r for r in embeddings if r < keep]:
                del embeddings[row]
    if not n:
        raise errors.UserError('dense_video_logits needs at least one frame')
    passes = max(n - offset, 0)
    total = len(logits) + len(windows) + (n < length)  # decoder rows: every window, and a short video's clip
    if passes > encoded:
        encode(passes - encoded, passes > batch_size or fixed_batch)
    rest, table = list(windows), embeddings
    if n < length:  # the single loop-padded segment of a short video, as `dense_video_logits` computes it
        rows, extra = _short_clip_rows(n, clip)
        if extra:
            inputs = np.stack([pair(first[cur], first[prev]) for cur, prev in extra])
            emb = apply_in_batches(apply_encode, lambda a, b: inputs[a:b], len(extra), batch_size, fixed_batch)
            table = {**embeddings, **dict(enumerate(emb, passes))}
            passes += len(extra)
        rest.append((None, rows))
    outputs = [decode(rest[a:a + batch_size], table, total > batch_size or fixed_batch)
               for a in range(0, len(rest), batch_size)]
    k = outputs[-1].shape[1] if outputs else len(next(iter(logits.values())))
    frame_logits = np.full((n, k), np.nan, np.float32)
    for t, row in logits.items():
        frame_logits[t] = row
    if n < length:
        return DenseLogits(frame_logits, outputs[-1][-1:], np.zeros(1, np.int64), passes)
    starts = np.arange(0, (n // length) * length, length)
    return DenseLogits(frame_logits, frame_logits[starts + span], starts.astype(np.int64), passes)
