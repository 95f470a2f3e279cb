"""OpenVINO as a recognizer backend, and the one place where OpenVINO models are compiled.

`compile_openvino` holds the compile settings every caller uses (the backends here, the export's
verification and benchmark); `runtime_precision` reads back what OpenVINO actually computed in.
"""
import collections
from typing import Optional

import numpy as np
import openvino as ov

# Heavy layer types whose runtime precision tells what OpenVINO actually computed in.
_COMPUTE_LAYERS = ('Convolution', 'GroupConvolution', 'FullyConnected', 'MatMul')


def compile_openvino(path, precision: Optional[str] = None, *, hint: Optional[str] = None, threads: int = 0,
                     core: Optional[ov.Core] = None, device: str = 'CPU', perf_count: bool = False):
    """Compiles an IR/ONNX file.

    Args:
        path: model file (.xml IR, .onnx, ...).
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
    return (core or ov.Core()).compile_model(str(path), device, cfg)


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
        core = ov.Core()
        self._encoder = compile_openvino(encoder_path, precision, hint='LATENCY', threads=num_threads, core=core,
                                         device=device)
        self._decoder = compile_openvino(decoder_path, precision, hint='LATENCY', threads=num_threads, core=core,
                                         device=device)
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
