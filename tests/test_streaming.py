"""Streaming and dense inference equal the offline model window by window; each frame is encoded once."""
import functools
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vtn_jax import dense
from vtn_jax import model as model_lib
from vtn_jax import streaming

NUM_VIDEO_FRAMES = 70  # > 64, as the issue asks


class CountingBackend:
    """Wraps a backend and records every encoder input, so a test can see which frames were encoded."""

    def __init__(self, backend):
        self.backend = backend
        self.num_steps, self.frame_channels = backend.num_steps, backend.frame_channels
        self.embed_dim, self.num_classes = backend.embed_dim, backend.num_classes
        self.encoded = []  # one entry per encoded frame
        self.decode_calls = 0

    def encode(self, frames_NHWC):
        self.encoded.extend(np.array(f) for f in frames_NHWC)
        return self.backend.encode(frames_NHWC)

    def decode(self, emb_BSD):
        self.decode_calls += len(emb_BSD)
        return self.backend.decode(emb_BSD)


def make_video(num_frames=NUM_VIDEO_FRAMES, height=40, width=52, seed=0):
    """Random RGB uint8 frames (shorter side 40 > the tiny resize 37, so the resize and crop both act)."""
    return np.random.default_rng(seed).integers(0, 256, (num_frames, height, width, 3), dtype=np.uint8)


_MODELS = {}


def build(tiny_config, modality, stride=2):
    """The tiny config for `modality` and `stride`, and its model and variables (initialised once per module:
    initialisation dominates these tests' time)."""
    config = tiny_config
    config.model.modality = modality
    config.data.stride = stride
    if modality not in _MODELS:
        model = model_lib.create_model(config.model)
        _MODELS[modality] = model, model_lib.init_variables(model, jax.random.key(0), image_size=32)
    return (config,) + _MODELS[modality]


@functools.partial(jax.jit, static_argnums=0)
def _apply(model, variables, clips):
    return model.apply(variables, clips)


def offline_logits(model, variables, frames_NHWC, ends, indices_fn):
    """The offline model run on one clip per window end: clip t = frames_NHWC[indices_fn(t)]."""
    clips = jnp.stack([frames_NHWC[indices_fn(t)] for t in ends])
    return np.asarray(_apply(model, variables, clips))


@pytest.mark.parametrize('modality,stride', [('rgb', 2), ('rgbdiff', 2), ('stacked', 2), ('rgb', 3)])
def test_streaming_equals_offline_for_every_window(tiny_config, modality, stride):
    config, model, variables = build(tiny_config, modality, stride)
    backend = CountingBackend(streaming.JaxBackend(model, variables))
    recognizer = streaming.OnlineRecognizer.from_config(backend, config)
    video = make_video()
    predictions = [recognizer.push(frame) for frame in video]

    span = (model.num_frames - 1) * stride
    assert recognizer.first_full_frame == span
    assert all(p is None for p in predictions[:span])  # 'wait': no prediction before the first full window
    assert all(p is not None and p.frame_index == t and not p.padded
               for t, p in enumerate(predictions) if t >= span)

    frames = np.stack([recognizer.preprocess(f) for f in video])
    ends = np.arange(span, len(video))
    expected = offline_logits(model, variables, frames, ends, lambda t: np.arange(t - span, t + 1, stride))
    got = np.stack([predictions[t].logits for t in ends])
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=0)
    # Windows differ from each other, so equality is not an accident of a constant output.
    assert np.abs(np.diff(expected, axis=0)).max() > 1e-4

    # Each frame encoded exactly once (the difference modalities never encode frames 0..s-1, which are only
    # ever the earlier frame of a difference), and the k-th encoder input is frame k's.
    first = 0 if modality == 'rgb' else stride
    assert recognizer.encoder_calls == len(backend.encoded) == len(video) - first
    prev = [None] * stride + list(frames)
    for k, x in enumerate(backend.encoded):
        t = first + k
        np.testing.assert_array_equal(x, streaming.make_encoder_input(frames[t], prev[t], modality))
    assert backend.decode_calls == len(ends)


