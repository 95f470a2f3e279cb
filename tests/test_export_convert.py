"""The uint8 input folds each config's normalisation into the IR: ImageNet mean/std, and x / 255 alone for the
SE-ResNeXt-101 configs (mean 0, std 1), in both colour orders."""
import numpy as np
import openvino as ov
import pytest

from vtn_jax import configs
from vtn_jax.export import convert


@pytest.mark.parametrize('config_name, color', [('se_resnext101', 'RGB'), ('default', 'BGR')])
def test_uint8_input_normalises_as_the_config(config_name, color):
    data = configs.load(config_name).data
    frames = ov.opset13.parameter([1, 4, 5, 3], ov.Type.f32, name='frames')
    identity = ov.Model([ov.opset13.result(frames)], [frames], 'identity')
    model = convert.add_uint8_preprocessing(identity, 'NHWC', color, data.mean, data.std)
    pixels = np.random.default_rng(0).integers(0, 256, (1, 4, 5, 3), np.uint8)
    got = ov.Core().compile_model(model, 'CPU')(pixels)[0]
    rgb = pixels[..., ::-1] if color == 'BGR' else pixels
    expected = (rgb / 255.0 - np.array(data.mean)) / np.array(data.std)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    if config_name == 'se_resnext101':
        np.testing.assert_allclose(got, pixels / 255.0, atol=1e-6)
