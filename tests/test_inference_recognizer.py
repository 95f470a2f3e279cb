"""The online recognizer equals the offline model window by window; each frame is encoded once."""
import numpy as np
import pytest

from inference_helpers import CountingBackend, build, make_video, offline_logits
from vtn_jax.data import frames as frames_lib
from vtn_jax.inference import jax_backend
from vtn_jax.inference import recognizer as recognizer_lib
from vtn_jax.inference import smoothing as smoothing_lib
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


@pytest.mark.parametrize('modality', ['rgb', 'rgbdiff'])
def test_label_every_stride_encodes_one_phase_with_the_every_frame_logits(tiny_config, modality):
    config, model, variables = build(tiny_config, modality)
    backend = jax_backend.JaxBackend(model, variables)
    video = make_video(40)
    full = recognizer_lib.OnlineRecognizer.from_config(backend, config)
    every = [full.push(f) for f in video]
    counting = CountingBackend(backend)
    strided = recognizer_lib.OnlineRecognizer.from_config(counting, config, label_every=2)
    got = [strided.push(f) for f in video]
    labelled = [t for t, p in enumerate(got) if p is not None]
    assert labelled == list(range(strided.clip.span, len(video), 2))  # phase 0 only, from the first full window
    for t in labelled:
        assert got[t].frame_index == t
        np.testing.assert_array_equal(got[t].logits, every[t].logits)
    # Half the encoder passes: the frames of phase 0 (for rgbdiff, all but the first, which has no earlier frame).
    assert strided.encoder_calls == len(counting.encoded) == 20 - (modality != 'rgb')
    assert full.encoder_calls == 40 - 2 * (modality != 'rgb') and strided.skipped == 20
    with pytest.raises(ValueError, match='label_every must be 1 .* or the stride 2'):
        recognizer_lib.OnlineRecognizer.from_config(backend, config, label_every=3)


def test_dropped_frames_are_marked_or_restart_the_phase(tiny_config):
    config, model, variables = build(tiny_config, 'rgb')
    backend = jax_backend.JaxBackend(model, variables)
    video = make_video(64)
    arrived = [t for t in range(len(video)) if t not in (30, 31, 45)]  # what a live source delivered
    every = [p for p in map(recognizer_lib.OnlineRecognizer.from_config(backend, config).push, video)]
    mark = recognizer_lib.OnlineRecognizer.from_config(backend, config)
    marked = {t: mark.push(video[t], t) for t in arrived}
    restart = recognizer_lib.OnlineRecognizer.from_config(backend, config, gaps='restart')
    restarted = {t: restart.push(video[t], t) for t in arrived}

    span, steps = mark.clip.span, model.num_frames
    frames = np.stack([mark.preprocess(f) for f in video])

    def window(t):  # the last T frames of t's phase that arrived, oldest first
        return np.array([i for i in arrived if i <= t and i % 2 == t % 2][-steps:])
    ends = [t for t in arrived if t >= span]
    expected = offline_logits(model, variables, frames, ends, window)
    np.testing.assert_allclose(np.stack([marked[t].logits for t in ends]), expected, atol=1e-5, rtol=0)
    for t in ends:
        assert marked[t].missing == (t - window(t)[0]) // 2 + 1 - steps
    # Frame 30 is missing from the window of 44 (1 stride more), not from that of 46; 47's misses 31 and 45.
    assert [marked[t].missing for t in (29, 44, 46, 47, 59, 61)] == [0, 1, 0, 2, 1, 0]
    # restart: no label for a phase until T frames after its gap; every label an exact window.
    labelled = [t for t, p in restarted.items() if p is not None]
    assert labelled == [t for t in ends if t < 30 or (t % 2 == 0 and t >= 46) or t >= 61 and t % 2]
    for t in labelled:
        assert restarted[t].missing == 0
        np.testing.assert_array_equal(restarted[t].logits, every[t].logits)
    with pytest.raises(ValueError, match='frame index 40 after 63'):
        mark.push(video[0], 40)


class ScriptedBackend:
    """A model whose label is written in the frame: encode gives the crop's mean value per channel, the decoder 8
    times the one-hot of the newest frame's value (the label of frame t is what was written into frame t)."""
    num_steps, frame_channels, embed_dim, num_classes = 4, 3, 3, 3

    def encode(self, frames_NHWC):
        return frames_NHWC.mean(axis=(1, 2)).astype(np.float32)

    def decode(self, emb_BSD):
        return 8.0 * np.eye(self.num_classes, dtype=np.float32)[np.rint(emb_BSD[:, -1, 0]).astype(int)]


def test_hysteresis_and_ema_go_through_the_smoother_on_a_known_label_stream():
    labels = [0] * 12 + [1] + [0] * 6 + [2] * 10 + [1, 1]  # one flicker to 1, a change to 2 at frame 19
    clip = modality_lib.Clip(4, 1, 'rgb')
    prep = frames_lib.Preprocessing(8, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    frames = [np.full((8, 8, 3), label, np.float32) for label in labels]
    plain = recognizer_lib.OnlineRecognizer(ScriptedBackend(), clip, prep, k=2)
    raw = [plain.push_normalised(f) for f in frames][3:]
    assert [p.top[0][0] for p in raw] == labels[3:]  # each label is the frame's
    held = recognizer_lib.OnlineRecognizer(ScriptedBackend(), clip, prep, k=2, hysteresis=3)
    # The flicker at frame 12 is never shown; the change to 2 at frame 19 is, k - 1 = 2 labels late (frame 21); the
    # last two labels (1, 1) are too short to be shown.
    assert [p.top[0][0] for p in list(map(held.push_normalised, frames))[3:]] == [0] * 18 + [2] * 10
    smooth = recognizer_lib.OnlineRecognizer(ScriptedBackend(), clip, prep, k=2, smoothing=0.6, hysteresis=3)
    shown = [smooth.push_normalised(f) for f in frames][3:]
    reference = smoothing_lib.Smoother(0.6, 3)
    for p, r in zip(shown, raw):
        np.testing.assert_array_equal(p.logits, r.logits)  # logits are never smoothed
        s = reference(recognizer_lib.softmax(r.logits))
        np.testing.assert_allclose(p.probs, s.probs, atol=1e-12)
        assert p.top[0][0] == s.label and len(p.top) == 2
    assert [p.top[0][0] for p in shown] == [0] * 19 + [2] * 9  # the EMA delays the change one label more
    smooth.reset()
    assert [smooth.push_normalised(f) for f in frames][3].top[0][0] == 0  # reset forgets the shown class
