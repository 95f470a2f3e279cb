"""The demo and dense commands: annotated video and timeline on a shared AVI, and every bad-input message."""
import csv
import functools
import itertools
import json
import os
import pathlib
import subprocess
import sys

import cv2
import numpy as np
import pytest

from vtn_jax import demo
from vtn_jax import dense
from vtn_jax import model as model_lib
from vtn_jax import video_io

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get('VTN_SHARED_DIR', pathlib.Path(__file__).resolve().parents[2] / 'shared'))
MEGAMIND = SHARED / 'data' / 'videos' / 'Megamind.avi'  # 270 frames, 720x528, 23.976 fps
TINY = str(REPO / 'configs' / 'tiny.py')  # 8 classes, T = 8 at stride 2: first full window at frame 14


@pytest.fixture(autouse=True)
def fast_init(monkeypatch):
    """Initialises each tiny model once per session: initialisation dominates a tiny demo run."""
    monkeypatch.setattr(model_lib, 'init_variables', _cached_init)


@functools.lru_cache(maxsize=None)
def _init(model, image_size):
    return _REAL_INIT(model, __import__('jax').random.key(0), image_size=image_size)


_REAL_INIT = model_lib.init_variables


def _cached_init(model, rng, *, image_size=224, batch_size=1):
    del rng, batch_size
    return _init(model, image_size)


@pytest.fixture()
def names_file(tmp_path):
    path = tmp_path / 'names.txt'
    path.write_text(''.join(f'action {i}\n' for i in range(8)))
    return path


def run(argv):
    """Runs the demo CLI in-process; returns the exit message (None on success)."""
    try:
        demo.main([str(a) for a in argv])
    except SystemExit as e:
        assert e.code not in (0, None), 'the demo exited with status 0 through sys.exit'
        return str(e.code)
    return None


def read_timeline(path):
    with open(path, newline='') as f:
        return list(csv.reader(f))


