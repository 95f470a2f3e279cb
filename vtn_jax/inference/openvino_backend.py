"""OpenVINO as a recognizer backend, and the one place where OpenVINO models are compiled.

`compile_openvino` holds the compile settings every caller uses (the backends here, the export's
verification and benchmark); `runtime_precision` reads back what OpenVINO actually computed in.
"""
import collections
from typing import Optional

import numpy as np
import openvino as ov

from vtn_jax import errors
from vtn_jax.data import frames as frames_lib
from vtn_jax.inference import decoder_batch
from vtn_jax.inference import export_record
from vtn_jax.inference import openvino_frames

# Heavy layer types whose runtime precision tells what OpenVINO actually computed in.
_COMPUTE_LAYERS = ('Convolution', 'GroupConvolution', 'FullyConnected', 'MatMul')


def compile_openvino(path, precision: Optional[str] = None, *, hint: Optional[str] = None, threads: int = 0,
                     core: Optional[ov.Core] = None, device: str = 'CPU', perf_count: bool = False):
    """Compiles an IR/ONNX file.

    Args:
        path: model file (.xml IR, .onnx, ...) or an `ov.Model`.
        precision: INFERENCE_PRECISION_HINT ('f32', 'bf16', 'f16'), or None for the device's default (bf16 on
            CPUs with AVX-512 BF16 / AMX, else f32). An INT8 model runs its int8 parts in int8 whatever the hint.
        hint: PERFORMANCE_HINT ('LATENCY', 'THROUGHPUT'), or None.
        threads: INFERENCE_NUM_THREADS (0: OpenVINO's choice).
        core: an `ov.Core` to share between models.
        device: OpenVINO device name.
        perf_count: keep the per-layer counters (read through `InferRequest.profiling_info`).
    """
    cfg = {'PERF_COUNT': 'YES'} if perf_count else {}
    if precision:
        cfg['INFERENCE_PRECISION_HINT'] = precision
    if hint:
        cfg['PERFORMANCE_HINT'] = hint
    if threads:
        cfg['INFERENCE_NUM_THREADS'] = int(threads)
    return (core or ov.Core()).compile_model(path if isinstance(path, ov.Model) else str(path), device, cfg)


def runtime_precision(compiled) -> str:
    """The precision OpenVINO actually computes the heavy layers in, e.g. 'bf16' or 'i8 32 / bf16 4'."""
    counts = collections.Counter()
    for op in compiled.get_runtime_model().get_ops():
        info = op.get_rt_info()
        if 'layerType' in info and info['layerType'].astype(str) in _COMPUTE_LAYERS:
            counts[info['runtimePrecision'].astype(str)] += 1
    if not counts:
        return compiled.get_property('INFERENCE_PRECISION_HINT').to_string()
    return ' / '.join(f'{p} {n}' if len(counts) > 1 else p for p, n in counts.most_common())


MAX_DECODER_BATCH = 16  # the largest batched decoder compiled (`decode_many`); more windows take several calls


class _Pending:
    """Decoder windows running asynchronously; `result()` waits for them and returns their logits [B, K]."""

    def __init__(self, request, window_BSD: np.ndarray, count: int = 1):
        self._request, self._count = request, count
        request.start_async({0: window_BSD})

    def result(self) -> np.ndarray:
        self._request.wait()
        out = np.array(self._request.get_output_tensor(0).data, np.float32)
        return out.reshape(len(out), -1)[:self._count]


class _Requests:
    """A compiled model and the infer requests made from it so far (one per job run at the same time)."""

    def __init__(self, compiled):
        self.compiled = compiled
        self.all = [compiled.create_infer_request()]

    def take(self, count: int) -> list:
        while len(self.all) < count:
            self.all.append(self.compiled.create_infer_request())
        return self.all[:count]


