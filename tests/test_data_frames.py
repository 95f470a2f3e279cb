"""The preprocessing record: the numpy side equals the TensorFlow evaluation pipeline on the same stored frame,
for both evaluation crops; the 'authors' crop is their Scale + CenterCrop; bad records fail in one line."""
import os
import sys

import cv2
import numpy as np
import pytest

from inference_helpers import make_video
import tensorflow as tf

from vtn_jax import errors
from vtn_jax.data import frames as frames_lib
from vtn_jax.data import input_pipeline
from vtn_jax.data import tfds_builders
from vtn_jax.data import video_io
from vtn_jax.configs.tiny import get_config as tiny_config


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
    got = frames_lib.Preprocessing(crop_size, mean, std, source='stored').numpy(frame)
    assert got.shape == (crop_size, crop_size, 3)
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)


# ---- the 'authors' crop: their Scale(crop) + CenterCrop(crop) --------------------------------------------------

@pytest.mark.parametrize('height, width, scaled, offsets', [
    (256, 340, (224, 297), (0, 36)),  # 297.5 floored; (297 - 224) / 2 = 36.5 rounds half to even: 36
    (256, 454, (224, 397), (0, 86)),  # 86.5 -> 86
    (256, 342, (224, 299), (0, 38)),  # 37.5 -> 38
    (340, 256, (297, 224), (36, 0)),  # portrait
    (224, 300, (224, 300), (0, 38)),  # shorter side already 224: not resized
    (256, 256, (224, 224), (0, 0)),
])
def test_authors_scale_and_center_crop_arithmetic(height, width, scaled, offsets):
    assert frames_lib.authors_scaled_size(height, width, 224) == scaled
    assert frames_lib.authors_center_offsets(*scaled, 224) == offsets


@pytest.mark.parametrize('height, width', [(256, 340), (256, 454), (341, 256), (224, 300), (256, 256)])
def test_authors_crop_is_cv2_linear_on_uint8_then_the_central_square(height, width):
    frame = np.random.default_rng(height + width).integers(0, 256, (height, width, 3), np.uint8)
    got = frames_lib.authors_eval_crop(frame, 224)
    h, w = frames_lib.authors_scaled_size(height, width, 224)
    scaled = frame if (h, w) == (height, width) else cv2.resize(frame, (w, h))  # cv2's default: INTER_LINEAR
    top, left = int(round((h - 224) / 2.)), int(round((w - 224) / 2.))
    assert got.dtype == np.uint8 and got.shape == (224, 224, 3)
    np.testing.assert_array_equal(got, scaled[top:top + 224, left:left + 224])


@pytest.mark.parametrize('crop_size', [224, 32])
def test_authors_crop_tf_pipeline_equals_numpy(crop_size):
    # The same stored frames (JPEG, shorter side 256) through input_pipeline's 'authors' evaluation and through
    # the numpy preprocessing streaming and export use: the same bytes before normalisation, the same floats after.
    video = make_video(3, 256, 341, seed=crop_size)
    jpegs = tf.constant(tfds_builders.encode_frames(video, 90))
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    authors = frames_lib.Preprocessing(crop_size, mean, std, 'authors')
    clip = input_pipeline.preprocess_eval(jpegs, tf.range(3), 0, 0, 0, preprocessing=authors)['video'].numpy()
    decoded = tf.stack([tf.io.decode_jpeg(j, channels=3) for j in jpegs]).numpy()
    assert clip.shape == (3, crop_size, crop_size, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip, frames_lib.authors_eval_crops(decoded, crop_size))
    expected = np.stack([authors.numpy(f) for f in decoded])
    np.testing.assert_allclose(frames_lib.normalize(clip, mean, std), expected, atol=1e-6, rtol=0)
    # and not the 'paper' crop
    paper = input_pipeline.preprocess_eval(jpegs, tf.range(3), 0, 0, 0, preprocessing=frames_lib.Preprocessing(
        crop_size, mean, std))['video'].numpy()
    assert np.abs(paper.astype(np.float32) - clip).mean() > 1


