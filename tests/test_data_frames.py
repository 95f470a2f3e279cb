"""The numpy preprocessing equals the TensorFlow evaluation pipeline on the same stored frame."""
import numpy as np
import pytest

from inference_helpers import make_video
import tensorflow as tf

from vtn_jax.data import frames as frames_lib
from vtn_jax.data import input_pipeline


@pytest.mark.parametrize('crop_size', [224, 32])
def test_preprocessing_equals_the_eval_input_pipeline(crop_size):
    # A frame as the dataset stores it (shorter side 256), through input_pipeline's central crop, resize and
    # normalisation in TensorFlow, and through the recognizer's numpy preprocessing.
    frame = make_video(1, 256, 341)[0]
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    top, left, side = input_pipeline.central_crop_window(256, 341).numpy()
    crop = tf.cast(frame[top:top + side, left:left + side], tf.float32)
    if side != crop_size:
        crop = tf.image.resize(crop, (crop_size, crop_size), method='bilinear')
    expected = input_pipeline.normalize(crop, mean, std).numpy()
    got = frames_lib.preprocess_frame(frame, crop_size=crop_size, mean=mean, std=std)
    assert got.shape == (crop_size, crop_size, 3)
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)
