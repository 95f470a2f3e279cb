"""Verification: every exported file against JAX on the same clips, gated where it must be exact.

Gated at max|diff| / max(1, max|JAX|) <= tolerance (1e-4): TFLite (during export), ONNX Runtime and OpenVINO
f32 on N clips, and the split pair (encoder per frame, then decoder) against JAX and against the whole
artifact. Reported, not gated: OpenVINO's default precision (bf16 on AVX-512-bf16 / AMX CPUs), the FP16 IR and
the INT8 IR (max diff, top-1 agreement, Clip@1 on a split). `VerificationError` names the failed stages.
"""
import dataclasses
import pathlib
from typing import Callable, Optional, Sequence

import numpy as np
import onnxruntime as ort
import tensorflow as tf

from vtn_jax import errors
from vtn_jax.data import frames as frames_lib
from vtn_jax.data import synthetic
from vtn_jax.export import artifacts
from vtn_jax.export import benchmark as benchmark_lib
from vtn_jax.export import clips as clips_lib
from vtn_jax.inference import export_record
from vtn_jax.inference import jax_backend
from vtn_jax.inference import openvino_backend
from vtn_jax.inference import whole_video
from vtn_jax.models import modality as modality_lib
from vtn_jax.models import vtn as vtn_lib


class VerificationError(RuntimeError):
    """An exported artifact that does not compute what JAX computes; the message names stage and numbers (and
    where the unverified files were kept, when an export failed)."""

    def __init__(self, failures: Sequence[dict], report: dict, kept=None):
        self.failures = list(failures)
        self.report = report
        lines = [f'{f["part"]}: {f["stage"]} diverged from {f["reference"]}: max|diff| {f["max_abs_diff"]:.3g} '
                 f'(relative {f["relative_diff"]:.3g} > tolerance {f["tolerance"]:g})' for f in self.failures]
        if kept is not None:
            lines.append(f'the export folder was left as it was; the unverified files are in {kept}')
        super().__init__('export verification failed:\n  ' + '\n  '.join(lines))


def create_reference(model: vtn_lib.VTN, variables) -> tuple[Callable, Callable, Callable]:
    """JAX eval functions (any batch, NHWC): clips -> logits, frames -> embeddings, windows -> logits."""
    backend = jax_backend.JaxBackend(model, variables)
    def whole(x):  # compiled once per (model, shapes) in the process (models.vtn.jit_apply)
        return np.asarray(vtn_lib.jit_apply(backend.variables, x, model=model))

    return whole, backend.encode, backend.decode


def _in_batches(fn: Callable, x: np.ndarray, batch_size: int) -> np.ndarray:
    return whole_video.apply_in_batches(fn, lambda a, b: x[a:b], len(x), batch_size)


def _openvino_runner(path, precision):
    compiled = openvino_backend.compile_openvino(path, precision)
    request = compiled.create_infer_request()

    def run(x):
        return np.array(request.infer([x])[0], copy=True)  # the output buffer is reused by the next call

    return run, openvino_backend.runtime_precision(compiled)


def _onnxruntime_runner(path):
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})[0], 'f32'


def _tflite_runner(path):
    interpreter = tf.lite.Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0]['index'], interpreter.get_output_details()[0]['index']

    def run(x):
        interpreter.set_tensor(inp, x)
        interpreter.invoke()
        return np.array(interpreter.get_tensor(out), copy=True)

    return run, 'f32'


