"""The vtn-demo and vtn-timeline commands: annotated video and timeline of a real file, cameras, every bad-input
message, and the exported pair."""
import csv
import itertools
import json
import subprocess
import sys

import cv2
import jax
import numpy as np
import pytest

from conftest import extra_videos, run_command
from vtn_jax import checkpoints
from vtn_jax.configs import tiny
from vtn_jax.data import mjpeg, synthetic, video_io
from vtn_jax.inference import jax_backend
from vtn_jax.inference import recognizer as recognizer_lib
from vtn_jax.models import vtn as model_lib
from vtn_jax.tools import demo
from vtn_jax.tools import timeline

FRAMES, WIDTH, HEIGHT, FPS = 120, 160, 120, 24.0  # the sample video (conftest.sample_video)
# tiny: 8 classes, T = 8 at stride 2: the first full window ends at frame 14.


@pytest.fixture()
def names_file(tmp_path):
    path = tmp_path / 'names.txt'
    path.write_text(''.join(f'action {i}\n' for i in range(8)))
    return path


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


def test_demo_annotates_a_video_and_writes_a_timeline(tmp_path, names_file, sample_video, capsys):
    out, csv_path = tmp_path / 'annotated.avi', tmp_path / 'timeline.csv'
    assert run_command(demo, '--input', sample_video, '--config', 'tiny', '--class_names', names_file,
                       '--output', out, '--timeline', csv_path, '--top_k', 3) == (0, '')
    assert count_frames(out) == ((FRAMES, WIDTH, HEIGHT), FRAMES)
    rows = read_timeline(csv_path)
    assert rows[0] == ['frame', 'time_s', 'label1', 'prob1', 'label2', 'prob2', 'label3', 'prob3']
    assert len(rows) == 1 + FRAMES and [int(r[0]) for r in rows[1:]] == list(range(FRAMES))
    assert all(r[2:] == [''] * 6 for r in rows[1:15])  # warm-up: no prediction before frame 14
    names = {f'action {i}' for i in range(8)}
    for row in rows[15:]:
        assert {row[2], row[4], row[6]} <= names and len({row[2], row[4], row[6]}) == 3
        probs = [float(row[3]), float(row[5]), float(row[7])]
        assert 1 >= probs[0] >= probs[1] >= probs[2] > 0
    assert rows[101][1] == f'{100 / FPS:.3f}'
    plot = cv2.imread(str(csv_path.with_suffix('.png')))  # the timeline as a picture beside the CSV
    assert plot is not None and plot.shape[1] == 960 and plot.std() > 10
    printed = capsys.readouterr().out
    assert 'RANDOMLY INITIALISED' in printed  # no checkpoint: the loud warning
    line = next(printed_line for printed_line in printed.splitlines() if printed_line.startswith('frame    100 '))
    assert f'{100 / FPS:.3f} s' in line and rows[101][2] in line and 'FPS' in line
    # The labels are drawn: the top band of the annotated frame is darkened text, the rest is the input.
    source, annotated = cv2.VideoCapture(str(sample_video)), cv2.VideoCapture(str(out))
    for _ in range(101):
        _, a = source.read()
        _, b = annotated.read()
    band = np.abs(a[:20].astype(int) - b[:20]).mean()
    rest = np.abs(a[60:].astype(int) - b[60:]).mean()
    assert band > 3 * rest and rest < 8


def test_not_a_video_fails_with_a_clear_message_and_status_1(tmp_path, names_file):
    bogus = tmp_path / 'notes.avi'
    bogus.write_text('this is not a video\n' * 50)
    code, message = run_command(demo, '--input', bogus, '--config', 'tiny', '--class_names', names_file)
    assert code == 1 and message.startswith('error: ') and str(bogus) in message and 'not a video' in message
    # The same through a console command (cli.run, shared by every command): exit status 1, one line on stderr.
    # vtn-timeline reads the file before it loads a model, so the process ends in about a second.
    proc = subprocess.run([sys.executable, '-m', 'vtn_jax.tools.timeline', '--input', str(bogus), '--output',
                           str(tmp_path / 't.csv'), '--config', 'tiny'], capture_output=True, text=True, timeout=180,
                          check=False)
    assert proc.returncode == 1 and proc.stderr.strip().splitlines()[-1].startswith('error: ')
    assert 'not a video' in proc.stderr and str(bogus) in proc.stderr
    assert run_command(demo, '--input', tmp_path / 'missing.avi', '--config', 'tiny')[1].endswith('file not found')


