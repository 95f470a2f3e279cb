"""The export: every part through jax2tf -> TFLite -> ONNX -> OpenVINO equals JAX, uint8 input and layouts, the
sidecar, and clear errors."""

import re
import shutil

import numpy as np
import openvino as ov
import pytest

from export_helpers import TOL, compile_f32, normalized, relative, run_onnx, sidecar_json, tiny_setup, uint8_clips
from vtn_jax.configs import tiny
from vtn_jax.export import artifacts
from vtn_jax.export import pipeline
from vtn_jax.inference import export_record
from vtn_jax.models import vtn as model_lib


def test_whole_model_matches_jax_in_onnxruntime_and_openvino(rgb):
    config, model, variables, out, _ = rgb
    video = normalized(uint8_clips(), config)
    ref = np.asarray(model.apply(variables, video))
    compiled = compile_f32(out / 'whole.xml')
    # The IR takes OpenVINO Model API's 6-d clip [1, 1, T, H, W, 3] (N, clips x crops, ...); the ONNX file the 5-d one.
    assert compiled.inputs[0].get_any_name() == 'video' and list(compiled.inputs[0].shape) == [1, 1, 8, 32, 32, 3]
    assert compiled.outputs[0].get_any_name() == 'logits'
    for n in range(len(video)):
        assert relative(run_onnx(out / 'whole.onnx', video[n:n + 1])[0], ref[n]) <= TOL
        assert relative(compiled([video[n:n + 1, None]])[0][0], ref[n]) <= TOL
    assert np.abs(ref[0] - ref[1]).max() > 1e-3  # different clips give different logits: the check has teeth


def test_encoder_and_decoder_match_jax(rgb):
    config, model, variables, out, _ = rgb
    frames = normalized(uint8_clips(1)[0], config)  # [8, 32, 32, 3]
    emb_ref = np.asarray(model.apply(variables, frames, method=model_lib.VTN.encode))
    encoder = compile_f32(out / 'encoder.xml')
    for t in range(len(frames)):
        assert relative(run_onnx(out / 'encoder.onnx', frames[t:t + 1])[0], emb_ref[t]) <= TOL
        assert relative(encoder([frames[t:t + 1]])[0][0], emb_ref[t]) <= TOL
    window = emb_ref[None]
    logits_ref = np.asarray(model.apply(variables, window, method=model_lib.VTN.decode))
    assert relative(run_onnx(out / 'decoder.onnx', window), logits_ref) <= TOL
    assert relative(compile_f32(out / 'decoder.xml')([window])[0], logits_ref) <= TOL


def test_split_pair_equals_whole_model(rgb):
    config, _, _, out, _ = rgb
    video = normalized(uint8_clips(1, seed=7), config)
    whole = run_onnx(out / 'whole.onnx', video)
    embeddings = np.concatenate([run_onnx(out / 'encoder.onnx', video[:, t]) for t in range(8)])[None]
    assert embeddings.shape == (1, 8, 32)
    assert relative(run_onnx(out / 'decoder.onnx', embeddings), whole) <= TOL
    encoder, decoder = compile_f32(out / 'encoder.xml'), compile_f32(out / 'decoder.xml')
    embeddings = np.concatenate([encoder([video[:, t]])[0] for t in range(8)])[None]
    assert relative(decoder([embeddings])[0], compile_f32(out / 'whole.xml')([video[:, None]])[0]) <= TOL


def test_sidecar_records_passed_verification_and_variants(rgb):
    _, _, _, out, sidecar = rgb
    record = export_record.read(out)
    assert record.to_json() == sidecar and record.verification['passed']
    report = sidecar['verification']
    assert report['passed']
    stages = {(r['part'], r['stage']) for r in report['rows']}
    for part in ('whole', 'encoder', 'decoder'):
        for stage in ('tflite f32', 'onnxruntime f32', 'openvino f32', 'openvino default', 'openvino fp16',
                      'openvino int8'):
            assert (part, stage) in stages
    assert ('split pair', 'openvino f32') in stages
    gated = [r for r in report['rows'] if r['gated']]
    assert gated and all(r['relative_diff'] <= TOL for r in gated)
    assert all(r['passed'] is None for r in report['rows'] if r['stage'].endswith(('int8', 'fp16', 'default')))
    int8 = next(r for r in report['rows'] if r['part'] == 'whole' and r['stage'] == 'openvino int8')
    assert 'top1_agreement' in int8 and 'i8' in int8['precision'] + 'u8'  # reported, not gated
    f32 = next(r for r in report['rows'] if r['part'] == 'whole' and r['stage'] == 'openvino f32')
    assert f32['top1_agreement'] == 1.0  # a float32 IR within the gate picks the same class on every clip
    assert sidecar['model']['encoder'] == 'resnet_tiny' and sidecar['weights'] == 'test init'
    assert sidecar['artifacts']['whole']['ir_input']['dtype'] == 'float32'
    for name in ('whole_fp16.xml', 'whole_int8.xml', 'encoder_int8.xml', 'decoder_int8.xml'):
        assert (out / name).is_file() and name in sidecar['files']
    assert sidecar['files']['whole.bin']['bytes'] == (out / 'whole.bin').stat().st_size
    assert sidecar['class_names'] == [f'class {i}' for i in range(8)]  # always present (default names)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith('.')) == []  # no scratch files published


