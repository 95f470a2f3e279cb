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

Preprocessing ('direct', the default): the central square crop of side round(crop_fraction * shorter side),
bilinear-resized to the crop size, normalised (`data.frames.preprocess_frame` with resize_short=None). A backend
with `encode_frame` (OpenVINO) runs it inside the encoder IR on the raw uint8 frame (`openvino_frames`), the
others in numpy; both compute the same thing (tests/test_inference_openvino_frames.py). resize_short=256 is
the 'stored' preprocessing instead: INTER_AREA to a 256 shorter side first, as the dataset builders store
frames, in numpy (it equals 'direct' on frames whose shorter side is already 256, and then runs in the IR).

Overlap (OpenVINO, `pipelined=True`): `push(frame t)` encodes frame t while the decoder window of frame t - 1
still runs (`decode_async`), then starts window t and returns the prediction of window t - 1: the same
predictions one frame later (`flush` returns the last). `decode_every=k` runs the decoder on every k-th window
only (the 1st, (k+1)-th, ... full one): labels are up to k - 1 frames old, and every label returned is still
exactly the offline model's on its window.

Backends: `jax_backend.JaxBackend` (jitted `VTN.encode` and `VTN.decode`) and
`openvino_backend.OpenVinoBackend` (an exported encoder [1, H, W, C] -> [1, D] and decoder [1, S, D] -> [1, K]).
Both take batches and return numpy float32, so `whole_video` uses them too.

    recognizer = OnlineRecognizer.from_config(JaxBackend(model, variables), config)
    for frame in video_io.iter_frames('video.avi'):      # RGB uint8 [H, W, 3]
        prediction = recognizer.push(frame)                # None during the warm-up, else a Prediction
"""
import dataclasses
from typing import Optional, Protocol, Sequence

import numpy as np

from vtn_jax.data import frames as frames_lib
from vtn_jax.models import modality as modality_lib

WARMUP_POLICIES = ('wait', 'repeat')


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
        probs: [K] softmax of the logits, EMA-smoothed over frames when smoothing is on.
        top: the top-k (class, probability) pairs of `probs`, best first.
        padded: True for a warm-up window filled by the 'repeat' policy.
    """
    frame_index: int
    logits: np.ndarray
    probs: np.ndarray
    top: tuple[tuple[int, float], ...]
    padded: bool = False


class _Done:
    """A decoder result already computed (backends without `decode_async`)."""

    def __init__(self, logits_1K: np.ndarray):
        self._logits = logits_1K

    def result(self) -> np.ndarray:
        return self._logits


