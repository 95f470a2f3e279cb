"""Faults and hostile input on the deploy and export side, tried as an operator and an attacker would, through the
real commands: every case ends in ONE line naming the file or key (exit status 1, no traceback) or in the right
outcome; a killed or stopped export leaves the previous folder whole (or none) and nothing half-written; Ctrl-C
and SIGTERM finish what a demo writes. Each case is one parametrized test, so the set can be counted.

In-process runs (`conftest.run_command`) where they can; real processes where a signal or a traceback needs one.
"""
import csv
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc

import cv2
import numpy as np
import pytest

import vtn_jax
from conftest import run_command
from export_helpers import rewrite_record, set_at
from vtn_jax import Recognizer
from vtn_jax.data import video_io
from vtn_jax.inference import export_record
from vtn_jax.tools import demo
from vtn_jax.tools import export
from vtn_jax.tools import timeline

ROOT = pathlib.Path(vtn_jax.__file__).resolve().parents[1]  # the checkout whose vtn_jax is under test


def is_one_line(message: str) -> bool:
    return message.startswith('error: ') and '\n' not in message.strip() and 'Traceback' not in message


@pytest.fixture()
def folder(rgb, tmp_path):
    """A copy of the verified rgb export (encoder, decoder, whole; 8 classes), free to damage."""
    copy = tmp_path / 'export'
    shutil.copytree(rgb[3], copy)
    return copy


def edit(change):
    """A damage: export.json parsed, changed in place by `change(record)`, written back."""
    return lambda folder: rewrite_record(folder, change)


def put(keys, value):
    return edit(set_at(keys, value))


def text(content):
    def apply(folder):
        target = folder / 'export.json'
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content(target.read_text()) if callable(content) else content)
    return apply


def rechecksum(folder):
    """What an attacker who rewrites files does to the sizes and SHA-256 export.json records."""
    def change(record):
        if isinstance(record.get('files'), dict):
            record['files'] = {name: export_record.file_digest(folder / name) for name in record['files']}
    rewrite_record(folder, change)


def file_change(name, change, resum=False):
    def apply(folder):
        change(folder / name)
        if resum:
            rechecksum(folder)
    return apply


def flip_middle_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def cut_half(path):
    path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def link_outside(path):
    outside = path.parent.parent / f'outside-{path.name}'
    shutil.move(path, outside)
    path.symlink_to(outside)


def make_dir(path):
    path.unlink()
    path.mkdir()