def count_frames(path):
    capture = cv2.VideoCapture(str(path))
    reported = (int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
                int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    decoded = 0
    while capture.read()[0]:
        decoded += 1
    capture.release()
    return reported, decoded


def test_demo_annotates_a_shared_avi_and_writes_a_timeline(tmp_path, names_file, capsys):
    out, timeline = tmp_path / 'annotated.avi', tmp_path / 'timeline.csv'
    message = run(['--input', MEGAMIND, '--config', TINY, '--class_names', names_file, '--output', out,
                   '--timeline', timeline, '--top_k', 3])
    assert message is None

    assert count_frames(out) == ((270, 720, 528), 270)  # as OpenCV reports the input
    rows = read_timeline(timeline)
    assert rows[0] == ['frame', 'time_s', 'label1', 'prob1', 'label2', 'prob2', 'label3', 'prob3']
    assert len(rows) == 1 + 270 and [int(r[0]) for r in rows[1:]] == list(range(270))
    assert all(r[2:] == [''] * 6 for r in rows[1:15])  # warm-up: no prediction before frame 14
    names = {f'action {i}' for i in range(8)}
    for row in rows[15:]:
        assert {row[2], row[4], row[6]} <= names and len({row[2], row[4], row[6]}) == 3
        probs = [float(row[3]), float(row[5]), float(row[7])]
        assert 1 >= probs[0] >= probs[1] >= probs[2] > 0
    assert rows[101][1] == f'{100 / 23.976:.3f}'

    printed = capsys.readouterr()
    assert 'RANDOM weights' in printed.err  # no checkpoint: the loud warning
    line = next(l for l in printed.out.splitlines() if l.startswith('frame    100 '))
    assert f'{100 / 23.976:.3f} s' in line and rows[101][2] in line and 'FPS' in line

    # The labels are drawn: the top band of the annotated frame is darkened text, the rest is the input.
    source = cv2.VideoCapture(str(MEGAMIND))
    annotated = cv2.VideoCapture(str(out))
    for _ in range(101):
        _, a = source.read()
        _, b = annotated.read()
    band = np.abs(a[:40].astype(int) - b[:40]).mean()
    rest = np.abs(a[200:].astype(int) - b[200:]).mean()
    assert band > 3 * rest and rest < 8


def test_not_a_video_fails_with_a_clear_message_and_status_1(tmp_path, names_file):
    bogus = tmp_path / 'notes.avi'
    bogus.write_text('this is not a video\n' * 50)
    message = run(['--input', bogus, '--config', TINY, '--class_names', names_file])
    assert message.startswith('error: ') and str(bogus) in message and 'not a video' in message
    # The same through the real command line: exit status 1, the message on stderr.
    proc = subprocess.run([sys.executable, '-m', 'vtn_jax.demo', '--input', str(bogus), '--config', TINY],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1 and 'not a video' in proc.stderr and str(bogus) in proc.stderr
    assert run(['--input', tmp_path / 'missing.avi', '--config', TINY]).endswith('file not found')


def test_corrupt_stream_processes_the_frames_read_and_names_the_frame(tmp_path, names_file):
    broken = tmp_path / 'truncated.avi'
    broken.write_bytes(MEGAMIND.read_bytes()[:600_000])  # about half of the file
    out, timeline = tmp_path / 'out.avi', tmp_path / 't.csv'
    message = run(['--input', broken, '--config', TINY, '--class_names', names_file, '--output', out,
                   '--timeline', timeline, '--print_every', 0])
    rows = read_timeline(timeline)[1:]
    read = len(rows)
    assert 15 < read < 270  # it processed (and predicted on) the frames before the break
    assert rows[-1][2] != ''
    assert message.startswith('error: ') and f'broke at frame {read} of the 270' in message
    assert count_frames(out)[1] == read


def test_video_shorter_than_the_window_follows_the_warmup_policy(tmp_path, names_file, capsys):
    short = tmp_path / 'short.avi'
    video_io.write_video(short, np.random.default_rng(0).integers(0, 256, (10, 48, 64, 3), np.uint8), fps=10)
    out, timeline = tmp_path / 'out.avi', tmp_path / 't.csv'
    common = ['--input', short, '--config', TINY, '--class_names', names_file, '--timeline', timeline]
    assert run(common + ['--output', out]) is None  # 'wait': handled, not an error
    rows = read_timeline(timeline)[1:]
    assert len(rows) == 10 and all(r[2] == '' for r in rows)
    assert 'fewer than one window (15 frames' in capsys.readouterr().err
    assert count_frames(out) == ((10, 64, 48), 10)
    assert run(common + ['--warmup', 'repeat']) is None
    rows = read_timeline(timeline)[1:]
    assert len(rows) == 10 and all(r[2].startswith('action ') for r in rows)


def test_class_names_that_do_not_fit_the_model_are_refused(tmp_path):
    names = tmp_path / 'five.txt'
    names.write_text('a\nb\nc\nd\ne\n\n')
    message = run(['--input', MEGAMIND, '--config', TINY, '--class_names', names])
    assert message == f'error: the class-names file {names} has 5 names but the model has 8 classes ' \
                      '(one name per line, in class-index order)'
    missing = run(['--input', MEGAMIND, '--config', TINY, '--class_names', tmp_path / 'no.txt'])
    assert missing.startswith(f'error: cannot read the class-names file {tmp_path / "no.txt"}')


def test_bad_model_options_are_refused(tmp_path):
    assert 'give both --encoder_ir and --decoder_ir' in run(
        ['--input', MEGAMIND, '--config', TINY, '--encoder_ir', tmp_path / 'e.xml'])
    assert 'does not exist' in run(['--input', MEGAMIND, '--config', TINY, '--encoder_ir', tmp_path / 'e.xml',
                                    '--decoder_ir', tmp_path / 'd.xml'])
    assert 'must end in .avi' in run(['--input', MEGAMIND, '--config', TINY, '--output', tmp_path / 'x.gif'])


def test_help_documents_the_inputs():
    text = demo.build_parser().format_help()
    for option in ('--input', '--class_names', '--checkpoint', '--encoder_ir', '--decoder_ir', '--output',
                   '--timeline', '--warmup', '--smoothing', '--top_k'):
        assert option in text


def test_dense_command_writes_a_json_timeline(tmp_path, names_file, capsys):
    output = tmp_path / 'dense.json'
    dense.main(['--input', str(MEGAMIND), '--config', TINY, '--class_names', str(names_file),
                '--output', str(output), '--top_k', '2'])
    doc = json.loads(output.read_text())
    assert len(doc['frames']) == 270 and doc['encoder_passes'] == 270
    assert doc['frames'][13]['top'] == [] and len(doc['frames'][14]['top']) == 2
    assert [s['start_frame'] for s in doc['segments']] == [16 * i for i in range(270 // 16)]
    assert len(doc['video_top']) == 2 and doc['video_top'][0]['label'].startswith('action ')
    assert '270 frames, 270 encoder passes, 16 segments' in capsys.readouterr().out


def test_demo_uses_the_checkpoint(tmp_path, names_file):
    import jax  # pylint: disable=import-outside-toplevel
    from configs import tiny  # pylint: disable=import-outside-toplevel
    from vtn_jax import export, streaming  # pylint: disable=import-outside-toplevel
    config = tiny.get_config()
    model = model_lib.create_model(config.model)
    variables = _REAL_INIT(model, jax.random.key(7), image_size=32)  # not the weights a run without one gets
    checkpoint = tmp_path / 'weights.npz'
    export.save_flat_npz(variables, checkpoint)
    timeline = tmp_path / 't.csv'
    assert run(['--input', MEGAMIND, '--config', TINY, '--class_names', names_file, '--checkpoint', checkpoint,
                '--timeline', timeline, '--max_frames', 30, '--print_every', 0, '--top_k', 1]) is None
    recognizer = streaming.OnlineRecognizer.from_config(streaming.JaxBackend(model, variables), config, k=1)
    expected = [p for p in map(recognizer.push, itertools.islice(video_io.iter_frames(MEGAMIND), 30)) if p is not None]
    rows = read_timeline(timeline)[15:]
    assert [r[2] for r in rows] == [f'action {p.top[0][0]}' for p in expected]
    np.testing.assert_allclose([float(r[3]) for r in rows], [p.top[0][1] for p in expected], atol=1e-4)

    garbage = tmp_path / 'garbage.npz'
    garbage.write_bytes(b'not a zip file')
    message = run(['--input', MEGAMIND, '--config', TINY, '--checkpoint', garbage])
    assert message.startswith(f'error: cannot load --checkpoint {garbage}')


_REAL_CAPTURE = cv2.VideoCapture


class FakeCamera:
    """A cv2.VideoCapture stand-in for camera indices: delivers the first `frames` frames of Megamind, then
    stops as an unplugged camera does; reports no frame rate or count (as many cameras)."""

    def __init__(self, frames):
        self._capture = _REAL_CAPTURE(str(MEGAMIND))
        self._left = frames

    def isOpened(self):  # pylint: disable=invalid-name  (cv2's API)
        return True

    def read(self):
        if self._left <= 0:
            return False, None
        self._left -= 1
        return self._capture.read()

    def get(self, prop):
        del prop
        return 0.0

    def release(self):
        self._capture.release()


def test_camera_index_is_read_like_a_stream(tmp_path, names_file, monkeypatch, capsys):
    opened = []

    def capture(source, *args):
        if isinstance(source, int):
            opened.append(source)
            return FakeCamera(frames=40)
        return _REAL_CAPTURE(source, *args)

    monkeypatch.setattr(video_io.cv2, 'VideoCapture', capture)
    out, timeline = tmp_path / 'camera.avi', tmp_path / 't.csv'
    assert run(['--input', '1', '--config', TINY, '--class_names', names_file, '--output', out,
                '--timeline', timeline, '--print_every', 10]) is None
    assert opened == [1]  # '1' is a camera index, not a file name
    rows = read_timeline(timeline)[1:]
    assert len(rows) == 40 and all(r[2] == '' for r in rows[:14]) and all(r[2] for r in rows[14:])
    times = [float(r[1]) for r in rows]
    assert times == sorted(times) and times[-1] > 0  # a camera's timestamps: arrival times, increasing
    assert count_frames(out) == ((40, 720, 528), 40)  # written at the 30 FPS default: the camera reports none
    assert '40 frames, 26 predictions, 40 encoder passes' in capsys.readouterr().err


def test_a_camera_that_cannot_be_opened_is_named(tmp_path, names_file, monkeypatch):
    class Closed(FakeCamera):
        def isOpened(self):  # pylint: disable=invalid-name
            return False

    monkeypatch.setattr(video_io.cv2, 'VideoCapture', lambda source, *args: Closed(0))
    message = run(['--input', '3', '--config', TINY, '--class_names', names_file])
    assert message == 'error: cannot read video camera 3: camera cannot be opened'