def _feed(part: str, input_spec: export_record.InputSpec, clip_u8: np.ndarray, clip: np.ndarray, modality: str):
    """The inputs one artifact takes for one clip (uint8 RGB [T,H,W,3] and its normalised float version):
    a list with one clip (whole) or one entry per decoder step (encoder), laid out as `input_spec` says."""
    uint8 = input_spec.dtype == 'uint8'
    x = clip_u8[None] if uint8 else (clip[None] if part == 'whole' else
                                     modality_lib.clip_encoder_inputs(clip[None], modality))
    if uint8 and input_spec.color == 'BGR':
        x = x[..., ::-1]
    if part == 'whole':
        return [input_spec.arrange(x)]
    return [input_spec.arrange(f[None]) for f in x[0]]


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
    """Checks every artifact in `out_dir` against JAX; records the report in the folder's export.json.

    Gated (relative max|diff| <= tolerance): TFLite (when `tflite_dir` holds the intermediate files), ONNX
    Runtime, OpenVINO f32 (the float IR with INFERENCE_PRECISION_HINT=f32, fed uint8 where its input is
    uint8), and the split pair composed (encoder per step, then decoder) against JAX and against the whole
    artifact. Reported only: OpenVINO's default precision, the FP16-weight IR and the INT8 IRs.

    Args:
        out_dir: an export directory (with `export.json`).
        config: the config the artifacts were exported from (its model section must match the record's).
        variables: the model's variables (the JAX reference).
        num_clips, split, tolerance: override the record's options (verify_clips, verify_split, tolerance).
        tflite_dir: a folder with `<part>.tflite` (during export only).

    Returns:
        The verification report (also stored under 'verification' in export.json).

    Raises:
        VerificationError: naming every gated stage that diverged, with its numbers.
        UserError: the config does not match the exported model.
    """
    out_dir = pathlib.Path(out_dir)
    record = export_record.read(out_dir)
    _check_same_model(record, config, out_dir)
    options = _recorded_options(record, out_dir)
    tolerance = tolerance or options['tolerance']
    model = vtn_lib.create_model(config.model)
    clips_u8, labels, source = _clips(record, config, num_clips or options['verify_clips'],
                                      options['verify_split'] if split is None else split)
    video = frames_lib.normalize(clips_u8, record.preprocessing.mean, record.preprocessing.std)
    ref = _references(model, variables, video)
    rows, results = [], {}

    def add(part, stage, got, reference_name, reference, gated, precision):
        row = {'part': part, 'stage': stage, 'reference': reference_name, 'precision': precision,
               **_compare(got, reference, logits=part != 'encoder', labels=labels if part != 'encoder' else None),
               'gated': gated, 'tolerance': tolerance}
        row['passed'] = (row['relative_diff'] <= tolerance) if gated else None
        rows.append(row)

    for part, part_record in record.parts.items():
        for stage, path, input_spec, make_runner, gated in _runners(part, part_record, out_dir, tflite_dir):
            run, precision = make_runner(path)
            got = np.stack([_run_part(run, part, input_spec, clips_u8[n], video[n], ref['encoder'][n],
                                      model.modality) for n in range(len(video))])
            results[(part, stage)] = got
            add(part, stage, got, 'JAX', ref[part], gated, precision)
    omz_file = record.parts['decoder'].files.get('ir_omz') if 'decoder' in record.parts else None
    if omz_file:
        run, precision = _openvino_runner(out_dir / omz_file, 'f32')
        got = np.stack([run(_omz_window(ref['encoder'][n], record.clip.stride))[0] for n in range(len(video))])
        add('decoder', 'openvino f32, Open Model Zoo window', got, 'JAX', ref['decoder'], True, precision)
    if 'encoder' in record.parts and 'decoder' in record.parts:
        for stage, composed, precision in _split_pairs(record, out_dir, clips_u8, video, model.modality):
            add('split pair', stage, composed, 'JAX', ref['whole'], True, precision)
            if ('whole', stage) in results:
                add('split pair', stage, composed, f'whole ({stage})', results[('whole', stage)], True, precision)
    failures = [r for r in rows if r['passed'] is False]
    report = {'clips': source, 'num_clips': int(len(video)), 'tolerance': tolerance,
              'rule': 'relative_diff = max|diff| / max(1, max|reference|)', 'passed': not failures,
              'jax_clip@1': float(np.mean(np.argmax(ref['whole'], -1) == labels)) if labels is not None else None,
              'cpu': benchmark_lib.cpu_info()['summary'], 'rows': rows}
    export_record.write(out_dir, dataclasses.replace(record, info={**record.info, 'verification': report}))
    if failures:
        raise VerificationError(failures, report)
    return report


def _check_same_model(record: export_record.ExportRecord, config, out_dir) -> None:
    exported = record.info.get('model')
    if exported != config.model.to_dict():
        exported = exported if isinstance(exported, dict) else {}
        changed = sorted(k for k in set(exported) | set(config.model)
                         if exported.get(k) != config.model.to_dict().get(k))
        raise errors.UserError(f'{out_dir} was exported from another model config (differs in {changed}); pass the '
                               'config it was exported with')


def _recorded_options(record: export_record.ExportRecord, out_dir) -> dict:
    """The export options export.json recorded, with the fields the verification reads (UserError naming a bad one)."""
    options = record.info.get('options')
    kinds = {'tolerance': (int, float), 'verify_clips': int, 'verify_split': str, 'seed': int}
    bad = ([k for k, kind in kinds.items() if not isinstance(options.get(k), kind) or isinstance(options.get(k), bool)]
           if isinstance(options, dict) else ['options'])
    if bad:
        raise errors.UserError(f'{pathlib.Path(out_dir) / export_record.SIDECAR}: "options" lacks a valid {bad[0]!r}; '
                               'export again')
    return options


