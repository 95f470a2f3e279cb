"""The numpy preprocessing equals the TensorFlow evaluation pipeline on the same stored frame, for both evaluation
presets; the 'reference' preset is the authors' Scale + CenterCrop."""
import os
import sys

import cv2
import numpy as np
import pytest

from inference_helpers import make_video
import tensorflow as tf

from vtn_jax.data import frames as frames_lib
from vtn_jax.data import input_pipeline
from vtn_jax.data import tfds_builders
from vtn_jax.data import video_io


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


# ---- the 'reference' preset: the authors' Scale(crop) + CenterCrop(crop) ---------------------------------------

@pytest.mark.parametrize('height, width, scaled, offsets', [
    (256, 340, (224, 297), (0, 36)),  # 297.5 floored; (297 - 224) / 2 = 36.5 rounds half to even: 36
    (256, 454, (224, 397), (0, 86)),  # 86.5 -> 86
    (256, 342, (224, 299), (0, 38)),  # 37.5 -> 38
    (340, 256, (297, 224), (36, 0)),  # portrait
    (224, 300, (224, 300), (0, 38)),  # shorter side already 224: not resized
    (256, 256, (224, 224), (0, 0)),
])
def test_reference_scale_and_center_crop_arithmetic(height, width, scaled, offsets):
    assert frames_lib.reference_scaled_size(height, width, 224) == scaled
    assert frames_lib.reference_center_offsets(*scaled, 224) == offsets


@pytest.mark.parametrize('height, width', [(256, 340), (256, 454), (341, 256), (224, 300), (256, 256)])
def test_reference_crop_is_cv2_linear_on_uint8_then_the_central_square(height, width):
    frame = np.random.default_rng(height + width).integers(0, 256, (height, width, 3), np.uint8)
    got = frames_lib.reference_eval_crop(frame, 224)
    h, w = frames_lib.reference_scaled_size(height, width, 224)
    scaled = frame if (h, w) == (height, width) else cv2.resize(frame, (w, h))  # cv2's default: INTER_LINEAR
    top, left = int(round((h - 224) / 2.)), int(round((w - 224) / 2.))
    assert got.dtype == np.uint8 and got.shape == (224, 224, 3)
    np.testing.assert_array_equal(got, scaled[top:top + 224, left:left + 224])


@pytest.mark.parametrize('crop_size', [224, 32])
def test_reference_preset_tf_pipeline_equals_numpy(crop_size):
    # The same stored frames (JPEG, shorter side 256) through input_pipeline's 'reference' evaluation and through
    # the numpy preprocessing streaming and export use: the same bytes before normalisation, the same floats after.
    video = make_video(3, 256, 341, seed=crop_size)
    jpegs = tf.constant(tfds_builders.encode_frames(video, 90))
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    clip = input_pipeline.preprocess_eval(jpegs, tf.range(3), 0, 0, 0, crop_size=crop_size,
                                          eval_preprocess='reference')['video'].numpy()
    decoded = tf.stack([tf.io.decode_jpeg(j, channels=3) for j in jpegs]).numpy()
    assert clip.shape == (3, crop_size, crop_size, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip, frames_lib.reference_eval_crops(decoded, crop_size))
    expected = np.stack([frames_lib.preprocess_frame_reference(f, crop_size=crop_size, mean=mean, std=std,
                                                               resize_short=None) for f in decoded])
    np.testing.assert_allclose(frames_lib.normalize(clip, mean, std), expected, atol=1e-6, rtol=0)
    # and not the 'paper' crop
    paper = input_pipeline.preprocess_eval(jpegs, tf.range(3), 0, 0, 0, crop_size=crop_size)['video'].numpy()
    assert np.abs(paper.astype(np.float32) - clip).mean() > 1


def test_reference_preset_stores_a_raw_frame_at_256_first():
    # A raw 480x640 frame: stored at 256 (INTER_AREA, as the dataset builders do), then the authors' transform.
    frame = make_video(1, 480, 640, seed=5)[0]
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    got = frames_lib.preprocess_frame_reference(frame, crop_size=224, mean=mean, std=std)
    stored = video_io.resize_short_side(frame, 256)
    np.testing.assert_allclose(got, frames_lib.reference_eval_crop(stored, 224) / 255, atol=1e-7, rtol=0)
    with pytest.raises(ValueError, match="eval_preprocess must be one of .*'authors'"):
        frames_lib.check_eval_preprocess('authors')


def test_reference_preset_matches_the_authors_transforms():
    # Only with a checkout of the authors' code: their own Scale(224) + CenterCrop(224) on a numpy frame.
    folder = os.environ.get('VTN_REFERENCE_DIR')
    if not folder:
        pytest.skip("VTN_REFERENCE_DIR (the authors' pytorch_toolkit/action_recognition folder) is not set")
    pytest.importorskip('torch')
    sys.path.insert(0, folder)
    from PIL import Image  # pylint: disable=import-outside-toplevel
    if not hasattr(Image, 'LINEAR'):  # removed in Pillow 10; their transforms name it at import
        Image.LINEAR = Image.BILINEAR
    from action_recognition import spatial_transforms as st  # pylint: disable=import-outside-toplevel,import-error
    for height, width in [(256, 340), (256, 454), (341, 256)]:
        frame = make_video(1, height, width, seed=height)[0]
        theirs = st.CenterCrop(224)(st.Scale(224)(frame))
        np.testing.assert_array_equal(frames_lib.reference_eval_crop(frame, 224), theirs)