def test_repeat_warmup_loop_pads_the_current_phase(tiny_config):
    config, model, variables = build(tiny_config, 'rgb')
    recognizer = streaming.OnlineRecognizer.from_config(streaming.JaxBackend(model, variables), config,
                                                        warmup='repeat')
    video = make_video(30)
    predictions = [recognizer.push(frame) for frame in video]
    assert all(p is not None for p in predictions)
    span, stride, steps = recognizer.first_full_frame, 2, model.num_frames
    assert [p.padded for p in predictions] == [t < span for t in range(len(video))]

    def loop_padded(t):  # the frames of t's phase seen so far, oldest first, repeated up to T steps
        have = np.arange(t % stride, t + 1, stride)[-steps:]
        return have[np.arange(steps) % len(have)]

    frames = np.stack([recognizer.preprocess(f) for f in video])
    ends = np.arange(len(video))
    expected = offline_logits(model, variables, frames, ends, loop_padded)
    np.testing.assert_allclose(np.stack([p.logits for p in predictions]), expected, atol=1e-5, rtol=0)
    assert recognizer.encoder_calls == len(video)


def test_repeat_warmup_for_differences_starts_at_the_first_difference(tiny_config):
    config, model, variables = build(tiny_config, 'rgbdiff')
    recognizer = streaming.OnlineRecognizer.from_config(streaming.JaxBackend(model, variables), config,
                                                        warmup='repeat')
    predictions = [recognizer.push(frame) for frame in make_video(6)]
    assert [p is None for p in predictions] == [True, True, False, False, False, False]
    assert recognizer.encoder_calls == 4


def test_smoothing_is_an_ema_of_probabilities_and_leaves_logits_alone(tiny_config):
    config, model, variables = build(tiny_config, 'rgb')
    backend = streaming.JaxBackend(model, variables)
    video = make_video(40)
    plain = [streaming.OnlineRecognizer.from_config(backend, config) for _ in range(1)][0]
    smooth = streaming.OnlineRecognizer.from_config(backend, config, smoothing=0.75)
    raw = [p for p in map(plain.push, video) if p is not None]
    ema = [p for p in map(smooth.push, video) if p is not None]
    np.testing.assert_allclose(raw[0].probs, streaming.softmax(raw[0].logits), atol=1e-12)  # off by default
    expected = streaming.softmax(raw[0].logits)
    for r, e in zip(raw, ema):
        np.testing.assert_allclose(e.logits, r.logits, atol=1e-6)
        if r is not raw[0]:
            expected = 0.75 * expected + 0.25 * streaming.softmax(r.logits)
        np.testing.assert_allclose(e.probs, expected, atol=1e-9)
    assert np.abs(ema[-1].probs - raw[-1].probs).max() > 1e-6


def test_reset_starts_a_new_video(tiny_config):
    config, model, variables = build(tiny_config, 'stacked')
    recognizer = streaming.OnlineRecognizer.from_config(streaming.JaxBackend(model, variables), config)
    first = [recognizer.push(f) for f in make_video(20, seed=1)]
    recognizer.reset()
    again = [recognizer.push(f) for f in make_video(20, seed=1)]
    assert [p is None for p in again] == [p is None for p in first]
    np.testing.assert_allclose(again[-1].logits, first[-1].logits, atol=1e-6)


def test_a_config_that_does_not_fit_the_model_is_refused(tiny_config):
    config, model, variables = build(tiny_config, 'rgb')
    backend = streaming.JaxBackend(model, variables)
    config.model.modality = 'rgbdiff'  # 8 - 1 decoder steps: the rgb model has 8
    with pytest.raises(ValueError, match='decoder steps'):
        streaming.OnlineRecognizer.from_config(backend, config)


@pytest.mark.parametrize('modality', ['rgb', 'stacked'])
def test_dense_equals_window_by_window_offline(tiny_config, modality):
    config, model, variables = build(tiny_config, modality)
    backend = CountingBackend(streaming.JaxBackend(model, variables))
    recognizer = streaming.OnlineRecognizer.from_config(backend, config)
    video = make_video()
    frames = np.stack([recognizer.preprocess(f) for f in video])
    stride, span = 2, recognizer.first_full_frame
    result = dense.dense_video_logits(backend.encode, backend.decode, frames, num_frames=model.num_frames,
                                      stride=stride, modality=modality, batch_size=16)

    first = 0 if modality == 'rgb' else stride
    assert result.encoder_passes == len(video) - first
    assert len(backend.encoded) <= len(video) - first + 16  # one pass per frame, plus the last batch's padding
    assert np.isnan(result.frame_logits[:span]).all()
    ends = np.arange(span, len(video))
    expected = offline_logits(model, variables, frames, ends, lambda t: np.arange(t - span, t + 1, stride))
    np.testing.assert_allclose(result.frame_logits[span:], expected, atol=1e-5, rtol=0)
    np.testing.assert_array_equal(result.frame_logits[span:].argmax(-1), expected.argmax(-1))

    # Video@1 as the input pipeline samples it: the full 16-frame segments starting at 0, 16, 32, 48 (70 frames).
    np.testing.assert_array_equal(result.segment_starts, [0, 16, 32, 48])
    seg = offline_logits(model, variables, frames, result.segment_starts,
                         lambda a: np.arange(a, a + span + 1, stride))
    np.testing.assert_allclose(result.segment_logits, seg, atol=1e-5, rtol=0)
    np.testing.assert_allclose(result.video_logits, seg.mean(0), atol=1e-5, rtol=0)

    # The same labels as the online recognizer, frame by frame.
    online = [recognizer.push(f) for f in video]
    np.testing.assert_allclose(np.stack([online[t].logits for t in ends]), result.frame_logits[span:], atol=1e-5)


