r"""Why the export goes through TFLite: the shorter routes, tried on the configured model with the installed
versions, one table row per route and its outcome (the error that ends it).

    python bench/export_routes.py --config tiny --workdir /tmp/export_routes
    python bench/export_routes.py --config default --checkpoint r34.pth --workdir /tmp/export_routes

Without --checkpoint the weights are random (config.train.seed); the routes do not depend on them.
"""
import pathlib
import re
import sys

from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repo root, for `vtn_jax`

from vtn_jax import logs

logs.quiet_native_start()

import jax
import numpy as np
import onnxruntime as ort
import openvino as ov
import tensorflow as tf
import tf2onnx
from jax.experimental import jax2tf

from vtn_jax import checkpoints
from vtn_jax import configs
from vtn_jax.export import artifacts
from vtn_jax.export import convert
from vtn_jax.models import vtn as vtn_lib

_CONFIG = flags.DEFINE_string('config', 'tiny', 'Config file or shipped config name.')
_CHECKPOINT = flags.DEFINE_string('checkpoint', '', 'Weights (as vtn-export --checkpoint; default: random).')
_WORKDIR = flags.DEFINE_string('workdir', '/tmp/vtn_export_routes', 'Where the scratch files go.')


def probe_routes(config, variables, work_dir) -> list:
    """Tries the shorter export routes on the configured model and returns (route, outcome) pairs.

    Documents, on the installed versions, why `export` goes through TFLite: jax2tf emits one XlaCallModule
    op, which neither tf2onnx nor OpenVINO's TF frontend converts; OpenVINO's JAX frontend takes only a
    jaxpr and fails on VTN's; a polymorphic batch dies in tf2onnx and in OpenVINO's TFLite frontend.
    """
    model = vtn_lib.create_model(config.model)
    spec = artifacts.create_parts(model, variables, config.data.crop_size)['whole']
    x = np.zeros(spec.input_shape, np.float32)
    work_dir = pathlib.Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    results = []

    def attempt(route, fn):
        try:
            outcome = fn()
            results.append((route, f'OK{": " + outcome if outcome else ""}'))
        except Exception as e:  # noqa: BLE001  (recording the failure is the point)
            lines = [line.strip() for line in str(e).splitlines() if line.strip()]
            key = [line for line in lines if re.search(r'Error|No conversion|No translator|Non-zero', line)]
            line = (key or lines or [''])[-1]
            line = line if len(line) <= 240 else f'{line[:90]} ... {line[-150:]}'  # ORT puts the cause last
            results.append((route, f'FAIL {type(e).__name__}: {line}'))

    signature = [tf.TensorSpec(spec.input_shape, tf.float32, name='video')]
    tf_fn = tf.function(jax2tf.convert(spec.fn, with_gradient=False), autograph=False, input_signature=signature)
    ops = sorted({op.type for op in tf_fn.get_concrete_function().graph.get_operations()})
    results.append(('jax2tf.convert -> tf.function: graph ops', ', '.join(ops)))
    with convert.quiet_converters():
        attempt('tf2onnx.convert.from_function(jax2tf function)',
                lambda: tf2onnx.convert.from_function(tf_fn, input_signature=signature,
                                                      opset=convert.ONNX_OPSET) and '')

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
        with convert.quiet_converters():
            tf2onnx.convert.from_tflite(str(work_dir / 'poly.tflite'), opset=convert.ONNX_OPSET,
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


def main(argv):
    del argv
    logs.configure_cli_logging()
    config = configs.load(_CONFIG.value)
    model = vtn_lib.create_model(config.model)
    variables, weights = checkpoints.load_variables(_CHECKPOINT.value, model, image_size=config.data.crop_size,
                                                    seed=config.train.seed)
    print(f'{config.model.encoder} {config.model.modality}, {weights}; jax {jax.__version__}, tensorflow '
          f'{tf.__version__}, tf2onnx {tf2onnx.__version__}, openvino {ov.__version__}')
    print('| route | outcome |\n|---|---|')
    for route, outcome in probe_routes(config, variables, _WORKDIR.value):
        print(f'| {route} | {outcome} |')


if __name__ == '__main__':
    app.run(main)
