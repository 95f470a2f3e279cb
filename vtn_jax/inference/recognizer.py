"""Online (streaming) VTN inference: one encoder pass per new frame, one decoder pass per prediction.

The offline model classifies a clip of T frames sampled every `stride` raw frames. For a label at every raw
frame t, the clip is raw frames t - (T-1)s, ..., t - s, t (s = stride). Every encoder input depends on raw
frame t alone (rgb) or on raw frames t and t - s (rgbdiff: their difference; stacked: the frame and that
difference), never on where the window starts. So each raw frame is encoded exactly once, when it arrives,
and its embedding is reused by the T (or T - 1) windows that contain it.

Windows ending at t only ever contain frames of the same phase t mod s. The embeddings therefore live in s
ring buffers, one per phase ("stride-interleaved"), each holding the last S embeddings of its phase (S = T
decoder steps for rgb, T - 1 for the difference modalities). A prediction reads the S embeddings of the
current phase in time order and runs the decoder once: exactly what the offline model computes for the same
clip, to float rounding.

Warm-up policy (the first (T-1)s frames, where the window is not yet full):
  'wait'    (default) `push` returns None until frame (T-1)s, the first with a full window. Every prediction
            is then exactly the offline model's on the clip ending at that frame.
  'repeat'  predict from the first frame on, as the reference demo (vtn_demo.py) does: the embeddings
            available in the current phase are repeated in time order (a, b, c, a, b, c, ...) up to S steps.
            Unlike the reference, the window still ends at the current frame (the reference takes every 2nd
            of its last 32 embeddings counting from the oldest, so half its windows end one frame early).
            The difference modalities have no step before frame s (a difference needs two frames), so they
            still return None for frames 0 .. s-1.
For the difference modalities, raw frames 0 .. s-1 only ever serve as the earlier frame of a difference and
are never encoded; every later frame is encoded exactly once. `encoder_calls` counts the passes.

Preprocessing: one `vtn_jax.data.frames.Preprocessing` record (the crop, the normalisation, the source). A
backend with `encode_frame` (OpenVINO) gets each frame after the record's numpy `host_stage` (nothing to do for
the default 'paper' crop of raw frames) and runs the rest inside the encoder IR (`openvino_frames`); the others
get `Preprocessing.numpy`; both compute the same thing (tests/test_inference_openvino_frames.py).

Overlap (OpenVINO, `pipelined=True`): `push(frame t)` encodes frame t while the decoder window of frame t - 1
still runs (`decode_async`), then starts window t and returns the prediction of window t - 1: the same
predictions one frame later (`flush` returns the last). `decode_every=k` runs the decoder on every k-th window
only (the 1st, (k+1)-th, ... full one): labels are up to k - 1 frames old, and every label returned is still
exactly the offline model's on its window.

Live sources and dropped frames: `push(frame, index)` takes each frame's source index (`data.live.Frame.index`;
default: consecutive). A live source that delivers the newest frame drops the ones the recognizer was too slow
for, so the indices skip. The phase of a frame is its index mod s, and the ring keeps each embedding's index,
so a window is never silently shifted: a label's window is the last S encoded frames of its phase, and
`Prediction.missing` counts the frames of that phase the window skips between its oldest frame and its last
(0: exactly the offline model's window ending at the frame; m > 0: it spans m strides more, the frames were
dropped). `gaps='restart'` instead starts the phase's warm-up again after a gap, so that every label is a window
without gaps. A difference step (rgbdiff, stacked) needs the frame exactly a stride earlier: a frame whose
earlier one was dropped is not encoded (it serves as the earlier frame of the next one).

A label at the model's stride: `label_every=s` encodes and labels only the frames of one phase (the first
frame's), 1/s of the encoder work; each label is still exactly the offline model's on its window (the same
window the every-frame recognizer labels at that frame), and the frames between are skipped (`skipped`).

Smoothing (`smoothing`, `hysteresis`, `margin`) goes through `vtn_jax.inference.smoothing.Smoother`: the EMA
changes `Prediction.probs`, the hysteresis which class comes first in `Prediction.top`; logits never change.

Many streams: `push` is `admit` (the frame's bookkeeping: the encoder pass it needs, if any), the encoder
(`encode`, or the backend's batched calls for many jobs), `accept` (the ring: the window due, if any), the decoder
and `finish` (the prediction); `vtn_jax.inference.streams` runs these stages for many recognizers at once, with
the encoder passes of all streams in parallel and their windows in one batched decoder call.

Backends: `jax_backend.JaxBackend` (jitted `VTN.encode` and `VTN.decode`) and
`openvino_backend.OpenVinoBackend` (an exported encoder [1, H, W, C] -> [1, D] and decoder [1, S, D] -> [1, K]).
Both take batches and return numpy float32, so `whole_video` uses them too.

    recognizer = OnlineRecognizer.from_config(JaxBackend(model, variables), config)   # or (backend, clip, prep)
    for frame in video_io.iter_frames('video.avi'):      # RGB uint8 [H, W, 3]
        prediction = recognizer.push(frame)                # None during the warm-up, else a Prediction
"""
import dataclasses
from typing import Optional, Protocol