def test_dense_repeat_warmup_equals_streaming(tiny_config):
    config, model, variables = build(tiny_config, 'stacked')
    backend = streaming.JaxBackend(model, variables)
    video = make_video(20)
    recognizer = streaming.OnlineRecognizer.from_config(backend, config, warmup='repeat')
    online = [recognizer.push(f) for f in video]
    frames = np.stack([recognizer.preprocess(f) for f in video])
    result = dense.dense_video_logits(backend.encode, backend.decode, frames, num_frames=model.num_frames,
                                      stride=2, modality='stacked', warmup='repeat')
    assert np.isnan(result.frame_logits[:2]).all() and online[0] is None and online[1] is None
    np.testing.assert_allclose(result.frame_logits[2:], np.stack([p.logits for p in online[2:]]), atol=1e-5)
    assert result.encoder_passes == recognizer.encoder_calls == 18


@pytest.mark.parametrize('modality,num_video_frames', [('rgb', 9), ('rgbdiff', 9), ('stacked', 2)])
def test_dense_short_video_gets_the_loop_padded_segment(tiny_config, modality, num_video_frames):
    # Shorter than T*s = 16 frames: one segment, frames k*s mod n as input_pipeline.clip_indices samples it.
    config, model, variables = build(tiny_config, modality)
    backend = CountingBackend(streaming.JaxBackend(model, variables))
    recognizer = streaming.OnlineRecognizer.from_config(backend, config)
    video = make_video(num_video_frames)
    frames = np.stack([recognizer.preprocess(f) for f in video])
    result = dense.dense_video_logits(backend.encode, backend.decode, frames, num_frames=model.num_frames,
                                      stride=2, modality=modality)
    assert np.isnan(result.frame_logits).all()  # 'wait': no full window in 9 frames
    np.testing.assert_array_equal(result.segment_starts, [0])
    loop = (np.arange(model.num_frames) * 2) % num_video_frames
    expected = offline_logits(model, variables, frames, [0], lambda _: loop)
    np.testing.assert_allclose(result.segment_logits, expected, atol=1e-5, rtol=0)
    assert result.encoder_passes == len(backend.encoded)


def test_window_steps():
    kwargs = dict(num_frames=4, stride=2)
    np.testing.assert_array_equal(dense.find_window_steps(9, modality='rgb', warmup='wait', **kwargs), [3, 5, 7, 9])
    np.testing.assert_array_equal(dense.find_window_steps(9, modality='rgbdiff', warmup='wait', **kwargs), [5, 7, 9])
    assert dense.find_window_steps(5, modality='rgb', warmup='wait', **kwargs) is None
    np.testing.assert_array_equal(dense.find_window_steps(5, modality='rgb', warmup='repeat', **kwargs), [1, 3, 5, 1])
    np.testing.assert_array_equal(dense.find_window_steps(4, modality='stacked', warmup='repeat', **kwargs), [2, 4, 2])
    assert dense.find_window_steps(1, modality='stacked', warmup='repeat', **kwargs) is None


def test_timeline_json_and_csv(tiny_config, tmp_path):
    config, model, variables = build(tiny_config, 'rgb')
    backend = streaming.JaxBackend(model, variables)
    recognizer = streaming.OnlineRecognizer.from_config(backend, config)
    frames = np.stack([recognizer.preprocess(f) for f in make_video(40)])
    result = dense.dense_video_logits(backend.encode, backend.decode, frames, num_frames=8, stride=2,
                                      modality='rgb')
    names = [f'n{i}' for i in range(8)]
    dense.write_timeline(tmp_path / 't.json', result, names, fps=10.0, k=2)
    dense.write_timeline(tmp_path / 't.csv', result, names, fps=10.0, k=2)
    import json  # pylint: disable=import-outside-toplevel
    doc = json.loads((tmp_path / 't.json').read_text())
    assert len(doc['frames']) == 40 and doc['frames'][13]['top'] == [] and len(doc['frames'][14]['top']) == 2
    assert doc['frames'][20]['time_s'] == 2.0 and len(doc['segments']) == 2 and len(doc['video_top']) == 2
    best = int(np.nanargmax(result.frame_logits[20]))
    assert doc['frames'][20]['top'][0]['label'] == names[best]
    rows = (tmp_path / 't.csv').read_text().splitlines()
    assert rows[0] == 'frame,time_s,label1,prob1,label2,prob2' and len(rows) == 41
    assert rows[14].startswith('13,1.300,,') and rows[21].startswith(f'20,2.000,{names[best]},')