class OnlineRecognizer:
    """Feeds raw frames one at a time and returns a prediction for the window ending at each frame.

    Args:
        backend: a `JaxBackend`, `OpenVinoBackend` or anything with the `Backend` methods.
        num_frames: T, frames in a clip.
        stride: s, raw frames between two clip frames.
        modality: 'rgb', 'rgbdiff' or 'stacked'; decides the encoder input (see the module docstring).
        crop_size: side of the central crop the model sees.
        mean: RGB mean on the [0, 1] scale.
        std: RGB std on the [0, 1] scale.
        resize_short: None (default): the 'direct' preprocessing, inside the encoder IR where the backend can;
            256: the 'stored' one (INTER_AREA to a 256 shorter side first, in numpy). See the module docstring.
        crop_fraction: central crop side / shorter side (after the resize_short resize, if any).
        frame_color: channel order of the frames pushed: 'RGB' (as `video_io.iter_frames` gives) or 'BGR'
            (OpenCV's own: no conversion on the raw-frame path).
        eval_preprocess: the evaluation crop, 'paper' or 'reference' (the authors' Scale + CenterCrop, in numpy
            only), as the config's `data.eval_preprocess` (see `vtn_jax.data.frames`).
        warmup: 'wait' or 'repeat', the policy for frames before the first full window.
        smoothing: EMA factor a in [0, 1) on the probabilities, p_t = a p_{t-1} + (1 - a) softmax(logits_t);
            0 (default) is off. Logits are never smoothed.
        k: how many (class, probability) pairs `Prediction.top` holds.
        pipelined: overlap each decoder window with the next frame's encoder; `push` then returns the
            previous window's prediction (see the module docstring).
        decode_every: run the decoder on every k-th window only.
        raw_frames: None: feed raw frames to the backend's in-IR preprocessing where it has one and the
            preprocessing allows; False: always preprocess in numpy.

    Attributes:
        encoder_calls: encoder passes so far (one per frame after the first s for the difference modalities).
        frames_seen: raw frames pushed since the last `reset`.
    """

    def __init__(self, backend: Backend, *, num_frames: int, stride: int, modality: str, crop_size: int,
                 mean: Sequence[float], std: Sequence[float], resize_short: Optional[int] = None,
                 crop_fraction: float = frames_lib.EVAL_CROP_FRACTION, frame_color: str = 'RGB',
                 warmup: str = 'wait', smoothing: float = 0.0, k: int = 5, pipelined: bool = False,
                 decode_every: int = 1, raw_frames: Optional[bool] = None, eval_preprocess: str = 'paper'):
        modality_lib.check_modality(modality)
        self.eval_preprocess = frames_lib.check_eval_preprocess(eval_preprocess)
        if warmup not in WARMUP_POLICIES:
            raise ValueError(f'warmup must be one of {WARMUP_POLICIES}, got {warmup!r}')
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f'smoothing must be in [0, 1), got {smoothing}')
        if num_frames < 2 or stride < 1:
            raise ValueError(f'need num_frames >= 2 and stride >= 1, got {num_frames} and {stride}')
        if decode_every < 1:
            raise ValueError(f'decode_every must be >= 1, got {decode_every}')
        if frame_color not in ('RGB', 'BGR'):
            raise ValueError(f"frame_color must be 'RGB' or 'BGR', got {frame_color!r}")
        steps = modality_lib.num_steps(num_frames, modality)
        channels = modality_lib.frame_channels(modality)
        if (backend.num_steps, backend.frame_channels) != (steps, channels):
            raise ValueError(
                f'the model takes {backend.num_steps} decoder steps of {backend.frame_channels}-channel frames, '
                f'but {modality} with num_frames={num_frames} needs {steps} steps of {channels}-channel frames: '
                'check the config against the model / exported files')
        image_size = getattr(backend, 'image_size', crop_size)
        if image_size != crop_size:
            raise ValueError(f'the encoder takes {image_size}x{image_size} frames, the config crops {crop_size}')
        self.backend = backend
        self.num_frames, self.stride, self.modality = num_frames, stride, modality
        self.num_steps = steps
        self.crop_size = crop_size
        self.resize_short, self.crop_fraction, self.frame_color = resize_short, crop_fraction, frame_color
        self.mean, self.std = tuple(mean), tuple(std)
        self.warmup, self.smoothing, self.k = warmup, smoothing, min(k, backend.num_classes)
        self.pipelined, self.decode_every = pipelined, decode_every
        can_raw = callable(getattr(backend, 'encode_frame', None))
        if raw_frames and not can_raw:
            raise ValueError(f'{type(backend).__name__} has no raw-frame encoder (encode_frame)')
        self._raw_allowed = can_raw and raw_frames is not False
        self._raw_only = bool(getattr(backend, 'raw_frames_only', False))
        if self._raw_only and raw_frames is False:
            raise ValueError('this encoder takes uint8 frames only (exported with --uint8_input): it needs the '
                             'raw-frame path')
        self.encoder_calls = 0
        self.reset()

    @classmethod
    def from_config(cls, backend: Backend, config, **kwargs) -> 'OnlineRecognizer':
        """A recognizer with T, stride, modality, crop and normalisation from a config (configs/*.py)."""
        return cls(backend, num_frames=config.model.num_frames, stride=config.data.stride,
                   modality=config.model.modality, crop_size=config.data.crop_size, mean=config.data.mean,
                   std=config.data.std, eval_preprocess=config.data.get('eval_preprocess', 'paper'), **kwargs)

    @property
    def first_full_frame(self) -> int:
        """Index of the first frame with a full window: (T - 1) * stride."""
        return (self.num_frames - 1) * self.stride

    def reset(self):
        """Forgets all frames (a new video); `encoder_calls` keeps counting. A pending window is dropped."""
        if getattr(self, '_pending', None) is not None:
            self._pending[1].result()  # its request must finish before the backend is used again
        s = self.stride
        # Ring buffer per phase p = t mod s: slot count[p] % S holds the newest embedding of phase p.
        self._ring_PSD = np.zeros((s, self.num_steps, self.backend.embed_dim), np.float32)
        self._count = np.zeros(s, np.int64)
        # The last frame of each phase (raw or normalised, as the path takes it): the earlier frame of the next
        # difference.
        self._previous = [None] * s
        self._smoothed = None
        self._pending = None  # (frame index, padded, result) of the window still running
        self._windows = 0  # windows that could be decoded so far (decode_every counts them)
        self._raw_shape = None  # the frame shape the backend's raw-frame encoder was last prepared for
        self.frames_seen = 0

    def preprocess(self, frame_HWC: np.ndarray) -> np.ndarray:
        """A frame (uint8 [H, W, 3] in `frame_color` order) -> the normalised central crop [crop, crop, 3]
        float32, in numpy: what the encoder sees, whichever path computes it."""
        if self.frame_color == 'BGR':
            frame_HWC = np.ascontiguousarray(frame_HWC[..., ::-1])
        if self.eval_preprocess == 'reference':
            return frames_lib.preprocess_frame_reference(frame_HWC, crop_size=self.crop_size, mean=self.mean,
                                                         std=self.std, resize_short=self.resize_short)
        return frames_lib.preprocess_frame(frame_HWC, crop_size=self.crop_size, mean=self.mean, std=self.std,
                                           resize_short=self.resize_short, crop_fraction=self.crop_fraction)

    def takes_raw(self, height: int, width: int) -> bool:
        """Whether frames of this size go to the backend raw (the preprocessing runs inside the encoder IR).

        Raises:
            ValueError: a uint8-only encoder with a preprocessing the IR cannot do (resize_short on other sizes,
                the 'reference' preset).
        """
        direct = self.eval_preprocess == 'paper' and (self.resize_short is None
                                                      or min(height, width) == self.resize_short)
        if self._raw_only and not direct:
            raise ValueError(f'this encoder takes uint8 frames and preprocesses them inside; eval_preprocess='
                             f'{self.eval_preprocess!r} with resize_short={self.resize_short} on {width}x{height} '
                             "frames is numpy-only: use eval_preprocess='paper' and resize_short=None")
        return self._raw_allowed and direct

    def raw_settings(self) -> dict:
        """The settings `Backend.prepare_frames` takes."""
        return dict(crop_size=self.crop_size, mean=self.mean, std=self.std, modality=self.modality,
                    crop_fraction=self.crop_fraction, frame_color=self.frame_color)

    def push(self, frame_HWC: np.ndarray) -> Optional[Prediction]:
        """Adds the next raw frame (uint8 [H, W, 3], `frame_color` order); returns the prediction for the window
        ending at it (pipelined: at the frame before).

        Returns None while the warm-up policy has nothing to predict (see the module docstring), on frames
        `decode_every` skips, and (pipelined) when the previous frame had no window. The recognizer keeps a
        reference to the frame until the next one of its phase (difference modalities): do not overwrite it.
        """
        if not self.takes_raw(*frame_HWC.shape[:2]):
            return self.push_normalised(self.preprocess(frame_HWC))
        if frame_HWC.shape != self._raw_shape:
            self.backend.prepare_frames(*frame_HWC.shape[:2], **self.raw_settings())
            self._raw_shape = frame_HWC.shape
        return self._push(frame_HWC, self.backend.encode_frame)

    def push_normalised(self, frame_HWC: np.ndarray) -> Optional[Prediction]:
        """As `push`, for a frame already preprocessed ([crop, crop, 3] float32, normalised)."""
        if self._raw_only:
            raise ValueError('this encoder takes uint8 frames only (exported with --uint8_input): push raw frames')

        def encode(current, previous):
            x = modality_lib.encoder_input(current, previous, self.modality)
            return self.backend.encode(x[None].astype(np.float32, copy=False))[0]
        return self._push(frame_HWC, encode)

    def flush(self) -> Optional[Prediction]:
        """Pipelined: waits for the last window still running and returns its prediction (None if none)."""
        if self._pending is None:
            return None
        (t, padded, pending), self._pending = self._pending, None
        return self._finish(t, pending.result()[0], padded)

    def _push(self, frame, encode) -> Optional[Prediction]:
        t = self.frames_seen
        self.frames_seen += 1
        phase = t % self.stride
        previous, self._previous[phase] = self._previous[phase], frame
        if self.modality != 'rgb' and previous is None:
            return self.flush() if self.pipelined else None  # frames 0 .. s-1: no difference to encode
        emb_D = encode(frame, None if self.modality == 'rgb' else previous)
        self.encoder_calls += 1
        count = self._count[phase]
        self._ring_PSD[phase, count % self.num_steps] = emb_D
        self._count[phase] = count = count + 1
        if count >= self.num_steps:
            # Oldest first: the slot after the newest one, wrapping around.
            order = (count + np.arange(self.num_steps)) % self.num_steps
            window_SD, padded = self._ring_PSD[phase, order], False
        elif self.warmup == 'repeat':
            # The ring has not wrapped yet, so slots 0 .. count-1 are in time order; repeat them cyclically.
            window_SD, padded = self._ring_PSD[phase, np.arange(self.num_steps) % count], True
        else:
            return self.flush() if self.pipelined else None
        self._windows += 1
        if (self._windows - 1) % self.decode_every:
            return self.flush() if self.pipelined else None
        if not self.pipelined:
            return self._finish(t, self.backend.decode(window_SD[None])[0], padded)
        done = self.flush()
        decode_async = getattr(self.backend, 'decode_async', None)
        pending = decode_async(window_SD[None]) if decode_async else _Done(self.backend.decode(window_SD[None]))
        self._pending = (t, padded, pending)
        return done

    def _finish(self, t: int, logits: np.ndarray, padded: bool) -> Prediction:
        probs = softmax(logits)
        if self.smoothing:
            if self._smoothed is not None:
                probs = self.smoothing * self._smoothed + (1.0 - self.smoothing) * probs
            self._smoothed = probs
        return Prediction(t, logits, probs, select_top_k(probs, self.k), padded)
