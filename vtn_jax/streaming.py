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

Backends: `JaxBackend` (jitted `VTN.encode` and `VTN.decode`) and `OpenVinoBackend` (an encoder model
[1, H, W, C] -> [1, D] and a decoder model [1, S, D] -> [1, K], any format `openvino.Core.read_model`
reads). Both take batches and return numpy float32, so `vtn_jax.dense` uses them too.

    recognizer = OnlineRecognizer.from_config(JaxBackend(model, variables), config)
    for frame in video_io.iter_frames('video.avi'):      # RGB uint8 [H, W, 3]
        prediction = recognizer.push(frame)                # None during the warm-up, else a Prediction
"""
import dataclasses
from typing import Optional, Protocol, Sequence

import cv2
import numpy as np

from vtn_jax import model as model_lib
from vtn_jax import video_io

WARMUP_POLICIES = ('wait', 'repeat')
EVAL_CROP_FRACTION = 224 / 256  # central crop side / shorter side, as input_pipeline.EVAL_CROP_FRACTION


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


class JaxBackend:
    """A VTN and its variables, with jitted `encode` and `decode` (one compilation per batch size)."""

    def __init__(self, model: model_lib.VTN, variables):
        self.model = model
        self.variables = variables
        self.num_steps = model.num_steps
        self.frame_channels = model.frame_channels
        self.embed_dim = model.embed_dim
        self.num_classes = model.num_classes
        import jax  # pylint: disable=import-outside-toplevel  (the OpenVINO path needs no JAX)
        self._encode = jax.jit(lambda v, x: model.apply(v, x, method=model_lib.VTN.encode))
        self._decode = jax.jit(lambda v, e: model.apply(v, e, method=model_lib.VTN.decode))

    def encode(self, frames_NHWC: np.ndarray) -> np.ndarray:
        return np.asarray(self._encode(self.variables, frames_NHWC))

    def decode(self, emb_BSD: np.ndarray) -> np.ndarray:
        return np.asarray(self._decode(self.variables, emb_BSD))


class OpenVinoBackend:
    """The split VTN as two OpenVINO models: encoder [1, H, W, C] -> [1, D], decoder [1, S, D] -> [1, K].

    Batches are run one item at a time when a model has a fixed batch of 1 (what the export writes).
    NCHW encoders ([1, C, H, W]) are accepted too; the frames are transposed for them.

    Args:
        encoder_path: encoder model file (.xml IR, .onnx, .tflite, ...).
        decoder_path: decoder model file.
        precision: OpenVINO INFERENCE_PRECISION_HINT ('f32', 'bf16', 'f16'), or None for the device's default
            (bf16 on CPUs with AVX-512 BF16 / AMX, else f32). A quantised (INT8) model runs its int8 parts in
            int8 whatever the hint. `inference_precision` says what was used.
        num_threads: CPU inference threads (0: OpenVINO's choice).
        device: OpenVINO device name.
    """

    def __init__(self, encoder_path, decoder_path, *, precision: Optional[str] = 'f32', num_threads: int = 0,
                 device: str = 'CPU'):
        import openvino as ov  # pylint: disable=import-outside-toplevel
        core = ov.Core()
        config = {'PERFORMANCE_HINT': 'LATENCY'}
        if precision:
            config['INFERENCE_PRECISION_HINT'] = precision
        if num_threads:
            config['INFERENCE_NUM_THREADS'] = int(num_threads)
        self._encoder = core.compile_model(core.read_model(str(encoder_path)), device, config)
        self._decoder = core.compile_model(core.read_model(str(decoder_path)), device, config)
        self._encode_request = self._encoder.create_infer_request()
        self._decode_request = self._decoder.create_infer_request()
        enc_shape = tuple(self._encoder.input(0).get_partial_shape().get_min_shape())
        dec_shape = tuple(self._decoder.input(0).get_partial_shape().get_min_shape())
        if len(enc_shape) != 4 or len(dec_shape) != 3:
            raise ValueError(f'expected an encoder taking [1, H, W, C] and a decoder taking [1, S, D]; got '
                             f'{encoder_path}: {enc_shape}, {decoder_path}: {dec_shape}')
        self._nchw = enc_shape[1] in (3, 6) and enc_shape[3] not in (3, 6)
        self.frame_channels = int(enc_shape[1] if self._nchw else enc_shape[3])
        self.image_size = int(enc_shape[2] if self._nchw else enc_shape[1])
        self.num_steps, self.embed_dim = int(dec_shape[1]), int(dec_shape[2])
        enc_out = int(self._encoder.output(0).get_partial_shape().get_min_shape()[-1])
        if enc_out != self.embed_dim:
            raise ValueError(f'the encoder {encoder_path} gives {enc_out}-d embeddings, the decoder {decoder_path} '
                             f'takes {self.embed_dim}-d ones: not a matching pair')
        self.num_classes = int(self._decoder.output(0).get_partial_shape().get_min_shape()[-1])
        if any(self._encoder.input(0).get_element_type() == t for t in (ov.Type.u8, ov.Type.i8)):
            raise ValueError(f'{encoder_path} takes uint8 frames; the recognizer feeds normalised float32 crops: '
                             'export without uint8 input')
        # What OpenVINO actually runs (the hint may be ignored, e.g. bf16 on a CPU without it): f32, bf16, f16.
        self.inference_precision = self._encoder.get_property('INFERENCE_PRECISION_HINT').get_type_name()

    def encode(self, frames_NHWC: np.ndarray) -> np.ndarray:
        frames = np.ascontiguousarray(frames_NHWC.transpose(0, 3, 1, 2) if self._nchw else frames_NHWC,
                                      dtype=np.float32)
        out = [self._encode_request.infer({0: frames[i:i + 1]})[0] for i in range(len(frames))]
        return np.concatenate(out).reshape(len(frames), -1).astype(np.float32, copy=False)

    def decode(self, emb_BSD: np.ndarray) -> np.ndarray:
        emb = np.ascontiguousarray(emb_BSD, dtype=np.float32)
        out = [self._decode_request.infer({0: emb[i:i + 1]})[0] for i in range(len(emb))]
        return np.concatenate(out).reshape(len(emb), -1).astype(np.float32, copy=False)


def preprocess_frame(frame_HWC: np.ndarray, *, crop_size: int, mean: Sequence[float], std: Sequence[float],
                     resize_short: Optional[int] = 256) -> np.ndarray:
    """RGB uint8 frame -> the normalised central crop the model sees: [crop_size, crop_size, 3] float32.

    The evaluation preprocessing of `vtn_jax.input_pipeline` on a dataset stored by `vtn_jax.datasets`: the
    shorter side resized to `resize_short` (INTER_AREA, as stored; None keeps the frame's size), the central
    square of side round(224/256 * shorter side), resized to crop_size (bilinear) when it differs, then
    (x / 255 - mean) / std. With 256 and a 224 crop that is the paper's central 224 crop, no resampling.
    (In numpy rather than the pipeline's TF ops: streaming must not pull in TensorFlow.)
    """
    if frame_HWC.ndim != 3 or frame_HWC.shape[-1] != 3:
        raise ValueError(f'expected an RGB frame [H, W, 3], got shape {frame_HWC.shape}')
    if resize_short:
        frame_HWC = video_io.resize_short_side(frame_HWC, resize_short)
    height, width = frame_HWC.shape[:2]
    short = min(height, width)
    side = min(max(int(round(short * EVAL_CROP_FRACTION)), 1), short)
    top, left = (height - side) // 2, (width - side) // 2
    crop = frame_HWC[top:top + side, left:left + side]
    std = np.asarray(std, np.float32)
    # One multiply-add per value, the same arithmetic as input_pipeline.normalize.
    scale, offset = 1.0 / (255.0 * std), np.asarray(mean, np.float32) / std
    if side == crop_size and crop.dtype == np.uint8:
        # A per-channel lookup table of the same float32 values: 5x faster than the arithmetic on the crop.
        table = np.arange(256, dtype=np.float32)[:, None] * scale - offset
        return cv2.LUT(np.ascontiguousarray(crop), table.reshape(256, 1, 3))
    crop = crop.astype(np.float32)
    if side != crop_size:
        # On float values, as tf.image.resize: cv2 would round a uint8 result to integers.
        crop = cv2.resize(crop, (crop_size, crop_size), interpolation=cv2.INTER_LINEAR)
    return crop * scale - offset


def make_encoder_input(frame_HWC: np.ndarray, previous_HWC: Optional[np.ndarray], modality: str) -> np.ndarray:
    """What the encoder sees for one normalised frame, given the frame `stride` earlier (see model_frames)."""
    if modality == 'rgb':
        return frame_HWC
    diff = frame_HWC - previous_HWC
    if modality == 'rgbdiff':
        return diff
    if modality == 'stacked':
        return np.concatenate([frame_HWC, diff], axis=-1)
    raise ValueError(f'modality must be one of {model_lib.MODALITIES}, got {modality!r}')


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, in float64 for stable probabilities."""
    z = np.asarray(logits, np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def select_top_k(probs: np.ndarray, k: int) -> tuple[tuple[int, float], ...]:
    """The k most probable (class, probability) pairs, best first (ties: lower class first)."""
    order = np.argsort(-probs, kind='stable')[:k]
    return tuple((int(i), float(probs[i])) for i in order)


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
        resize_short: shorter side the frames are first resized to (256: what `vtn_jax.datasets` stores and
            the model was evaluated on; None: keep the frame's size). See `preprocess_frame`.
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
                 warmup: str = 'wait', smoothing: float = 0.0, k: int = 5):
        if modality not in model_lib.MODALITIES:
            raise ValueError(f'modality must be one of {model_lib.MODALITIES}, got {modality!r}')
        if warmup not in WARMUP_POLICIES:
            raise ValueError(f'warmup must be one of {WARMUP_POLICIES}, got {warmup!r}')
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f'smoothing must be in [0, 1), got {smoothing}')
        if num_frames < 2 or stride < 1:
            raise ValueError(f'need num_frames >= 2 and stride >= 1, got {num_frames} and {stride}')
        steps = num_frames if modality == 'rgb' else num_frames - 1
        channels = 6 if modality == 'stacked' else 3
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
                   std=config.data.std, **kwargs)

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
        return preprocess_frame(frame_HWC, crop_size=self.crop_size, mean=self.mean, std=self.std,
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
        x = make_encoder_input(frame_HWC, previous, self.modality)
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
