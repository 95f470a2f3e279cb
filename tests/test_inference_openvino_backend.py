"""The exported encoder/decoder pair streams exactly as the offline model, and refuses a config that does not fit."""
import numpy as np
import pytest

from inference_helpers import CountingBackend, build, make_video, offline_logits
from vtn_jax.configs import tiny
from vtn_jax.export import artifacts
from vtn_jax.export import pipeline
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
    backend = CountingBackend(openvino_backend.OpenVinoBackend(out / 'encoder.xml', out / 'decoder.xml', precision='f32'))
    assert backend.backend.inference_precision == 'f32'
    assert (backend.backend.image_size, backend.num_steps) == (32, model.num_steps)
    recognizer = recognizer_lib.OnlineRecognizer.from_config(backend, config)
    video = make_video()
    predictions = [recognizer.push(frame) for frame in video]
    span = recognizer.first_full_frame
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
