"""The online recognizer equals the offline model window by window; each frame is encoded once."""
import numpy as np
import pytest

from inference_helpers import CountingBackend, build, make_video, offline_logits
from vtn_jax.data import frames as frames_lib
from vtn_jax.inference import jax_backend
from vtn_jax.inference import recognizer as recognizer_lib
from vtn_jax.models import modality as modality_lib


@pytest.mark.parametrize('modality,stride', [('rgb', 2), ('rgbdiff', 2), ('stacked', 2), ('rgb', 3)])
def test_streaming_equals_offline_for_every_window(tiny_config, modality, stride):
    config, model, variables = build(tiny_config, modality, stride)
    backend = CountingBackend(jax_backend.JaxBackend(model, variables))
    recognizer = recognizer_lib.OnlineRecognizer.from_config(backend, config)
    video = make_video()
    predictions = [recognizer.push(frame) for frame in video]

    span = (model.num_frames - 1) * stride
    assert recognizer.clip.span == span
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
        np.testing.assert_array_equal(x, modality_lib.encoder_input(frames[t], prev[t], modality))
    assert backend.decode_calls == len(ends)


def test_repeat_warmup_loop_pads_the_current_phase(tiny_config):
    config, model, variables = build(tiny_config, 'rgb')
    recognizer = recognizer_lib.OnlineRecognizer.from_config(jax_backend.JaxBackend(model, variables), config,
                                                        warmup='repeat')
    video = make_video(30)
    predictions = [recognizer.push(frame) for frame in video]
    assert all(p is not None for p in predictions)
    span, stride, steps = recognizer.clip.span, 2, model.num_frames
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
    recognizer = recognizer_lib.OnlineRecognizer.from_config(jax_backend.JaxBackend(model, variables), config,
                                                        warmup='repeat')
    predictions = [recognizer.push(frame) for frame in make_video(6)]
    assert [p is None for p in predictions] == [True, True, False, False, False, False]
    assert recognizer.encoder_calls == 4


def test_smoothing_is_an_ema_of_probabilities_and_leaves_logits_alone(tiny_config):
    config, model, variables = build(tiny_config, 'rgb')
    backend = jax_backend.JaxBackend(model, variables)
    video = make_video(40)
    plain = [recognizer_lib.OnlineRecognizer.from_config(backend, config) for _ in range(1)][0]
    smooth = recognizer_lib.OnlineRecognizer.from_config(backend, config, smoothing=0.75)
    raw = [p for p in map(plain.push, video) if p is not None]
    ema = [p for p in map(smooth.push, video) if p is not None]
    np.testing.assert_allclose(raw[0].probs, recognizer_lib.softmax(raw[0].logits), atol=1e-12)  # off by default
    expected = recognizer_lib.softmax(raw[0].logits)
    for r, e in zip(raw, ema):
        np.testing.assert_allclose(e.logits, r.logits, atol=1e-6)
        if r is not raw[0]:
            expected = 0.75 * expected + 0.25 * recognizer_lib.softmax(r.logits)
        np.testing.assert_allclose(e.probs, expected, atol=1e-9)
    assert np.abs(ema[-1].probs - raw[-1].probs).max() > 1e-6


def test_reset_starts_a_new_video(tiny_config):
    config, model, variables = build(tiny_config, 'stacked')
    recognizer = recognizer_lib.OnlineRecognizer.from_config(jax_backend.JaxBackend(model, variables), config)
    first = [recognizer.push(f) for f in make_video(20, seed=1)]
    recognizer.reset()
    again = [recognizer.push(f) for f in make_video(20, seed=1)]
    assert [p is None for p in again] == [p is None for p in first]
    np.testing.assert_allclose(again[-1].logits, first[-1].logits, atol=1e-6)


def test_a_config_that_does_not_fit_the_model_is_refused(tiny_config):
    config, model, variables = build(tiny_config, 'rgb')
    backend = jax_backend.JaxBackend(model, variables)
    config.model.modality = 'rgbdiff'  # 8 - 1 decoder steps: the rgb model has 8
    with pytest.raises(ValueError, match='decoder steps'):
        recognizer_lib.OnlineRecognizer.from_config(backend, config)


def test_the_authors_crop_reaches_streaming(tiny_config):
    # config.data.eval_crop = 'authors' makes the recognizer crop as the authors' evaluation does.
    config, model, variables = build(tiny_config, 'rgb')
    config.data.eval_crop = 'authors'
    recognizer = recognizer_lib.OnlineRecognizer.from_config(jax_backend.JaxBackend(model, variables), config)
    frame = make_video(1, 60, 80, seed=3)[0]
    authors = frames_lib.Preprocessing(32, config.data.mean, config.data.std, 'authors')
    np.testing.assert_array_equal(recognizer.preprocess(frame), authors.numpy(frame))
    paper = frames_lib.Preprocessing(32, config.data.mean, config.data.std, 'paper')
    assert np.abs(recognizer.preprocess(frame) - paper.numpy(frame)).max() > 0.1


def run_pipelined(recognizer, video):
    out = [recognizer.push(frame) for frame in video] + [recognizer.flush()]
    return [p for p in out if p is not None]


@pytest.mark.parametrize('decode_every', [1, 3])
def test_pipelined_and_decode_every_return_the_same_windows(tiny_config, decode_every):
    config, model, variables = build(tiny_config, 'rgbdiff')
    backend = jax_backend.JaxBackend(model, variables)
    video = make_video(40)
    sync = [p for p in map(recognizer_lib.OnlineRecognizer.from_config(backend, config).push, video) if p]
    counting = CountingBackend(backend)
    online = recognizer_lib.OnlineRecognizer.from_config(counting, config, pipelined=True, decode_every=decode_every)
    got = run_pipelined(online, video)
    # Every decode_every-th full window, starting with the first, each exactly the synchronous prediction.
    expected = sync[::decode_every]
    assert [p.frame_index for p in got] == [p.frame_index for p in expected]
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g.logits, e.logits)
    assert counting.decode_calls == len(expected) and online.encoder_calls == len(video) - 2


def test_bgr_frames_give_the_rgb_predictions(tiny_config):
    config, model, variables = build(tiny_config, 'rgb')
    backend = jax_backend.JaxBackend(model, variables)
    video = make_video(20)
    rgb = recognizer_lib.OnlineRecognizer.from_config(backend, config)
    bgr = recognizer_lib.OnlineRecognizer.from_config(backend, config, frame_color='BGR')
    for frame in video:
        a, b = rgb.push(frame), bgr.push(np.ascontiguousarray(frame[..., ::-1]))
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_array_equal(a.logits, b.logits)
