"""The exported encoder/decoder pair streams exactly as the offline model (normalised crops, or raw frames preprocessed
inside the IR, pipelined or not, float or uint8 BGR encoders), and refuses a config that does not fit."""
import numpy as np
import pytest

from inference_helpers import CountingBackend, build, make_video, offline_logits
from vtn_jax.configs import tiny
from vtn_jax.data import video_io
from vtn_jax.export import artifacts
from vtn_jax.export import pipeline
from vtn_jax.inference import api
from vtn_jax.inference import export_record
from vtn_jax.inference import openvino_backend
from vtn_jax.inference import recognizer as recognizer_lib


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Exports the tiny encoder and decoder of a modality once per module (float32 IR)."""
    done = {}

    def get(modality):
        if modality not in done:
            config, _, variables = build(tiny.get_config(), modality)
            out = tmp_path_factory.mktemp(f'ir_{modality}')
            pipeline.export(config, variables, out, artifacts.ExportOptions(parts=('encoder', 'decoder')),
                          verify_exports=False)
            done[modality] = out
        return done[modality]
    return get


@pytest.mark.parametrize('modality', ['rgb', 'stacked'])
def test_openvino_streaming_equals_offline_for_every_window(tiny_config, exported, modality):
    config, model, variables = build(tiny_config, modality)
    out = exported(modality)
    backend = CountingBackend(openvino_backend.OpenVinoBackend(out / 'encoder.xml', out / 'decoder.xml',
                                                               precision='f32'))
    assert backend.backend.inference_precision == 'f32'
    assert (backend.backend.image_size, backend.num_steps) == (32, model.num_steps)
    recognizer = recognizer_lib.OnlineRecognizer.from_config(backend, config)
    video = make_video()
    predictions = [recognizer.push(frame) for frame in video]
    span = recognizer.clip.span
    frames = np.stack([recognizer.preprocess(f) for f in video])
    ends = np.arange(span, len(video))
    expected = offline_logits(model, variables, frames, ends, lambda t: np.arange(t - span, t + 1, 2))
    np.testing.assert_allclose(np.stack([predictions[t].logits for t in ends]), expected, atol=1e-4, rtol=0)
    assert all(p is None for p in predictions[:span])
    assert recognizer.encoder_calls == len(backend.encoded) == len(video) - (0 if modality == 'rgb' else 2)


def test_openvino_backend_refuses_a_model_that_does_not_fit_the_config(tiny_config, exported):
    config, _, _ = build(tiny_config, 'rgb')
    out = exported('rgb')
    backend = openvino_backend.OpenVinoBackend(out / 'encoder.xml', out / 'decoder.xml', precision='f32')
    config.model.modality = 'stacked'
    with pytest.raises(ValueError, match='6-channel frames'):
        recognizer_lib.OnlineRecognizer.from_config(backend, config)
    config.model.modality, config.data.crop_size = 'rgb', 48
    with pytest.raises(ValueError, match='32x32'):
        recognizer_lib.OnlineRecognizer.from_config(backend, config)


@pytest.mark.parametrize('modality', ['rgb', 'stacked'])
def test_raw_frames_preprocessed_in_the_ir_stream_as_the_offline_model(tiny_config, exported, modality):
    config, model, variables = build(tiny_config, modality)
    out = exported(modality)
    backend = openvino_backend.OpenVinoBackend(out / 'encoder.xml', out / 'decoder.xml', precision='f32')
    recognizer = recognizer_lib.OnlineRecognizer.from_config(backend, config)
    video = make_video()
    assert recognizer.takes_raw
    predictions = [recognizer.push(frame) for frame in video]
    assert list(backend._frame_encoders) == [video.shape[1:3]]
    span = recognizer.clip.span
    frames = np.stack([recognizer.preprocess(f) for f in video])  # numpy 'direct': the offline input
    ends = np.arange(span, len(video))
    expected = offline_logits(model, variables, frames, ends, lambda t: np.arange(t - span, t + 1, 2))
    np.testing.assert_allclose(np.stack([predictions[t].logits for t in ends]), expected, atol=1e-4, rtol=0)

    # Pipelined (decoder windows on an async request) and every 3rd window: the same logits, bit for bit.
    pipelined = recognizer_lib.OnlineRecognizer.from_config(backend, config, pipelined=True, decode_every=3)
    got = [p for p in [pipelined.push(f) for f in video] + [pipelined.flush()] if p is not None]
    assert [p.frame_index for p in got] == list(ends[::3])
    for p in got:
        np.testing.assert_array_equal(p.logits, predictions[p.frame_index].logits)


def test_uint8_bgr_nchw_export_runs_from_its_folder(tmp_path_factory, tiny_config):
    config, model, variables = build(tiny_config, 'rgb')
    out = tmp_path_factory.mktemp('ir_uint8_bgr')
    pipeline.export(config, variables, out, artifacts.ExportOptions(parts=('encoder', 'decoder'), layout='NCHW',
                                                                    uint8_input=True, color='BGR'),
                    verify_exports=False)
    spec = export_record.read(out).parts['encoder'].ir_input
    assert (spec.dtype, spec.color, spec.layout, spec.normalization) == ('uint8', 'BGR', 'NCHW', 'in_graph')
    video_path = tmp_path_factory.mktemp('video') / 'clip.avi'
    video_io.write_video(video_path, make_video(40))
    video = video_io.read_video(video_path)  # what the stream decodes (MJPG is lossy)

    with pytest.raises(ValueError, match='verification did not run'):
        api.Recognizer.from_export(out, precision='f32')
    rec = api.Recognizer.from_export(out, precision='f32', allow_unverified=True)
    assert rec.backend.raw_frames_only
    with pytest.raises(ValueError, match='uint8 frames'):
        rec.backend.encode(np.zeros((1, 32, 32, 3), np.float32))
    steps = list(rec.stream(video_path, k=2))
    span = rec.clip.span
    assert [s.frame_index for s in steps] == list(range(len(video)))
    assert all(s.prediction is None for s in steps[:span])
    frames = np.stack([rec.online().preprocess(f) for f in video])
    ends = np.arange(span, len(video))
    expected = offline_logits(model, variables, frames, ends, lambda t: np.arange(t - span, t + 1, 2))
    np.testing.assert_allclose(np.stack([steps[t].prediction.logits for t in ends]), expected, atol=1e-4, rtol=0)
    # Dense: every frame encoded once, raw, and the same windows.
    dense = rec.video_logits(video)
    np.testing.assert_allclose(dense.frame_logits[span:], expected, atol=1e-4, rtol=0)
    # Every 4th window: each step shows the latest window decoded, at most 3 frames old, with its exact logits.
    sparse = list(rec.stream(video_path, k=2, decode_every=4))
    assert [s.prediction.frame_index for s in sparse[span:span + 6]] == [span] * 4 + [span + 4] * 2
    for s in sparse[span:]:
        np.testing.assert_array_equal(s.prediction.logits, steps[s.prediction.frame_index].prediction.logits)


@pytest.mark.parametrize('eval_crop', ['authors', 'paper'])
def test_a_uint8_encoder_streams_any_preprocessing(tmp_path_factory, tiny_config, eval_crop):
    # The authors' crop runs in numpy (the record's host stage) and the rest in the IR: a uint8 export of a model
    # evaluated with it runs, and equals the offline model on the same crops.
    config, model, variables = build(tiny_config, 'rgb')
    config.data.eval_crop = eval_crop
    out = tmp_path_factory.mktemp(f'ir_uint8_{eval_crop}')
    pipeline.export(config, variables, out, artifacts.ExportOptions(parts=('encoder', 'decoder'), uint8_input=True),
                    verify_exports=False)
    rec = api.Recognizer.from_export(out, precision='f32', allow_unverified=True)
    assert rec.preprocessing.eval_crop == eval_crop
    video = make_video(30, 48, 64)
    online = rec.online()
    predictions = [online.push(f) for f in video]
    frames = np.stack([online.preprocess(f) for f in video])
    span = rec.clip.span
    ends = np.arange(span, len(video))
    expected = offline_logits(model, variables, frames, ends, lambda t: np.arange(t - span, t + 1, 2))
    np.testing.assert_allclose(np.stack([predictions[t].logits for t in ends]), expected, atol=1e-4, rtol=0)
