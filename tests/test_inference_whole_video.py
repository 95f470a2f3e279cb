"""The whole-video pass equals the offline model on every window and segment, encoding each frame once."""
import numpy as np
import pytest

from inference_helpers import CountingBackend, build, make_video, offline_logits
from vtn_jax.inference import jax_backend
from vtn_jax.inference import recognizer as recognizer_lib
from vtn_jax.inference import whole_video
from vtn_jax.models.modality import Clip


@pytest.mark.parametrize('modality', ['rgb', 'stacked'])
def test_dense_equals_window_by_window_offline(tiny_config, modality):
    config, model, variables = build(tiny_config, modality)
    backend = CountingBackend(jax_backend.JaxBackend(model, variables))
    recognizer = recognizer_lib.OnlineRecognizer.from_config(backend, config)
    video = make_video()
    frames = np.stack([recognizer.preprocess(f) for f in video])
    stride, span = 2, recognizer.clip.span
    result = whole_video.dense_video_logits(backend.encode, backend.decode, frames, recognizer.clip, batch_size=16)

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
    backend = jax_backend.JaxBackend(model, variables)
    video = make_video(20)
    recognizer = recognizer_lib.OnlineRecognizer.from_config(backend, config, warmup='repeat')
    online = [recognizer.push(f) for f in video]
    frames = np.stack([recognizer.preprocess(f) for f in video])
    result = whole_video.dense_video_logits(backend.encode, backend.decode, frames, recognizer.clip, warmup='repeat')
    assert np.isnan(result.frame_logits[:2]).all() and online[0] is None and online[1] is None
    np.testing.assert_allclose(result.frame_logits[2:], np.stack([p.logits for p in online[2:]]), atol=1e-5)
    assert result.encoder_passes == recognizer.encoder_calls == 18


@pytest.mark.parametrize('modality,num_video_frames', [('rgb', 9), ('rgbdiff', 9), ('stacked', 2)])
def test_dense_short_video_gets_the_loop_padded_segment(tiny_config, modality, num_video_frames):
    # Shorter than T*s = 16 frames: one segment, frames k*s mod n as input_pipeline.clip_indices samples it.
    config, model, variables = build(tiny_config, modality)
    backend = CountingBackend(jax_backend.JaxBackend(model, variables))
    recognizer = recognizer_lib.OnlineRecognizer.from_config(backend, config)
    video = make_video(num_video_frames)
    frames = np.stack([recognizer.preprocess(f) for f in video])
    result = whole_video.dense_video_logits(backend.encode, backend.decode, frames, recognizer.clip)
    assert np.isnan(result.frame_logits).all()  # 'wait': no full window in 9 frames
    np.testing.assert_array_equal(result.segment_starts, [0])
    loop = (np.arange(model.num_frames) * 2) % num_video_frames
    expected = offline_logits(model, variables, frames, [0], lambda _: loop)
    np.testing.assert_allclose(result.segment_logits, expected, atol=1e-5, rtol=0)
    assert result.encoder_passes == len(backend.encoded)


def test_window_steps():
    def steps(t, modality, warmup):
        return whole_video.find_window_steps(t, Clip(4, 2, modality), warmup)
    np.testing.assert_array_equal(steps(9, 'rgb', 'wait'), [3, 5, 7, 9])
    np.testing.assert_array_equal(steps(9, 'rgbdiff', 'wait'), [5, 7, 9])
    assert steps(5, 'rgb', 'wait') is None
    np.testing.assert_array_equal(steps(5, 'rgb', 'repeat'), [1, 3, 5, 1])
    np.testing.assert_array_equal(steps(4, 'stacked', 'repeat'), [2, 4, 2])
    assert steps(1, 'stacked', 'repeat') is None


@pytest.mark.parametrize('modality, num_video_frames, warmup, batch_size, fixed_batch', [
    ('rgb', 70, 'wait', 16, False),     # several encoder and decoder batches, a short last one padded
    ('stacked', 70, 'repeat', 16, False),
    ('rgbdiff', 33, 'wait', 32, True),  # every batch padded to 32
    ('rgbdiff', 9, 'wait', 4, False),   # shorter than a clip: the loop-padded segment after full batches
    ('stacked', 2, 'repeat', 32, False),  # fewer frames than the stride: only the loop-padded clip's pairs
    ('rgb', 16, 'wait', 32, False),     # exactly one clip, one unpadded batch
])
def test_the_streaming_pass_equals_the_array_pass_bit_for_bit(tiny_config, modality, num_video_frames, warmup,
                                                              batch_size, fixed_batch):
    config, model, variables = build(tiny_config, modality)
    backend = CountingBackend(jax_backend.JaxBackend(model, variables))
    recognizer = recognizer_lib.OnlineRecognizer.from_config(backend, config)
    frames = np.stack([recognizer.preprocess(f) for f in make_video(num_video_frames)])
    kwargs = dict(warmup=warmup, batch_size=batch_size, fixed_batch=fixed_batch)
    array = whole_video.dense_video_logits(backend.encode, backend.decode, frames, recognizer.clip, **kwargs)
    array_batches, backend.encoded = len(backend.encoded), []
    streamed = whole_video.dense_video_logits_stream(backend.encode, backend.decode, iter(frames), recognizer.clip,
                                                     **kwargs)
    for a, b in zip(array, streamed):
        np.testing.assert_array_equal(a, b)  # NaN rows included
    assert len(backend.encoded) == array_batches  # the same encoder inputs, padding rows included


def test_the_streaming_pass_refuses_an_empty_video(tiny_config):
    config, model, variables = build(tiny_config, 'rgb')
    backend = jax_backend.JaxBackend(model, variables)
    with pytest.raises(ValueError, match='at least one frame'):
        whole_video.dense_video_logits_stream(backend.encode, backend.decode, iter(()), Clip(8, 2, 'rgb'))
