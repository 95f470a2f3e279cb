r"""Export a VTN to ONNX and OpenVINO IR, verify it against JAX, and time it on the CPU.

Route (the only one measured to work end to end with JAX 0.10; see README "Export"):

    eval-mode fn(x) (weights closed over, batch 1, fixed shapes)
      -> jax2tf.convert -> tf.function                   (one XlaCallModule op holding StableHLO)
      -> tf.lite.TFLiteConverter.from_concrete_functions  (TFLITE_BUILTINS, float32: StableHLO is
                                                           legalised to TFLite builtin ops here)
      -> tf2onnx.convert.from_tflite(opset=17) -> fold_pads -> <part>.onnx
      -> openvino.convert_model -> [NNCF INT8] -> [PrePostProcessor] -> openvino.save_model -> <part>.xml/.bin

Why not a shorter route (measured with JAX 0.10.2, tf2onnx 1.17, OpenVINO 2026.4):
  * jax2tf is native-serialisation only: the TF graph is Placeholder -> XlaCallModule -> Identity.
    `tf2onnx.convert.from_function` on it fails ("Could not infer the attribute type from the elements of the
    passed Iterable value"): tf2onnx has no XlaCallModule handler, and OpenVINO's TF frontend has none either.
  * `openvino.convert_model` takes neither a function, a jitted function nor a flax module ("Unknown model
    type"); on a ClosedJaxpr of VTN its JAX frontend fails in `get_ov_type_from_jax_type`.
  * A symbolic batch survives TFLite but not tf2onnx (a wrong Reshape at every batch size), and OpenVINO has
    no translator for the TFLite shape maths (UNSORTED_SEGMENT_PROD). So every artifact has batch 1 and fixed
    shapes: what streaming and latency need. Batch N means N requests (AsyncInferQueue), not a bigger tensor.

Artifacts (in `out_dir`, described by `export.json`, the sidecar):
  whole    video [1, T, H, W, 3] (NCHW layout: [1, T, 3, H, W]) -> logits [1, classes]
  encoder  frame [1, H, W, C] (NCHW: [1, C, H, W]) -> embedding [1, D]; C = 3, or 6 for 'stacked'
  decoder  embeddings [1, S, D] -> logits [1, classes]; S = T (rgb) or T - 1 (rgbdiff, stacked)
Every part has `<part>.onnx` (float32, normalised RGB input) and `<part>.xml` (float32 weights, plus the
uint8 PrePostProcessor input when asked), and optionally `<part>_fp16.xml` (FP16-compressed weights),
`<part>_int8.xml` (NNCF post-training quantisation) and `<part>_int8_fdw.xml` (INT8 with the depthwise
convolutions left in float; MobileNetV2 only).

uint8 input: OpenVINO's PrePostProcessor folds u8 -> f32, BGR -> RGB and (x - 255 mean) / (255 std) into
the IR of every part whose input is a raw frame: the whole model (any modality; rgbdiff and stacked take
the difference of the normalised frames inside the graph, so that stays exact) and the rgb encoder. The
rgbdiff and stacked encoders take a difference of normalised frames (range about +-4.4, mean-free), which a
uint8 tensor cannot hold and a mean subtraction would corrupt, so their IR keeps the float input: the
caller normalises frames and takes the differences (`encoder_frames`). The ONNX files always take
normalised float input (ONNX Runtime has no preprocessing step).

Verification (`verify`, run by every export and alone with `--verify_only`): JAX vs TFLite (export only),
ONNX Runtime and OpenVINO f32 on N clips, gated at max|diff| / max(1, max|JAX|) <= tolerance (1e-4), the
split pair (encoder per frame, then decoder) gated against JAX and the whole artifact; OpenVINO's default
precision (bf16 on AVX-512-bf16 / AMX CPUs), the FP16 IR and the INT8 IR reported (max diff, top-1
agreement) but not gated. `VerificationError` names the failed stages with their numbers.
"""
import collections
import contextlib
import dataclasses
import datetime
import json
import logging
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from typing import Any, Callable, Optional, Sequence

os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')

import flax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from vtn_jax import checkpoints  # noqa: E402
from vtn_jax import encoders  # noqa: E402
from vtn_jax import model as model_lib  # noqa: E402

PARTS = ('whole', 'encoder', 'decoder')
LAYOUTS = ('NHWC', 'NCHW')
COLORS = ('RGB', 'BGR')
SIDECAR = 'export.json'
ONNX_OPSET = 17
# Output tensor names of the parts (the ONNX and IR outputs are renamed to these).
OUTPUT_NAMES = {'whole': 'logits', 'encoder': 'embedding', 'decoder': 'logits'}
INPUT_NAMES = {'whole': 'video', 'encoder': 'frame', 'decoder': 'embeddings'}
# ImageNet statistics (config.data.mean / std defaults), only to shape the random clips of `load_variables`.
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# Heavy layer types whose runtime precision tells what OpenVINO actually computed in.
_COMPUTE_LAYERS = ('Convolution', 'GroupConvolution', 'FullyConnected', 'MatMul')


class VerificationError(RuntimeError):
    """An exported artifact that does not compute what JAX computes; the message names stage and numbers."""

    def __init__(self, failures: Sequence[dict], report: dict):
        self.failures = list(failures)
        self.report = report
        lines = [f'{f["part"]}: {f["stage"]} diverged from {f["reference"]}: max|diff| {f["max_abs_diff"]:.3g} '
                 f'(relative {f["relative_diff"]:.3g} > tolerance {f["tolerance"]:g})' for f in self.failures]
        super().__init__('export verification failed:\n  ' + '\n  '.join(lines))


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """What to export. Defaults give float32 ONNX + IR of all three parts with NHWC float input."""
    parts: Sequence[str] = PARTS
    layout: str = 'NHWC'  # NHWC | NCHW (the image axes of the input tensor)
    uint8_input: bool = False  # IR takes uint8 frames; mean/std (and colour order) folded in by OpenVINO PPP
    color: str = 'RGB'  # channel order of uint8 input: RGB | BGR (OpenCV frames are BGR)
    fp16: bool = False  # also write <part>_fp16.xml with FP16-compressed weights
    int8: bool = False  # also write <part>_int8.xml quantised by NNCF
    calib_clips: int = 300  # calibration clips for INT8 (the encoder gets one frame per clip)
    calib_split: str = ''  # TFDS split for calibration ('' = config.data.train_split; 'synthetic' = noise)
    int8_float_depthwise: bool = False  # keep depthwise (GroupConvolution) layers out of INT8
    verify_clips: int = 4  # clips for the built-in verification
    verify_split: str = ''  # TFDS split for verification clips and Clip@1 ('' = random uint8 clips)
    tolerance: float = 1e-4  # gate: max|diff| / max(1, max|JAX|)
    seed: int = 0  # random clips (calibration fallback and verification)

    def validate(self):
        """Raises ValueError naming the first bad option."""
        unknown = [p for p in self.parts if p not in PARTS]
        if unknown or not self.parts:
            raise ValueError(f'parts must be a non-empty subset of {PARTS}, got {list(self.parts)}')
        if self.layout not in LAYOUTS:
            raise ValueError(f'layout must be one of {LAYOUTS}, got {self.layout!r}')
        if self.color not in COLORS:
            raise ValueError(f'color must be one of {COLORS}, got {self.color!r}')
        if self.color != 'RGB' and not self.uint8_input:
            raise ValueError('color applies to uint8 input only (float input is always normalised RGB)')
        if self.int8 and self.calib_clips < 1:
            raise ValueError(f'calib_clips must be positive, got {self.calib_clips}')
        if self.verify_clips < 1:
            raise ValueError(f'verify_clips must be positive, got {self.verify_clips}')


# ----------------------------------------------------------------------------------------------------------
# Model, weights and the pure functions that get exported


def create_checked_model(model_config) -> model_lib.VTN:
    """`create_model`, plus an early, clear error for an unknown encoder or modality."""
    encoders.encoder_features(model_config.encoder)  # KeyError listing the known encoders
    if model_config.modality not in model_lib.MODALITIES:
        raise ValueError(f'unknown modality {model_config.modality!r}; choose one of {model_lib.MODALITIES}')
    return model_lib.create_model(model_config)


def _template(model, image_size: int):
    return jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0), image_size=image_size))


def save_flat_npz(variables, path) -> None:
    """Writes variables as an .npz of '<collection>/<module>/.../<leaf>' keys (read by `load_variables`)."""
    flat = flax.traverse_util.flatten_dict(flax.core.unfreeze(variables), sep='/')
    np.savez(path, **{k: np.asarray(v) for k, v in flat.items()})


# What np.load raises on a file that is not a readable .npz (truncated, not a zip, pickled objects).
_NPZ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile)


