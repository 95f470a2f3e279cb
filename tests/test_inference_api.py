"""The Python API: a recognizer from an export folder or a checkpoint, streaming and whole videos, and the
README's three lines run as written."""
import pathlib
import re
import shutil

import numpy as np
import pytest

from vtn_jax import Recognizer
from vtn_jax.configs import tiny
from vtn_jax.inference import api

README = pathlib.Path(__file__).resolve().parents[1] / 'README.md'


def test_from_export_reads_everything_from_the_folder(rgb, sample_video):
    _, _, _, out, sidecar = rgb
    rec = Recognizer.from_export(out, precision='f32')
    assert rec.clip.num_frames == sidecar['model']['num_frames'] and len(rec.class_names) == 8
    steps = list(rec.stream(sample_video, k=2))
    assert len(steps) == 120 and steps[13].prediction is None and len(steps[14].top) == 2
    assert steps[50].top[0][0].startswith('class ') and steps[50].time_s == pytest.approx(50 / 24)
    top = rec.predict_video(sample_video, k=3)
    assert len(top) == 3 and top[0][1] >= top[1][1] >= top[2][1]


def test_export_and_checkpoint_recognizers_agree(rgb, sample_video, tmp_path):
    config, _, variables, out, _ = rgb
    from vtn_jax import checkpoints
    checkpoints.save_flat_npz(variables, tmp_path / 'w.npz')
    jax_rec = Recognizer.from_checkpoint(config, str(tmp_path / 'w.npz'))
    ov_rec = Recognizer.from_export(out, precision='f32')
    a = [s.prediction.logits for s in jax_rec.stream(sample_video, max_frames=30) if s.prediction is not None]
    b = [s.prediction.logits for s in ov_rec.stream(sample_video, max_frames=30) if s.prediction is not None]
    np.testing.assert_allclose(np.stack(a), np.stack(b), atol=1e-4)


def test_a_folder_without_an_export_is_named(tmp_path):
    with pytest.raises(ValueError, match='holds no export'):
        Recognizer.from_export(tmp_path)
    with pytest.raises(FileNotFoundError, match='neither a file nor a shipped config'):
        Recognizer.from_checkpoint('no_such_config')


def test_the_readme_example_runs_as_written(rgb, sample_video, tmp_path, monkeypatch, capsys):
    code = re.search(r'```python\n(from vtn_jax import Recognizer.*?)```', README.read_text(), re.S).group(1)
    paths = re.findall(r"'(runs/[^']+)'", code)
    _, _, _, out, _ = rgb
    monkeypatch.chdir(tmp_path)
    for path in paths:  # the export folder and the video it names, where the example expects them
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.endswith('export'):
            shutil.copytree(out, target)
        elif path.endswith('.avi'):
            shutil.copy(sample_video, target)
    exec(compile(code, 'README.md', 'exec'), {})
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 120 and lines[-1].startswith('119 (')


def test_parse_source_tells_cameras_from_files():
    assert api.parse_source('0') == 0 and api.parse_source(3) == 3 and api.parse_source('a.mp4') == 'a.mp4'
    assert tiny.get_config().model.num_classes == 8


def _long_video(path, frames=240, height=120, width=160):
    """A video written frame by frame (never whole in memory), of moving smooth shapes."""
    from vtn_jax.data import synthetic
    import cv2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 24.0, (width, height))
    for i in range(0, frames, 30):
        for frame in synthetic.make_video(i // 30, seed=3, num_frames=30, height=height, width=width)[0]:
            writer.write(frame[..., ::-1])
    writer.release()
    return path


def test_a_file_is_streamed_through_the_whole_video_pass_in_bounded_memory(rgb, tmp_path):
    import tracemalloc
    from vtn_jax.data import video_io
    _, _, _, out, _ = rgb
    rec = Recognizer.from_export(out, precision='f32')
    path = _long_video(tmp_path / 'long.avi')
    tracemalloc.start()
    try:
        streamed = rec.video_file_logits(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    array = rec.video_logits(video_io.read_video(path))
    for a, b in zip(array, streamed):
        np.testing.assert_array_equal(a, b)  # the same numbers as the array form, bit for bit
    frame_bytes = 120 * 160 * 3
    assert len(streamed.frame_logits) == 240 and peak < 24 * frame_bytes, f'{peak / frame_bytes:.1f} frames held'


def test_a_checkpoint_recognizer_streams_a_file_like_the_array_form(sample_video):
    from vtn_jax.data import video_io
    rec = Recognizer.from_checkpoint('tiny')  # numpy preprocessing, batches of 32 (JAX)
    streamed = rec.video_file_logits(sample_video, warmup='repeat')
    for a, b in zip(rec.video_logits(video_io.read_video(sample_video), warmup='repeat'), streamed):
        np.testing.assert_array_equal(a, b)


def test_a_truncated_file_is_refused_after_its_frames(sample_video, tmp_path):
    from vtn_jax.data import video_io
    cut = tmp_path / 'cut.avi'
    cut.write_bytes(sample_video.read_bytes()[:sample_video.stat().st_size // 2])
    with pytest.raises(video_io.VideoReadError, match='stream ended after'):
        Recognizer.from_checkpoint('tiny').video_file_logits(cut)


def test_camera_indices_out_of_range_are_named():
    for source in ('99999999999999999999', -1, '9' * 5000):
        with pytest.raises(ValueError, match='camera index .* is out of range'):
            api.parse_source(source)
    assert api.parse_source('²') == '²'  # not an index: a file name
