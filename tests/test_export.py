"""Export tests on the tiny config (32x32, 8 frames): ONNX and OpenVINO files computing what JAX computes.

Each module-scoped fixture exports once; the tests then load the files back in ONNX Runtime and OpenVINO
themselves (independently of the built-in verification) and compare with `model.apply`.
"""
import functools
import pathlib
import shutil
import subprocess
import sys

import flax
import jax
import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import openvino as ov
import pytest

from configs import tiny
from vtn_jax import checkpoints
from vtn_jax import export as export_lib
from vtn_jax import model as model_lib

REPO = pathlib.Path(__file__).resolve().parents[1]
TOL = 1e-4


@functools.lru_cache(maxsize=None)
def _base_variables():
    model = export_lib.create_checked_model(tiny.get_config().model)
    # What `export.py` without --checkpoint exports (the CLI test relies on the same weights).
    return export_lib.load_variables('', model, image_size=32)[0]


def tiny_setup(**model_overrides):
    """Tiny config, model and variables. Initialising compiles the model (about 10 s on 2 cores), so it
    happens once; other variants take the base leaves where the shapes agree and seeded noise elsewhere."""
    config = tiny.get_config()
    config.model.update(model_overrides)
    model = export_lib.create_checked_model(config.model)
    base = flax.traverse_util.flatten_dict(_base_variables())
    template = flax.traverse_util.flatten_dict(
        jax.eval_shape(lambda: model_lib.init_variables(model, jax.random.key(0), image_size=32)))
    rng = np.random.default_rng(5)
    leaves = {k: base[k] if k in base and base[k].shape == v.shape
              else rng.normal(0, 0.1, v.shape).astype(np.float32) for k, v in template.items()}
    return config, model, flax.traverse_util.unflatten_dict(leaves)


@pytest.fixture(scope='module')
def rgb(tmp_path_factory):
    """Float NHWC export of all parts, with FP16 and INT8 (random calibration clips) variants."""
    config, model, variables = tiny_setup()
    out = tmp_path_factory.mktemp('rgb')
    options = export_lib.ExportOptions(fp16=True, int8=True, calib_clips=4, calib_split='synthetic')
    sidecar = export_lib.export(config, variables, out, options, weights='test init')
    return config, model, variables, out, sidecar


@pytest.fixture(scope='module')
def bgr_nchw(tmp_path_factory):
    """uint8 BGR NCHW export of the whole model and the encoder (PrePostProcessor in the IR)."""
    config, model, variables = tiny_setup()
    out = tmp_path_factory.mktemp('bgr')
    options = export_lib.ExportOptions(parts=('whole', 'encoder'), layout='NCHW', uint8_input=True, color='BGR')
    sidecar = export_lib.export(config, variables, out, options)
    return config, model, variables, out, sidecar


def uint8_clips(n=2, seed=3):
    return export_lib.random_clips(n, 8, 32, seed)


def normalized(clips_u8, config):
    return export_lib.normalize_uint8(clips_u8, config.data.mean, config.data.std)


def run_onnx(path, x):
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def compile_f32(path):
    return ov.Core().compile_model(str(path), 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})


def relative(got, ref):
    return float(np.max(np.abs(got - ref))) / max(1.0, float(np.max(np.abs(ref))))


def test_whole_model_matches_jax_in_onnxruntime_and_openvino(rgb):
    config, model, variables, out, _ = rgb
    video = normalized(uint8_clips(), config)
    ref = np.asarray(model.apply(variables, video))
    compiled = compile_f32(out / 'whole.xml')
    assert compiled.inputs[0].get_any_name() == 'video' and list(compiled.inputs[0].shape) == [1, 8, 32, 32, 3]
    assert compiled.outputs[0].get_any_name() == 'logits'
    for n in range(len(video)):
        assert relative(run_onnx(out / 'whole.onnx', video[n:n + 1])[0], ref[n]) <= TOL
        assert relative(compiled([video[n:n + 1]])[0][0], ref[n]) <= TOL
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
    assert relative(decoder([embeddings])[0], compile_f32(out / 'whole.xml')([video])[0]) <= TOL


def test_sidecar_records_passed_verification_and_variants(rgb):
    _, _, _, out, sidecar = rgb
    assert sidecar == export_lib.read_sidecar(out)
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
    assert 0.0 <= int8['top1_agreement'] <= 1.0 and 'i8' in int8['precision'] + 'u8'
    assert sidecar['model']['encoder'] == 'resnet_tiny' and sidecar['weights'] == 'test init'
    assert sidecar['artifacts']['whole']['ir_input']['dtype'] == 'float32'
    for name in ('whole_fp16.xml', 'whole_int8.xml', 'encoder_int8.xml', 'decoder_int8.xml'):
        assert (out / name).is_file()


