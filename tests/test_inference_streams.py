"""Many streams on one model: real loopback MJPEG servers and files, each stream's labels those of its own
recognizer (the windows of the frames it got), windows of all streams decoded in one call, every dropped frame
counted, latency recorded, a dropped stream reconnected and its warm-up started again."""
import numpy as np
import pytest

from inference_helpers import build
from vtn_jax.configs import tiny
from vtn_jax.data import mjpeg, synthetic, video_io
from vtn_jax.export import artifacts
from vtn_jax.export import pipeline
from vtn_jax.inference import api


@pytest.fixture(scope='module')
def recognizer(tmp_path_factory):
    """The tiny rgb model's encoder and decoder IR, in OpenVINO f32."""
    config, _, variables = build(tiny.get_config(), 'rgb')
    out = tmp_path_factory.mktemp('ir_streams')
    pipeline.export(config, variables, out, artifacts.ExportOptions(parts=('encoder', 'decoder')),
                    verify_exports=False)
    return api.Recognizer.from_export(out, precision='f32', allow_unverified=True)


def clip(index, frames=32):
    return synthetic.make_video(index, seed=11, num_frames=frames)[0]


def by_stream(steps, count):
    out = [[] for _ in range(count)]
    for step in steps:
        out[step.stream].append(step)
    return out


def assert_labels_are_their_own_streams(rec, steps, **options):
    """Each new label equals a lone recognizer's, fed the frames this stream got, with their indices."""
    alone = rec.online(frame_color='BGR', **options)
    labels = 0
    for step in steps:
        prediction = alone.push(step.frame_bgr, step.frame_index)
        if step.latency_s is not None:
            assert step.prediction.frame_index == step.frame_index == prediction.frame_index
            np.testing.assert_allclose(step.prediction.logits, prediction.logits, atol=1e-5, rtol=0)
            labels += 1
        else:
            assert prediction is None
    return labels


def test_two_files_share_the_decoder_call_and_label_at_the_stride(recognizer, tmp_path):
    paths = [tmp_path / 'a.avi', tmp_path / 'b.avi']
    for i, path in enumerate(paths):
        video_io.write_video(path, clip(i, 40), fps=25)
    sizes = []
    decode = recognizer.backend.decode_many_async
    recognizer.backend.decode_many_async = lambda emb: sizes.append(len(emb)) or decode(emb)
    try:
        streams = recognizer.stream_many(paths, label_every=2)
        a, b = by_stream(list(streams), 2)
    finally:
        del recognizer.backend.decode_many_async
    span = recognizer.clip.span
    assert [s.frame_index for s in a] == [s.frame_index for s in b] == list(range(40))  # in order, every frame
    assert [s.frame_index for s in a if s.latency_s is not None] == list(range(span, 40, 2))
    assert sizes == [2] * len(range(span, 40, 2))  # both streams' windows in one call
    every = [s.prediction for s in recognizer.stream(paths[1])]  # a label on every frame, one stream alone
    for step in b:
        if step.latency_s is not None:
            np.testing.assert_allclose(step.prediction.logits, every[step.frame_index].logits, atol=1e-5, rtol=0)
        elif step.frame_index > span:  # between labels: the latest one, a frame old
            assert step.prediction.frame_index == step.frame_index - 1
    assert assert_labels_are_their_own_streams(recognizer, a, label_every=2) == 13
    reports = streams.report()
    assert [(r.frames, r.labels, r.dropped, r.skipped) for r in reports] == [(40, 13, 0, 20)] * 2


def test_live_mjpeg_streams_and_a_real_time_file(recognizer, tmp_path):
    path = tmp_path / 'clip.avi'
    video_io.write_video(path, clip(2, 24), fps=40)
    with mjpeg.MjpegServer(clip(0), fps=60) as one, mjpeg.MjpegServer(clip(1), fps=60) as two:
        streams = recognizer.stream_many([one.url, two.url, path], live=True, max_frames=40, k=2)
        steps = by_stream(list(streams), 3)
    reports = streams.report()
    for got, report in zip(steps, reports):
        indices = [s.frame_index for s in got]
        assert indices == sorted(set(indices)) and len(got) == report.frames
        # Every frame the source captured was either taken or dropped, and the indices skip exactly the dropped.
        assert report.captured == report.frames + report.dropped
        assert indices[-1] + 1 - len(got) <= report.dropped
        labels = assert_labels_are_their_own_streams(recognizer, got)
        assert labels == report.labels == report.latency.count and labels > 0
        assert all(s.latency_s >= 0 for s in got if s.latency_s is not None)
        assert report.gaps == sum(s.prediction.missing > 0 for s in got if s.latency_s is not None)
        times = [s.time_s for s in got]
        assert times == sorted(times) and times[0] == 0
    assert [r.frames for r in reports[:2]] == [40, 40] and reports[2].captured == 24
    assert steps[2][-1].time_s >= (steps[2][-1].frame_index - steps[2][0].frame_index) / 40 - 0.01  # real time
    assert 'captured' in str(reports[0]) and 'p95' in str(reports[0])


def test_a_dropped_stream_reconnects_and_starts_its_warm_up_again(recognizer):
    with mjpeg.MjpegServer(clip(3), fps=60) as server:
        streams = recognizer.stream(server.url, live_options={'backoff_s': (0.1, 0.2)})
        steps = []
        for step in streams:
            steps.append(step)
            if len(steps) == 24:
                server.stop()  # the camera goes away: the client sees its connection end
                server.start()
            if len(steps) == 60:
                break
        streams.close()
    report = streams.report()[0]
    assert report.reconnects == 1 and server.connections == 2
    none = [s.prediction is None for s in steps]
    first = none.index(False)
    again = none.index(True, first)  # after the outage: no label until a new window is full
    assert 24 <= again and False in none[again:]
    assert report.labels == sum(s.latency_s is not None for s in steps)
