"""The export in one call: weights -> every part through the route -> variants -> sidecar -> verification,
and `run`, what the `vtn-export` command does (optionally timing the result)."""
import dataclasses
import datetime
import json
import logging
import pathlib
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
from vtn_jax import errors
from vtn_jax.data import class_names as class_names_lib
from vtn_jax.data import frames as frames_lib
from vtn_jax.export import artifacts
from vtn_jax.export import benchmark as benchmark_lib
from vtn_jax.export import clips as clips_lib
from vtn_jax.export import convert
from vtn_jax.export import omz as omz_lib
from vtn_jax.export import verify as verify_lib
from vtn_jax.inference import export_record
from vtn_jax.models import modality as modality_lib
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
                 tmp: pathlib.Path, calib, timings: dict, record: export_record.ExportRecord) -> dict:
    """One part: TFLite (kept in `tmp` for verification), ONNX, the f32 IR and the asked-for variants (and the
    Open Model Zoo decoder). Returns the part's files (record key -> file name)."""
    name, t0 = spec.name, time.perf_counter()
    _LOG.info('exporting %s: input %s', name, spec.input_shape)
    convert.convert_to_tflite(spec, tmp / f'{name}.tflite')
    timings[f'{name}_tflite_s'] = round(time.perf_counter() - t0, 2)
    onnx_path = out_dir / f'{name}.onnx'
    convert.convert_tflite_to_onnx(tmp / f'{name}.tflite', onnx_path, spec,
                                   {'vtn_part': name, 'vtn_model': json.dumps(config.model.to_dict())})
    timings[f'{name}_onnx_s'] = round(time.perf_counter() - t0 - timings[f'{name}_tflite_s'], 2)
    files = {'onnx': onnx_path.name}

    part = record.parts[name]
    ir_input = part.ir_input

    def save(ov_model, suffix: str, fp16: bool = False, key: str = 'ir'):
        if ir_input.dtype == 'uint8':
            ov_model = convert.add_uint8_preprocessing(ov_model, part.onnx_input.layout, ir_input.color,
                                                       config.data.mean, config.data.std)
        if ir_input.shape != part.onnx_input.shape:  # the whole model: Model API's 6-d clip
            ov_model = convert.add_model_api_input(ov_model, ir_input)
        for k, value in record.model_info(name, key).items():  # the record's facts, for readers of the .xml alone
            ov_model.set_rt_info(value, ['model_info', k])
        # openvino.save_model compresses to FP16 by default: every IR but the _fp16 one stays float32.
        ov.save_model(ov_model, out_dir / f'{name}{suffix}.xml', compress_to_fp16=fp16)
        return f'{name}{suffix}.xml'

    files['ir'] = save(ov.convert_model(onnx_path), '')
    if options.omz and name == 'decoder':
        files['ir_omz'] = save(omz_lib.strided_decoder(ov.convert_model(onnx_path), record.clip.stride), '_omz',
                               key='ir_omz')
    if options.fp16:
        files['ir_fp16'] = save(ov.convert_model(onnx_path), '_fp16', fp16=True)
    if options.int8:
        t1 = time.perf_counter()
        # The decoder and the whole model hold attention: NNCF's transformer patterns keep softmax and the
        # layer-norm maths in float. The encoder is a plain CNN.
        transformer = name != 'encoder'
        files['ir_int8'] = save(convert.quantize_int8(ov.convert_model(onnx_path), calib[name],
                                                      transformer=transformer, float_depthwise=False), '_int8')
        timings[f'{name}_int8_s'] = round(time.perf_counter() - t1, 2)
        float_model = ov.convert_model(onnx_path)
        if options.int8_float_depthwise and convert.has_depthwise(float_model):
            files['ir_int8_fdw'] = save(convert.quantize_int8(float_model, calib[name], transformer=transformer,
                                                              float_depthwise=True), '_int8_fdw')
    timings[f'{name}_total_s'] = round(time.perf_counter() - t0, 2)
    return files


def plan_record(config, model: vtn_lib.VTN, parts: dict, options: artifacts.ExportOptions,
                class_names: Sequence[str], info: dict) -> export_record.ExportRecord:
    """The export's record before any file is written: clip, preprocessing, labels and what each part takes
    (its files are added as they are written). Both export.json and every IR's rt_info come from it."""
    clip = modality_lib.Clip.from_config(config)
    preprocessing = frames_lib.Preprocessing.from_config(config.data)
    if options.omz:
        preprocessing = omz_lib.demo_preprocessing(preprocessing)
    records = {}
    for name in options.parts:
        spec = parts[name]
        ir_input, onnx_input = artifacts.input_specs(spec, model.modality, options)
        records[name] = export_record.PartRecord(name, {}, ir_input, onnx_input, tuple(spec.output_shape))
    return export_record.ExportRecord(clip, preprocessing, tuple(class_names), records, options.omz, info)