def _read_npz(path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    except _NPZ_ERRORS as e:
        raise checkpoints.CheckpointMismatchError(f'cannot read {path} as an .npz of arrays: '
                                                  f'{type(e).__name__}: {e}') from e


def _read_flat_npz(given: dict, path, template) -> dict:
    """Checks our own flattened .npz strictly against `template` (every key, every shape)."""
    expected = flax.traverse_util.flatten_dict(flax.core.unfreeze(template), sep='/')
    problems = [f'missing key {k} (model expects shape {tuple(v.shape)})' for k, v in expected.items()
                if k not in given]
    problems += [f'shape mismatch for {k}: checkpoint has {given[k].shape}, the model expects {tuple(v.shape)}'
                 for k, v in expected.items() if k in given and given[k].shape != tuple(v.shape)]
    problems += [f'unexpected key {k} with shape {given[k].shape}' for k in sorted(set(given) - set(expected))]
    if problems:
        raise checkpoints.CheckpointMismatchError(f'{path} does not match the model:\n  ' + '\n  '.join(problems[:20]))
    return flax.traverse_util.unflatten_dict({k: given[k].astype(np.float32) for k in expected}, sep='/')


def load_variables(checkpoint, model: model_lib.VTN, *, image_size: int, seed: int = 0) -> tuple[dict, str]:
    """Eval variables for `model` and a description of where they came from.

    Args:
        checkpoint: '' (random initialisation, logged loudly), a training workdir (orbax, read by
            `vtn_jax.trainer.restore_variables`), our flattened `.npz` (`save_flat_npz`), or a reference
            `.pth`/`.npz` / torchvision ResNet (`vtn_jax.checkpoints.load_checkpoint`).
        model: the configured VTN.
        image_size: frame side (only to build the shape template).
        seed: the initialisation seed when `checkpoint` is ''.

    Raises:
        CheckpointMismatchError: a file that cannot be read or does not fit the model, naming the keys.
        FileNotFoundError: a path that does not exist.
    """
    if not checkpoint:
        logging.warning('=' * 78)
        logging.warning('NO --checkpoint: EXPORTING RANDOMLY INITIALISED WEIGHTS (seed %d). The artifacts '
                        'compute nothing useful; they are only good for tests and timing.', seed)
        logging.warning('=' * 78)
        variables = model_lib.init_variables(model, jax.random.key(seed), image_size=image_size)
        clips = normalize_uint8(random_clips(2, model.num_frames, image_size, seed + 2), IMAGENET_MEAN, IMAGENET_STD)
        variables = set_batch_stats(model, variables, clips)
        return variables, f'RANDOM INITIALISATION (seed {seed}; batch statistics of 2 random clips)'
    path = pathlib.Path(checkpoint)
    if path.is_dir():
        try:
            from vtn_jax import trainer  # pylint: disable=import-outside-toplevel
        except ImportError as e:
            raise ImportError(f'{path} is a directory (a training workdir?) but vtn_jax.trainer cannot be '
                              f'imported ({e}); pass a .pth/.npz checkpoint instead') from e
        if not hasattr(trainer, 'restore_variables'):
            raise NotImplementedError(f'{path} is a directory, but this vtn_jax.trainer has no '
                                      'restore_variables(workdir, model); pass a .pth/.npz checkpoint instead')
        return jax.tree.map(np.asarray, trainer.restore_variables(path, model)), f'workdir {path}'
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint {path} does not exist')
    template = _template(model, image_size)
    if path.suffix == '.npz':
        given = _read_npz(path)  # a corrupt file fails here, with its name, whatever its keys
        if any(k.startswith(('params/', 'batch_stats/')) for k in given):
            return _read_flat_npz(given, path, template), f'flat npz {path}'
    return checkpoints.load_checkpoint(path, model, template), f'reference checkpoint {path}'


def set_batch_stats(model: model_lib.VTN, variables, video_BTHWC) -> dict:
    """Replaces the BatchNorm running statistics by the statistics of `video` (one train-mode pass).

    Freshly initialised running statistics (mean 0, variance 1) let activations shrink layer after layer:
    a random MobileNetV2's embeddings come out around 1e-14, so comparing exported embeddings with JAX's
    proves nothing and INT8 calibration sees zeros. With batch statistics every layer's output has unit
    scale, as in a trained network. Flax updates r' = m r + (1 - m) b, so b = (r' - m r) / (1 - m).
    """
    momentum = encoders.BatchNorm.keywords['momentum']
    variables = jax.tree.map(jnp.asarray, variables)
    _, updated = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=['batch_stats'],
                                                  rngs={'dropout': jax.random.key(0)}))(variables, video_BTHWC)
    stats = jax.tree.map(lambda new, old: (new - momentum * old) / (1.0 - momentum),
                         updated['batch_stats'], variables['batch_stats'])
    return jax.tree.map(np.asarray, {**variables, 'batch_stats': stats})


@dataclasses.dataclass(frozen=True)
class PartSpec:
    """One exportable part: a pure batch-1 function and its fixed input/output shapes."""
    name: str
    fn: Callable[[Any], Any]
    input_shape: tuple
    output_shape: tuple
    raw_frames: bool  # its input is raw RGB frames, so the uint8 PrePostProcessor applies

    @property
    def input_name(self) -> str:
        return INPUT_NAMES[self.name]

    @property
    def output_name(self) -> str:
        return OUTPUT_NAMES[self.name]


def create_parts(model: model_lib.VTN, variables, image_size: int, layout: str = 'NHWC') -> dict:
    """The pure eval-mode functions of the whole model, the encoder and the decoder, for batch 1.

    NCHW input is transposed inside the function, so the ONNX and IR take it natively.
    """
    variables = jax.tree.map(jnp.asarray, variables)
    t, s, c, d, k = model.num_frames, model.num_steps, model.frame_channels, model.embed_dim, model.num_classes
    h = w = image_size
    nchw = layout == 'NCHW'

    def whole(video):
        if nchw:
            video = jnp.transpose(video, (0, 1, 3, 4, 2))  # [1, T, C, H, W] -> [1, T, H, W, C]
        return model.apply(variables, video)

    def encoder(frame):
        if nchw:
            frame = jnp.transpose(frame, (0, 2, 3, 1))
        return model.apply(variables, frame, method=model_lib.VTN.encode)

    def decoder(emb):
        return model.apply(variables, emb, method=model_lib.VTN.decode)

    return {
        'whole': PartSpec('whole', whole, (1, t, 3, h, w) if nchw else (1, t, h, w, 3), (1, k), True),
        'encoder': PartSpec('encoder', encoder, (1, c, h, w) if nchw else (1, h, w, c), (1, d),
                            model.modality == 'rgb'),
        'decoder': PartSpec('decoder', decoder, (1, s, d), (1, k), False),
    }


def normalize_uint8(frames_u8, mean, std):
    """uint8 RGB [..., 3] -> float32 (x / 255 - mean) / std, exactly what the input pipeline does."""
    x = np.asarray(frames_u8, np.float32) / 255.0
    return ((x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)).astype(np.float32)


def encoder_frames(video_BTHWC: np.ndarray, modality: str) -> np.ndarray:
    """Normalised clips [B, T, H, W, 3] -> the encoder's inputs [B, S, H, W, C], in numpy, as
    `vtn_jax.model.model_frames` computes them inside the model (what a streaming caller feeds the encoder)."""
    if modality == 'rgb':
        return video_BTHWC
    diff = video_BTHWC[:, 1:] - video_BTHWC[:, :-1]
    if modality == 'rgbdiff':
        return diff
    return np.concatenate([video_BTHWC[:, 1:], diff], axis=-1)


# ----------------------------------------------------------------------------------------------------------
# Conversion


@contextlib.contextmanager
def _quiet_converters():
    """tf2onnx logs harmless rewriter misses at ERROR ('rewrite_gemm ... list index out of range': a MatMul
    not fused with its Add, which OpenVINO fuses later); the verification, not the log, says what is right."""
    loggers = [logging.getLogger(n) for n in ('tf2onnx', 'tf2onnx.tfonnx', 'tf2onnx.optimizer')]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def convert_to_tflite(spec: PartSpec, path) -> None:
    """jax2tf (fixed shape, batch 1) -> tf.function -> TFLite builtins (float32) written to `path`."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from jax.experimental import jax2tf  # pylint: disable=import-outside-toplevel
    tf_fn = tf.function(jax2tf.convert(spec.fn, with_gradient=False), autograph=False,
                        input_signature=[tf.TensorSpec(spec.input_shape, tf.float32, name=spec.input_name)])
    concrete = tf_fn.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], tf_fn)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    pathlib.Path(path).write_bytes(converter.convert())


def convert_tflite_to_onnx(tflite_path, onnx_path, spec: PartSpec, metadata: dict) -> None:
    """tf2onnx.from_tflite (opset 17), outputs renamed to the part's name, metadata attached."""
    import onnx  # pylint: disable=import-outside-toplevel
    import tf2onnx  # pylint: disable=import-outside-toplevel
    with _quiet_converters():
        proto, _ = tf2onnx.convert.from_tflite(str(tflite_path), opset=ONNX_OPSET)
    graph = proto.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise RuntimeError(f'{spec.name}: expected one input and one output in the ONNX graph, got '
                           f'{[i.name for i in graph.input]} -> {[o.name for o in graph.output]}')
    _rename_value(graph, graph.input[0].name, spec.input_name)
    _rename_value(graph, graph.output[0].name, spec.output_name)
    fold_pads(proto)
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(onnx_path))


