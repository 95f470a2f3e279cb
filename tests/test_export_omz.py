"""vtn-export --omz: what Open Model Zoo's unmodified action_recognition_demo runs (encoder, strided decoder,
labels.txt, the demo's crop in the record), what it refuses, and `vtn-demo --export` computing what the demo
computes; the real demo itself where an Open Model Zoo checkout is given ($VTN_OMZ_DIR)."""
import json
import logging
import os
import pathlib
import re
import subprocess
import sys

import cv2
import numpy as np
import openvino as ov
import pytest

from export_helpers import compile_f32
from vtn_jax import Recognizer
from vtn_jax import errors
from vtn_jax.data import frames as frames_lib
from vtn_jax.data import synthetic
from vtn_jax.data import video_io
from vtn_jax.export import artifacts
from vtn_jax.export import omz as omz_lib
from vtn_jax.export import pipeline
from vtn_jax.inference import export_record
from vtn_jax.inference import recognizer

OMZ_DIR = os.environ.get('VTN_OMZ_DIR', '')
needs_omz = pytest.mark.skipif(
    not (OMZ_DIR and (pathlib.Path(OMZ_DIR) / 'demos/action_recognition_demo/python').is_dir()),
    reason='the real demo needs an Open Model Zoo checkout (no package has it): set VTN_OMZ_DIR to one')
FRAMES = 160  # the demo drops up to 100 frames still queued for rendering when its input ends


def demo_crop(frame_bgr: np.ndarray) -> np.ndarray:
    """What the demo feeds its encoder for a BGR frame, as its code describes it (models.py: adaptive_resize,
    center_crop): scale = 224 / shorter side, size (int(w * scale), int(h * scale)) with cv2's default bilinear,
    the central 224 with offsets int(round(margin / 2)), HWC -> [1, 3, 224, 224] uint8."""
    h, w = frame_bgr.shape[:2]
    scale = 224 / min(h, w)
    frame = cv2.resize(frame_bgr, (int(w * scale), int(h * scale)))
    top, left = int(round((frame.shape[0] - 224) / 2.)), int(round((frame.shape[1] - 224) / 2.))
    return np.ascontiguousarray(frame[top:top + 224, left:left + 224].transpose(2, 0, 1)[None])