def test_uint8_bgr_preprocessing_equals_float_pipeline(bgr_nchw):
    config, model, variables, out, sidecar = bgr_nchw
    clips_u8 = uint8_clips(2, seed=11)
    video = normalized(clips_u8, config)  # RGB, NHWC, numpy normalisation
    ref = np.asarray(model.apply(variables, video))
    whole = compile_f32(out / 'whole.xml')
    assert whole.inputs[0].get_element_type() == ov.Type.u8
    assert list(whole.inputs[0].shape) == [1, 1, 3, 8, 32, 32]  # Model API's NSCTHW clip
    bgr_nchw_u8 = np.ascontiguousarray(np.transpose(clips_u8[..., ::-1], (0, 4, 1, 2, 3))[:, None])
    float_nchw = np.ascontiguousarray(np.transpose(video, (0, 1, 4, 2, 3)))
    for n in range(2):
        from_uint8 = whole([bgr_nchw_u8[n:n + 1]])[0][0]
        from_float = run_onnx(out / 'whole.onnx', float_nchw[n:n + 1])[0]
        assert relative(from_uint8, from_float) <= TOL
        assert relative(from_uint8, ref[n]) <= TOL
    # Feeding RGB where BGR is declared must change the result (the colour conversion is really there).
    wrong = whole([np.ascontiguousarray(np.transpose(clips_u8[:1], (0, 4, 1, 2, 3))[:, None])])[0][0]
    assert relative(wrong, ref[0]) > 10 * TOL
    encoder = compile_f32(out / 'encoder.xml')
    emb_ref = np.asarray(model.apply(variables, video[0], method=model_lib.VTN.encode))
    for t in (0, 5):
        assert relative(encoder([bgr_nchw_u8[0, 0, :, t][None]])[0][0], emb_ref[t]) <= TOL
    spec = sidecar['artifacts']['whole']['ir_input']
    assert spec['dtype'] == 'uint8' and spec['color'] == 'BGR' and spec['layout'] == 'NSCTHW'
    assert sidecar['artifacts']['whole']['onnx_input']['layout'] == 'N?CHW'
    assert sidecar['artifacts']['whole']['onnx_input']['dtype'] == 'float32'


def test_stacked_model_keeps_float_difference_encoder(tmp_path):
    config, model, variables = tiny_setup(modality='stacked')
    options = artifacts.ExportOptions(uint8_input=True, verify_clips=2)
    pipeline.export(config, variables, tmp_path, options)
    sidecar = sidecar_json(tmp_path)
    assert sidecar['verification']['passed']
    assert sidecar['artifacts']['whole']['ir_input']['dtype'] == 'uint8'  # raw frames: preprocessing folds in
    encoder_input = sidecar['artifacts']['encoder']['ir_input']
    assert encoder_input['dtype'] == 'float32' and encoder_input['shape'] == [1, 32, 32, 6]
    assert sidecar['artifacts']['decoder']['ir_input']['shape'] == [1, 7, 32]  # S = T - 1
    composed = [r for r in sidecar['verification']['rows'] if r['part'] == 'split pair']
    assert len(composed) == 4 and all(r['passed'] for r in composed)


def test_bad_model_name_and_unwritable_output(tmp_path):
    config = tiny.get_config()
    config.model.encoder = 'resnet99'
    with pytest.raises(KeyError, match='resnet99'):
        pipeline.run(config, checkpoint='', out_dir=tmp_path / 'x', options=artifacts.ExportOptions())
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    with pytest.raises(ValueError, match='a_file'):
        artifacts.check_destination(blocker / 'out')
    with pytest.raises(ValueError, match='is a file'):
        artifacts.check_destination(blocker)
    (tmp_path / 'mine').mkdir()
    (tmp_path / 'mine' / 'notes.txt').write_text('keep me')
    with pytest.raises(ValueError, match='holds files but no export.json'):
        artifacts.check_destination(tmp_path / 'mine')
    with pytest.raises(ValueError, match='layout'):
        artifacts.ExportOptions(layout='NWHC').validate()


def test_an_interrupted_export_leaves_the_previous_one_whole(rgb, tmp_path, monkeypatch):
    # The new export fails (here: an error while converting its first part); the folder still holds the previous,
    # verified export, byte for byte, and nothing of the attempt is left beside it.
    config, _, variables, out, _ = rgb
    target = tmp_path / 'exp'
    shutil.copytree(out, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}
    stale = tmp_path / '.exp.partial-999999999'  # the staging folder of an export killed earlier (no such process)
    stale.mkdir()
    (stale / 'encoder.xml').write_text('half')

    def fail(*args, **kwargs):
        raise OSError('disk full')
    monkeypatch.setattr(pipeline.convert, 'convert_to_tflite', fail)
    with pytest.raises(OSError, match='disk full'):
        pipeline.export(config, variables, target, artifacts.ExportOptions(parts=('encoder', 'decoder')))
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ['exp']
    export_record.read(target).check_verified()


def test_every_exported_ir_holds_only_standard_opset_ops(rgb, bgr_nchw, whole_variants, omz):
    # Float, uint8 (PrePostProcessor), FP16, INT8 (NNCF), Model API's 6-d whole and the Open Model Zoo decoder: no
    # extension or custom op, so any OpenVINO runtime (Model API, the OMZ demo, C++) reads them as they are.
    standard = {name for name in dir(ov) if re.fullmatch(r'opset\d+', name)}
    folders = {rgb[3], bgr_nchw[3], omz[3], *whole_variants.values()}
    irs = sorted(p for folder in folders for p in folder.glob('*.xml'))
    names = {p.name for p in irs}
    assert {'whole.xml', 'whole_fp16.xml', 'whole_int8.xml', 'encoder_int8.xml', 'decoder_omz.xml'} <= names
    core = ov.Core()
    for path in irs:
        versions = {(op.get_type_name(), op.get_type_info().version_id) for op in core.read_model(path).get_ops()}
        odd = sorted(v for v in versions if v[1] not in standard)
        assert versions and not odd, (path, odd)
