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
        resize_short: shorter side the frames are first resized to (256: what the dataset builders store and
            the model was evaluated on; None: keep the frame's size). See `data.frames.preprocess_frame`.
        eval_preprocess: the evaluation crop, 'paper' or 'reference' (the authors' Scale + CenterCrop), as the
            config's `data.eval_preprocess` (see `vtn_jax.data.frames`).
        warmup: 'wait' or 'repeat', the policy for frames before the first full window.
        smoothing: EMA factor a in [0, 1) on the probabilities, p_t = a p_{t-1} + (1 - a) softmax(logits_t);
            0 (default) is off. Logits are never smoothed.
        k: how many (class, probability) pairs `Prediction.top` holds.

    Attributes:
        encoder_calls: encoder passes so far (one per frame after the first s for the difference modalities).
        frames_seen: raw frames pushed since the last `reset`.
    """

    def __init__(self, backend: Backend, *, num_frames: int, stride: int, modality: str, crop_size: int,
                 mean: Sequence[float], std: Sequence[float], resize_short: Optional[int] = 256,
                 warmup: str = 'wait', smoothing: float = 0.0, k: int = 5, eval_preprocess: str = 'paper'):
        modality_lib.check_modality(modality)
        self._preprocess = frames_lib.preprocess_function(eval_preprocess)
        self.eval_preprocess = eval_preprocess
        if warmup not in WARMUP_POLICIES:
            raise ValueError(f'warmup must be one of {WARMUP_POLICIES}, got {warmup!r}')
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f'smoothing must be in [0, 1), got {smoothing}')
        if num_frames < 2 or stride < 1:
            raise ValueError(f'need num_frames >= 2 and stride >= 1, got {num_frames} and {stride}')
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
        self.resize_short = resize_short
        self.mean, self.std = tuple(mean), tuple(std)
        self.warmup, self.smoothing, self.k = warmup, smoothing, min(k, backend.num_classes)
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
        """Forgets all frames (a new video); `encoder_calls` keeps counting."""
        s = self.stride
        # Ring buffer per phase p = t mod s: slot count[p] % S holds the newest embedding of phase p.
        self._ring_PSD = np.zeros((s, self.num_steps, self.backend.embed_dim), np.float32)
        self._count = np.zeros(s, np.int64)
        # The last normalised frame of each phase: the earlier frame of the next difference.
        self._previous = [None] * s
        self._smoothed = None
        self.frames_seen = 0

    def preprocess(self, frame_HWC: np.ndarray) -> np.ndarray:
        """RGB uint8 [H, W, 3] -> the normalised central crop [crop, crop, 3] float32."""
        return self._preprocess(frame_HWC, crop_size=self.crop_size, mean=self.mean, std=self.std,
                                resize_short=self.resize_short)

    def push(self, frame_HWC: np.ndarray) -> Optional[Prediction]:
        """Adds the next raw frame (RGB uint8 [H, W, 3]); returns the prediction for the window ending at it.

        Returns None while the warm-up policy has nothing to predict (see the module docstring).
        """
        return self.push_normalised(self.preprocess(frame_HWC))

    def push_normalised(self, frame_HWC: np.ndarray) -> Optional[Prediction]:
        """As `push`, for a frame already preprocessed ([crop, crop, 3] float32, normalised)."""
        t = self.frames_seen
        self.frames_seen += 1
        phase = t % self.stride
        previous, self._previous[phase] = self._previous[phase], frame_HWC
        if self.modality != 'rgb' and previous is None:
            return None  # frames 0 .. s-1 have no earlier frame: no difference, no encoder input
        x = modality_lib.encoder_input(frame_HWC, previous, self.modality)
        emb_D = self.backend.encode(x[None].astype(np.float32, copy=False))[0]
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
            return None
        logits = self.backend.decode(window_SD[None])[0]
        probs = softmax(logits)
        if self.smoothing:
            if self._smoothed is not None:
                probs = self.smoothing * self._smoothed + (1.0 - self.smoothing) * probs
            self._smoothed = probs
        return Prediction(t, logits, probs, select_top_k(probs, self.k), padded)