def test_corrupt_stream_processes_the_frames_read_and_names_the_frame(tmp_path, names_file, sample_video):
    broken = tmp_path / 'truncated.avi'
    broken.write_bytes(sample_video.read_bytes()[:sample_video.stat().st_size // 2])
    out, csv_path = tmp_path / 'out.avi', tmp_path / 't.csv'
    code, message = run_command(demo, '--input', broken, '--config', 'tiny', '--class_names', names_file,
                                '--output', out, '--timeline', csv_path, '--print_every', 0)
    rows = read_timeline(csv_path)[1:]
    read = len(rows)
    assert 15 < read < FRAMES  # it processed (and predicted on) the frames before the break
    assert rows[-1][2] != ''
    assert code == 1 and f'broke at frame {read} of the {FRAMES}' in message
    assert count_frames(out)[1] == read


def test_video_shorter_than_the_window_follows_the_warmup_policy(tmp_path, names_file, capsys, monkeypatch):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    short = tmp_path / 'short.avi'
    video_io.write_video(short, np.random.default_rng(0).integers(0, 256, (10, 48, 64, 3), np.uint8), fps=10)
    out, csv_path = tmp_path / 'out.avi', tmp_path / 't.csv'
    common = ['--input', short, '--config', 'tiny', '--class_names', names_file, '--timeline', csv_path]
    assert run_command(demo, *common, '--output', out) == (0, '')  # 'wait': handled, not an error
    rows = read_timeline(csv_path)[1:]
    assert len(rows) == 10 and all(r[2] == '' for r in rows)
    assert 'fewer than one window (15 frames' in capsys.readouterr().out
    assert count_frames(out) == ((10, 64, 48), 10)
    assert run_command(demo, *common, '--warmup', 'repeat', '--show') == (0, '')  # no display: runs without
    rows = read_timeline(csv_path)[1:]
    assert len(rows) == 10 and all(r[2].startswith('action ') for r in rows)
    assert '--show: no display' in capsys.readouterr().out


def test_class_names_that_do_not_fit_the_model_are_refused(tmp_path, sample_video):
    names = tmp_path / 'five.txt'
    names.write_text('a\nb\nc\nd\ne\n\n')
    assert run_command(demo, '--input', sample_video, '--config', 'tiny', '--class_names', names)[1] == \
        (f'error: class-names file {names} has 5 names but the model has 8 classes (one name per line, in '
         'class-index order)')
    _, missing = run_command(demo, '--input', sample_video, '--config', 'tiny', '--class_names', tmp_path / 'no.txt')
    assert missing == f'error: class-names file {tmp_path / "no.txt"} does not exist'


def test_bad_options_are_refused_in_one_line(tmp_path, sample_video):
    assert 'must end in .avi' in run_command(demo, '--input', sample_video, '--output', tmp_path / 'x.gif')[1]
    assert 'export.json does not exist' in run_command(demo, '--input', sample_video, '--export', tmp_path)[1]
    _, message = run_command(demo, '--input', sample_video, '--config', 'tiny', '--config.model.encodr=x')
    assert message.startswith('error: ') and 'encodr' in message and '\n' not in message
    _, message = run_command(demo, '--input', sample_video, '--config', 'tiny', '--config.model.encoder=resnet35')
    assert message.startswith("error: unknown encoder 'resnet35'; choose one of") and 'resnet34' in message
    assert run_command(demo, '--input', sample_video, '--config', 'nonexistent_config')[0] == 1


def test_help_documents_the_inputs(capsys):
    assert run_command(demo, '--help') == (0, '')
    text = capsys.readouterr().out
    for option in ('--input', '--class_names', '--checkpoint', '--export', '--output', '--timeline', '--warmup',
                   '--smoothing', '--top_k', '--show', '--precision'):
        assert option in text
    assert text.startswith('vtn-demo: real-time action recognition')


def test_timeline_command_writes_a_json_timeline(tmp_path, names_file, sample_video, capsys):
    output = tmp_path / 'dense.json'
    assert run_command(timeline, '--input', sample_video, '--config', 'tiny', '--class_names', names_file,
                       '--output', output, '--top_k', 2) == (0, '')
    doc = json.loads(output.read_text())
    assert len(doc['frames']) == FRAMES and doc['encoder_passes'] == FRAMES
    assert doc['frames'][13]['top'] == [] and len(doc['frames'][14]['top']) == 2
    assert [s['start_frame'] for s in doc['segments']] == [16 * i for i in range(FRAMES // 16)]
    assert len(doc['video_top']) == 2 and doc['video_top'][0]['label'].startswith('action ')
    assert f'{FRAMES} frames, {FRAMES} encoder passes, {FRAMES // 16} segments' in capsys.readouterr().out


def test_demo_uses_the_checkpoint(tmp_path, names_file, sample_video):
    config = tiny.get_config()
    model = model_lib.create_model(config.model)
    variables = model_lib.init_variables(model, jax.random.key(7), image_size=32)  # not a run's default weights
    checkpoint = tmp_path / 'weights.npz'
    checkpoints.save_flat_npz(variables, checkpoint)
    csv_path = tmp_path / 't.csv'
    assert run_command(demo, '--input', sample_video, '--config', 'tiny', '--class_names', names_file,
                       '--checkpoint', checkpoint, '--timeline', csv_path, '--max_frames', 30, '--print_every', 0,
                       '--top_k', 1) == (0, '')
    online = recognizer_lib.OnlineRecognizer.from_config(jax_backend.JaxBackend(model, variables), config, k=1)
    expected = [p for p in map(online.push, itertools.islice(video_io.iter_frames(sample_video), 30)) if p]
    rows = read_timeline(csv_path)[15:]
    assert [r[2] for r in rows] == [f'action {p.top[0][0]}' for p in expected]
    np.testing.assert_allclose([float(r[3]) for r in rows], [p.top[0][1] for p in expected], atol=1e-4)
    garbage = tmp_path / 'garbage.npz'
    garbage.write_bytes(b'not a zip file')
    _, message = run_command(demo, '--input', sample_video, '--config', 'tiny', '--checkpoint', garbage)
    assert message.startswith(f'error: cannot read {garbage} as an .npz of arrays')


def test_several_live_inputs_write_their_own_outputs_and_report_latency(tmp_path, names_file, capsys):
    clips = [synthetic.make_video(i, seed=5, num_frames=32)[0] for i in range(2)]
    csv_path = tmp_path / 't.csv'
    with mjpeg.MjpegServer(clips[0], fps=60) as one, mjpeg.MjpegServer(clips[1], fps=60) as two:
        assert run_command(demo, '--input', one.url, '--input', two.url, '--config', 'tiny', '--class_names',
                           names_file, '--timeline', csv_path, '--max_frames', 40, '--print_every', 5,
                           '--label_every', 2) == (0, '')
    printed = capsys.readouterr().out
    for i, url in enumerate((one.url, two.url)):
        rows = read_timeline(tmp_path / f't_{i}.csv')[1:]  # one timeline per input
        assert len(rows) == 40 and (tmp_path / f't_{i}.png').is_file()
        frames = [int(r[0]) for r in rows]
        assert frames == sorted(set(frames))  # live: the frames taken, in order (the others were dropped)
        assert f'[{i}] frame ' in printed and f'stream {i} {url}: 40 frames' in printed
    live_lines = [line for line in printed.splitlines() if line.startswith('[0] frame') and 'latency p50' in line]
    assert live_lines and all(' dropped' in line and 'FPS]' in line for line in live_lines)
    assert 'capture-to-label latency p50' in printed and 'skipped' in printed


def test_hysteresis_and_smoothing_flags_reach_the_labels(tmp_path, names_file, sample_video):
    common = ['--input', sample_video, '--config', 'tiny', '--class_names', names_file, '--print_every', 0]
    plain, held = tmp_path / 'plain.csv', tmp_path / 'held.csv'
    assert run_command(demo, *common, '--timeline', plain) == (0, '')
    assert run_command(demo, *common, '--timeline', held, '--hysteresis', 1000, '--smoothing', 0.5) == (0, '')
    plain_rows, held_rows = read_timeline(plain)[15:], read_timeline(held)[15:]
    assert len({r[2] for r in plain_rows}) > 1  # the label changes over the video ...
    assert len({r[2] for r in held_rows}) == 1  # ... and a new one would have to lead for 1000 labels in a row
    assert plain_rows[1][3] != held_rows[1][3]  # the EMA changes the probabilities after the first label


_REAL_CAPTURE = cv2.VideoCapture


class FakeCamera:
    """A cv2.VideoCapture stand-in for camera indices: delivers the first `frames` frames of a file, then
    stops as an unplugged camera does; reports no frame rate or count (as many cameras)."""

    def __init__(self, path, frames):
        self._capture = _REAL_CAPTURE(str(path))
        self._left = frames

    def isOpened(self):  # cv2's API
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


def test_camera_index_read_frame_by_frame(tmp_path, names_file, sample_video, monkeypatch, capsys):
    opened = []

    def capture(source, *args):
        if isinstance(source, int):
            opened.append(source)
            return FakeCamera(sample_video, frames=40)
        return _REAL_CAPTURE(source, *args)

    monkeypatch.setattr(video_io.cv2, 'VideoCapture', capture)
    out, csv_path = tmp_path / 'camera.avi', tmp_path / 't.csv'
    assert run_command(demo, '--input', '1', '--nolive', '--config', 'tiny', '--class_names', names_file, '--output',
                       out, '--timeline', csv_path, '--print_every', 10) == (0, '')
    assert opened == [1]  # '1' is a camera index, not a file name
    rows = read_timeline(csv_path)[1:]
    assert len(rows) == 40 and all(r[2] == '' for r in rows[:14]) and all(r[2] for r in rows[14:])
    times = [float(r[1]) for r in rows]
    assert times == sorted(times) and times[-1] > 0  # a camera's timestamps: arrival times, increasing
    assert count_frames(out) == ((40, WIDTH, HEIGHT), 40)  # written at the 30 FPS default
    assert '40 frames, 26 predictions' in capsys.readouterr().out


def test_a_camera_that_cannot_be_opened_is_named(names_file, sample_video, monkeypatch):
    class Closed(FakeCamera):
        def isOpened(self):
            return False

    monkeypatch.setattr(video_io.cv2, 'VideoCapture', lambda source, *args: Closed(sample_video, 0))
    _, message = run_command(demo, '--input', '3', '--config', 'tiny', '--class_names', names_file)
    assert message == 'error: cannot open live source camera 3: no such camera, or it is in use'


@pytest.mark.parametrize('path', extra_videos() or [None], ids=lambda p: p.name if p else 'none')
def test_real_videos_from_the_environment(path, tmp_path):
    """Optional: every file in $VTN_TEST_VIDEOS streams through the demo with a timeline row per frame."""
    if path is None:
        pytest.skip('set VTN_TEST_VIDEOS to a folder of real videos to run this check')
    csv_path = tmp_path / 't.csv'
    assert run_command(demo, '--input', path, '--config', 'tiny', '--timeline', csv_path, '--print_every', 0,
                       '--max_frames', 100) == (0, '')
    assert len(read_timeline(csv_path)) == 1 + min(100, video_io.video_info(path)['num_frames'])