@pytest.fixture(scope='module')
def video(tmp_path_factory) -> pathlib.Path:
    """160 frames of 320x240, four synthetic clips in a row, at 100 fps (the demo plays at the video's rate)."""
    frames = np.concatenate([synthetic.make_video(i, seed=11, num_frames=FRAMES // 4, height=240, width=320)[0]
                             for i in range(4)])
    path = tmp_path_factory.mktemp('omz_video') / 'clip.avi'
    video_io.write_video(path, frames, fps=100.0)
    return path


def test_omz_refuses_in_one_line_what_the_demo_cannot_run(tiny_config, tmp_path):
    with pytest.raises(errors.UserError, match=r'feeds 224x224 crops \(hard-coded\), but this model takes 32x32') as e:
        pipeline.export(tiny_config, None, tmp_path / 'a', artifacts.ExportOptions.for_omz())
    assert '\n' not in str(e.value)
    tiny_config.data.crop_size = 224
    tiny_config.model.modality = 'rgbdiff'
    with pytest.raises(errors.UserError, match='feeds single rgb frames; this is a rgbdiff model'):
        pipeline.export(tiny_config, None, tmp_path / 'b', artifacts.ExportOptions.for_omz())
    assert not (tmp_path / 'a').exists() and not (tmp_path / 'b').exists()


def test_the_demos_crop_is_recorded_with_a_warning_when_the_model_was_evaluated_with_another(caplog, monkeypatch):
    logger = logging.getLogger(omz_lib.__name__)  # a command may have stopped vtn_jax's records reaching the root
    monkeypatch.setattr(logger, 'handlers', [caplog.handler])
    paper = frames_lib.Preprocessing(224, (0.4, 0.4, 0.4), (0.2, 0.2, 0.2), 'paper')
    recorded = omz_lib.demo_preprocessing(paper)
    assert recorded.eval_crop == 'authors' and recorded.crop_size == 224 and "evaluated with the 'paper'" in caplog.text
    caplog.clear()
    assert omz_lib.demo_preprocessing(recorded) == recorded and not caplog.text
    # The demo's crop is our 'authors' crop at 224, byte for byte, on the usual frame sizes.
    rng = np.random.default_rng(2)
    for h, w in ((240, 320), (480, 640), (528, 720), (576, 768), (720, 1280), (224, 300)):
        frame = rng.integers(0, 256, (h, w, 3), np.uint8)
        assert np.array_equal(demo_crop(frame)[0].transpose(1, 2, 0), recorded.host_stage(frame)), (h, w)


def test_omz_export_is_what_the_demo_takes(omz):
    _, _, _, out = omz
    record = export_record.read(out)
    assert record.omz and record.preprocessing.eval_crop == 'authors' and record.preprocessing.crop_size == 224
    encoder = compile_f32(record.checked_file('encoder'))
    assert encoder.input(0).get_element_type() == ov.Type.u8 and list(encoder.input(0).shape) == [1, 3, 224, 224]
    assert list(encoder.output(0).shape) == [1, 32, 1, 1]
    demo_decoder = ov.Core().read_model(record.checked_file('decoder', 'ir_omz'))
    assert record.file('decoder', 'ir_omz').name == 'decoder_omz.xml'
    # One input and one output (the demo refuses others); its window: (S - 1) * stride + 1 = 15 embeddings.
    assert len(demo_decoder.inputs) == len(demo_decoder.outputs) == 1 and record.omz_window == 15
    assert list(demo_decoder.input(0).shape) == [1, 15, 32] and list(demo_decoder.output(0).shape) == [1, 8]
    assert demo_decoder.get_rt_info(['model_info', 'omz_window']).astype(str) == '15'
    assert (out / 'labels.txt').read_text().splitlines() == list(record.class_names) == [
        f'class {i}' for i in range(8)]
    row = next(r for r in record.verification['rows'] if r['stage'] == 'openvino f32, Open Model Zoo window')
    assert row['gated'] and row['passed']


def demo_loop(out: pathlib.Path, frames_bgr: np.ndarray) -> dict:
    """The demo's en-de loop as its code describes it (steps.py): every frame's crop through the encoder, its
    embedding reshaped to [1, D], the last `input_shape[1]` consecutive ones into the decoder, softmax. Returns
    {frame index: probabilities} of the window ending at each frame."""
    encoder, decoder = compile_f32(out / 'encoder.xml'), compile_f32(out / 'decoder_omz.xml')
    window = decoder.input(0).shape[1]
    embeddings = [encoder([demo_crop(f)])[0].reshape(1, -1) for f in frames_bgr]
    return {t: recognizer.softmax(decoder([np.concatenate(embeddings[t - window + 1:t + 1])[None]])[0][0])
            for t in range(window - 1, len(frames_bgr))}


def ours_stream(out, video) -> dict:
    """{frame index: probabilities} of what `vtn-demo --export` runs (Recognizer.stream), in f32."""
    rec = Recognizer.from_export(out, precision='f32')
    return {s.frame_index: s.prediction.probs for s in rec.stream(video) if s.prediction is not None}


def test_vtn_demo_export_computes_what_the_demo_computes(omz, video):
    _, _, _, out = omz
    frames_bgr = np.stack(list(video_io.iter_frames(video, color='BGR')))
    demo, ours = demo_loop(out, frames_bgr), ours_stream(out, video)
    assert sorted(demo) == sorted(ours) == list(range(14, FRAMES))  # from frame (S - 1) * stride on
    assert max(np.abs(demo[t] - ours[t]).max() for t in demo) <= 1e-4
    assert np.abs(demo[20] - demo[100]).max() > 1e-4  # the windows differ: the comparison has teeth


def agreement(pairs) -> tuple:
    """(top-1 agreement, max |dp|) over (demo probabilities, ours) pairs."""
    top = np.mean([np.argmax(a) == np.argmax(b) for a, b in pairs])
    return float(top), float(max(np.abs(np.asarray(a) - b).max() for a, b in pairs))


@needs_omz
def test_the_real_demo_agrees_with_vtn_demo_export(omz, video, tmp_path):
    _, _, _, out = omz
    args = ['-at', 'en-de', '-m_en', str(out / 'encoder.xml'), '-m_de', str(out / 'decoder_omz.xml'), '-i',
            str(video), '-lb', str(out / 'labels.txt'), '-s', '1', '--no_show']
    ours = ours_stream(out, video)
    # 1. Its own modules, in f32: every rendered frame's probabilities (render j: the window ending at frame j).
    result = tmp_path / 'demo.json'
    driver = pathlib.Path(__file__).with_name('omz_demo.py')
    subprocess.run([sys.executable, str(driver), OMZ_DIR, str(result)] + args, check=True, timeout=300,
                   capture_output=True)
    demo = json.loads(result.read_text())
    assert demo['status'] == 0 and demo['frames_read'] == FRAMES
    pairs = [(probs, ours[j]) for j, probs in demo['renders'] if probs is not None]
    assert len(pairs) >= FRAMES - 14 - 3  # all but the windows still in the models' requests at the end
    top1, max_dp = agreement(pairs)
    print(f'OMZ demo (f32) vs vtn-demo --export: {len(pairs)} frames, top-1 agreement {top1:.4f}, max|dp| {max_dp:.2e}')
    assert top1 >= 0.99 and max_dp <= 0.02
    # 2. Its command line as a user runs it (the CPU's default precision), its -r log read back.
    script = pathlib.Path(OMZ_DIR) / 'demos/action_recognition_demo/python/action_recognition_demo.py'
    env = {**os.environ, 'PYTHONPATH': str(pathlib.Path(OMZ_DIR) / 'demos/common/python/model_zoo')}
    proc = subprocess.run([sys.executable, str(script)] + args + ['-r'], capture_output=True, text=True, timeout=300,
                          env=env)
    logged = [(int(j), label, float(p) / 100) for j, label, p in
              re.findall(r'Frame # (\d+): (.*) - ([0-9.]+)% -- ', proc.stdout)]
    assert proc.returncode == 0 and logged, proc.stdout[-2000:] + proc.stderr[-2000:]
    names = export_record.read(out).class_names
    assert all(label in names for _, label, _ in logged)
    top1 = np.mean([names.index(label) == np.argmax(ours[j]) for j, label, _ in logged])
    dp = max(abs(p - ours[j][names.index(label)]) for j, label, p in logged)
    print(f'OMZ demo command line (default precision): {len(logged)} frames logged, top-1 agreement {top1:.4f}, '
          f'max|dp| of the label shown {dp:.2e}')
    assert dp <= 0.02
