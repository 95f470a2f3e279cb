"""OpenVINO Model API (the real package, unmodified) runs every whole-model IR variant as it is, and on the clips
`vtn_jax.inference.model_api` makes it gives what `Recognizer.from_export(...).video_logits` gives."""
import importlib.util
import itertools

import numpy as np
import pytest

from conftest import extra_videos
from vtn_jax import Recognizer
from vtn_jax import errors
from vtn_jax.configs import tiny
from vtn_jax.data import frames as frames_lib
from vtn_jax.data import labelled_video
from vtn_jax.data import video_io
from vtn_jax.inference import export_record
from vtn_jax.inference import model_api
from vtn_jax.inference import recognizer
from vtn_jax.models import modality as modality_lib

needs_model_api = pytest.mark.skipif(
    importlib.util.find_spec('model_api') is None,
    reason='openvino-model-api is not installed (make install adds it: pip install --no-deps '
           'openvino-model-api==0.4.7)')
CLIPS = 16  # non-overlapping clips per video
VARIANTS = ('float_nhwc', 'float_nchw', 'uint8_rgb_nhwc', 'uint8_bgr_nhwc', 'uint8_rgb_nchw', 'uint8_bgr_nchw')


def record_of(eval_crop='paper', crop=32, num_frames=8, stride=2):
    config = tiny.get_config()
    preprocessing = frames_lib.Preprocessing(crop, config.data.mean, config.data.std, eval_crop)
    return export_record.ExportRecord(modality_lib.Clip(num_frames, stride, 'rgb'), preprocessing, ('a',), {})


def test_frame_is_our_crop_before_normalisation():
    rng = np.random.default_rng(0)
    record = record_of()
    exact = rng.integers(0, 256, (37, 50, 3), np.uint8)  # round(0.875 * 37) == 32: the crop needs no resampling
    top, left, side = frames_lib.central_crop_box(37, 50)
    assert side == 32 and np.array_equal(model_api.frame(exact, record.preprocessing),
                                         exact[top:top + 32, left:left + 32])
    resampled = rng.integers(0, 256, (64, 90, 3), np.uint8)
    got = model_api.frame(resampled, record.preprocessing)
    scale, offset = record.preprocessing.normalization_affine()
    # Normalised, it is what the model sees (`Preprocessing.numpy`) up to the rounding to uint8.
    error = np.abs(got * scale - offset - record.preprocessing.numpy(resampled))
    assert got.dtype == np.uint8 and got.shape == (32, 32, 3) and error.max() <= 0.5 * scale.max() + 1e-5
    assert error.max() > 0  # it was rounded
    authors = record_of('authors').preprocessing
    assert np.array_equal(model_api.frame(resampled, authors), frames_lib.authors_eval_crop(resampled, 32))


def test_clip_takes_t_frames_at_the_stride_and_segments_do_not_overlap():
    record = record_of(num_frames=4, stride=3)
    frames = np.stack([np.full((40, 40, 3), i, np.uint8) for i in range(30)])  # frame i has value i
    clip = model_api.clip(frames, record, start=5)
    assert clip.shape == (4, 32, 32, 3) and [int(f[0, 0, 0]) for f in clip] == [5, 8, 11, 14]
    assert model_api.segment_starts(30, record) == [0, 12]
    with pytest.raises(errors.UserError, match='needs frames 20..29, but there are 28'):
        model_api.clip(frames[:28], record, start=20)
    with pytest.raises(errors.UserError, match='expected a uint8 frame'):
        model_api.frame(frames[0].astype(np.float32), record.preprocessing)


@pytest.fixture(scope='session')
def videos(tmp_path_factory):
    """[(name, decoded RGB frames)]: the quickstart's labelled synthetic stream, and the first 16 segments of every
    video in $VTN_TEST_VIDEOS."""
    folder = tmp_path_factory.mktemp('model_api')
    path = folder / 'labelled.avi'
    labelled_video.write(path, folder / 'labels.csv', tiny.get_config().data, [f'class {i}' for i in range(8)])
    out = [('labelled synthetic stream', video_io.read_video(path))]
    for video in extra_videos():
        out.append((video.name, np.stack(list(itertools.islice(video_io.iter_frames(video), CLIPS * 16)))))
    return out


@pytest.fixture(scope='session')
def ours(rgb, videos):
    """Our segment logits of every video: the rgb export's encoder/decoder pair in OpenVINO f32 (every variant has
    the same weights)."""
    rec = Recognizer.from_export(rgb[3], precision='f32')
    return [rec.video_logits(frames).segment_logits[:CLIPS] for _, frames in videos]


@needs_model_api
@pytest.mark.parametrize('variant', VARIANTS)
def test_model_api_runs_the_whole_model_as_exported_and_agrees_with_ours(variant, whole_variants, videos, ours):
    from model_api.adapters import OpenvinoAdapter, create_core
    from model_api.models import Model
    folder = whole_variants[variant]
    record = export_record.read(folder)
    xml = str(record.checked_file('whole'))
    plain = Model.create_model(xml)  # as it is: the wrapper and its settings from rt_info alone
    assert type(plain).__name__ == 'ActionClassificationModel'
    assert plain.params.labels == [n.replace(' ', '_') for n in record.class_names]
    # In float32, as docs/export.md shows (create_model(xml) runs the CPU's default precision, bf16 with AMX).
    adapter = OpenvinoAdapter(create_core(), xml, device='CPU', plugin_config={'INFERENCE_PRECISION_HINT': 'f32'})
    model = Model.create_model(adapter, configuration={'path_to_labels': str(folder / export_record.LABELS)})
    for (name, frames_rgb), logits in zip(videos, ours):
        frames_bgr = frames_rgb[..., ::-1]
        starts = model_api.segment_starts(len(frames_bgr), record)[:CLIPS]
        assert len(starts) == len(logits) == CLIPS, name
        worst = 0.0
        for start, ours_logits in zip(starts, logits):
            clip = model_api.clip(frames_bgr, record, start)
            label = model(clip).top_labels[0]
            scores = model.infer_sync(model.base_preprocess(clip)[0])['logits'][0]
            dp = np.abs(recognizer.softmax(scores) - recognizer.softmax(ours_logits)).max()
            assert label.id == int(np.argmax(ours_logits)) and label.name == record.class_names[label.id], (name, start)
            assert dp <= 0.01, (name, start, dp)
            worst = max(worst, dp)
        print(f'Model API, {variant}, {name}: top-1 equal on {CLIPS}/{CLIPS} clips, max|dp| {worst:.1e} (f32)')