@pytest.mark.parametrize('crop_size', [224, 32])
def test_preprocessing_equals_the_eval_input_pipeline(crop_size):
    # A frame as the dataset stores it (shorter side 256), through input_pipeline's central crop, resize and
    # normalisation in TensorFlow, and through the recognizer's numpy preprocessing.
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    from vtn_jax import input_pipeline  # pylint: disable=import-outside-toplevel
    frame = make_video(1, 256, 341)[0]
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    top, left, side = input_pipeline.central_crop_window(256, 341).numpy()
    crop = tf.cast(frame[top:top + side, left:left + side], tf.float32)
    if side != crop_size:
        crop = tf.image.resize(crop, (crop_size, crop_size), method='bilinear')
    expected = input_pipeline.normalize(crop, mean, std).numpy()
    got = streaming.preprocess_frame(frame, crop_size=crop_size, mean=mean, std=std)
    assert got.shape == (crop_size, crop_size, 3)
    np.testing.assert_allclose(got, expected, atol=1e-6, rtol=0)


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """Exports the tiny encoder and decoder of a modality once per module (vtn_jax.export, float32 IR)."""
    from vtn_jax import export  # pylint: disable=import-outside-toplevel
    from configs import tiny  # pylint: disable=import-outside-toplevel
    done = {}

    def get(modality):
        if modality not in done:
            config, _, variables = build(tiny.get_config(), modality)
            out = tmp_path_factory.mktemp(f'ir_{modality}')
            export.export(config, variables, out, export.ExportOptions(parts=('encoder', 'decoder')),
                          verify_exports=False)
            done[modality] = out
        return done[modality]
    return get


@pytest.mark.parametrize('modality', ['rgb', 'stacked'])
def test_openvino_streaming_equals_offline_for_every_window(tiny_config, exported, modality):
    config, model, variables = build(tiny_config, modality)
    out = exported(modality)
    backend = CountingBackend(streaming.OpenVinoBackend(out / 'encoder.xml', out / 'decoder.xml', precision='f32'))
    assert backend.backend.inference_precision == 'f32'
    assert (backend.backend.image_size, backend.num_steps) == (32, model.num_steps)
    recognizer = streaming.OnlineRecognizer.from_config(backend, config)
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
    backend = streaming.OpenVinoBackend(out / 'encoder.xml', out / 'decoder.xml', precision='f32')
    config.model.modality = 'stacked'
    with pytest.raises(ValueError, match='6-channel frames'):
        streaming.OnlineRecognizer.from_config(backend, config)
    config.model.modality, config.data.crop_size = 'rgb', 48
    with pytest.raises(ValueError, match='32x32'):
        streaming.OnlineRecognizer.from_config(backend, config)


def test_demo_with_the_exported_pair(tmp_path, exported):
    from vtn_jax import demo  # pylint: disable=import-outside-toplevel
    out = exported('rgb')
    shared = pathlib.Path(os.environ.get('VTN_SHARED_DIR', pathlib.Path(__file__).resolve().parents[2] / 'shared'))
    timeline = tmp_path / 't.csv'
    argv = ['--input', str(shared / 'data' / 'videos' / 'Megamind.avi'),
            '--config', str(pathlib.Path(__file__).resolve().parents[1] / 'configs' / 'tiny.py'),
            '--encoder_ir', str(out / 'encoder.xml'), '--decoder_ir', str(out / 'decoder.xml'), '--precision', 'f32',
            '--timeline', str(timeline), '--max_frames', '40', '--print_every', '0']
    demo.main(argv)
    rows = [r.split(',') for r in timeline.read_text().splitlines()]
    assert len(rows) == 41 and rows[14][2] == '' and rows[15][2].startswith('class ')
    names = tmp_path / 'names.txt'
    names.write_text('a\nb\n')
    with pytest.raises(SystemExit, match='has 2 names but the model has 8 classes'):
        demo.main(argv + ['--class_names', str(names)])
