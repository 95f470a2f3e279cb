"""What the export tests share: the tiny model with weights built once, exports made once per session, clips
and runners. Not a test module itself; the fixtures are registered in conftest.py."""
import json
import pathlib

import flax
import jax
import numpy as np
import onnxruntime as ort
import openvino as ov

from vtn_jax import checkpoints
from vtn_jax.configs import tiny
from vtn_jax.data import frames as frames_lib
from vtn_jax.data import synthetic
from vtn_jax.export import artifacts
from vtn_jax.export import pipeline
from vtn_jax.models import vtn as model_lib


TOL = 1e-4


def _base_variables():
    model = model_lib.create_model(tiny.get_config().model)
    # What `export.py` without --checkpoint exports (the CLI test relies on the same weights).
    return checkpoints.load_variables('', model, image_size=32)[0]


def tiny_setup(**model_overrides):
    """Tiny config, model and variables: the random weights of the base model (compiled once per process by the
    library), and for other variants its leaves where the shapes agree and seeded noise elsewhere."""
    config = tiny.get_config()
    config.model.update(model_overrides)
    model = model_lib.create_model(config.model)
    base = flax.traverse_util.flatten_dict(_base_variables())
    template = flax.traverse_util.flatten_dict(
        jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0), image_size=32)))
    rng = np.random.default_rng(5)
    leaves = {k: base[k] if k in base and base[k].shape == v.shape
              else rng.normal(0, 0.1, v.shape).astype(np.float32) for k, v in template.items()}
    return config, model, flax.traverse_util.unflatten_dict(leaves)


def rgb_export(tmp_path_factory):
    """Float NHWC export of all parts, with FP16 and INT8 (random calibration clips) variants."""
    config, model, variables = tiny_setup()
    out = tmp_path_factory.mktemp('rgb')
    options = artifacts.ExportOptions(fp16=True, int8=True, calib_clips=4, calib_split='synthetic')
    pipeline.export(config, variables, out, options, weights='test init')
    return config, model, variables, out, sidecar_json(out)


def bgr_nchw_export(tmp_path_factory):
    """uint8 BGR NCHW export of the whole model and the encoder (PrePostProcessor in the IR)."""
    config, model, variables = tiny_setup()
    out = tmp_path_factory.mktemp('bgr')
    options = artifacts.ExportOptions(parts=('whole', 'encoder'), layout='NCHW', uint8_input=True, color='BGR')
    pipeline.export(config, variables, out, options)
    return config, model, variables, out, sidecar_json(out)


# The whole-model variants beside the rgb (float NHWC) and bgr_nchw (uint8 BGR NCHW) exports: the whole part only,
# verified on one clip (each export costs seconds of conversion and a JAX reference).
WHOLE_VARIANTS = {'float_nchw': dict(layout='NCHW'), 'uint8_rgb_nhwc': dict(uint8_input=True),
                  'uint8_bgr_nhwc': dict(uint8_input=True, color='BGR'),
                  'uint8_rgb_nchw': dict(uint8_input=True, layout='NCHW')}


def whole_variant_exports(tmp_path_factory) -> dict:
    """{variant: export folder} of the WHOLE_VARIANTS, all from the same weights as the rgb export."""
    config, _, variables = tiny_setup()
    folders = {}
    for name, fields in WHOLE_VARIANTS.items():
        folders[name] = tmp_path_factory.mktemp(name)
        pipeline.export(config, variables, folders[name],
                        artifacts.ExportOptions(parts=('whole',), verify_clips=1, **fields))
    return folders


def omz_export(tmp_path_factory):
    """`vtn-export --omz` of the tiny model with the demo's 224 crop (its only change: the crop size), the same
    weights (resnet_tiny pools globally), verified on one clip."""
    config, model, variables = tiny_setup()
    config.data.crop_size = 224
    out = tmp_path_factory.mktemp('omz')
    pipeline.export(config, variables, out, artifacts.ExportOptions.for_omz(verify_clips=1))
    return config, model, variables, out


def sidecar_json(folder) -> dict:
    """An export folder's export.json as written (the JSON the deploy side validates)."""
    return json.loads((pathlib.Path(folder) / 'export.json').read_text())


def uint8_clips(n=2, seed=3):
    return synthetic.random_clips(n, 8, 32, seed)


def normalized(clips_u8, config):
    return frames_lib.normalize(clips_u8, config.data.mean, config.data.std)


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def compile_f32(path):
    return ov.Core().compile_model(str(path), 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})


def relative(got, ref):
    return float(np.max(np.abs(got - ref))) / max(1.0, float(np.max(np.abs(ref))))


def rewrite_record(folder, change) -> None:
    """Damages an export: its export.json parsed, changed in place by `change(record)`, written back."""
    path = pathlib.Path(folder) / 'export.json'
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def set_at(keys, value):
    """A `change` for `rewrite_record`: record[keys[0]]...[keys[-1]] = value."""
    def change(record):
        node = record
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value
    return change
