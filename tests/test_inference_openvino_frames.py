"""The in-IR preprocessing of raw frames computes what the preprocessing record's numpy side computes (after its
host stage), for any frame size, colour order, layout, modality, evaluation crop, source, static or dynamic, and
in front of a uint8 (PrePostProcessor) encoder."""
import numpy as np
import openvino as ov
import pytest
from openvino import opset13 as ops

from vtn_jax.data import frames as frames_lib
from vtn_jax.inference import openvino_frames
from vtn_jax.models import modality as modality_lib

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
# float32 rounding: OpenVINO fuses x * scale - offset into one multiply-add, numpy rounds twice.
TOL = 1e-5


def identity_encoder(crop: int, channels: int = 3, nchw: bool = False) -> ov.Model:
    """An 'encoder' that returns its input: the preprocessing's output becomes visible."""
    param = ops.parameter([1, channels, crop, crop] if nchw else [1, crop, crop, channels], ov.Type.f32)
    return ov.Model([ops.multiply(param, np.float32(1.0))], [param])


def run(model: ov.Model, *frames) -> np.ndarray:
    compiled = ov.Core().compile_model(model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    return compiled([f[None] for f in frames])[0][0]


def prep(crop: int, eval_crop: str = 'paper', source: str = 'raw') -> frames_lib.Preprocessing:
    return frames_lib.Preprocessing(crop, MEAN, STD, eval_crop, source)


def direct(frame, crop):
    return prep(crop).numpy(frame)


# Landscape, portrait, square, a shorter side whose 7/8 is x.5 (36: rounds half to even), no resize (256),
# an upscale (a crop smaller than the model's); the authors' crop and the stored source (a host stage first).
CASES = [(576, 768, 224, 'paper', 'raw'), (61, 37, 32, 'paper', 'raw'), (36, 36, 32, 'paper', 'raw'),
         (256, 341, 224, 'paper', 'raw'), (30, 44, 32, 'paper', 'raw'), (40, 52, 32, 'authors', 'raw'),
         (300, 420, 224, 'authors', 'stored'), (480, 640, 224, 'paper', 'stored')]


@pytest.mark.parametrize('height,width,crop,eval_crop,source', CASES)
@pytest.mark.parametrize('dynamic', [False, True], ids=['static', 'dynamic'])
def test_raw_frame_graph_equals_the_numpy_preprocessing(height, width, crop, eval_crop, source, dynamic):
    frame = np.random.default_rng(height).integers(0, 256, (height, width, 3), np.uint8)
    record = prep(crop, eval_crop, source)
    staged = record.host_stage(frame)
    size = {} if dynamic else {'height': staged.shape[0], 'width': staged.shape[1]}
    model = openvino_frames.raw_frame_encoder(identity_encoder(crop), preprocessing=record, modality='rgb', **size)
    np.testing.assert_allclose(run(model, staged), record.numpy(frame), atol=TOL, rtol=0)
    assert model.input(0).get_element_type() == ov.Type.u8
    assert model.input(0).get_partial_shape().is_dynamic == dynamic


def test_on_256_frames_the_raw_crop_is_the_stored_crop_without_resampling():
    frame = np.random.default_rng(1).integers(0, 256, (256, 320, 3), np.uint8)
    stored = prep(224, source='stored').numpy(frame)
    model = openvino_frames.raw_frame_encoder(identity_encoder(224), preprocessing=prep(224), modality='rgb')
    np.testing.assert_allclose(run(model, frame), stored, atol=TOL, rtol=0)


def test_bgr_frames_and_an_nchw_encoder():
    frame = np.random.default_rng(2).integers(0, 256, (50, 70, 3), np.uint8)
    model = openvino_frames.raw_frame_encoder(identity_encoder(32, nchw=True), preprocessing=prep(32), modality='rgb',
                                              frame_color='BGR', height=50, width=70)
    got = run(model, np.ascontiguousarray(frame[..., ::-1]))
    np.testing.assert_allclose(got, direct(frame, 32).transpose(2, 0, 1), atol=TOL, rtol=0)


@pytest.mark.parametrize('modality', ['rgbdiff', 'stacked'])
def test_difference_modalities_take_two_raw_frames(modality):
    rng = np.random.default_rng(3)
    current, previous = rng.integers(0, 256, (2, 45, 60, 3), np.uint8)
    channels = modality_lib.frame_channels(modality)
    model = openvino_frames.raw_frame_encoder(identity_encoder(32, channels), preprocessing=prep(32),
                                              modality=modality, height=45, width=60)
    assert [p.get_any_name() for p in model.inputs] == ['frame', 'previous_frame']
    expected = modality_lib.encoder_input(direct(current, 32), direct(previous, 32), modality)
    np.testing.assert_allclose(run(model, current, previous), expected, atol=2 * TOL, rtol=0)


@pytest.mark.parametrize('color,layout', [('RGB', 'NHWC'), ('BGR', 'NCHW')])
def test_a_uint8_encoder_gets_the_float_crop_in_place_of_its_input(tmp_path, color, layout):
    from vtn_jax.export import convert  # the export's own PrePostProcessor
    nchw = layout == 'NCHW'
    uint8_model = convert.add_uint8_preprocessing(identity_encoder(32, nchw=nchw), layout, color, MEAN, STD)
    ov.save_model(uint8_model, tmp_path / 'encoder.xml', compress_to_fp16=False)
    frame = np.random.default_rng(4).integers(0, 256, (47, 33, 3), np.uint8)
    expected = direct(frame, 32).transpose(2, 0, 1) if nchw else direct(frame, 32)
    # As built, and as saved and read back (where OpenVINO may have moved the channel reversal).
    for model in (uint8_model, ov.Core().read_model(tmp_path / 'encoder.xml')):
        assert model.input(0).get_element_type() == ov.Type.u8
        raw = openvino_frames.raw_frame_encoder(model, preprocessing=prep(32), modality='rgb', model_color=color,
                                                height=47, width=33)
        np.testing.assert_allclose(run(raw, frame), expected, atol=TOL, rtol=0)


def test_an_encoder_that_does_not_fit_is_refused():
    with pytest.raises(ValueError, match='32x32 frames of 3 channels'):
        openvino_frames.raw_frame_encoder(identity_encoder(32), preprocessing=prep(48), modality='rgb')
    with pytest.raises(ValueError, match='colour order'):
        openvino_frames.raw_frame_encoder(identity_encoder(32), preprocessing=prep(32), modality='rgb',
                                          frame_color='GRB')