class OpenVinoBackend:
    """The split VTN as two OpenVINO models: encoder [1, H, W, C] -> [1, D], decoder [1, S, D] -> [1, K].

    Batches are run one item at a time when a model has a fixed batch of 1 (what the export writes).
    NCHW encoders ([1, C, H, W]) are accepted too; the frames are transposed for them.

    Two ways in (the recognizer picks, see `recognizer.OnlineRecognizer`):
      * `encode`: normalised float32 crops [N, crop, crop, C] (float encoders only);
      * `encode_frames`: uint8 frames [N, P, H, W, 3] after `Preprocessing.host_stage`, P = 1 (rgb) or 2 (a frame
        and the one a stride earlier, for rgbdiff / stacked), after `prepare_frames` said how to preprocess them.
        The crop, resize and normalisation run inside OpenVINO (`openvino_frames.raw_frame_encoder`), compiled
        once per frame size. The uint8 encoders of `vtn-export --uint8_input` take this way only.
    `decode_async` starts a decoder window on its own request and returns at once, so it overlaps whatever
    the caller does next (the next frame's encoder).

    Args:
        encoder_path: encoder model file (.xml IR, .onnx, .tflite, ...).
        decoder_path: decoder model file.
        precision: OpenVINO INFERENCE_PRECISION_HINT ('f32', 'bf16', 'f16'), or None for the device's default
            (bf16 on CPUs with AVX-512 BF16 / AMX, else f32). A quantised (INT8) model runs its int8 parts in
            int8 whatever the hint. `inference_precision` says what was used.
        num_threads: CPU inference threads (0: OpenVINO's choice).
        device: OpenVINO device name.
        encoder_input: what the encoder takes, from its export record (`export_record.InputSpec`): asserted
            against the IR. None (a bare IR file): float RGB, the layout read from the input's shape.
        decoder_precision: the decoder's own precision hint (default: `precision`).
        hint: OpenVINO's PERFORMANCE_HINT: 'LATENCY' (default: one request at a time, all cores on it) or
            'THROUGHPUT' (several CPU streams: requests of many video streams run side by side).

    Many streams (`encode_frame_many`, `decode_many`): the raw-frame encoder runs several frames on their own infer
    requests of the one compiled model, started together; the decoder runs several windows in one call of a
    batch-B copy (`decoder_batch.with_batch`, B a power of two, compiled when first needed), which reads the
    weights once for all of them.
    """

    max_decoder_batch = MAX_DECODER_BATCH

    def __init__(self, encoder_path, decoder_path, *, precision: Optional[str] = 'f32', num_threads: int = 0,
                 device: str = 'CPU', encoder_input: Optional[export_record.InputSpec] = None,
                 decoder_precision: Optional[str] = '', hint: str = 'LATENCY'):
        self._core = core = ov.Core()
        self._config = dict(precision=precision, hint=hint, threads=num_threads, core=core, device=device)
        self._encoder_path = encoder_path
        try:
            self._encoder_model = model = core.read_model(str(encoder_path))
            decoder_model = core.read_model(str(decoder_path))
        except RuntimeError as e:
            raise errors.UserError(f'OpenVINO cannot read {encoder_path} / {decoder_path} as models: '
                                   f'{str(e).splitlines()[0][:200]}') from None
        self._decoder_model = decoder_model
        decoder_config = dict(self._config, hint='LATENCY',  # one call of all the windows due
                              precision=precision if decoder_precision == '' else decoder_precision)
        self._decoder_config = decoder_config
        self._decoder = compile_openvino(decoder_model, **decoder_config)
        self._batched = {1: self._decoder}  # windows per call -> compiled decoder (`decode_many`)
        self._batched_requests = {}
        self._decode_request = self._decoder.create_infer_request()
        self._async_request = self._decoder.create_infer_request()
        enc_shape = tuple(model.input(0).get_partial_shape().get_min_shape())
        dec_shape = tuple(self._decoder.input(0).get_partial_shape().get_min_shape())
        if len(enc_shape) != 4 or len(dec_shape) != 3:
            raise errors.UserError(f'expected an encoder taking [1, H, W, C] and a decoder taking [1, S, D]; got '
                                   f'{encoder_path}: {enc_shape}, {decoder_path}: {dec_shape}')
        dtype = 'uint8' if model.input(0).get_element_type() == ov.Type.u8 else 'float32'
        if encoder_input is None:  # a bare IR: float RGB, or uint8 RGB; the layout from the shape
            nchw = enc_shape[1] in (3, 6) and enc_shape[3] not in (3, 6)
            encoder_input = export_record.InputSpec('frame', enc_shape, 'NCHW' if nchw else 'NHWC', dtype)
        elif (tuple(encoder_input.shape), encoder_input.dtype) != (enc_shape, dtype):
            raise errors.UserError(f'{encoder_path} takes {dtype} {list(enc_shape)}, but its export record says '
                                   f'{encoder_input.dtype} {list(encoder_input.shape)}: the folder is inconsistent; '
                                   'export again')
        self.encoder_input = encoder_input
        self._nchw = encoder_input.nchw
        self.frame_channels = int(enc_shape[1] if self._nchw else enc_shape[3])
        self.image_size = int(enc_shape[2] if self._nchw else enc_shape[1])
        self.num_steps, self.embed_dim = int(dec_shape[1]), int(dec_shape[2])
        enc_out = int(np.prod(model.output(0).get_partial_shape().get_min_shape()[1:]))  # [1, D(, 1, 1)]
        if enc_out != self.embed_dim:
            raise errors.UserError(f'the encoder {encoder_path} gives {enc_out}-d embeddings, '
                                   f'the decoder {decoder_path} takes {self.embed_dim}-d ones: not a matching pair')
        self.num_classes = int(self._decoder.output(0).get_partial_shape().get_min_shape()[-1])
        # A uint8 encoder (vtn-export --uint8_input) normalises inside: it takes raw frames only.
        self.raw_frames_only = encoder_input.dtype == 'uint8'
        # Compiled when first used: a stream of raw frames never needs the float-input encoder.
        self._encoder, self._encode_request = None, None
        # What OpenVINO actually runs (the hint may be ignored, e.g. bf16 on a CPU without it): f32, bf16, f16.
        self.inference_precision = (self.encoder.get_property('INFERENCE_PRECISION_HINT') if decoder_precision != ''
                                    else self._decoder.get_property('INFERENCE_PRECISION_HINT')).get_type_name()
        self._frame_settings, self._frame_encoders = None, {}

    @property
    def encoder(self):
        """The compiled encoder as exported (float normalised crops, or a uint8 encoder's 224 crops)."""
        if self._encoder is None:
            self._encoder = compile_openvino(self._encoder_model, **self._config)
            self._encode_request = self._encoder.create_infer_request()
        return self._encoder

    def encode(self, frames_NHWC: np.ndarray) -> np.ndarray:
        if self.raw_frames_only:
            raise errors.UserError(f'{self._encoder_path} takes uint8 frames (exported with --uint8_input): feed raw '
                             'frames through encode_frames (the recognizer does so with its direct preprocessing)')
        frames = np.ascontiguousarray(frames_NHWC.transpose(0, 3, 1, 2) if self._nchw else frames_NHWC,
                                      dtype=np.float32)
        _ = self.encoder
        out = [self._encode_request.infer({0: frames[i:i + 1]})[0] for i in range(len(frames))]
        return np.concatenate(out).reshape(len(frames), -1).astype(np.float32, copy=False)

    def prepare_frames(self, height: int, width: int, *, preprocessing: frames_lib.Preprocessing, modality: str,
                       frame_color: str = 'RGB') -> None:
        """Compiles the raw-frame encoder for frames of height x width (at most once per size and settings).

        Args:
            height, width: the size of the frames fed (after `preprocessing.host_stage`).
            preprocessing: the crop and normalisation (`openvino_frames.raw_frame_encoder`).
            modality: rgb, rgbdiff or stacked.
            frame_color: channel order of the frames fed ('RGB' or 'BGR').
        """
        settings = (preprocessing, modality, frame_color)
        if settings != self._frame_settings:
            self._frame_settings, self._frame_encoders = settings, {}
        if (height, width) not in self._frame_encoders:
            model = openvino_frames.raw_frame_encoder(
                self._encoder_model, preprocessing=preprocessing, modality=modality, frame_color=frame_color,
                model_color=self.encoder_input.color, height=height, width=width)
            self._frame_encoders[(height, width)] = _Requests(compile_openvino(model, **self._config))

    def encode_frames(self, frames_NPHWC: np.ndarray) -> np.ndarray:
        """Raw uint8 frames [N, P, H, W, 3] (see the class docstring) -> embeddings [N, D] float32."""
        out = np.empty((len(frames_NPHWC), self.embed_dim), np.float32)
        for i, frames in enumerate(frames_NPHWC):
            out[i] = self.encode_frame(frames[0], frames[1] if len(frames) > 1 else None)
        return out

    def encode_frame(self, frame_HWC: np.ndarray, previous_HWC: Optional[np.ndarray] = None) -> np.ndarray:
        """One raw uint8 frame [H, W, 3] (and, for rgbdiff / stacked, the one a stride earlier) -> [D] float32.

        The frames are read in place (no copy): they must not change during the call. `prepare_frames` must have
        been called for this frame size.
        """
        request = self._frame_requests(frame_HWC, 1)[0]
        return request.infer(_frame_inputs(frame_HWC, previous_HWC), share_inputs=True)[0].reshape(-1).astype(
            np.float32)

    def encode_frame_many(self, jobs) -> list:
        """`encode_frame` of several (frame, previous or None) pairs, each on its own infer request, all started
        before any is waited for (with the THROUGHPUT hint they run side by side) -> [[D] float32]."""
        taken, started = {}, []
        for frame, previous in jobs:
            size = frame.shape[:2]
            taken[size] = taken.get(size, 0) + 1
            request = self._frame_requests(frame, taken[size])[taken[size] - 1]
            inputs = _frame_inputs(frame, previous)  # shared with the request: kept alive until it is waited for
            request.start_async(inputs, share_inputs=True)
            started.append((request, inputs))
        out = []
        for request, _ in started:
            request.wait()
            out.append(np.array(request.get_output_tensor(0).data, np.float32).reshape(-1))
        return out

    def _frame_requests(self, frame_HWC: np.ndarray, count: int) -> list:
        pool = self._frame_encoders.get(frame_HWC.shape[:2])
        if pool is None:
            raise errors.UserError(f'no raw-frame encoder prepared for {frame_HWC.shape[1]}x{frame_HWC.shape[0]} '
                                   'frames: call prepare_frames first')
        return pool.take(count)

    def decode(self, emb_BSD: np.ndarray) -> np.ndarray:
        emb = np.ascontiguousarray(emb_BSD, dtype=np.float32)
        out = [self._decode_request.infer({0: emb[i:i + 1]})[0] for i in range(len(emb))]
        return np.concatenate(out).reshape(len(emb), -1).astype(np.float32, copy=False)

    def decode_async(self, emb_1SD: np.ndarray) -> _Pending:
        """Starts the decoder on one window [1, S, D]; the result's `result()` waits and gives [1, K].

        One window at a time: wait for the previous result before starting the next.
        """
        return _Pending(self._async_request, np.ascontiguousarray(emb_1SD, dtype=np.float32))

    def decode_many(self, emb_BSD: np.ndarray) -> np.ndarray:
        """Windows [B, S, D] -> logits [B, K], up to MAX_DECODER_BATCH windows per call of a batched decoder (a
        window's logits do not depend on the others')."""
        emb = np.ascontiguousarray(emb_BSD, dtype=np.float32)
        return np.concatenate([self.decode_many_async(emb[i:i + MAX_DECODER_BATCH]).result()
                               for i in range(0, len(emb), MAX_DECODER_BATCH)])

    def prepare_decoder(self, count: int) -> None:
        """Compiles the batched decoders `decode_many` uses for up to `count` windows per call now, not when the
        first call of that size comes (a compile in the middle of a live stream would drop its frames)."""
        batch = 1
        while batch < 2 * min(count, MAX_DECODER_BATCH):
            self._batched_request(batch)
            batch *= 2

    def _batched_request(self, batch: int):
        if batch not in self._batched:
            self._batched[batch] = compile_openvino(decoder_batch.with_batch(self._decoder_model, batch),
                                                    **self._decoder_config)
        if batch not in self._batched_requests:
            self._batched_requests[batch] = self._batched[batch].create_infer_request()
        return self._batched_requests[batch]

    def decode_many_async(self, emb_BSD: np.ndarray) -> _Pending:
        """Starts the decoder on B <= MAX_DECODER_BATCH windows [B, S, D] (padded to a power of two) in one call;
        `result()` waits and gives [B, K]. One call at a time, as `decode_async`."""
        count = len(emb_BSD)
        if not 1 <= count <= MAX_DECODER_BATCH:
            raise errors.UserError(f'decode_many_async takes 1 to {MAX_DECODER_BATCH} windows, got {count}')
        batch = 1 << (count - 1).bit_length()
        x = np.zeros((batch,) + emb_BSD.shape[1:], np.float32)
        x[:count] = emb_BSD
        return _Pending(self._batched_request(batch), x, count)


def _frame_inputs(frame_HWC: np.ndarray, previous_HWC: Optional[np.ndarray]) -> list:
    """The raw-frame encoder's inputs: the frame (and the one a stride earlier), each [1, H, W, 3] uint8."""
    return [np.ascontiguousarray(f[None], np.uint8) for f in (frame_HWC, previous_HWC) if f is not None]
