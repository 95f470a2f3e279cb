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
from vtn_jax.models import modality as modality_lib

WARMUP_POLICIES = ('wait', 'repeat')
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
        probs: [K] softmax of the logits, EMA-smoothed over frames when smoothing is on.
        top: the top-k (class, probability) pairs of `probs`, best first.
        padded: True for a warm-up window filled by the 'repeat' policy.
    """
    frame_index: int
    logits: np.ndarray
    probs: np.ndarray
    top: tuple[tuple[int, float], ...]
    padded: bool = False


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
        clip: T, the stride and the modality (`vtn_jax.models.modality.Clip`).
        preprocessing: the crop and normalisation (`vtn_jax.data.frames.Preprocessing`).
        frame_color: channel order of the frames pushed: 'RGB' (as `video_io.iter_frames` gives) or 'BGR'
            (OpenCV's own: no conversion on the raw-frame path).
        warmup: 'wait' or 'repeat', the policy for frames before the first full window.
        smoothing: EMA factor a in [0, 1) on the probabilities, p_t = a p_{t-1} + (1 - a) softmax(logits_t);
            0 (default) is off. Logits are never smoothed.
        k: how many (class, probability) pairs `Prediction.top` holds.
        pipelined: overlap each decoder window with the next frame's encoder; `push` then returns the
            previous window's prediction (see the module docstring).
        decode_every: run the decoder on every k-th window only.
        raw_frames: None: feed frames to the backend's in-IR preprocessing where it has one; False: always
            preprocess in numpy.

    Attributes:
        encoder_calls: encoder passes so far (one per frame after the first s for the difference modalities).
        frames_seen: raw frames pushed since the last `reset`.
    """

    def __init__(self, backend: Backend, clip: modality_lib.Clip, preprocessing: frames_lib.Preprocessing, *,
                 frame_color: str = 'RGB', warmup: str = 'wait', smoothing: float = 0.0, k: int = DEFAULT_TOP_K,
                 pipelined: bool = False, decode_every: int = 1, raw_frames: Optional[bool] = None):
        frames_lib.check_choice('warmup', warmup, WARMUP_POLICIES)
        frames_lib.check_choice('frame_color', frame_color, ('RGB', 'BGR'))
        if not 0.0 <= smoothing < 1.0:
            raise errors.UserError(f'smoothing must be in [0, 1), got {smoothing}')
        if decode_every < 1:
            raise errors.UserError(f'decode_every must be >= 1, got {decode_every}')
        check_backend(backend, clip, preprocessing)
        self.backend, self.clip, self.preprocessing = backend, clip, preprocessing
        self.frame_color, self.warmup, self.smoothing = frame_color, warmup, smoothing
        self.k = min(k, backend.num_classes)
        self.pipelined, self.decode_every = pipelined, decode_every
        can_raw = callable(getattr(backend, 'encode_frame', None))
        if raw_frames and not can_raw:
            raise errors.UserError(f'{type(backend).__name__} has no raw-frame encoder (encode_frame)')
        self._raw = can_raw and raw_frames is not False
        if getattr(backend, 'raw_frames_only', False) and not self._raw:
            raise errors.UserError('this encoder takes uint8 frames only (exported with --uint8_input): it needs the '
                                   'raw-frame path')
        self.encoder_calls = 0
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
        """Forgets all frames (a new video); `encoder_calls` keeps counting. A window still running is waited
        for and dropped."""
        if getattr(self, '_pending', None) is not None:
            self._pending[2].result()  # its request must finish before the backend is used again
        s = self.clip.stride
        # Ring buffer per phase p = t mod s: slot count[p] % S holds the newest embedding of phase p.
        self._ring_PSD = np.zeros((s, self.clip.num_steps, self.backend.embed_dim), np.float32)
        self._count = np.zeros(s, np.int64)
        # The last frame of each phase (staged or normalised, as the path takes it): the earlier frame of the next
        # difference.
        self._previous = [None] * s
        self._smoothed = None
        self._pending = None  # (frame index, padded, result) of the window still running
        self._windows = 0  # windows that could be decoded so far (decode_every counts them)
        self._raw_shape = None  # the frame shape the backend's raw-frame encoder was last prepared for
        self.frames_seen = 0

    def preprocess(self, frame_HWC: np.ndarray) -> np.ndarray:
        """A frame (uint8 [H, W, 3] in `frame_color` order) -> the normalised crop [crop, crop, 3] float32, in
        numpy: what the encoder sees, whichever path computes it."""
        if self.frame_color == 'BGR':
            frame_HWC = np.ascontiguousarray(frame_HWC[..., ::-1])
        return self.preprocessing.numpy(frame_HWC)

    def push(self, frame_HWC: np.ndarray) -> Optional[Prediction]:
        """Adds the next raw frame (uint8 [H, W, 3], `frame_color` order); returns the prediction for the window
        ending at it (pipelined: at the frame before).

        Returns None while the warm-up policy has nothing to predict (see the module docstring), on frames
        `decode_every` skips, and (pipelined) when the previous frame had no window. The recognizer keeps a
        reference to the frame until the next one of its phase (difference modalities): do not overwrite it.
        """
        if not self._raw:
            return self.push_normalised(self.preprocess(frame_HWC))
        frame_HWC = self.preprocessing.host_stage(frame_HWC)
        if frame_HWC.shape != self._raw_shape:
            self.backend.prepare_frames(*frame_HWC.shape[:2], preprocessing=self.preprocessing,
                                        modality=self.clip.modality, frame_color=self.frame_color)
            self._raw_shape = frame_HWC.shape
        return self._push(frame_HWC, self.backend.encode_frame)

    def push_normalised(self, frame_HWC: np.ndarray) -> Optional[Prediction]:
        """As `push`, for a frame already preprocessed ([crop, crop, 3] float32, normalised)."""
        if getattr(self.backend, 'raw_frames_only', False):
            raise errors.UserError('this encoder takes uint8 frames only (exported with --uint8_input): push raw '
                                   'frames')

        def encode(current, previous):
            x = modality_lib.encoder_input(current, previous, self.clip.modality)
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
        phase = t % self.clip.stride
        previous, self._previous[phase] = self._previous[phase], frame
        if self.clip.needs_previous_frame and previous is None:
            return self.flush() if self.pipelined else None  # frames 0 .. s-1: no difference to encode
        emb_D = encode(frame, previous if self.clip.needs_previous_frame else None)
        self.encoder_calls += 1
        steps = self.clip.num_steps
        count = self._count[phase]
        self._ring_PSD[phase, count % steps] = emb_D
        self._count[phase] = count = count + 1
        if count >= steps:
            # Oldest first: the slot after the newest one, wrapping around.
            order = (count + np.arange(steps)) % steps
            window_SD, padded = self._ring_PSD[phase, order], False
        elif self.warmup == 'repeat':
            # The ring has not wrapped yet, so slots 0 .. count-1 are in time order; repeat them cyclically.
            window_SD, padded = self._ring_PSD[phase, np.arange(steps) % count], True
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