def _clips(record: export_record.ExportRecord, config, num_clips: int, split: str):
    """(uint8 clips [N, T, H, W, 3], labels or None, a description): a split's central clips, or random ones."""
    if split:
        clips_u8, labels = clips_lib.split_clips(config.data, split, num_clips)
        return clips_u8, labels, f'{config.data.name}:{split} ({len(clips_u8)} central uint8 clips)'
    seed = record.info['options']['seed']  # checked by _recorded_options
    clips_u8 = synthetic.random_clips(num_clips, record.clip.num_frames, record.preprocessing.crop_size, seed)
    return clips_u8, None, f'random uint8 clips (seed {seed})'


def _references(model, variables, video) -> dict:
    """JAX's outputs on normalised clips [N, T, H, W, 3]: whole [N, K], encoder [N, S, D], decoder [N, K]."""
    whole_fn, encode_fn, decode_fn = create_reference(model, variables)
    frames = modality_lib.clip_encoder_inputs(video, model.modality)  # [N, S, H, W, C]
    emb = _in_batches(encode_fn, frames.reshape((-1,) + frames.shape[2:]), 16).reshape(frames.shape[:2] + (-1,))
    return {'whole': _in_batches(whole_fn, video, 2), 'encoder': emb, 'decoder': _in_batches(decode_fn, emb, 8)}


def _runners(part: str, part_record: export_record.PartRecord, out_dir: pathlib.Path, tflite_dir):
    """(stage, file, what it takes, runner factory, gated) for every file of one part."""
    files = part_record.files
    runners = [('onnxruntime f32', out_dir / files['onnx'], part_record.onnx_input, _onnxruntime_runner, True)]
    if tflite_dir is not None and (pathlib.Path(tflite_dir) / f'{part}.tflite').is_file():
        runners.insert(0, ('tflite f32', pathlib.Path(tflite_dir) / f'{part}.tflite', part_record.onnx_input,
                           _tflite_runner, True))
    for variant, (key, precision) in artifacts.VARIANTS.items():
        if key in files and variant != 'int8_f32':  # a timing variant: the int8 row already verifies the IR
            runners.append((f'openvino {variant}', out_dir / files[key], part_record.ir_input,
                            lambda p, precision=precision: _openvino_runner(p, precision), variant == 'f32'))
    return runners


def _split_pairs(record: export_record.ExportRecord, out_dir: pathlib.Path, clips_u8, video, modality: str):
    """(stage, logits [N, K], precision) of the encoder run per step then the decoder, in ORT and OpenVINO f32."""
    arts = record.parts
    for stage in ('onnxruntime f32', 'openvino f32'):
        key = 'onnx' if stage.startswith('onnx') else 'ir'
        encoder_input = arts['encoder'].onnx_input if key == 'onnx' else arts['encoder'].ir_input
        make = _onnxruntime_runner if key == 'onnx' else (lambda p: _openvino_runner(p, 'f32'))
        run_encoder, _ = make(out_dir / arts['encoder'].files[key])
        run_decoder, precision = make(out_dir / arts['decoder'].files[key])
        composed = np.stack([
            run_decoder(np.concatenate([run_encoder(x).reshape(1, -1) for x in _feed(
                'encoder', encoder_input, clips_u8[n], video[n], modality)])[None])[0]
            for n in range(len(video))])
        yield stage, composed, precision


def _omz_window(emb_SD: np.ndarray, stride: int) -> np.ndarray:
    """What Open Model Zoo's demo hands `decoder_omz.xml` for a clip: (S - 1) * stride + 1 consecutive embeddings,
    the clip's at every stride-th step; the steps between hold other embeddings (the clip's in reverse), which the
    decoder must not see."""
    span = (len(emb_SD) - 1) * stride + 1
    window = np.repeat(emb_SD[::-1], stride, axis=0)[:span].copy()
    window[::stride] = emb_SD
    return np.ascontiguousarray(window[None], np.float32)


def _run_part(run, part, input_spec, clip_u8, clip, emb, modality) -> np.ndarray:
    """One clip through one artifact: [classes] for logits parts, [S, D] embeddings for the encoder."""
    if part == 'decoder':
        return run(np.ascontiguousarray(emb[None]))[0]
    outs = [run(x) for x in _feed(part, input_spec, clip_u8, clip, modality)]
    return outs[0][0] if part == 'whole' else np.concatenate([o.reshape(1, -1) for o in outs])  # [1, D(, 1, 1)]


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