import numpy as np

from vtn_jax import errors
from vtn_jax.data import frames as frames_lib
from vtn_jax.inference import smoothing as smoothing_lib
from vtn_jax.models import modality as modality_lib

WARMUP_POLICIES = ('wait', 'repeat')
GAP_POLICIES = ('mark', 'restart')
DEFAULT_TOP_K = 5  # (class, probability) pairs a prediction names, here and in every vtn-* command (--top_k)


class Backend(Protocol):
    """What the recognizer needs from a model: batched encode and decode, and the shapes they take."""
    num_steps: int  # decoder time steps S
    frame_channels: int  # encoder input channels: 3, or 6 for stacked
    embed_dim: int
    num_classes: int

    def encode(self, frames_NHWC: np.ndarray) -> np.ndarray:
        """Normalised encoder inputs [N, H, W, C] float32 -> embeddings [N, D] float32."""

    def decode(self, emb_BSD: np.ndarray) -> np.ndarray:
        """Embeddings [B, S, D] float32 -> clip logits [B, K] float32."""


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64 for stable probabilities."""
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def select_top_k(probs: np.ndarray, k: int) -> tuple[tuple[int, float], ...]:
    """The k most probable (class, probability) pairs, best first (ties: lower class first)."""
    order = np.argsort(-probs, kind='stable')[:k]
    return tuple((int(i), float(probs[i])) for i in order)


def top_k_of_logits(logits: np.ndarray, k: int) -> tuple[tuple[int, float], ...]:
    """The top-k (class, probability) of logits; () for NaN logits (a frame or video without a prediction)."""
    if np.isnan(logits).any():
        return ()
    return select_top_k(softmax(logits), k)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """The recognizer's output for one frame.

    Attributes:
        frame_index: the raw frame (0-based) whose window this is; the window ends at it.
        logits: [K] the decoder's clip logits for the window, never smoothed (equal to the offline model's).
        probs: [K] softmax of the logits, EMA-smoothed over labels when smoothing is on.
        top: the top-k (class, probability) pairs of `probs`, best first; with hysteresis, the shown class first.
        padded: True for a warm-up window filled by the 'repeat' policy.
        missing: frames of the window's phase that never arrived (dropped by a live source) between its oldest
            frame and `frame_index`: 0 means the window is exactly T frames at the stride ending at `frame_index`,
            as the offline model samples it; m > 0 means it spans m strides more (see the module docstring).
    """
    frame_index: int
    logits: np.ndarray
    probs: np.ndarray
    top: tuple[tuple[int, float], ...]
    padded: bool = False
    missing: int = 0


def check_backend(backend: Backend, clip: modality_lib.Clip, preprocessing: frames_lib.Preprocessing) -> None:
    """Raises UserError when the model's shapes do not fit the clip and crop (a config or export record that
    belongs to another model)."""
    if (backend.num_steps, backend.frame_channels) != (clip.num_steps, clip.frame_channels):
        raise errors.UserError(
            f'the model takes {backend.num_steps} decoder steps of {backend.frame_channels}-channel frames, but '
            f'{clip.modality} with num_frames={clip.num_frames} needs {clip.num_steps} steps of '
            f'{clip.frame_channels}-channel frames: check the config against the model / exported files')
    image_size = getattr(backend, 'image_size', preprocessing.crop_size)
    if image_size != preprocessing.crop_size:
        raise errors.UserError(f'the encoder takes {image_size}x{image_size} frames, the preprocessing crops '
                               f'{preprocessing.crop_size}')


class Done:
    """A decoder result already computed (backends without `decode_async`)."""

    def __init__(self, logits_BK: np.ndarray):
        self._logits = logits_BK

    def result(self) -> np.ndarray:
        return self._logits


@dataclasses.dataclass(frozen=True)
class EncodeJob:
    """One encoder pass a pushed frame needs (`OnlineRecognizer.admit`): the frame (after the host stage, or
    normalised) and, for the difference modalities, the frame a stride earlier."""
    index: int
    current: np.ndarray
    previous: Optional[np.ndarray]
    raw: bool  # through the backend's raw-frame encoder (`encode_frame`), else `encode` of the normalised input


@dataclasses.dataclass(frozen=True)
class Window:
    """A decoder window due (`OnlineRecognizer.accept`): the S embeddings [S, D] ending at raw frame `index`."""
    index: int
    emb_SD: np.ndarray
    padded: bool
    missing: int


class OnlineRecognizer:
    """Feeds raw frames one at a time and returns a prediction for the window ending at each frame.

    Args:
        backend: a `JaxBackend`, `OpenVinoBackend` or anything with the `Backend` methods.
        clip: T, the stride and the modality (`vtn_jax.models.modality.Clip`).
        preprocessing: the crop and normalisation (`vtn_jax.data.frames.Preprocessing`).
        frame_color: channel order of the frames pushed: 'RGB' (as `video_io.iter_frames` gives) or 'BGR'
            (OpenCV's own: no conversion on the raw-frame path).
        warmup: 'wait' or 'repeat', the policy for frames before the first full window.
        smoothing: EMA factor a in [0, 1) on the probabilities (`smoothing.Ema`); 0 (default) is off.
        hysteresis, margin: the shown class changes only after `hysteresis` consecutive labels with a new top
            class, or when it leads by `margin` (`smoothing.Hysteresis`); 1 and None (default) are off. The shown
            class is `Prediction.top[0]`. Logits are never smoothed.
        k: how many (class, probability) pairs `Prediction.top` holds.
        pipelined: overlap each decoder window with the next frame's encoder; `push` then returns the
            previous window's prediction (see the module docstring).
        decode_every: run the decoder on every k-th window only.
        label_every: 1 (a label for every frame) or the clip's stride s: only the frames of one phase (that of
            the first frame pushed) are encoded and labelled, 1/s of the encoder work; the others are skipped.
        gaps: what a window is when frames of its phase are missing (dropped by a live source, see `push`):
            'mark' (default) the last S encoded frames of the phase, with `Prediction.missing` > 0; 'restart'
            the phase's warm-up starts again after a gap, so every label is a window without gaps.
        raw_frames: None: feed frames to the backend's in-IR preprocessing where it has one; False: always
            preprocess in numpy.

    Attributes:
        encoder_calls: encoder passes so far (one per frame after the first s for the difference modalities).
        frames_seen: raw frames pushed since the last `reset`.
        skipped: frames pushed but not needed (`label_every`) so far (like `encoder_calls`, kept by `reset`).
    """

    def __init__(self, backend: Backend, clip: modality_lib.Clip, preprocessing: frames_lib.Preprocessing, *,
                 frame_color: str = 'RGB', warmup: str = 'wait', smoothing: float = 0.0, hysteresis: int = 1,
                 margin: Optional[float] = None, k: int = DEFAULT_TOP_K, pipelined: bool = False,
                 decode_every: int = 1, label_every: int = 1, gaps: str = 'mark', raw_frames: Optional[bool] = None):
        frames_lib.check_choice('warmup', warmup, WARMUP_POLICIES)
        frames_lib.check_choice('frame_color', frame_color, ('RGB', 'BGR'))
        frames_lib.check_choice('gaps', gaps, GAP_POLICIES)
        if decode_every < 1:
            raise errors.UserError(f'decode_every must be >= 1, got {decode_every}')
        if label_every not in (1, clip.stride):
            raise errors.UserError(f'label_every must be 1 (every frame) or the stride {clip.stride} (one phase), '
                                   f'got {label_every}')
        check_backend(backend, clip, preprocessing)
        self.backend, self.clip, self.preprocessing = backend, clip, preprocessing
        self.frame_color, self.warmup, self.gaps = frame_color, warmup, gaps
        self.k = min(k, backend.num_classes)
        self.pipelined, self.decode_every, self.label_every = pipelined, decode_every, label_every
        off = not smoothing and hysteresis == 1 and margin is None
        self._smoother = None if off else smoothing_lib.Smoother(smoothing, hysteresis, margin)
        can_raw = callable(getattr(backend, 'encode_frame', None))
        if raw_frames and not can_raw:
            raise errors.UserError(f'{type(backend).__name__} has no raw-frame encoder (encode_frame)')
        self._raw = can_raw and raw_frames is not False
        if getattr(backend, 'raw_frames_only', False) and not self._raw:
            raise errors.UserError('this encoder takes uint8 frames only (exported with --uint8_input): it needs the '
                                   'raw-frame path')
        self.encoder_calls = self.skipped = 0
        self.reset()

    @classmethod
    def from_config(cls, backend: Backend, config, **kwargs) -> 'OnlineRecognizer':
        """A recognizer with the clip and preprocessing of a full config (configs/*.py)."""
        return cls(backend, modality_lib.Clip.from_config(config), frames_lib.Preprocessing.from_config(config.data),
                   **kwargs)

    @property
    def takes_raw(self) -> bool:
        """Whether frames go to the backend's in-IR preprocessing (after `Preprocessing.host_stage`)."""
        return self._raw

    def reset(self):
        """Forgets all frames (a new video, a reconnected stream); `encoder_calls` and `skipped` keep counting. A
        window still running is waited for and dropped."""
        if getattr(self, '_pending', None) is not None:
            self._pending[1].result()  # its request must finish before the backend is used again
        s, steps = self.clip.stride, self.clip.num_steps
        # Ring buffer per phase p = index mod s: slot count[p] % S holds the newest embedding of phase p, and
        # _ring_index_PS the raw frame index it came from.
        self._ring_PSD = np.zeros((s, steps, self.backend.embed_dim), np.float32)
        self._ring_index_PS = np.zeros((s, steps), np.int64)
        self._count = np.zeros(s, np.int64)
        # The last frame of each phase, (index, frame as the path takes it): the earlier frame of the next difference.
        self._previous = [None] * s
        if self._smoother is not None:
            self._smoother.reset()
        self._pending = None  # (window, result) of the window still running
        self._windows = 0  # windows that could be decoded so far (decode_every counts them)
        self._raw_shape = None  # the frame shape the backend's raw-frame encoder was last prepared for
        self._last_index, self._phase = -1, None  # the last index pushed; label_every > 1: the phase labelled
        self.frames_seen = 0

    def preprocess(self, frame_HWC: np.ndarray) -> np.ndarray:
        """A frame (uint8 [H, W, 3] in `frame_color` order) -> the normalised crop [crop, crop, 3] float32, in
        numpy: what the encoder sees, whichever path computes it."""
        if self.frame_color == 'BGR':
            frame_HWC = np.ascontiguousarray(frame_HWC[..., ::-1])
        return self.preprocessing.numpy(frame_HWC)

    def push(self, frame_HWC: np.ndarray, index: Optional[int] = None) -> Optional[Prediction]:
        """Adds the next raw frame (uint8 [H, W, 3], `frame_color` order); returns the prediction for the window
        ending at it (pipelined: at the frame before).

        Args:
            frame_HWC: the frame. The recognizer keeps a reference to it until the next one of its phase
                (difference modalities): do not overwrite it.
            index: its source frame index (a live source's `Frame.index`), larger than the previous one's; the
                indices it skips are frames that never arrived (see `gaps`). Default: the previous one's + 1.

        Returns None while the warm-up policy has nothing to predict (see the module docstring), on frames
        `decode_every` or `label_every` skips, and (pipelined) when the previous frame had no window.
        """
        return self._run(self.admit(frame_HWC, index))

    def push_normalised(self, frame_HWC: np.ndarray, index: Optional[int] = None) -> Optional[Prediction]:
        """As `push`, for a frame already preprocessed ([crop, crop, 3] float32, normalised)."""
        if getattr(self.backend, 'raw_frames_only', False):
            raise errors.UserError('this encoder takes uint8 frames only (exported with --uint8_input): push raw '
                                   'frames')
        return self._run(self.admit(frame_HWC, index, normalised=True))

    def flush(self) -> Optional[Prediction]:
        """Pipelined: waits for the last window still running and returns its prediction (None if none)."""
        if self._pending is None:
            return None
        (window, pending), self._pending = self._pending, None
        return self.finish(window, pending.result()[0])

    def _run(self, job: Optional[EncodeJob]) -> Optional[Prediction]:
        window = None if job is None else self.accept(job, self.encode(job))
        if window is None:
            return self.flush() if self.pipelined else None
        if not self.pipelined:
            return self.finish(window, self.backend.decode(window.emb_SD[None])[0])
        done = self.flush()
        decode_async = getattr(self.backend, 'decode_async', None)
        batch = window.emb_SD[None]
        self._pending = (window, decode_async(batch) if decode_async else Done(self.backend.decode(batch)))
        return done

    # The stages of `push`, for callers that run the encoder and decoder of many streams together
    # (`vtn_jax.inference.streams`): admit -> encode (or the backend's batched calls) -> accept -> decode -> finish.

    def admit(self, frame_HWC: np.ndarray, index: Optional[int] = None, *,
              normalised: bool = False) -> Optional[EncodeJob]:
        """Takes the next frame (see `push`); returns the encoder pass it needs, or None (a frame `label_every`
        skips, or a difference without its earlier frame)."""
        index = self._last_index + 1 if index is None else int(index)
        if index <= self._last_index:
            raise errors.UserError(f'frame index {index} after {self._last_index}: indices must increase')
        self._last_index = index
        self.frames_seen += 1
        phase = index % self.clip.stride
        if self.label_every > 1:
            self._phase = phase if self._phase is None else self._phase
            if phase != self._phase:
                self.skipped += 1
                return None
        if normalised:
            frame = frame_HWC
        elif not self._raw:
            frame = self.preprocess(frame_HWC)
        else:
            frame = self.preprocessing.host_stage(frame_HWC)
            if frame.shape != self._raw_shape:
                self.backend.prepare_frames(*frame.shape[:2], preprocessing=self.preprocessing,
                                            modality=self.clip.modality, frame_color=self.frame_color)
                self._raw_shape = frame.shape
        previous, self._previous[phase] = self._previous[phase], (index, frame)
        if not self.clip.needs_previous_frame:
            return EncodeJob(index, frame, None, self._raw and not normalised)
        if previous is None or previous[0] != index - self.clip.stride:
            return None  # no frame a stride earlier (the first s frames, or it was dropped): nothing to encode
        return EncodeJob(index, frame, previous[1], self._raw and not normalised)

    def encode(self, job: EncodeJob) -> np.ndarray:
        """The embedding [D] of one job (one encoder pass)."""
        if job.raw:
            return self.backend.encode_frame(job.current, job.previous)
        x = modality_lib.encoder_input(job.current, job.previous, self.clip.modality)
        return self.backend.encode(x[None].astype(np.float32, copy=False))[0]

    def accept(self, job: EncodeJob, emb_D: np.ndarray) -> Optional[Window]:
        """Stores the job's embedding; returns the window to decode now, or None (warm-up, `decode_every`)."""
        self.encoder_calls += 1
        s, steps = self.clip.stride, self.clip.num_steps
        phase = job.index % s
        count = self._count[phase]
        if count and self.gaps == 'restart' and job.index - self._ring_index_PS[phase, (count - 1) % steps] != s:
            count = 0  # a gap in this phase: its warm-up starts again
        self._ring_PSD[phase, count % steps] = emb_D
        self._ring_index_PS[phase, count % steps] = job.index
        self._count[phase] = count = count + 1
        if count >= steps:
            # Oldest first: the slot after the newest one, wrapping around.
            order = (count + np.arange(steps)) % steps
            padded = False
        elif self.warmup == 'repeat':
            # The ring has not wrapped yet, so slots 0 .. count-1 are in time order; repeat them cyclically.
            order, padded = np.arange(steps) % count, True
        else:
            return None
        self._windows += 1
        if (self._windows - 1) % self.decode_every:
            return None
        oldest = self._ring_index_PS[phase, order[0]]
        missing = int((job.index - oldest) // s + 1 - min(count, steps))
        return Window(job.index, self._ring_PSD[phase, order], padded, missing)

    def finish(self, window: Window, logits_K: np.ndarray) -> Prediction:
        """The prediction of a window from its logits [K] (smoothed probabilities, the shown class first)."""
        probs, shown = softmax(logits_K), None
        if self._smoother is not None:
            smoothed = self._smoother(probs)
            probs, shown = smoothed.probs, smoothed.label
        top = select_top_k(probs, self.k)
        if shown is not None and top[0][0] != shown:
            top = ((shown, float(probs[shown])),) + tuple(p for p in top if p[0] != shown)[:self.k - 1]
        return Prediction(window.index, logits_K, probs, top, window.padded, window.missing)
