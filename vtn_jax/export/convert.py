"""The export route: pure JAX function -> TFLite -> ONNX -> OpenVINO IR, and the graph edits on the way.

Route (the only one measured to work end to end with JAX 0.10; `python bench/export_routes.py` shows why):

    eval-mode fn(x) (weights closed over, batch 1, fixed shapes)
      -> jax2tf.convert -> tf.function                   (one XlaCallModule op holding StableHLO)
      -> tf.lite.TFLiteConverter.from_concrete_functions  (TFLITE_BUILTINS, float32: StableHLO is
                                                           legalised to TFLite builtin ops here)
      -> tf2onnx.convert.from_tflite(opset=17) -> fold_pads -> <part>.onnx
      -> openvino.convert_model -> [NNCF INT8] -> [PrePostProcessor] -> [Model API's 6-d clip input (whole)]
      -> openvino.save_model -> <part>.xml/.bin

Why not a shorter route (measured with JAX 0.10.2, tf2onnx 1.17, OpenVINO 2026.4):
  * jax2tf is native-serialisation only: the TF graph is Placeholder -> XlaCallModule -> Identity.
    `tf2onnx.convert.from_function` on it fails ("Could not infer the attribute type from the elements of the
    passed Iterable value"): tf2onnx has no XlaCallModule handler, and OpenVINO's TF frontend has none either.
  * `openvino.convert_model` takes neither a function, a jitted function nor a flax module ("Unknown model
    type"); on a ClosedJaxpr of VTN its JAX frontend fails in `get_ov_type_from_jax_type`.
  * A symbolic batch survives TFLite but not tf2onnx (a wrong Reshape at every batch size), and OpenVINO has
    no translator for the TFLite shape maths (UNSORTED_SEGMENT_PROD). So every artifact has batch 1 and fixed
    shapes: what streaming and latency need. Batch N means N requests (AsyncInferQueue), not a bigger tensor.
"""
import collections
import contextlib
import logging
import pathlib

import nncf
import numpy as np
import onnx
import openvino as ov
import tensorflow as tf
import tf2onnx
from jax.experimental import jax2tf
from onnx import helper, numpy_helper
from openvino import opset13 as ops
from openvino.preprocess import ColorFormat, PrePostProcessor

from vtn_jax.export.artifacts import PartSpec
from vtn_jax.inference import export_record

ONNX_OPSET = 17


@contextlib.contextmanager
def quiet_converters():
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
    tf_fn = tf.function(jax2tf.convert(spec.fn, with_gradient=False), autograph=False,
                        input_signature=[tf.TensorSpec(spec.input_shape, tf.float32, name=spec.input_name)])
    concrete = tf_fn.get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], tf_fn)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    pathlib.Path(path).write_bytes(converter.convert())


def convert_tflite_to_onnx(tflite_path, onnx_path, spec: PartSpec, metadata: dict) -> None:
    """tf2onnx.from_tflite (opset 17), outputs renamed to the part's name, metadata attached."""
    with quiet_converters():
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


def replace_input(ov_model, shape, layout: str, make_value):
    """A new model whose one input has `shape` (same name and element type; OpenVINO `layout`, '' for none) and
    feeds `make_value(new_parameter)` to whatever the old input fed. rt_info is not carried over (the export
    writes it after the last edit)."""
    (old,) = ov_model.get_parameters()
    name = old.output(0).get_any_name()
    new = ops.parameter(list(shape), old.get_element_type(), name=name)
    new.output(0).get_tensor().set_names({name})
    if layout:
        new.set_layout(ov.Layout(layout))
    value = make_value(new)
    for consumer in list(old.output(0).get_target_inputs()):
        consumer.replace_source_output(value.output(0))
    out = ov.Model(ov_model.get_results(), [new], ov_model.get_friendly_name())
    out.validate_nodes_and_infer_types()
    return out


def add_model_api_input(ov_model, spec: export_record.InputSpec):
    """The whole model behind OpenVINO Model API's 6-d clip input (`spec`, NSTHWC or NSCTHW; after any
    PrePostProcessor step, which works on the 5-d input): a Reshape to [1, T, H, W, C], or a Reshape to
    [1, C, T, H, W] and a Transpose to the export's [1, T, C, H, W] (Model API has no N S T C H W)."""
    (old,) = ov_model.get_parameters()
    five = np.array([d.get_length() for d in old.get_partial_shape()], np.int64)

    def unpack(clip):
        if spec.layout == 'NSCTHW':
            x = ops.reshape(clip, np.array(spec.shape[:1] + spec.shape[2:], np.int64), False)  # [1, C, T, H, W]
            return ops.transpose(x, np.array([0, 2, 1, 3, 4], np.int64))
        return ops.reshape(clip, five, False)
    return replace_input(ov_model, spec.shape, spec.layout, unpack)


def quantize_int8(ov_model, dataset, *, transformer: bool, float_depthwise: bool):
    """NNCF post-training quantisation (default preset) of an OpenVINO model on float calibration inputs.

    Args:
        ov_model: the float model (before any PrePostProcessor step).
        dataset: an `nncf.Dataset` of calibration inputs, each of the model's input shape.
        transformer: use NNCF's transformer patterns (keeps softmax / layer-norm maths in float).
        float_depthwise: keep GroupConvolution (depthwise) layers in float.
    """
    kwargs = {}
    if transformer:
        kwargs['model_type'] = nncf.ModelType.TRANSFORMER
    if float_depthwise:
        # validate=False: a ResNet has no GroupConvolution and that is not an error.
        kwargs['ignored_scope'] = nncf.IgnoredScope(types=['GroupConvolution'], validate=False)
    return nncf.quantize(ov_model, dataset, subset_size=dataset.get_length(), **kwargs)


def has_depthwise(ov_model) -> bool:
    return any(op.get_type_name() == 'GroupConvolution' for op in ov_model.get_ops())