def _constant(graph, name: str):
    """The value of an initializer, or None (inputs computed at run time are never folded)."""
    from onnx import numpy_helper  # pylint: disable=import-outside-toplevel
    for init in graph.initializer:
        if init.name == name:
            return numpy_helper.to_array(init)
    return None


def fold_pads(proto) -> int:
    """Folds explicit Pad nodes into the Conv / MaxPool that consume them; returns how many were folded.

    TFLite convolutions and pools know only SAME and VALID, so the symmetric torch-style padding of the stem
    conv and the -inf padding of the max pool arrive as separate Pad ops. The stem's sits before the
    NHWC -> NCHW Transpose, where OpenVINO cannot fuse it, and OpenVINO runs both with a reference kernel
    (about 2% of ResNet-34's time). ONNX Conv pads with zeros and MaxPool ignores padded cells, which is what
    a zero Pad and a -inf (or lowest-float) Pad compute. The verification checks the result like any stage.
    """
    from onnx import helper  # pylint: disable=import-outside-toplevel
    graph = proto.graph
    consumers = collections.defaultdict(list)
    for node in graph.node:
        for name in node.input:
            consumers[name].append(node)
    outputs = {o.name for o in graph.output}
    removed = []
    for pad in [n for n in graph.node if n.op_type == 'Pad']:
        mode = next((helper.get_attribute_value(a) for a in pad.attribute if a.name == 'mode'), b'constant')
        pads = _constant(graph, pad.input[1]) if len(pad.input) > 1 else None
        value = _constant(graph, pad.input[2]) if len(pad.input) > 2 and pad.input[2] else np.zeros(())
        if mode != b'constant' or pads is None or value is None or (len(pad.input) > 3 and pad.input[3]):
            continue
        rank = len(pads) // 2
        nexts = consumers[pad.output[0]]
        if len(nexts) != 1 or pad.output[0] in outputs:
            continue
        node, perm = nexts[0], list(range(rank))
        if node.op_type == 'Transpose' and len(consumers[node.output[0]]) == 1:
            perm = list(next(helper.get_attribute_value(a) for a in node.attribute if a.name == 'perm'))
            node = consumers[node.output[0]][0]
        value = float(np.asarray(value))
        if node.op_type == 'Conv' and value == 0.0:
            pass
        elif node.op_type == 'MaxPool' and value <= -3.4e38:
            pass
        else:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        if attrs.get('auto_pad', b'NOTSET') not in (b'NOTSET', 'NOTSET') or rank != 4:
            continue
        begin, end = pads[:rank], pads[rank:]
        if any(begin[perm[d]] or end[perm[d]] for d in (0, 1)):
            continue  # padding of the batch or channel axis cannot move into the op
        old = list(attrs.get('pads', [0] * 4))
        new = [old[0] + begin[perm[2]], old[1] + begin[perm[3]], old[2] + end[perm[2]], old[3] + end[perm[3]]]
        for a in list(node.attribute):
            if a.name == 'pads':
                node.attribute.remove(a)
        node.attribute.append(helper.make_attribute('pads', [int(p) for p in new]))
        _rename_value(graph, pad.output[0], pad.input[0])
        removed.append(pad)
    for pad in removed:
        graph.node.remove(pad)
    used = {name for node in graph.node for name in node.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)  # the folded pads' constants
    return len(removed)


def _rename_value(graph, old: str, new: str) -> None:
    if old == new:
        return
    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
    for value in list(graph.input) + list(graph.output):
        if value.name == old:
            value.name = new


def add_uint8_preprocessing(ov_model, layout_string: str, color: str, mean, std):
    """Folds uint8 -> float32, colour order and (x / 255 - mean) / std into the IR's input (OpenVINO PPP)."""
    import openvino as ov  # pylint: disable=import-outside-toplevel
    from openvino.preprocess import ColorFormat, PrePostProcessor  # pylint: disable=import-outside-toplevel
    ppp = PrePostProcessor(ov_model)
    inp = ppp.input()
    inp.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout(layout_string))
    inp.model().set_layout(ov.Layout(layout_string))
    if color == 'BGR':
        inp.tensor().set_color_format(ColorFormat.BGR)
        inp.preprocess().convert_color(ColorFormat.RGB)
    # (x / 255 - mean) / std == (x - 255 mean) / (255 std): one subtract and one multiply per pixel.
    inp.preprocess().convert_element_type(ov.Type.f32) \
        .mean([255.0 * m for m in mean]).scale([255.0 * s for s in std])
    return ppp.build()


def _layout_string(part: str, layout: str) -> str:
    if part == 'whole':
        return 'N?CHW' if layout == 'NCHW' else 'N?HWC'  # '?' is the time axis
    return layout


def quantize_int8(ov_model, dataset, *, transformer: bool, float_depthwise: bool):
    """NNCF post-training quantisation (default preset) of an OpenVINO model on float calibration inputs.

    Args:
        ov_model: the float model (before any PrePostProcessor step).
        dataset: an `nncf.Dataset` of calibration inputs, each of the model's input shape.
        transformer: use NNCF's transformer patterns (keeps softmax / layer-norm maths in float).
        float_depthwise: keep GroupConvolution (depthwise) layers in float.
    """
    import nncf  # pylint: disable=import-outside-toplevel
    kwargs = {}
    if transformer:
        kwargs['model_type'] = nncf.ModelType.TRANSFORMER
    if float_depthwise:
        # validate=False: a ResNet has no GroupConvolution and that is not an error.
        kwargs['ignored_scope'] = nncf.IgnoredScope(types=['GroupConvolution'], validate=False)
    return nncf.quantize(ov_model, dataset, subset_size=dataset.get_length(), **kwargs)


# ----------------------------------------------------------------------------------------------------------
# Clips: random, or from a TFDS split