DEEP = '[' * 100_000 + ']' * 100_000
# (case, damage, what the one line must name)
DEPLOY_CASES = [
    ('ir-dotdot', put(('artifacts', 'encoder', 'ir'), '../../etc/passwd'), 'inside the export folder'),
    ('ir-absolute', put(('artifacts', 'encoder', 'ir'), '/etc/passwd'), 'inside the export folder'),
    ('ir-subfolder', put(('artifacts', 'decoder', 'ir'), 'sub/decoder.xml'), 'inside the export folder'),
    ('ir-backslash', put(('artifacts', 'decoder', 'ir'), '..\\decoder.xml'), 'inside the export folder'),
    ('ir-not-a-string', put(('artifacts', 'encoder', 'ir'), 7), '"ir" must be str'),
    ('std-zero', put(('preprocessing', 'std'), [0.2, 0.0, 0.2]), 'preprocessing.std'),
    ('mean-one-value', put(('preprocessing', 'mean'), [0.5]), 'preprocessing.mean'),
    ('names-string', put(('class_names',), 'abcdefgh'), '"class_names"'),
    ('names-integers', put(('class_names',), list(range(8))), '"class_names"'),
    ('names-empty-list', put(('class_names',), []), '"class_names"'),
    ('names-null', put(('class_names',), None), '"class_names"'),
    ('names-blank', put(('class_names',), [''] * 8), '"class_names"'),
    ('names-too-many', put(('class_names',), [f'c{i}' for i in range(9)]), 'class_names has 9'),
    ('names-deep', put(('class_names',), json.loads('[' * 200 + ']' * 200)), '"class_names"'),
    ('stride-1e9', put(('clip', 'stride'), 10 ** 9), 'clip.stride'),
    ('stride-string', put(('clip', 'stride'), '2'), '"stride"'),
    ('frames-negative', put(('clip', 'num_frames'), -8), 'num_frames'),
    ('clip-string', put(('clip',), '8'), '"clip"'),
    ('modality-unknown', put(('clip', 'modality'), 'depth'), 'modality'),
    ('classes-1e9', put(('artifacts', 'decoder', 'output', 'shape'), [1, 10 ** 9]), 'artifacts.decoder'),
    ('shape-string', put(('artifacts', 'encoder', 'ir_input', 'shape'), 'abc'), '"shape"'),
    ('shape-wrong', put(('artifacts', 'decoder', 'ir_input', 'shape'), [1, 7, 32]), 'ir_input.shape'),
    ('dtype-unknown', put(('artifacts', 'encoder', 'ir_input', 'dtype'), 'int4'), '"dtype"'),
    ('artifacts-list', put(('artifacts',), []), '"artifacts"'),
    ('artifacts-unknown-part', put(('artifacts', 'telepathy'), {}), '"artifacts"'),
    ('omz-string', put(('omz',), 'yes'), '"omz"'),
    ('format-missing', edit(lambda r: r.pop('format')), 'format'),
    ('preprocessing-missing', edit(lambda r: r.pop('preprocessing')), '"preprocessing"'),
    ('sidecar-list', text('[]'), 'export.json'),
    ('sidecar-null', text('null'), 'export.json'),
    ('sidecar-deep', text(DEEP), 'not valid JSON'),
    ('sidecar-truncated', text(lambda t: t[:len(t) // 2]), 'not valid JSON'),
    ('sidecar-empty', text(''), 'not valid JSON'),
    ('sidecar-binary', text(bytes(range(256)) * 4), 'export.json'),
    ('sidecar-nan', text('{"format": NaN}'), 'not valid JSON'),
    ('sidecar-huge', text(' ' * (17 << 20) + '{}'), 'not an export.json'),
    ('sidecar-folder', file_change('export.json', make_dir), 'export.json'),
    ('verification-null', put(('verification',), None), 'verification did not run'),
    ('verification-failed', put(('verification', 'passed'), False), 'verification failed'),
    ('verification-string', put(('verification', 'passed'), 'yes'), 'verification failed'),
    ('checksums-missing', edit(lambda r: r.pop('files')), '"files"'),
    ('bin-byte-flipped', file_change('encoder.bin', flip_middle_byte), 'encoder.bin is not the file'),
    ('xml-truncated', file_change('encoder.xml', cut_half), 'encoder.xml is not the file'),
    ('bin-deleted', file_change('decoder.bin', pathlib.Path.unlink), 'decoder.bin is missing'),
    ('xml-garbage-resummed', file_change('encoder.xml', lambda p: p.write_text('<net><garbage'), True), 'encoder.xml'),
    ('bin-truncated-resummed', file_change('encoder.bin', cut_half, True), 'encoder'),
    ('bin-garbage', file_change('decoder.bin', lambda p: p.write_bytes(os.urandom(p.stat().st_size))),
     'decoder.bin is not the file'),
    ('parts-swapped', put(('artifacts', 'encoder', 'ir'), 'decoder.xml'), 'decoder.xml'),
    ('bin-link-outside', file_change('encoder.bin', link_outside, True), 'outside the export folder'),
    ('sidecar-link-outside', file_change('export.json', link_outside), 'outside the export folder'),
]


@pytest.mark.parametrize('command', [demo, timeline], ids=['demo', 'timeline'])
@pytest.mark.parametrize('case, damage, named', DEPLOY_CASES, ids=[c[0] for c in DEPLOY_CASES])
def test_a_damaged_export_folder_is_refused_in_one_line(command, case, damage, named, folder, sample_video, tmp_path):
    del case
    damage(folder)
    out = ['--output', tmp_path / 't.csv'] if command is timeline else ['--max_frames', 20, '--print_every', 0]
    code, message = run_command(command, '--export', folder, '--input', sample_video, *out)
    assert code == 1 and is_one_line(message) and named in message, message


@pytest.mark.parametrize('command', [demo, timeline], ids=['demo', 'timeline'])
def test_an_unverified_export_runs_when_allowed(command, folder, sample_video, tmp_path):
    put(('verification',), None)(folder)
    out = ['--output', tmp_path / 't.csv'] if command is timeline else ['--max_frames', 20, '--print_every', 0]
    assert run_command(command, '--export', folder, '--input', sample_video, '--allow_unverified', *out) == (0, '')


def write_names(path, names):
    path.write_text(''.join(f'{n}\n' for n in names))
    return path


INPUT_CASES = [  # (case, command, flags given a tmp_path and the sample video, what the one line must name)
    ('camera-overflow', demo, lambda d, v: ['--input', '99999999999999999999'], 'camera index 99999999999999999999'),
    ('camera-negative', demo, lambda d, v: ['--input', '-1'], '-1'),
    ('names-count', demo, lambda d, v: ['--input', v, '--class_names', write_names(d / 'n.txt', 'abcde')],
     'n.txt has 5 names but the model has 8'),
    ('names-count-timeline', timeline, lambda d, v: ['--input', v, '--output', d / 't.csv',
                                                     '--class_names', write_names(d / 'n.txt', 'abcdefghi')],
     'n.txt has 9 names but the model has 8'),
    ('names-binary', demo, lambda d, v: ['--input', v, '--class_names', d / 'v.avi'], 'not UTF-8'),
    ('names-folder', demo, lambda d, v: ['--input', v, '--class_names', d], 'is a folder'),
    ('timeline-suffix', timeline, lambda d, v: ['--input', v, '--output', d / 't.txt'], 'must end in .csv or .json'),
    ('timeline-under-a-file', timeline, lambda d, v: ['--input', v, '--output', d / 'v.avi' / 't.csv'], 'v.avi'),
    ('demo-timeline-under-a-file', demo, lambda d, v: ['--input', v, '--timeline', d / 'v.avi' / 't.csv'], 'v.avi'),
    ('timeline-not-a-video', timeline, lambda d, v: ['--input', d / 'n.txt', '--output', d / 't.csv'], 'n.txt'),
]


@pytest.mark.parametrize('case, command, flags, named', INPUT_CASES, ids=[c[0] for c in INPUT_CASES])
def test_bad_input_is_one_line_naming_it(case, command, flags, named, folder, sample_video, tmp_path):
    del case
    shutil.copy(sample_video, tmp_path / 'v.avi')
    write_names(tmp_path / 'n.txt', [f'a{i}' for i in range(8)]) if not (tmp_path / 'n.txt').exists() else None
    quiet = ['--print_every', 0] if command is demo else []
    code, message = run_command(command, '--export', folder, *quiet, *flags(tmp_path, tmp_path / 'v.avi'))
    assert code == 1 and is_one_line(message) and named in message, message


# (A name with a line break, '\r' included, is refused when the export is read: labels.txt holds one per line;
# tests/test_inference_export_record.py.)
HOSTILE_NAMES = ['=HYPERLINK("http://x","y")', '+1+1', '-2+3', '@SUM(A1)', '\tcmd', '\x1b[2Jclear', 'plain', '-']


@pytest.mark.parametrize('command', [demo, timeline], ids=['demo', 'timeline'])
def test_class_names_are_never_formulas_nor_split_lines(command, folder, sample_video, tmp_path, capsys):
    put(('class_names',), HOSTILE_NAMES)(folder)
    path = tmp_path / 't.csv'
    args = ['--timeline', path, '--top_k', 8] if command is demo else ['--output', path, '--top_k', 8]
    assert run_command(command, '--export', folder, '--input', sample_video, *args) == (0, '')
    with open(path, newline='', encoding='utf-8') as f:
        rows = list(csv.reader(f))
    labels = [cell for row in rows[1:] for cell in row[2::2] if cell]
    assert labels and not [c for c in labels if c[0] in '=+-@\t\r']
    assert set(labels) == {("'" + n if n[0] in '=+-@\t\r' else n) for n in HOSTILE_NAMES}  # else exact
    printed = capsys.readouterr().out.splitlines()
    if command is demo:  # every printed line is one frame's line: no name split it
        frame_lines = [line for line in printed if 'FPS]' in line]
        assert len(frame_lines) == 120 and all(line.startswith('frame ') for line in frame_lines)
    assert not [line for line in printed if '\x1b' in line]  # the escape is printed as text, never sent


def test_a_long_4k_video_streams_through_vtn_timeline(folder, tmp_path):
    # 40 frames of 3840x2160 are 1 GB decoded: the command holds a few of them at a time, not the video.
    video = tmp_path / '4k.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 24.0, (3840, 2160))
    rng = np.random.default_rng(1)
    for _ in range(40):  # smooth pictures (a small random one enlarged): a small file
        writer.write(cv2.resize(rng.integers(0, 256, (9, 16, 3), np.uint8), (3840, 2160)))
    writer.release()
    out, frame_bytes = tmp_path / 't.json', 3840 * 2160 * 3
    tracemalloc.start()
    try:
        assert run_command(timeline, '--export', folder, '--input', video, '--output', out) == (0, '')
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    doc = json.loads(out.read_text())
    assert len(doc['frames']) == 40 and doc['frames'][14]['top'] and doc['encoder_passes'] == 40
    assert peak < 8 * frame_bytes, f'{peak / frame_bytes:.1f} frames held'


def _raise(error):
    def fail(*args, **kwargs):
        raise error
    return fail


UNEXPECTED = [('TypeError', TypeError("'NoneType' object is not subscriptable")),
              ('AttributeError', AttributeError("'NoneType' object has no attribute 'shape'")),
              ('RuntimeError', RuntimeError('Exception from src/inference/src/cpp/infer_request.cpp:223')),
              ('RecursionError', RecursionError('maximum recursion depth exceeded')),
              ('MemoryError', MemoryError()),
              ('cv2.error', cv2.error('OpenCV(5.0) resize.cpp:4150: error: (-215:Assertion failed) !ssize.empty()')),
              ('KeyError', KeyError('artifacts')),
              ('JSONDecodeError', json.JSONDecodeError('Expecting value', '', 0))]


@pytest.mark.parametrize('name, error', UNEXPECTED, ids=[u[0] for u in UNEXPECTED])
def test_an_unexpected_error_is_one_line_with_the_traceback_in_a_file(name, error, folder, sample_video,
                                                                      monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))
    monkeypatch.delenv('VTN_TRACEBACK', raising=False)
    monkeypatch.setattr(Recognizer, 'stream_many', _raise(error))  # what vtn-demo runs
    code, message = run_command(demo, '--export', folder, '--input', sample_video)
    assert code == 1 and is_one_line(message) and type(error).__name__ in message, message
    saved = [p for p in tmp_path.iterdir() if p.name.startswith('vtn-demo') and p.name.endswith('.traceback.txt')]
    assert len(saved) == 1 and str(saved[0]) in message and 'Traceback' in saved[0].read_text()
    monkeypatch.setenv('VTN_TRACEBACK', '1')  # asked for: the error itself, traceback and all
    with pytest.raises(type(error)):
        run_command(demo, '--export', folder, '--input', sample_video)


EXPORT_CASES = [  # (case, the --output folder given a tmp_path, what the one line must name)
    ('output-is-a-file', lambda d: d / 'v.avi', 'is a file'),
    ('output-under-a-file', lambda d: d / 'v.avi' / 'exp', 'cannot write the export beside'),
    ('output-holds-other-files', lambda d: d, 'holds files but no export.json'),
    ('output-root', lambda d: pathlib.Path('/'), 'root'),
    ('output-current-folder', lambda d: pathlib.Path('.'), 'current directory'),
]


@pytest.mark.parametrize('case, output, named', EXPORT_CASES, ids=[c[0] for c in EXPORT_CASES])
def test_an_export_that_cannot_be_published_fails_first_in_one_line(case, output, named, folder, sample_video,
                                                                    tmp_path, monkeypatch):
    shutil.copy(sample_video, tmp_path / 'v.avi')
    if case == 'output-current-folder':
        monkeypatch.chdir(folder)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, message = run_command(export, '--config', 'tiny', '--output', output(tmp_path), '--parts', 'decoder')
    assert code == 1 and is_one_line(message) and named in message, message
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize('case, damage, named', [
    ('no-export', lambda f: (f / 'export.json').unlink(), 'holds no export'),
    ('options-missing', edit(lambda r: r.pop('options')), '"options"'),
    ('names-count', None, 'n.txt has 3 names but the model has 8'),
], ids=['no-export', 'options-missing', 'names-count'])
def test_vtn_export_names_what_it_cannot_use(case, damage, named, folder, tmp_path):
    args = ['--verify_only']
    if damage is None:
        args = ['--class_names', write_names(tmp_path / 'n.txt', 'abc'), '--parts', 'decoder']
        folder = tmp_path / 'new'
    else:
        damage(folder)
    code, message = run_command(export, '--config', 'tiny', '--output', folder, '--verify_clips', 1, *args)
    assert code == 1 and is_one_line(message) and named in message, message


def test_leaving_a_stream_early_ends_it_cleanly(folder, sample_video):
    import threading
    rec = Recognizer.from_export(folder, precision='f32')
    for step in rec.stream(sample_video):
        if step.frame_index == 30:
            break
    assert not [t for t in threading.enumerate() if t.name == 'vtn-frame-reader']  # the reader stopped
    again = [s.prediction.logits for s in rec.stream(sample_video, max_frames=40) if s.prediction is not None]
    fresh = [s.prediction.logits for s in Recognizer.from_export(folder, precision='f32').stream(
        sample_video, max_frames=40) if s.prediction is not None]
    np.testing.assert_array_equal(np.stack(again), np.stack(fresh))  # nothing of the first stream was left over


# ---- real processes: signals --------------------------------------------------------------------------------------

def _environment(tmp: pathlib.Path) -> dict:
    tmp.mkdir(exist_ok=True)
    return {**os.environ, 'PYTHONPATH': str(ROOT), 'TMPDIR': str(tmp), 'VTN_TRACEBACK': ''}


# `python -m module`, with Ctrl-C's usual handler even where the test runner ignores SIGINT (a background job)
_BOOT = ('import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); '
         'runpy.run_module({module!r}, run_name="__main__", alter_sys=True)')


def _start(module: str, *args, tmp: pathlib.Path, logs: pathlib.Path = None) -> subprocess.Popen:
    """A real `python -m <module>` process; its output in `logs`.out / .err (a pipe nobody reads would block it),
    or its stdout through a pipe without `logs`."""
    tmp.mkdir(exist_ok=True)
    out = open(f'{logs}.out', 'w') if logs else subprocess.PIPE
    err = open(f'{logs or tmp / "demo"}.err', 'w')
    proc = subprocess.Popen([sys.executable, '-c', _BOOT.format(module=module), *map(str, args)], stdout=out,
                            stderr=err, text=True, env=_environment(tmp))
    proc.err_path = pathlib.Path(err.name)
    return proc


def _finish(proc: subprocess.Popen, timeout: float = 300) -> str:
    """Waits for the process; its stderr."""
    proc.communicate(timeout=timeout)
    return proc.err_path.read_text()


def _staged(out: pathlib.Path) -> list:
    return sorted(out.parent.glob(f'.{out.name}.*'))


def _wait_for(condition, proc, timeout=900.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f'the export ended (status {proc.returncode}) before the point to stop it at: '
                                 f'{proc.err_path.read_text()[-2000:]}')
        time.sleep(0.02)


POINTS = {  # where to stop an export: its staging folder holds the first part's files / the record being verified
    'first-part': lambda stage: (stage / 'encoder.xml').is_file() and (stage / 'encoder.bin').is_file(),
    'verification': lambda stage: (stage / 'export.json').is_file(),
}


def _stop_export(out: pathlib.Path, point: str, how: signal.Signals, tmp: pathlib.Path) -> subprocess.Popen:
    """Starts `vtn-export` of another model (5 classes) into `out` and sends `how` at `point`."""
    proc = _start('vtn_jax.tools.export', '--config', 'tiny', '--config.model.num_classes=5', '--output', out,
                  '--parts', 'encoder,decoder', '--verify_clips', 2, tmp=tmp,
                  logs=tmp.parent / f'{out.name}-{how.name}')
    stage = out.parent / f'.{out.name}.partial-{proc.pid}'
    proc.stage = stage
    _wait_for(lambda: POINTS[point](stage), proc)
    proc.send_signal(how)
    return proc


def _snapshot(folder: pathlib.Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else None


def _accepted(folder: pathlib.Path) -> bool:
    rec = Recognizer.from_export(folder, precision='f32')  # refuses a half-written or unverified folder
    return len(rec.class_names) == 8


def test_a_killed_or_stopped_export_leaves_the_old_folder_or_none(rgb, tmp_path):
    """Re-exporting another model into an existing folder (A), and a first export (C), stopped at two points each:
    SIGKILL first (nothing runs after it), then SIGTERM / SIGINT, which must clean up and say so in one line."""
    a, c, temp = tmp_path / 'a', tmp_path / 'c', tmp_path / 'temp'
    shutil.copytree(rgb[3], a)
    old = _snapshot(a)
    procs = [_stop_export(a, 'first-part', signal.SIGKILL, temp), _stop_export(c, 'verification', signal.SIGKILL, temp)]
    for proc in procs:
        _finish(proc)
        assert proc.returncode == -signal.SIGKILL
    assert _snapshot(a) == old and _accepted(a) and not c.exists()  # the old export byte for byte; no new folder
    assert [p.name for p in _staged(a) + _staged(c)] == [p.stage.name for p in procs]  # what SIGKILL left behind

    # The next runs tidy that up first; stopped by SIGTERM / SIGINT, they remove their own staging folder too.
    procs = [_stop_export(a, 'verification', signal.SIGTERM, temp), _stop_export(c, 'first-part', signal.SIGINT, temp)]
    for proc, status, name in zip(procs, (143, 130), ('SIGTERM', 'SIGINT')):
        err = _finish(proc)
        lines = err.strip().splitlines()
        assert proc.returncode == status and lines[-1].startswith(f'error: stopped by {name}'), err[-2000:]
        assert 'Traceback' not in err
    assert _snapshot(a) == old and _accepted(a) and not c.exists()
    assert _staged(a) + _staged(c) == [] and not [p for p in temp.iterdir() if p.is_dir()]  # nor temporary folders


@pytest.fixture(scope='module')
def long_video(tmp_path_factory):
    """300 frames (12.5 s at 24 FPS), long enough to stop a demo in the middle."""
    frames = np.random.default_rng(3).integers(0, 256, (300, 48, 64, 3), np.uint8)
    path = tmp_path_factory.mktemp('long') / 'long.avi'
    video_io.write_video(path, frames, fps=24.0)
    return path


@pytest.mark.parametrize('how, at, times', [(signal.SIGINT, 40, 1), (signal.SIGINT, 40, 2), (signal.SIGTERM, 40, 1),
                                            (signal.SIGINT, 299, 1)],
                         ids=['ctrl-c', 'ctrl-c-twice', 'sigterm', 'ctrl-c-at-the-end'])
def test_stopping_vtn_demo_finishes_the_timeline_and_its_picture(how, at, times, rgb, long_video, tmp_path):
    path = tmp_path / 't.csv'
    proc = _start('vtn_jax.tools.demo', '--export', rgb[3], '--input', long_video, '--timeline', path,
                  tmp=tmp_path / 'temp')
    printed = 0
    for line in proc.stdout:
        printed += line.startswith('frame ')
        if printed == at + 1:
            for _ in range(times):
                proc.send_signal(how)
            break
    err = _finish(proc, 120)
    assert 'Traceback' not in err, err[-2000:]
    if proc.returncode or at < 299:  # (at the last frame the signal may come after the command ended: status 0)
        assert proc.returncode == 128 + how and err.strip().splitlines()[-1].startswith('error: stopped by'), err
    with open(path, newline='') as f:
        rows = list(csv.reader(f))[1:]
    assert at < len(rows) <= 300 and [int(r[0]) for r in rows] == list(range(len(rows)))  # whole rows, in order
    picture = cv2.imread(str(path.with_suffix('.png')))
    assert picture is not None and picture.std() > 10