def export(config, variables, out_dir, options: artifacts.ExportOptions = artifacts.ExportOptions(), *,
           weights: str = '', class_names: Optional[Sequence[str]] = None,
           verify_exports: bool = True) -> export_record.ExportRecord:
    """Exports the configured parts, writes the record, verifies the files, and only then puts the folder in
    place: the files are built in a staging folder beside `out_dir` and moved there whole, so `out_dir` holds
    either the previous export or the new verified one, never a mix (see `artifacts.publish`).

    Args:
        config: the full config (model and data sections).
        variables: the model's eval variables ({'params', 'batch_stats'}).
        out_dir: the export folder: new, empty, or a previous export (replaced whole).
        options: what to export.
        weights: where the variables came from (recorded in the sidecar).
        class_names: label names, one per class (default: 'class 0', 'class 1', ...).
        verify_exports: run `verify` on the written files (with a TFLite stage as well); without it the folder
            is published unverified, and the deploy side refuses it unless told otherwise.

    Returns:
        The record, as read back from `out_dir/export.json`.

    Raises:
        VerificationError: a stage diverged; `out_dir` is left as it was and the files are kept in
            `<out_dir>.unverified` for inspection.
    """
    options.validate()
    model = vtn_lib.create_model(config.model)
    names = list(class_names) if class_names is not None else class_names_lib.default_class_names(model.num_classes)
    export_record.check_class_names(names, 'class names')
    if len(names) != model.num_classes:
        raise errors.UserError(f'{len(names)} class names for a model with {model.num_classes} classes')
    if options.omz:
        omz_lib.check_model(model.modality, config.data.crop_size)
    out_dir = pathlib.Path(out_dir)
    parts = artifacts.create_parts(model, variables, config.data.crop_size, options.layout, options.omz)
    if options.uint8_input and 'encoder' in options.parts and not parts['encoder'].takes_pixels:
        _LOG.warning('uint8 input: the %s encoder takes difference frames, which uint8 cannot hold; its IR '
                     'keeps float input (normalise the frames and take the differences first)', model.modality)
    calib, calib_source = None, None
    if options.int8:
        calib_u8, calib_source = clips_lib.calibration_clips(config, options)
        calib = clips_lib.calibration_inputs(model, variables, calib_u8, config.data, options)
    timings = {}
    record = plan_record(config, model, parts, options, names, {
        'created': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'route': ROUTE, 'versions': _versions(), 'weights': weights, 'model': config.model.to_dict(),
        'options': {k: (list(v) if isinstance(v, (tuple, list)) else v)
                    for k, v in dataclasses.asdict(options).items()},
        'calibration': calib_source,
        'batch': 'fixed batch 1 (tf2onnx breaks a symbolic batch; run N requests for N clips)',
        'streaming': ('encode each new frame once (for rgbdiff/stacked: its difference to the previous '
                      'sampled frame), keep the last S embeddings, run the decoder on them'),
        'timings': timings, 'verification': None})
    with artifacts.staging(out_dir) as stage:
        tmp = stage / artifacts.SCRATCH
        tmp.mkdir()
        files = {name: _export_part(parts[name], config, options, stage, tmp, calib, timings, record)
                 for name in record.parts}
        record = dataclasses.replace(record, parts={
            name: dataclasses.replace(part, files=files[name]) for name, part in record.parts.items()})
        (stage / export_record.LABELS).write_text(record.labels_text(), encoding='utf-8')
        export_record.write(stage, artifacts.with_checksums(record, stage))
        if verify_exports:
            try:
                verify_lib.verify(stage, config, variables, tflite_dir=tmp)
            except verify_lib.VerificationError as e:
                kept = artifacts.keep_failed(stage, out_dir)
                raise verify_lib.VerificationError(e.failures, e.report, kept=kept) from None
        artifacts.publish(stage, out_dir)
    return export_record.read(out_dir)


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
        {'record': the folder's `ExportRecord`, 'benchmark': ... or None}.

    Raises:
        VerificationError, CheckpointMismatchError, FileNotFoundError, OSError, KeyError, ValueError: each
        with a message that names the thing at fault.
    """
    options.validate()
    model = vtn_lib.create_model(config.model)  # an unknown encoder fails before any loading
    if options.omz and not verify_only:
        omz_lib.check_model(model.modality, config.data.crop_size)
    out_dir = pathlib.Path(out_dir)
    if verify_only:
        export_record.read(out_dir)  # fail before the (slow) weight loading
    else:
        artifacts.check_destination(out_dir)
    class_names = (class_names_lib.read_class_names(class_names_file, model.num_classes)
                   if class_names_file else None)
    variables, weights = checkpoints.load_variables(checkpoint, model, image_size=config.data.crop_size,
                                                    seed=options.seed)
    if verify_only:
        report = verify_lib.verify(out_dir, config, variables, num_clips=options.verify_clips,
                                   split=options.verify_split or None, tolerance=options.tolerance)
    else:
        record = export(config, variables, out_dir, options, weights=weights, class_names=class_names)
        report = record.verification
        files = sorted(p.name for p in out_dir.iterdir() if p.suffix in ('.onnx', '.xml'))
        _LOG.info('wrote %s and %s to %s', ', '.join(files), export_record.SIDECAR, out_dir)
    _LOG.info('%s', verify_lib.format_verification(report))
    result = None
    if benchmark_args is not None:
        result = benchmark_lib.benchmark(out_dir, **benchmark_args)
        _LOG.info('%s', benchmark_lib.format_benchmark(result))
        record = export_record.read(out_dir)
        export_record.write(out_dir, dataclasses.replace(record, info={**record.info, 'benchmark': result}))
    return {'record': export_record.read(out_dir), 'benchmark': result}