def random_clips(num: int, num_frames: int, image_size: int, seed: int) -> np.ndarray:
    """Random uint8 RGB clips [num, T, H, W, 3]: smooth blobs plus noise, so that neighbouring pixels and
    frames are correlated (pure noise makes every difference frame saturate)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0, 255, (num, num_frames, 4, 4, 3)).astype(np.float32)
    reps = -(-image_size // 4)
    smooth = np.repeat(np.repeat(coarse, reps, axis=2), reps, axis=3)[:, :, :image_size, :image_size]
    noisy = smooth + rng.normal(0, 20, smooth.shape)
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8)


def split_clips(data_config, split: str, num: int, *, mean, std) -> tuple[np.ndarray, np.ndarray]:
    """Central clips of a TFDS split (vtn_jax.input_pipeline, 'clip' mode) as uint8 RGB, and their labels.

    The pipeline returns normalised float clips; they are mapped back to uint8 (rounding moves a pixel by at
    most 0.5 / 255) so that the uint8 IR and the float artifacts see exactly the same frames.
    """
    try:
        from vtn_jax import input_pipeline  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise ImportError(f'clips from split {split!r} need vtn_jax.input_pipeline ({e})') from e
    clips, labels = [], []
    for batch in input_pipeline.create_split(data_config, split, batch_size=1, mode='clip'):
        if 'mask' in batch and not bool(np.asarray(batch['mask'])[0]):
            continue  # padding
        video = np.asarray(batch['video'], np.float32)[0]
        clips.append(np.clip(np.round((video * np.asarray(std) + np.asarray(mean)) * 255.0), 0, 255))
        labels.append(int(np.asarray(batch['label'])[0]))
        if len(clips) == num:
            break
    if not clips:
        raise ValueError(f'split {split!r} of {data_config.name} gave no clips')
    return np.stack(clips).astype(np.uint8), np.asarray(labels)


def calibration_clips(config, options: ExportOptions) -> tuple[np.ndarray, str]:
    """uint8 calibration clips from the configured TFDS split, or random ones when it cannot be read."""
    split = options.calib_split or config.data.train_split
    image_size = config.data.crop_size
    if split != 'synthetic':
        try:
            clips, _ = split_clips(config.data, split, options.calib_clips, mean=config.data.mean,
                                   std=config.data.std)
            return clips, f'{config.data.name}:{split} ({len(clips)} central clips)'
        except Exception as e:  # pylint: disable=broad-except  # any data problem: fall back, and say so
            logging.warning('INT8 calibration: cannot read split %r of %s (%s: %s); using %d RANDOM clips, '
                            'so the quantisation ranges will not match real video', split, config.data.name,
                            type(e).__name__, e, options.calib_clips)
    clips = random_clips(options.calib_clips, config.model.num_frames, image_size, options.seed + 1)
    return clips, f'random ({len(clips)} clips)'


# ----------------------------------------------------------------------------------------------------------
# Export


def check_writable(out_dir) -> pathlib.Path:
    """Creates `out_dir` and proves a file can be written there; raises OSError naming the path otherwise."""
    out_dir = pathlib.Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / '.write_test'
        probe.write_bytes(b'')
        probe.unlink()
    except OSError as e:
        raise OSError(f'cannot write the export to {out_dir}: {e.strerror or e}') from e
    return out_dir



def _input_spec(spec: PartSpec, modality: str, options: ExportOptions, data_config, *, ir: bool) -> dict:
    """What a caller must feed one artifact (recorded in the sidecar and read back by the verification)."""
    if spec.name == 'decoder':
        return {'name': spec.input_name, 'shape': list(spec.input_shape), 'layout': 'NSD', 'dtype': 'float32',
                'content': 'encoder embeddings of the last S steps, oldest first'}
    out = {'name': spec.input_name, 'shape': list(spec.input_shape),
           'layout': _layout_string(spec.name, options.layout)}
    if ir and options.uint8_input and spec.raw_frames:
        out.update(dtype='uint8', color=options.color,
                   preprocessing=f'inside the IR (OpenVINO PrePostProcessor): {options.color} -> RGB, '
                                 '(x / 255 - mean) / std')
    else:
        out.update(dtype='float32', color='RGB', preprocessing='by the caller: (x / 255 - mean) / std')
    out.update(mean=list(data_config.mean), std=list(data_config.std))
    if spec.name == 'encoder' and modality == 'rgbdiff':
        out['content'] = 'normalised frame[i] - normalised frame[i-1] (a difference frame, not a raw frame)'
    elif spec.name == 'encoder' and modality == 'stacked':
        out['content'] = ('channels 0-2: normalised frame[i]; channels 3-5: normalised frame[i] - frame[i-1]')
    elif spec.name == 'encoder':
        out['content'] = 'one frame'
    else:
        out['content'] = f'{spec.input_shape[1]} consecutive sampled frames (stride of config.data.stride)'
    return out


def _has_depthwise(ov_model) -> bool:
    return any(op.get_type_name() == 'GroupConvolution' for op in ov_model.get_ops())


def export(config, variables, out_dir, options: ExportOptions = ExportOptions(), *, weights: str = '',
           class_names: Optional[Sequence[str]] = None, verify_exports: bool = True) -> dict:
    """Exports the configured parts, writes the sidecar, and (by default) verifies the files.

    Args:
        config: the full config (model and data sections).
        variables: the model's eval variables ({'params', 'batch_stats'}).
        out_dir: where the artifacts and `export.json` go (created).
        options: what to export.
        weights: where the variables came from (recorded in the sidecar).
        class_names: optional label names, one per class.
        verify_exports: run `verify` on the written files (with a TFLite stage as well).

    Returns:
        The sidecar dict (also written to `out_dir/export.json`).

    Raises:
        VerificationError: a stage diverged (the sidecar is written first, with the failures).
    """
    import openvino as ov  # pylint: disable=import-outside-toplevel
    options.validate()
    model = create_checked_model(config.model)
    if class_names is not None and len(class_names) != model.num_classes:
        raise ValueError(f'{len(class_names)} class names for a model with {model.num_classes} classes')
    out_dir = check_writable(out_dir)
    image_size = config.data.crop_size
    parts = create_parts(model, variables, image_size, options.layout)
    if options.uint8_input and 'encoder' in options.parts and not parts['encoder'].raw_frames:
        logging.warning('uint8 input: the %s encoder takes difference frames, which uint8 cannot hold; its IR '
                        'keeps float input (normalise the frames and take the differences first)', model.modality)
    calib, calib_source = None, None
    if options.int8:
        calib_u8, calib_source = calibration_clips(config, options)
        calib = _calibration_inputs(model, variables, calib_u8, config.data, options)
    artifacts, timings = {}, {}
    with tempfile.TemporaryDirectory(prefix='vtn_export_') as tmp:
        for name in options.parts:
            spec, record, t0 = parts[name], {}, time.perf_counter()
            logging.info('exporting %s: input %s', name, spec.input_shape)
            convert_to_tflite(spec, pathlib.Path(tmp) / f'{name}.tflite')
            timings[f'{name}_tflite_s'] = round(time.perf_counter() - t0, 2)
            onnx_path = out_dir / f'{name}.onnx'
            convert_tflite_to_onnx(pathlib.Path(tmp) / f'{name}.tflite', onnx_path, spec,
                                   {'vtn_part': name, 'vtn_model': json.dumps(config.model.to_dict())})
            timings[f'{name}_onnx_s'] = round(time.perf_counter() - t0 - timings[f'{name}_tflite_s'], 2)
            record['onnx'] = onnx_path.name
            uint8 = options.uint8_input and spec.raw_frames

            def finish(ov_model, spec=spec, uint8=uint8):
                if not uint8:
                    return ov_model
                return add_uint8_preprocessing(ov_model, _layout_string(spec.name, options.layout), options.color,
                                               config.data.mean, config.data.std)

            # openvino.save_model compresses to FP16 by default: the reference IR must stay float32.
            ov.save_model(finish(ov.convert_model(onnx_path)), out_dir / f'{name}.xml', compress_to_fp16=False)
            record['ir'] = f'{name}.xml'
            if options.fp16:
                ov.save_model(finish(ov.convert_model(onnx_path)), out_dir / f'{name}_fp16.xml',
                              compress_to_fp16=True)
                record['ir_fp16'] = f'{name}_fp16.xml'
            if options.int8:
                t1 = time.perf_counter()
                # The decoder and the whole model hold attention: NNCF's transformer patterns keep softmax and
                # the layer-norm maths in float. The encoder is a plain CNN.
                transformer = name != 'encoder'
                quantized = quantize_int8(ov.convert_model(onnx_path), calib[name], transformer=transformer,
                                          float_depthwise=False)
                ov.save_model(finish(quantized), out_dir / f'{name}_int8.xml', compress_to_fp16=False)
                record['ir_int8'] = f'{name}_int8.xml'
                timings[f'{name}_int8_s'] = round(time.perf_counter() - t1, 2)
                if options.int8_float_depthwise:
                    float_model = ov.convert_model(onnx_path)
                    if _has_depthwise(float_model):
                        quantized = quantize_int8(float_model, calib[name], transformer=transformer,
                                                  float_depthwise=True)
                        ov.save_model(finish(quantized), out_dir / f'{name}_int8_fdw.xml', compress_to_fp16=False)
                        record['ir_int8_fdw'] = f'{name}_int8_fdw.xml'
                    else:
                        logging.info('%s has no depthwise convolution: no _int8_fdw variant', name)
            record['onnx_input'] = _input_spec(spec, model.modality, options, config.data, ir=False)
            record['ir_input'] = _input_spec(spec, model.modality, options, config.data, ir=True)
            record['output'] = {'name': spec.output_name, 'shape': list(spec.output_shape), 'dtype': 'float32',
                                'content': 'frame embedding' if name == 'encoder'
                                else 'clip logits, mean over the decoder steps (softmax gives probabilities)'}
            timings[f'{name}_total_s'] = round(time.perf_counter() - t0, 2)
            artifacts[name] = record
        sidecar = {
            'format': 'vtn_jax export 1',
            'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
            'route': 'jax2tf.convert -> tf.function -> TFLiteConverter (TFLITE_BUILTINS, float32) -> '
                     f'tf2onnx.from_tflite (opset {ONNX_OPSET}) -> openvino.convert_model [-> nncf.quantize] '
                     '[-> PrePostProcessor] -> openvino.save_model',
            'versions': _versions(),
            'weights': weights,
            'model': config.model.to_dict(),
            'data': {'crop_size': image_size, 'stride': config.data.stride, 'mean': list(config.data.mean),
                     'std': list(config.data.std)},
            'num_steps': model.num_steps,
            'class_names': list(class_names) if class_names is not None else None,
            'options': {k: (list(v) if isinstance(v, (tuple, list)) else v)
                        for k, v in dataclasses.asdict(options).items()},
            'calibration': calib_source,
            'batch': 'fixed batch 1 (tf2onnx breaks a symbolic batch; run N requests for N clips)',
            'streaming': ('encode each new frame once (for rgbdiff/stacked: its difference to the previous '
                          'sampled frame), keep the last S embeddings, run the decoder on them'),
            'artifacts': artifacts,
            'timings': timings,
            'verification': None,
        }
        write_sidecar(out_dir, sidecar)
        if verify_exports:
            verify(out_dir, config, variables, tflite_dir=tmp)
    return read_sidecar(out_dir)


def create_reference(model: model_lib.VTN, variables) -> tuple[Callable, Callable, Callable]:
    """Jitted JAX eval functions (any batch, NHWC): clips -> logits, frames -> embeddings, windows -> logits."""
    v = jax.tree.map(jnp.asarray, variables)
    whole = jax.jit(lambda x: model.apply(v, x))
    encode = jax.jit(lambda f: model.apply(v, f, method=model_lib.VTN.encode))
    decode = jax.jit(lambda e: model.apply(v, e, method=model_lib.VTN.decode))
    return whole, encode, decode


def _in_batches(fn: Callable, x: np.ndarray, batch: int) -> np.ndarray:
    return np.concatenate([np.asarray(fn(x[i:i + batch])) for i in range(0, len(x), batch)])


def _calibration_inputs(model, variables, clips_u8: np.ndarray, data_config, options: ExportOptions) -> dict:
    """NNCF calibration data per part, built lazily from uint8 clips (300 normalised 224x224 clips would take
    3 GB): the clips; one encoder step per clip (step n mod S of clip n, so every position is seen); and
    the JAX embeddings of every step of every clip, as decoder windows."""
    import nncf  # pylint: disable=import-outside-toplevel
    nchw = options.layout == 'NCHW'

    def clip_input(n):
        clip = normalize_uint8(clips_u8[n:n + 1], data_config.mean, data_config.std)
        return np.ascontiguousarray(np.transpose(clip, (0, 1, 4, 2, 3))) if nchw else clip

    def frame_input(n):
        frames = encoder_frames(normalize_uint8(clips_u8[n:n + 1], data_config.mean, data_config.std),
                                model.modality)[0]
        frame = frames[n % len(frames)][None]
        return np.ascontiguousarray(np.transpose(frame, (0, 3, 1, 2))) if nchw else frame

    out = {'whole': nncf.Dataset(list(range(len(clips_u8))), clip_input),
           'encoder': nncf.Dataset(list(range(len(clips_u8))), frame_input)}
    if 'decoder' in options.parts:
        _, encode, _ = create_reference(model, variables)
        windows = []
        for n in range(len(clips_u8)):
            frames = encoder_frames(normalize_uint8(clips_u8[n:n + 1], data_config.mean, data_config.std),
                                    model.modality)[0]
            windows.append(_in_batches(encode, frames, 16)[None])
        out['decoder'] = nncf.Dataset(windows)
    return out


# ----------------------------------------------------------------------------------------------------------
# Runtimes

# IR variant -> (sidecar key, INFERENCE_PRECISION_HINT; None = the CPU plugin's default, bf16 where the CPU
# has AVX-512-bf16 or AMX, else f32).
# 'int8_f32' runs the INT8 IR's float parts in f32, as a CPU without bf16 (AVX2) does: with
# ONEDNN_MAX_CPU_ISA=AVX2 it approximates such a host's INT8 and f32 speed on an AVX-512 one (README "Export").
VARIANTS = {'f32': ('ir', 'f32'), 'default': ('ir', None), 'fp16': ('ir_fp16', 'f32'),
            'int8': ('ir_int8', None), 'int8_f32': ('ir_int8', 'f32'), 'int8_fdw': ('ir_int8_fdw', None)}
VARIANT_NOTES = {'f32': 'float32 IR, f32 inference', 'default': 'float32 IR, CPU default precision',
                 'fp16': 'FP16-weight IR, f32 inference', 'int8': 'NNCF INT8 IR, CPU default precision',
                 'int8_f32': 'NNCF INT8 IR, f32 for its float parts (as on an AVX2 CPU)',
                 'int8_fdw': 'NNCF INT8 IR with float depthwise convs, CPU default precision'}
# Variants timed only when asked for: fp16 runs the f32 kernels (its weights are decompressed at load time),
# int8_f32 differs from int8 only where the CPU has bf16 (it is what an AVX2 CPU runs for 'int8').
OPT_IN_VARIANTS = ('fp16', 'int8_f32')


def compile_openvino(path, precision: Optional[str] = None, *, hint: Optional[str] = None,
                     threads: int = 0, core=None, perf_count: bool = False):
    """Compiles an IR/ONNX file for the CPU with an optional precision hint, performance hint and thread count
    (`perf_count`: keep OpenVINO's per-layer counters, read through `InferRequest.profiling_info`)."""
    import openvino as ov  # pylint: disable=import-outside-toplevel
    cfg = {'PERF_COUNT': 'YES'} if perf_count else {}
    if precision:
        cfg['INFERENCE_PRECISION_HINT'] = precision
    if hint:
        cfg['PERFORMANCE_HINT'] = hint
    if threads:
        cfg['INFERENCE_NUM_THREADS'] = threads
    return (core or ov.Core()).compile_model(str(path), 'CPU', cfg)


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


def _openvino_runner(path, precision):
    compiled = compile_openvino(path, precision)
    request = compiled.create_infer_request()

    def run(x):
        return np.array(request.infer([x])[0], copy=True)  # the output buffer is reused by the next call

    return run, runtime_precision(compiled)


def _onnxruntime_runner(path):
    import onnxruntime as ort  # pylint: disable=import-outside-toplevel
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0], 'f32'