def test_uint8_bgr_preprocessing_equals_float_pipeline(bgr_nchw):
    config, model, variables, out, sidecar = bgr_nchw
    clips_u8 = uint8_clips(2, seed=11)
    video = normalized(clips_u8, config)  # RGB, NHWC, numpy normalisation
    ref = np.asarray(model.apply(variables, video))
    whole = compile_f32(out / 'whole.xml')
    assert whole.inputs[0].get_element_type() == ov.Type.u8
    assert list(whole.inputs[0].shape) == [1, 8, 3, 32, 32]
    bgr_nchw_u8 = np.ascontiguousarray(np.transpose(clips_u8[..., ::-1], (0, 1, 4, 2, 3)))
    float_nchw = np.ascontiguousarray(np.transpose(video, (0, 1, 4, 2, 3)))
    for n in range(2):
        from_uint8 = whole([bgr_nchw_u8[n:n + 1]])[0][0]
        from_float = run_onnx(out / 'whole.onnx', float_nchw[n:n + 1])[0]
        assert relative(from_uint8, from_float) <= TOL
        assert relative(from_uint8, ref[n]) <= TOL
    # Feeding RGB where BGR is declared must change the result (the colour conversion is really there).
    wrong = whole([np.ascontiguousarray(np.transpose(clips_u8[:1], (0, 1, 4, 2, 3)))])[0][0]
    assert relative(wrong, ref[0]) > 10 * TOL
    encoder = compile_f32(out / 'encoder.xml')
    emb_ref = np.asarray(model.apply(variables, video[0], method=model_lib.VTN.encode))
    for t in (0, 5):
        assert relative(encoder([bgr_nchw_u8[0, t][None]])[0][0], emb_ref[t]) <= TOL
    spec = sidecar['artifacts']['whole']['ir_input']
    assert spec['dtype'] == 'uint8' and spec['color'] == 'BGR' and spec['layout'] == 'N?CHW'
    assert sidecar['artifacts']['whole']['onnx_input']['dtype'] == 'float32'


def test_stacked_model_keeps_float_difference_encoder(tmp_path):
    config, model, variables = tiny_setup(modality='stacked')
    options = export_lib.ExportOptions(uint8_input=True, verify_clips=2)
    sidecar = export_lib.export(config, variables, tmp_path, options)
    assert sidecar['verification']['passed']
    assert sidecar['artifacts']['whole']['ir_input']['dtype'] == 'uint8'  # raw frames: preprocessing folds in
    encoder_input = sidecar['artifacts']['encoder']['ir_input']
    assert encoder_input['dtype'] == 'float32' and encoder_input['shape'] == [1, 32, 32, 6]
    assert sidecar['artifacts']['decoder']['ir_input']['shape'] == [1, 7, 32]  # S = T - 1
    composed = [r for r in sidecar['verification']['rows'] if r['part'] == 'split pair']
    assert len(composed) == 4 and all(r['passed'] for r in composed)


def test_flat_npz_round_trip_and_mismatches(tmp_path):
    config, model, variables = tiny_setup()
    path = tmp_path / 'own.npz'
    export_lib.save_flat_npz(variables, path)
    loaded, source = export_lib.load_variables(str(path), model, image_size=32)
    assert 'flat npz' in source
    jax.tree.map(np.testing.assert_array_equal, loaded, variables)

    flat = dict(np.load(path))
    flat['params/head/kernel'] = np.zeros((32, 5), np.float32)  # a 5-class head for an 8-class model
    np.savez(tmp_path / 'wrong_shape.npz', **flat)
    with pytest.raises(checkpoints.CheckpointMismatchError, match=r'params/head/kernel.*\(32, 5\).*\(32, 8\)'):
        export_lib.load_variables(str(tmp_path / 'wrong_shape.npz'), model, image_size=32)

    del flat['params/head/kernel']
    np.savez(tmp_path / 'missing.npz', **flat)
    with pytest.raises(checkpoints.CheckpointMismatchError, match='missing key params/head/kernel'):
        export_lib.load_variables(str(tmp_path / 'missing.npz'), model, image_size=32)

    # Another encoder's checkpoint for this config: fails naming the keys (not silently half-loaded).
    _, _, other = tiny_setup(num_classes=3)
    export_lib.save_flat_npz(other, tmp_path / 'other.npz')
    with pytest.raises(checkpoints.CheckpointMismatchError, match='params/head/bias'):
        export_lib.load_variables(str(tmp_path / 'other.npz'), model, image_size=32)


def test_corrupted_and_reference_format_checkpoints_fail_with_message(tmp_path):
    _, model, _ = tiny_setup()
    corrupted = tmp_path / 'corrupted.npz'
    corrupted.write_bytes(b'PK\x03\x04 this is not a zip archive')
    with pytest.raises(checkpoints.CheckpointMismatchError, match='cannot read'):
        export_lib.load_variables(str(corrupted), model, image_size=32)
    # Reference-format keys (no 'params/' prefix) go to the reference loader, which names what is missing.
    np.savez(tmp_path / 'reference.npz', **{'fc.weight': np.zeros((8, 32), np.float32)})
    with pytest.raises(checkpoints.CheckpointMismatchError, match='missing key'):
        export_lib.load_variables(str(tmp_path / 'reference.npz'), model, image_size=32)
    with pytest.raises(FileNotFoundError, match='does_not_exist'):
        export_lib.load_variables(str(tmp_path / 'does_not_exist.pth'), model, image_size=32)


