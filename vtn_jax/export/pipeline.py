"""The export in one call: weights -> every part through the route -> variants -> sidecar -> verification,
and `run`, what the `vtn-export` command does (optionally timing the result)."""
import dataclasses
import datetime
import json
import logging
import pathlib
import tempfile
import time
from typing import Optional, Sequence

import flax
import jax
import onnx
import onnxruntime
import openvino as ov
import tensorflow as tf
import tf2onnx

from vtn_jax import checkpoints
from vtn_jax.data import class_names as class_names_lib
from vtn_jax.export import artifacts
from vtn_jax.export import benchmark as benchmark_lib
from vtn_jax.export import clips as clips_lib
from vtn_jax.export import convert
from vtn_jax.export import verify as verify_lib
from vtn_jax.models import vtn as vtn_lib

_LOG = logging.getLogger(__name__)
ROUTE = ('jax2tf.convert -> tf.function -> TFLiteConverter (TFLITE_BUILTINS, float32) -> tf2onnx.from_tflite '
         f'(opset {convert.ONNX_OPSET}) -> openvino.convert_model [-> nncf.quantize] [-> PrePostProcessor] -> '
         'openvino.save_model')


def _versions() -> dict:
    return {'jax': jax.__version__, 'flax': flax.__version__, 'tensorflow': tf.__version__,
            'tf2onnx': tf2onnx.__version__, 'onnx': onnx.__version__, 'onnxruntime': onnxruntime.__version__,
            'openvino': ov.get_version()}


def _export_part(spec: artifacts.PartSpec, config, options: artifacts.ExportOptions, out_dir: pathlib.Path,
                 tmp: pathlib.Path, calib, timings: dict, info: dict) -> dict:
    """One part: TFLite (kept in `tmp` for verification), ONNX, the f32 IR and the asked-for variants."""
    name, t0 = spec.name, time.perf_counter()
    _LOG.info('exporting %s: input %s', name, spec.input_shape)
    convert.convert_to_tflite(spec, tmp / f'{name}.tflite')
    timings[f'{name}_tflite_s'] = round(time.perf_counter() - t0, 2)
    onnx_path = out_dir / f'{name}.onnx'
    convert.convert_tflite_to_onnx(tmp / f'{name}.tflite', onnx_path, spec,
                                   {'vtn_part': name, 'vtn_model': json.dumps(config.model.to_dict())})
    timings[f'{name}_onnx_s'] = round(time.perf_counter() - t0 - timings[f'{name}_tflite_s'], 2)
    record = {'onnx': onnx_path.name}
    uint8 = options.uint8_input and spec.raw_frames

    def save(ov_model, suffix: str, fp16: bool = False):
        if uint8:
            ov_model = convert.add_uint8_preprocessing(ov_model, artifacts.layout_string(name, options.layout),
                                                       options.color, config.data.mean, config.data.std)
        for key, value in info.items():  # the sidecar's facts inside the IR, for readers of the .xml alone
            ov_model.set_rt_info(value, ['model_info', key])
        # openvino.save_model compresses to FP16 by default: every IR but the _fp16 one stays float32.
        ov.save_model(ov_model, out_dir / f'{name}{suffix}.xml', compress_to_fp16=fp16)
        return f'{name}{suffix}.xml'

    record['ir'] = save(ov.convert_model(onnx_path), '')
    if options.fp16:
        record['ir_fp16'] = save(ov.convert_model(onnx_path), '_fp16', fp16=True)
    if options.int8:
        t1 = time.perf_counter()
        # The decoder and the whole model hold attention: NNCF's transformer patterns keep softmax and the
        # layer-norm maths in float. The encoder is a plain CNN.
        transformer = name != 'encoder'
        record['ir_int8'] = save(convert.quantize_int8(ov.convert_model(onnx_path), calib[name],
                                                       transformer=transformer, float_depthwise=False), '_int8')
        timings[f'{name}_int8_s'] = round(time.perf_counter() - t1, 2)
        float_model = ov.convert_model(onnx_path)
        if options.int8_float_depthwise and convert.has_depthwise(float_model):
            record['ir_int8_fdw'] = save(convert.quantize_int8(float_model, calib[name], transformer=transformer,
                                                               float_depthwise=True), '_int8_fdw')
    timings[f'{name}_total_s'] = round(time.perf_counter() - t0, 2)
    return record