def test_the_stored_source_resizes_a_raw_frame_to_256_first():
    # A raw 480x640 frame: stored at 256 (INTER_AREA, as the dataset builders do), then the authors' transform;
    # the 'raw' source crops the frame as it is.
    frame = make_video(1, 480, 640, seed=5)[0]
    stored_prep = frames_lib.Preprocessing(224, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 'authors', 'stored')
    stored = video_io.resize_short_side(frame, 256)
    np.testing.assert_allclose(stored_prep.numpy(frame), frames_lib.authors_eval_crop(stored, 224) / 255, atol=1e-7,
                               rtol=0)
    raw = stored_prep.with_source('raw')
    np.testing.assert_allclose(raw.numpy(frame), frames_lib.authors_eval_crop(frame, 224) / 255, atol=1e-7, rtol=0)
    assert not raw.host_stage_is_identity and raw.host_stage(frame).shape == (224, 224, 3)


def test_the_two_stages_compute_what_numpy_computes():
    # host_stage then the central graph_crop_fraction square, resized and normalised: numpy() for every record.
    frame = make_video(1, 120, 200, seed=9)[0]
    for eval_crop in frames_lib.EVAL_CROPS:
        for source in frames_lib.SOURCES:
            prep = frames_lib.Preprocessing(32, (0.4, 0.5, 0.6), (0.2, 0.25, 0.3), eval_crop, source)
            staged = prep.host_stage(frame)
            top, left, side = frames_lib.central_crop_box(*staged.shape[:2], prep.graph_crop_fraction)
            crop = cv2.resize(staged[top:top + side, left:left + side].astype(np.float32), (32, 32))
            np.testing.assert_allclose(prep.numpy(frame), frames_lib.normalize(crop, prep.mean, prep.std),
                                       atol=1e-5, rtol=0)
    assert frames_lib.Preprocessing(32, (0, 0, 0), (1, 1, 1)).host_stage(frame) is frame


@pytest.mark.parametrize('field, value, message', [
    ('crop_size', 0, 'crop_size must be an integer from 1'),
    ('crop_size', 10 ** 9, 'crop_size must be an integer from 1'),
    ('std', (0.2, 0.0, 0.2), 'std must be three positive numbers'),
    ('std', (0.2,), 'std must be three positive numbers'),
    ('mean', 'abc', 'mean must be three numbers'),
    ('mean', (0.1, float('nan'), 0.1), 'mean must be three numbers'),
    ('eval_crop', 'reference', "eval_crop must be one of \\('paper', 'authors'\\)"),
    ('source', 'disk', "source must be one of"),
])
def test_a_bad_record_fails_naming_the_field(field, value, message):
    fields = dict(crop_size=32, mean=(0.4, 0.5, 0.6), std=(0.2, 0.2, 0.2))
    with pytest.raises(errors.UserError, match=message):
        frames_lib.Preprocessing(**{**fields, field: value})


def test_the_record_round_trips_through_json_and_reads_the_config():
    config = tiny_config()
    prep = frames_lib.Preprocessing.from_config(config.data)
    assert (prep.crop_size, prep.mean, prep.eval_crop, prep.source) == (32, tuple(config.data.mean), 'paper', 'raw')
    assert frames_lib.Preprocessing.from_json(prep.to_json()) == prep
    with pytest.raises(errors.UserError, match='export.json: "preprocessing" lacks eval_crop'):
        frames_lib.Preprocessing.from_json({k: v for k, v in prep.to_json().items() if k != 'eval_crop'})
    with pytest.raises(errors.UserError, match='export.json: preprocessing.std must be three positive'):
        frames_lib.Preprocessing.from_json({**prep.to_json(), 'std': [1, 0, 1]})


def test_authors_crop_matches_the_authors_transforms():
    # Only with a checkout of the authors' code: their own Scale(224) + CenterCrop(224) on a numpy frame.
    folder = os.environ.get('VTN_REFERENCE_DIR')
    if not folder:
        pytest.skip("VTN_REFERENCE_DIR (the authors' pytorch_toolkit/action_recognition folder) is not set")
    pytest.importorskip('torch')
    sys.path.insert(0, folder)
    from PIL import Image
    if not hasattr(Image, 'LINEAR'):  # removed in Pillow 10; their transforms name it at import
        Image.LINEAR = Image.BILINEAR
    from action_recognition import spatial_transforms as st
    for height, width in [(256, 340), (256, 454), (341, 256)]:
        frame = make_video(1, height, width, seed=height)[0]
        theirs = st.CenterCrop(224)(st.Scale(224)(frame))
        np.testing.assert_array_equal(frames_lib.authors_eval_crop(frame, 224), theirs)