def _tflite_runner(path):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0]['index'], interpreter.get_output_details()[0]['index']

    def run(x):
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(out), copy=True)

    return run, 'f32'


# ----------------------------------------------------------------------------------------------------------
# Verification


def _feed(part: str, input_spec: dict, clip_u8: np.ndarray, clip: np.ndarray, modality: str):
    """The inputs one artifact takes for one clip (uint8 RGB [T,H,W,3] and its normalised float version):
    a list with one clip (whole) or one entry per decoder step (encoder)."""
    uint8 = input_spec['dtype'] == 'uint8'
    nchw = input_spec['layout'] in ('NCHW', 'N?CHW')
    if part == 'whole':
        x = clip_u8[None] if uint8 else clip[None]
        if uint8 and input_spec['color'] == 'BGR':
            x = x[..., ::-1]
        return [np.ascontiguousarray(np.transpose(x, (0, 1, 4, 2, 3)) if nchw else x)]
    frames = clip_u8[None] if uint8 else encoder_frames(clip[None], modality)
    if uint8 and input_spec['color'] == 'BGR':
        frames = frames[..., ::-1]
    return [np.ascontiguousarray(np.transpose(f[None], (0, 3, 1, 2)) if nchw else f[None]) for f in frames[0]]


def _compare(got: np.ndarray, ref: np.ndarray, *, logits: bool, labels=None) -> dict:
    diff = float(np.max(np.abs(got - ref)))
    out = {'max_abs_diff': diff, 'relative_diff': diff / max(1.0, float(np.max(np.abs(ref))))}
    if logits:
        out['top1_agreement'] = float(np.mean(np.argmax(got, -1) == np.argmax(ref, -1)))
        if labels is not None:
            out['clip@1'] = float(np.mean(np.argmax(got, -1) == labels))
    return out


def verify(out_dir, config, variables, *, num_clips: Optional[int] = None, split: Optional[str] = None,
           tolerance: Optional[float] = None, tflite_dir=None) -> dict:
    """Checks every artifact in `out_dir` against JAX; records the report in the sidecar.

    Gated (relative max|diff| <= tolerance): TFLite (when `tflite_dir` holds the intermediate files), ONNX
    Runtime, OpenVINO f32 (the float IR with INFERENCE_PRECISION_HINT=f32, fed uint8 where its input is
    uint8), and the split pair composed (encoder per step, then decoder) against JAX and against the whole
    artifact. Reported only: OpenVINO's default precision, the FP16-weight IR and the INT8 IRs.

    Args:
        out_dir: an export directory (with `export.json`).
        config: the config the artifacts were exported from (its model section must match the sidecar's).
        variables: the model's variables (the JAX reference).
        num_clips, split, tolerance: override the sidecar's options (verify_clips, verify_split, tolerance).
        tflite_dir: a folder with `<part>.tflite` (during export only).

    Returns:
        The verification report (also stored under 'verification' in the sidecar).

    Raises:
        VerificationError: naming every gated stage that diverged, with its numbers.
        ValueError: the config does not match the exported model.
    """
    out_dir = pathlib.Path(out_dir)
    sidecar = read_sidecar(out_dir)
    if sidecar['model'] != config.model.to_dict():
        changed = sorted(k for k in set(sidecar['model']) | set(config.model)
                         if sidecar['model'].get(k) != config.model.to_dict().get(k))
        raise ValueError(f'{out_dir} was exported from another model config (differs in {changed}); pass the '
                         'config it was exported with')
    options = sidecar['options']
    num_clips = num_clips or options['verify_clips']
    split = options['verify_split'] if split is None else split
    tolerance = tolerance or options['tolerance']
    model = create_checked_model(config.model)
    data = sidecar['data']
    if split:
        clips_u8, labels = split_clips(config.data, split, num_clips, mean=data['mean'], std=data['std'])
        source = f'{config.data.name}:{split} ({len(clips_u8)} central clips, uint8-rounded)'
    else:
        clips_u8, labels = random_clips(num_clips, model.num_frames, data['crop_size'], options['seed']), None
        source = f'random uint8 clips (seed {options["seed"]})'
    video = normalize_uint8(clips_u8, data['mean'], data['std'])
    whole_fn, encode_fn, decode_fn = create_reference(model, variables)
    frames = encoder_frames(video, model.modality)  # [N, S, H, W, C]
    ref = {'whole': _in_batches(whole_fn, video, 2)}
    emb_ref = _in_batches(encode_fn, frames.reshape((-1,) + frames.shape[2:]), 16).reshape(frames.shape[:2] + (-1,))
    ref['encoder'] = emb_ref
    ref['decoder'] = _in_batches(decode_fn, emb_ref, 8)
    rows, results = [], {}

    def add(part, stage, got, reference_name, reference, gated, precision):
        row = {'part': part, 'stage': stage, 'reference': reference_name, 'precision': precision,
               **_compare(got, reference, logits=part != 'encoder', labels=labels if part != 'encoder' else None),
               'gated': gated, 'tolerance': tolerance}
        row['passed'] = (row['relative_diff'] <= tolerance) if gated else None
        rows.append(row)

    for part, record in sidecar['artifacts'].items():
        runners = [('onnxruntime f32', record['onnx'], record['onnx_input'], _onnxruntime_runner, True)]
        if tflite_dir is not None and (pathlib.Path(tflite_dir) / f'{part}.tflite').is_file():
            runners.insert(0, ('tflite f32', f'{part}.tflite', record['onnx_input'], _tflite_runner, True))
        for variant, (key, precision) in VARIANTS.items():
            if key in record and variant != 'int8_f32':  # a timing variant: the int8 row already verifies the IR
                runners.append((f'openvino {variant}', record[key], record['ir_input'],
                                lambda p, precision=precision: _openvino_runner(p, precision),
                                variant == 'f32'))
        for stage, filename, input_spec, make_runner, gated in runners:
            folder = pathlib.Path(tflite_dir) if stage.startswith('tflite') else out_dir
            run, precision = make_runner(folder / filename)
            got = np.stack([_run_part(run, part, input_spec, clips_u8[n], video[n], emb_ref[n], model.modality)
                            for n in range(len(video))])
            results[(part, stage)] = got
            add(part, stage, got, 'JAX', ref[part], gated, precision)
    arts = sidecar['artifacts']
    if 'encoder' in arts and 'decoder' in arts:
        for stage in ('onnxruntime f32', 'openvino f32'):
            key = 'onnx' if stage.startswith('onnx') else 'ir'
            input_key = 'onnx_input' if key == 'onnx' else 'ir_input'
            make = _onnxruntime_runner if key == 'onnx' else (lambda p: _openvino_runner(p, 'f32'))
            run_encoder, _ = make(out_dir / arts['encoder'][key])
            run_decoder, precision = make(out_dir / arts['decoder'][key])
            composed = np.stack([
                run_decoder(np.concatenate([run_encoder(x) for x in _feed(
                    'encoder', arts['encoder'][input_key], clips_u8[n], video[n], model.modality)])[None])[0]
                for n in range(len(video))])
            add('split pair', stage, composed, 'JAX', ref['whole'], True, precision)
            if ('whole', stage) in results:
                add('split pair', stage, composed, f'whole ({stage})', results[('whole', stage)], True, precision)
    failures = [r for r in rows if r['passed'] is False]
    report = {'clips': source, 'num_clips': int(len(video)), 'tolerance': tolerance,
              'rule': 'relative_diff = max|diff| / max(1, max|reference|)', 'passed': not failures,
              'jax_clip@1': float(np.mean(np.argmax(ref['whole'], -1) == labels)) if labels is not None else None,
              'cpu': cpu_info()['summary'], 'rows': rows}
    sidecar['verification'] = report
    write_sidecar(out_dir, sidecar)
    if failures:
        raise VerificationError(failures, report)
    return report