def export(config, variables, out_dir, options: artifacts.ExportOptions = artifacts.ExportOptions(), *,
           weights: str = '', class_names: Optional[Sequence[str]] = None, verify_exports: bool = True) -> dict:
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
    options.validate()
    model = vtn_lib.create_model(config.model)
    if class_names is not None and len(class_names) != model.num_classes:
        raise ValueError(f'{len(class_names)} class names for a model with {model.num_classes} classes')
    out_dir = artifacts.check_writable(out_dir)
    parts = artifacts.create_parts(model, variables, config.data.crop_size, options.layout, options.omz)
    if options.omz and model.modality != 'rgb':
        raise ValueError(f'omz: Open Model Zoo\'s demo feeds single rgb frames; this is a {model.modality} model')
    if options.uint8_input and 'encoder' in options.parts and not parts['encoder'].raw_frames:
        _LOG.warning('uint8 input: the %s encoder takes difference frames, which uint8 cannot hold; its IR '
                     'keeps float input (normalise the frames and take the differences first)', model.modality)
    calib, calib_source = None, None
    if options.int8:
        calib_u8, calib_source = clips_lib.calibration_clips(config, options)
        calib = clips_lib.calibration_inputs(model, variables, calib_u8, config.data, options)
    records, timings = {}, {}
    with tempfile.TemporaryDirectory(prefix='vtn_export_') as tmp:
        for name in options.parts:
            spec = parts[name]
            info = artifacts.ir_model_info(name, config, model.num_steps, class_names, options)
            record = _export_part(spec, config, options, out_dir, pathlib.Path(tmp), calib, timings, info)
            record['onnx_input'] = artifacts.input_spec(spec, model.modality, options, config.data, ir=False)
            record['ir_input'] = artifacts.input_spec(spec, model.modality, options, config.data, ir=True)
            record['output'] = {'name': spec.output_name, 'shape': list(spec.output_shape), 'dtype': 'float32',
                                'content': 'frame embedding' if name == 'encoder'
                                else 'clip logits, mean over the decoder steps (softmax gives probabilities)'}
            records[name] = record
        artifacts.write_sidecar(out_dir, {
            'format': 'vtn_jax export 1',
            'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
            'route': ROUTE,
            'versions': _versions(),
            'weights': weights,
            'model': config.model.to_dict(),
            'data': {'crop_size': config.data.crop_size, 'stride': config.data.stride,
                     'mean': list(config.data.mean), 'std': list(config.data.std),
                     'eval_preprocess': config.data.get('eval_preprocess', 'paper')},
            'num_steps': model.num_steps,
            'class_names': list(class_names) if class_names is not None else None,
            'options': {k: (list(v) if isinstance(v, (tuple, list)) else v)
                        for k, v in dataclasses.asdict(options).items()},
            'calibration': calib_source,
            'batch': 'fixed batch 1 (tf2onnx breaks a symbolic batch; run N requests for N clips)',
            'streaming': ('encode each new frame once (for rgbdiff/stacked: its difference to the previous '
                          'sampled frame), keep the last S embeddings, run the decoder on them'),
            'artifacts': records,
            'timings': timings,
            'verification': None,
        })
        if verify_exports:
            verify_lib.verify(out_dir, config, variables, tflite_dir=tmp)
    return artifacts.read_sidecar(out_dir)


def run(config, *, checkpoint: str, out_dir, options: artifacts.ExportOptions, verify_only: bool = False,
        class_names_file: str = '', benchmark_args: Optional[dict] = None) -> dict:
    """What `vtn-export` does: load weights, export (or only verify), log the reports, optionally benchmark.

    Args:
        config: the full config.
        checkpoint: any source `vtn_jax.checkpoints.load_variables` takes ('' = random weights).
        out_dir: the export directory.
        options: export options (with verify_only only verify_clips, verify_split and tolerance matter).
        verify_only: verify the files already in `out_dir` instead of exporting.
        class_names_file: optional label file, one name per line.
        benchmark_args: keyword arguments of `benchmark` to time the artifacts afterwards; None = no timing.

    Returns:
        {'sidecar': ..., 'benchmark': ... or None}.

    Raises:
        VerificationError, CheckpointMismatchError, FileNotFoundError, OSError, KeyError, ValueError: each
        with a message that names the thing at fault.
    """
    options.validate()
    model = vtn_lib.create_model(config.model)  # an unknown encoder fails before any loading
    out_dir = pathlib.Path(out_dir)
    if verify_only:
        artifacts.read_sidecar(out_dir)  # fail before the (slow) weight loading
    else:
        artifacts.check_writable(out_dir)
    class_names = (class_names_lib.read_class_names(class_names_file, model.num_classes)
                   if class_names_file else None)
    variables, weights = checkpoints.load_variables(checkpoint, model, image_size=config.data.crop_size,
                                                    seed=options.seed)
    if verify_only:
        report = verify_lib.verify(out_dir, config, variables, num_clips=options.verify_clips,
                                   split=options.verify_split or None, tolerance=options.tolerance)
        sidecar = artifacts.read_sidecar(out_dir)
    else:
        sidecar = export(config, variables, out_dir, options, weights=weights, class_names=class_names)
        report = sidecar['verification']
        files = sorted(p.name for p in out_dir.iterdir() if p.suffix in ('.onnx', '.xml'))
        _LOG.info('wrote %s and %s to %s', ', '.join(files), artifacts.SIDECAR, out_dir)
    _LOG.info('%s', verify_lib.format_verification(report))
    result = None
    if benchmark_args is not None:
        result = benchmark_lib.benchmark(out_dir, **benchmark_args)
        _LOG.info('%s', benchmark_lib.format_benchmark(result))
        sidecar = artifacts.read_sidecar(out_dir)
        sidecar['benchmark'] = result
        artifacts.write_sidecar(out_dir, sidecar)
    return {'sidecar': sidecar, 'benchmark': result}