def test_bad_model_name_and_unwritable_output(tmp_path):
    config = tiny.get_config()
    config.model.encoder = 'resnet99'
    with pytest.raises(KeyError, match='resnet99'):
        export_lib.run(config, checkpoint='', out_dir=tmp_path / 'x', options=export_lib.ExportOptions())
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    with pytest.raises(OSError, match='a_file'):
        export_lib.check_writable(blocker / 'out')
    with pytest.raises(ValueError, match='layout'):
        export_lib.ExportOptions(layout='NWHC').validate()


def test_verify_rejects_another_config(rgb):
    config, _, variables, out, _ = rgb
    other = tiny.get_config()
    other.model.num_layers = 3
    with pytest.raises(ValueError, match='num_layers'):
        export_lib.verify(out, other, variables)


@pytest.fixture()
def perturbed(rgb, tmp_path):
    """A copy of the rgb export whose whole.onnx has one weight tensor changed (the IR is untouched)."""
    config, _, variables, out, _ = rgb
    copy = tmp_path / 'perturbed'
    shutil.copytree(out, copy)
    proto = onnx.load(str(copy / 'whole.onnx'))
    largest = max(proto.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    array = onnx.numpy_helper.to_array(largest).copy()
    array += 0.05 * np.abs(array).max()
    largest.CopyFrom(onnx.numpy_helper.from_array(array, largest.name))
    onnx.save(proto, str(copy / 'whole.onnx'))
    return config, variables, copy


def test_failed_verification_names_the_stage(perturbed):
    config, variables, copy = perturbed
    with pytest.raises(export_lib.VerificationError, match=r'whole: onnxruntime f32 diverged from JAX') as e:
        export_lib.verify(copy, config, variables)
    failed = {(f['part'], f['stage']) for f in e.value.failures}
    assert ('whole', 'onnxruntime f32') in failed
    assert ('whole', 'openvino f32') not in failed  # the IR was not perturbed
    assert all(f['relative_diff'] > TOL for f in e.value.failures)
    assert export_lib.read_sidecar(copy)['verification']['passed'] is False


def test_cli_verify_only_exits_nonzero_on_divergence(perturbed):
    _, _, copy = perturbed
    proc = subprocess.run([sys.executable, 'export.py', '--config', 'configs/tiny.py', '--out_dir', str(copy),
                           '--verify_only', '--verify_clips', '2'],
                          cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    assert 'whole: onnxruntime f32 diverged from JAX' in proc.stderr


def test_benchmark_reports_rows_precision_and_ratios(rgb):
    _, _, _, out, _ = rgb
    result = export_lib.benchmark(out, threads=1, seconds=0.1, rounds=2, hints=('LATENCY',),
                                  variants=('f32', 'int8'), parts=('encoder', 'decoder'))
    assert {(r['model'], r['variant']) for r in result['rows']} == {
        ('encoder', 'f32'), ('encoder', 'int8'), ('decoder', 'f32'), ('decoder', 'int8')}
    assert all(r['fps'] > 0 and r['p10_ms'] <= r['median_ms'] <= r['p90_ms'] for r in result['rows'])
    assert all(len(r['fps_rounds']) == 2 for r in result['rows'])
    assert next(r for r in result['rows'] if r['variant'] == 'f32')['precision'] == 'f32'
    assert any(r['what'].startswith('online per-frame rate') for r in result['ratios'])
    table = export_lib.format_benchmark(result)
    assert 'CPU:' in table and '| encoder | int8 | LATENCY |' in table


def test_int8_f32_is_opt_in_and_gets_its_ratio_to_f32(rgb):
    _, _, _, out, _ = rgb
    default = export_lib.benchmark(out, threads=1, seconds=0.05, rounds=1, hints=('LATENCY',), parts=('decoder',))
    assert 'int8_f32' not in {r['variant'] for r in default['rows']}  # timed only when asked for
    result = export_lib.benchmark(out, threads=1, seconds=0.05, rounds=1, hints=('LATENCY',),
                                  variants=('f32', 'int8_f32'), parts=('decoder',))
    int8_f32 = next(r for r in result['rows'] if r['variant'] == 'int8_f32')
    assert 'bf16' not in int8_f32['precision']  # its float parts run in f32 even on a bf16 CPU
    assert [r['what'] for r in result['ratios'] if 'int8_f32 vs' in r['what']] == [
        'decoder int8_f32 vs f32 (f32), LATENCY']


def test_random_weights_get_batch_statistics_of_real_scale():
    config, model, variables = tiny_setup()
    frames = normalized(uint8_clips(1, seed=13)[0], config)
    emb = np.asarray(model.apply(variables, frames, method=model_lib.VTN.encode))
    # Fresh running statistics (0, 1) shrink activations layer by layer; batch statistics keep unit scale.
    assert 0.2 < emb.std() < 5.0
    stem_mean = variables['batch_stats']['encoder']['stem_bn']['mean']
    assert np.abs(stem_mean).max() > 1e-3
