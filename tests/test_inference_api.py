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
    from vtn_jax import checkpoints  # pylint: disable=import-outside-toplevel
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
    exec(compile(code, 'README.md', 'exec'), {})  # pylint: disable=exec-used
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 120 and lines[-1].startswith('119 (')


def test_parse_source_tells_cameras_from_files():
    assert api.parse_source('0') == 0 and api.parse_source(3) == 3 and api.parse_source('a.mp4') == 'a.mp4'
    assert tiny.get_config().model.num_classes == 8