def _run_part(run, part, input_spec, clip_u8, clip, emb, modality) -> np.ndarray:
    """One clip through one artifact: [classes] for logits parts, [S, D] embeddings for the encoder."""
    if part == 'decoder':
        return run(np.ascontiguousarray(emb[None]))[0]
    outs = [run(x) for x in _feed(part, input_spec, clip_u8, clip, modality)]
    return outs[0][0] if part == 'whole' else np.concatenate(outs)


def format_verification(report: dict) -> str:
    """The verification report as a Markdown table."""
    lines = [f'Verification on {report["clips"]}; gate: {report["rule"]} <= {report["tolerance"]:g}',
             '| part | stage | vs | precision | max abs diff | relative | top-1 agree | clip@1 | gate |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in report['rows']:
        gate = {True: 'PASS', False: 'FAIL', None: 'reported'}[r['passed']]
        agree = f'{r["top1_agreement"]:.3f}' if 'top1_agreement' in r else '-'
        clip1 = f'{r["clip@1"]:.3f}' if 'clip@1' in r else '-'
        lines.append(f'| {r["part"]} | {r["stage"]} | {r["reference"]} | {r["precision"]} | '
                     f'{r["max_abs_diff"]:.2e} | {r["relative_diff"]:.2e} | {agree} | {clip1} | {gate} |')
    if report.get('jax_clip@1') is not None:
        lines.append(f'JAX clip@1: {report["jax_clip@1"]:.3f}')
    lines.append('verification ' + ('PASSED' if report['passed'] else 'FAILED'))
    return '\n'.join(lines)


# ----------------------------------------------------------------------------------------------------------
# Latency benchmark

ISA_FLAGS = ('avx2', 'avx512f', 'avx512_vnni', 'avx512_bf16', 'avx_vnni', 'amx_tile', 'amx_bf16', 'amx_int8')


def cpu_info() -> dict:
    """CPU model, family/model numbers, logical CPUs, the ISA flags that decide OpenVINO's kernels, and the
    precisions OpenVINO's CPU plugin offers."""
    fields, flags = {}, set()
    try:
        for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
            key, _, value = line.partition(':')
            key = key.strip()
            if key in ('model name', 'cpu family', 'model', 'vendor_id') and key not in fields:
                fields[key] = value.strip()
            elif key == 'flags' and not flags:
                flags = set(value.split())
    except OSError:  # not Linux: the report just says 'unknown'
        pass
    try:
        import openvino as ov  # pylint: disable=import-outside-toplevel
        capabilities = list(ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES'))
    except Exception:  # pylint: disable=broad-except
        capabilities = []
    isa = [f for f in ISA_FLAGS if f in flags]
    info = {'model_name': fields.get('model name', 'unknown'), 'family': fields.get('cpu family'),
            'model': fields.get('model'), 'logical_cpus': os.cpu_count(), 'isa': isa,
            'openvino_capabilities': capabilities}
    info['summary'] = (f'{info["model_name"]} (family {info["family"]} model {info["model"]}, '
                       f'{info["logical_cpus"]} logical CPUs; {" ".join(isa) or "no AVX2"}; '
                       f'OpenVINO CPU: {" ".join(capabilities)})')
    return info


def random_input(port) -> np.ndarray:
    """A random input for a compiled model's port: uint8 pixels or standard-normal float32."""
    shape = [d if d > 0 else 1 for d in (port.get_partial_shape().get_min_shape())]
    if port.get_element_type().get_type_name() == 'u8':
        return np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


class Timer:
    """One compiled model under one performance hint, timed in rounds (see `benchmark`).

    LATENCY: one synchronous request at a time (batch 1); THROUGHPUT: an AsyncInferQueue with OpenVINO's
    optimal number of requests kept full. FPS counts inferences per second of wall time; latencies are per
    inference. `result` reports the best round: load from other processes only ever slows a round down, so
    the fastest round is the closest to what the machine can do (every round's FPS is kept as well). It also
    reports the process CPU time per inference (all threads, lowest over rounds), which another process on
    the same cores changes far less than wall time: a second, steadier basis for ratios on a shared machine.
    """

    def __init__(self, path, *, precision: Optional[str], hint: str, threads: int, core=None):
        import openvino as ov  # pylint: disable=import-outside-toplevel
        self.hint = hint
        self.compiled = compile_openvino(path, precision, hint=hint, threads=threads, core=core)
        self.inputs = [random_input(p) for p in self.compiled.inputs]
        self.rounds, self._latencies = [], []
        # Inputs are set on every request once, as benchmark_app does: the timed loop then copies nothing.
        if hint == 'LATENCY':
            self.request, self.num_requests = self.compiled.create_infer_request(), 1
            requests = [self.request]
        else:
            self.num_requests = int(self.compiled.get_property('OPTIMAL_NUMBER_OF_INFER_REQUESTS'))
            self.queue = ov.AsyncInferQueue(self.compiled, self.num_requests)
            self.queue.set_callback(lambda request, _: self._latencies.append(request.latency))
            requests = [self.queue[i] for i in range(self.num_requests)]
        for request in requests:
            for port, value in zip(self.compiled.inputs, self.inputs):
                request.set_tensor(port, ov.Tensor(value))
        self.time_round(0.0)  # warm-up (first inferences allocate and tune); its numbers are dropped
        self.rounds = []

    def time_round(self, seconds: float) -> None:
        self._latencies = []
        count, start, cpu_start = 0, time.perf_counter(), time.process_time()
        if self.hint == 'LATENCY':
            while time.perf_counter() - start < seconds or count < 3:
                t0 = time.perf_counter()
                self.request.infer()
                self._latencies.append(1e3 * (time.perf_counter() - t0))
                count += 1
        else:
            while time.perf_counter() - start < seconds or count < 2 * self.num_requests:
                self.queue.start_async()
                count += 1
            self.queue.wait_all()
        cpu_ms = 1e3 * (time.process_time() - cpu_start) / count
        self.rounds.append((count / (time.perf_counter() - start), self._latencies, cpu_ms))

    def result(self) -> dict:
        fps, latencies, _ = max(self.rounds, key=lambda r: r[0])
        p10, p90 = np.percentile(latencies, [10, 90])
        return {'fps': fps, 'fps_rounds': [round(r[0], 2) for r in self.rounds],
                'cpu_ms': min(r[2] for r in self.rounds),
                'median_ms': statistics.median(latencies), 'p10_ms': float(p10), 'p90_ms': float(p90),
                'runs': len(latencies), 'requests': self.num_requests,
                'precision': runtime_precision(self.compiled),
                'streams': int(self.compiled.get_property('NUM_STREAMS')),
                'threads': int(self.compiled.get_property('INFERENCE_NUM_THREADS'))}


def measure(path, *, precision: Optional[str], hint: str, threads: int, seconds: float, rounds: int = 1,
            core=None) -> dict:
    """Times one model alone: `rounds` rounds of `seconds` each (see `Timer`)."""
    timer = Timer(path, precision=precision, hint=hint, threads=threads, core=core)
    for _ in range(rounds):
        timer.time_round(seconds)
    return timer.result()


def run_benchmark_app(path, *, precision: Optional[str], hint: str, threads: int, seconds: float) -> dict:
    """OpenVINO's own benchmark_app on the same file and settings: its FPS, median latency and precision.

    The settings go through -load_config: benchmark_app refuses -nthreads together with -hint.
    """
    exe = shutil.which('benchmark_app') or str(pathlib.Path(sys.executable).with_name('benchmark_app'))
    properties = {'PERFORMANCE_HINT': hint}
    if threads:
        properties['INFERENCE_NUM_THREADS'] = str(threads)
    if precision:
        properties['INFERENCE_PRECISION_HINT'] = precision
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
        json.dump({'CPU': properties}, f)
    cmd = [exe, '-m', str(path), '-d', 'CPU', '-t', str(max(1, round(seconds))), '-load_config', f.name,
           '-api', 'sync' if hint == 'LATENCY' else 'async']
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120 + 2 * seconds, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {'error': str(e)}
    finally:
        os.unlink(f.name)
    fps = re.search(r'Throughput:\s+([\d.]+)\s+FPS', proc.stdout)
    median = re.search(r'Median:\s+([\d.]+)\s+(ms|us)', proc.stdout)
    used = re.search(r"INFERENCE_PRECISION_HINT: <Type: '(\w+)'>", proc.stdout)
    if proc.returncode or not fps:
        tail = (proc.stderr or proc.stdout).strip().splitlines()
        return {'error': tail[-1] if tail else f'exit status {proc.returncode}'}
    return {'fps': float(fps.group(1)),
            'median_ms': float(median.group(1)) / (1e3 if median.group(2) == 'us' else 1) if median else None,
            'precision_hint': used.group(1) if used else None}


def benchmark(out_dir, *, threads: int = 0, seconds: float = 3.0, rounds: int = 3,
              hints: Sequence[str] = ('LATENCY', 'THROUGHPUT'), variants: Optional[Sequence[str]] = None,
              parts: Optional[Sequence[str]] = None, with_benchmark_app: bool = False,
              compare_onnx: Optional[str] = None) -> dict:
    """Times the exported IRs (and optionally another ONNX) side by side in one run.

    Every row is compiled first, then all rows are timed round-robin (every other round in reverse order),
    `rounds` times `seconds` each, and a row reports its best round. On shared cores a burst of load from
    another process slows whichever rows run during it; interleaving spreads the bursts over all rows and
    the best round discards them, which keeps the side-by-side ratios honest.

    Args:
        out_dir: an export directory.
        threads: INFERENCE_NUM_THREADS (0 = OpenVINO's choice).
        seconds: time per row and round.
        rounds: interleaved rounds.
        hints: OpenVINO performance hints to run.
        variants: IR variants (keys of VARIANTS) to time; default every one present except OPT_IN_VARIANTS.
        parts: parts to time (default: all exported).
        with_benchmark_app: also run benchmark_app on every row (once, after the rounds) and report its FPS.
        compare_onnx: another ONNX model of a whole clip (e.g. the authors' PyTorch export), timed with the
            same settings; ratios are ours / theirs.

    Returns:
        {'cpu', 'rows', 'ratios', 'settings'}; `format_benchmark` prints it.
    """
    import openvino as ov  # pylint: disable=import-outside-toplevel
    out_dir = pathlib.Path(out_dir)
    sidecar = read_sidecar(out_dir)
    core = ov.Core()
    parts = [p for p in (parts or PARTS) if p in sidecar['artifacts']]
    plan = []  # (row fields, path, precision)
    for part in parts:
        record = sidecar['artifacts'][part]
        for variant in (variants or [v for v in VARIANTS if v not in OPT_IN_VARIANTS]):
            key, precision = VARIANTS[variant]
            if key in record:
                plan += [({'model': part, 'variant': variant, 'hint': hint, 'file': record[key]},
                          out_dir / record[key], precision) for hint in hints]
    if compare_onnx:
        plan += [({'model': f'compare: {pathlib.Path(compare_onnx).name}', 'variant': variant, 'hint': hint,
                   'file': str(compare_onnx)}, compare_onnx, VARIANTS[variant][1])
                 for variant in ('f32', 'default') for hint in hints]
    timers = [Timer(path, precision=precision, hint=row['hint'], threads=threads, core=core)
              for row, path, precision in plan]
    load_start = _load_average()
    for r in range(rounds):
        for timer in (timers if r % 2 == 0 else timers[::-1]):
            timer.time_round(seconds)
        logging.info('benchmark round %d of %d done', r + 1, rounds)
    load_end = _load_average()
    rows = []
    for (row, path, precision), timer in zip(plan, timers):
        row = {**row, **timer.result()}
        if with_benchmark_app:
            row['benchmark_app'] = run_benchmark_app(path, precision=precision, hint=row['hint'], threads=threads,
                                                     seconds=seconds)
        rows.append(row)
    del timers  # free the compiled models before returning
    return {'cpu': cpu_info(), 'rows': rows, 'ratios': _ratios(rows),
            'settings': {'threads': threads, 'seconds': seconds, 'rounds': rounds, 'model': sidecar['model'],
                         'load_average': [load_start, load_end],
                         'image_size': sidecar['data']['crop_size'], 'num_steps': sidecar['num_steps']}}


def _load_average() -> Optional[float]:
    """The 1-minute load average: other processes on the same cores distort every timing."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _ratios(rows: Sequence[dict]) -> list:
    """The targets as ratios of rows measured in the same run."""
    by = {(r['model'], r['variant'], r['hint']): r for r in rows}
    out = []
    variants = sorted({r['variant'] for r in rows}, key=list(VARIANTS).index)
    for variant in variants:
        enc, dec = by.get(('encoder', variant, 'LATENCY')), by.get(('decoder', variant, 'LATENCY'))
        if enc and dec:
            online_ms = enc['median_ms'] + dec['median_ms']
            out.append({'what': f'online per-frame rate (encoder + decoder, LATENCY, {variant}) vs encoder alone',
                        'value': enc['median_ms'] / online_ms,
                        'detail': f'{1e3 / online_ms:.1f} vs {1e3 / enc["median_ms"]:.1f} FPS; by CPU time '
                                  f'{enc["cpu_ms"] / (enc["cpu_ms"] + dec["cpu_ms"]):.2f}x'})
    for model in ('whole', 'encoder', 'decoder'):
        for hint in ('LATENCY', 'THROUGHPUT'):
            for quant in ('int8', 'int8_f32', 'int8_fdw'):
                q = by.get((model, quant, hint))
                for base in ('f32', 'default', 'int8'):
                    b = by.get((model, base, hint))
                    if q and b and base != quant and not (quant.startswith('int8') and base == 'int8'):
                        out.append({'what': f'{model} {quant} vs {base} ({b["precision"]}), {hint}',
                                    'value': q['fps'] / b['fps'],
                                    'detail': f'{q["fps"]:.1f} vs {b["fps"]:.1f} FPS; by CPU time '
                                              f'{b["cpu_ms"] / q["cpu_ms"]:.2f}x'})
    for r in rows:
        if r['model'].startswith('compare: '):
            ours = by.get(('whole', r['variant'], r['hint']))
            if ours:
                out.append({'what': f'ours (whole) vs {r["model"][9:]}, {r["variant"]}, {r["hint"]}',
                            'value': ours['fps'] / r['fps'],
                            'detail': f'{ours["fps"]:.2f} vs {r["fps"]:.2f} FPS; by CPU time '
                                      f'{r["cpu_ms"] / ours["cpu_ms"]:.2f}x ({ours["cpu_ms"]:.0f} vs '
                                      f'{r["cpu_ms"]:.0f} CPU ms)'})
    return out


def format_benchmark(result: dict) -> str:
    """The benchmark as Markdown: CPU line, one table of rows, one table of ratios."""
    s = result['settings']
    m = s['model']
    lines = [f'CPU: {result["cpu"]["summary"]}',
             f'Model: {m["encoder"]}-VTN {m["modality"]}, {m["num_frames"]} frames ({s["num_steps"]} decoder steps) '
             f'at {s["image_size"]}x{s["image_size"]}, {m["num_classes"]} classes; threads '
             f'{s["threads"] or "auto"}; rows timed round-robin, {s["rounds"]} rounds x {s["seconds"]:g} s, '
             f'FPS and latency of the best round; 1-min load average {s["load_average"][0]} at start, '
             f'{s["load_average"][1]} at end (other processes distort timings). FPS = inferences/s (whole: '
             'clips/s, encoder: frames/s, decoder: windows/s).',
             '| model | variant | hint | precision used | requests x streams | FPS | FPS per round | median ms |'
             ' p10-p90 ms | CPU ms / inference | benchmark_app FPS (median) |',
             '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in result['rows']:
        app = r.get('benchmark_app')
        app_text = '-' if app is None else (f'{app["fps"]:.1f}' if 'fps' in app else f'error: {app["error"]}')
        if app and 'fps' in app and app['median_ms']:
            app_text += f' ({app["median_ms"]:.2f} ms)'
        lines.append(f'| {r["model"]} | {r["variant"]} | {r["hint"]} | {r["precision"]} | '
                     f'{r["requests"]} x {r["streams"]} | {r["fps"]:.1f} | '
                     f'{" ".join(f"{f:.1f}" for f in r["fps_rounds"])} | {r["median_ms"]:.2f} | '
                     f'{r["p10_ms"]:.2f}-{r["p90_ms"]:.2f} | {r["cpu_ms"]:.2f} | {app_text} |')
    if result['ratios']:
        lines += ['', '| ratio | value | detail |', '|---|---|---|']
        lines += [f'| {q["what"]} | {q["value"]:.2f}x | {q["detail"]} |' for q in result['ratios']]
    return '\n'.join(lines)


# ----------------------------------------------------------------------------------------------------------
# Sidecar


def _versions() -> dict:
    import onnx  # pylint: disable=import-outside-toplevel
    import onnxruntime  # pylint: disable=import-outside-toplevel
    import openvino  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    import tf2onnx  # pylint: disable=import-outside-toplevel
    return {'jax': jax.__version__, 'flax': flax.__version__, 'tensorflow': tf.__version__,
            'tf2onnx': tf2onnx.__version__, 'onnx': onnx.__version__, 'onnxruntime': onnxruntime.__version__,
            'openvino': openvino.get_version()}


def write_sidecar(out_dir, sidecar: dict) -> None:
    """Writes `export.json` atomically (never a half-written sidecar)."""
    path = pathlib.Path(out_dir) / SIDECAR
    tmp = path.with_suffix('.json.tmp')
    tmp.write_text(json.dumps(sidecar, indent=1, default=str) + '\n')
    tmp.replace(path)


def read_sidecar(out_dir) -> dict:
    """Reads `export.json`; FileNotFoundError when `out_dir` holds no export."""
    path = pathlib.Path(out_dir) / SIDECAR
    if not path.is_file():
        raise FileNotFoundError(f'{path} does not exist: {out_dir} holds no export (run without --verify_only)')
    return json.loads(path.read_text())


# ----------------------------------------------------------------------------------------------------------
# The command line's one call


def read_class_names(path) -> list:
    """One class name per line (blank lines ignored)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'class names file {path} does not exist')
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def run(config, *, checkpoint: str, out_dir, options: ExportOptions, verify_only: bool = False,
        class_names_file: str = '', benchmark_args: Optional[dict] = None, echo: Callable = print) -> dict:
    """What `export.py` does: load weights, export (or only verify), print the reports, optionally benchmark.

    Args:
        config: the full config.
        checkpoint: see `load_variables`.
        out_dir: the export directory.
        options: export options (with verify_only only verify_clips, verify_split and tolerance matter).
        verify_only: verify the files already in `out_dir` instead of exporting.
        class_names_file: optional label file, one name per line.
        benchmark_args: keyword arguments of `benchmark` to time the artifacts afterwards; None = no timing.
        echo: where the reports go.

    Returns:
        {'sidecar': ..., 'benchmark': ... or None}.

    Raises:
        VerificationError, CheckpointMismatchError, FileNotFoundError, OSError, KeyError, ValueError: each
        with a message that names the thing at fault.
    """
    options.validate()
    model = create_checked_model(config.model)  # an unknown encoder fails before any loading
    out_dir = pathlib.Path(out_dir)
    if verify_only:
        read_sidecar(out_dir)  # fail before the (slow) weight loading
    else:
        check_writable(out_dir)
    class_names = read_class_names(class_names_file) if class_names_file else None
    variables, weights = load_variables(checkpoint, model, image_size=config.data.crop_size, seed=options.seed)
    if verify_only:
        report = verify(out_dir, config, variables, num_clips=options.verify_clips,
                        split=options.verify_split or None, tolerance=options.tolerance)
        sidecar = read_sidecar(out_dir)
    else:
        sidecar = export(config, variables, out_dir, options, weights=weights, class_names=class_names)
        report = sidecar['verification']
        echo(f'wrote {", ".join(sorted(p.name for p in out_dir.iterdir() if p.suffix in (".onnx", ".xml")))} '
             f'and {SIDECAR} to {out_dir}')
    echo(format_verification(report))
    result = None
    if benchmark_args is not None:
        result = benchmark(out_dir, **benchmark_args)
        echo(format_benchmark(result))
        sidecar = read_sidecar(out_dir)
        sidecar['benchmark'] = result
        write_sidecar(out_dir, sidecar)
    return {'sidecar': sidecar, 'benchmark': result}


# ----------------------------------------------------------------------------------------------------------
# Why this route: the direct ones, tried on the configured model


def probe_routes(config, variables, work_dir) -> list:
    """Tries the shorter export routes on the configured model and returns (route, outcome) pairs.

    Documents, on the installed versions, why `export` goes through TFLite: jax2tf emits one XlaCallModule
    op, which neither tf2onnx nor OpenVINO's TF frontend converts; OpenVINO's JAX frontend takes only a
    jaxpr and fails on VTN's; a polymorphic batch dies in tf2onnx and in OpenVINO's TFLite frontend.
    """
    import onnxruntime as ort  # pylint: disable=import-outside-toplevel
    import openvino as ov  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    import tf2onnx  # pylint: disable=import-outside-toplevel
    from jax.experimental import jax2tf  # pylint: disable=import-outside-toplevel
    model = create_checked_model(config.model)
    spec = create_parts(model, variables, config.data.crop_size)['whole']
    x = np.zeros(spec.input_shape, np.float32)
    work_dir = pathlib.Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    results = []

    def attempt(route, fn):
        try:
            outcome = fn()
            results.append((route, f'OK{": " + outcome if outcome else ""}'))
        except Exception as e:  # pylint: disable=broad-except  # recording the failure is the point
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            key = [line for line in lines if re.search(r'Error|No conversion|No translator|Non-zero', line)]
            line = (key or lines or [''])[-1]
            line = line if len(line) <= 240 else f'{line[:90]} ... {line[-150:]}'  # ORT puts the cause last
            results.append((route, f'FAIL {type(e).__name__}: {line}'))

    signature = [tf.TensorSpec(spec.input_shape, tf.float32, name='video')]
    tf_fn = tf.function(jax2tf.convert(spec.fn, with_gradient=False), autograph=False, input_signature=signature)
    ops = sorted({op.type for op in tf_fn.get_concrete_function().graph.get_operations()})
    results.append(('jax2tf.convert -> tf.function: graph ops', ', '.join(ops)))
    with _quiet_converters():
        attempt('tf2onnx.convert.from_function(jax2tf function)',
                lambda: tf2onnx.convert.from_function(tf_fn, input_signature=signature, opset=ONNX_OPSET) and '')

    def saved_model():
        module = tf.Module()
        module.f = tf_fn
        tf.saved_model.save(module, str(work_dir / 'saved_model'), signatures=tf_fn.get_concrete_function())
        ov.convert_model(str(work_dir / 'saved_model'))

    attempt('openvino.convert_model(TF SavedModel of the jax2tf function)', saved_model)
    attempt('openvino.convert_model(python function)', lambda: ov.convert_model(spec.fn, example_input=x))
    attempt('openvino.convert_model(jax.jit(function))', lambda: ov.convert_model(jax.jit(spec.fn), example_input=x))
    attempt('openvino.convert_model(jax.make_jaxpr(function)(x))', lambda: ov.convert_model(jax.make_jaxpr(spec.fn)(x)))

    def polymorphic():
        shape = ['b'] + [str(d) for d in spec.input_shape[1:]]
        poly = tf.function(jax2tf.convert(spec.fn, with_gradient=False, polymorphic_shapes=[f'({", ".join(shape)})']),
                           autograph=False,
                           input_signature=[tf.TensorSpec((None,) + spec.input_shape[1:], tf.float32, name='video')])
        converter = tf.lite.TFLiteConverter.from_concrete_functions([poly.get_concrete_function()], poly)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        (work_dir / 'poly.tflite').write_bytes(converter.convert())
        with _quiet_converters():
            tf2onnx.convert.from_tflite(str(work_dir / 'poly.tflite'), opset=ONNX_OPSET,
                                        output_path=str(work_dir / 'poly.onnx'))
        session = ort.InferenceSession(str(work_dir / 'poly.onnx'), providers=['CPUExecutionProvider'])
        return f'ONNX input shape {session.get_inputs()[0].shape}'

    attempt('polymorphic batch: jax2tf -> TFLite -> tf2onnx', polymorphic)
    if (work_dir / 'poly.onnx').is_file():
        session = ort.InferenceSession(str(work_dir / 'poly.onnx'), providers=['CPUExecutionProvider'])
        for batch in (1, 2):
            attempt(f'polymorphic ONNX in ONNX Runtime, batch {batch}',
                    lambda b=batch: str(session.run(None, {'video': np.repeat(x, b, 0)})[0].shape))
        attempt('polymorphic .tflite in OpenVINO', lambda: ov.Core().compile_model(str(work_dir / 'poly.tflite'),
                                                                                   'CPU') and '')
    return results
