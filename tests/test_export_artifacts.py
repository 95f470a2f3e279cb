"""Publishing an export folder: the old one is replaced whole or left as it was, whatever fails and when; what killed
exports left behind is tidied by the next one. Folders here are stand-ins (an export.json and a file), which is all
the publishing reads."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from vtn_jax import errors
from vtn_jax.export import artifacts

DEAD_PID = 999_999_999  # no such process


def fake_export(folder: pathlib.Path, tag: str) -> pathlib.Path:
    folder.mkdir(parents=True)
    (folder / 'export.json').write_text(f'{{"tag": "{tag}"}}')
    (folder / 'encoder.bin').write_bytes(tag.encode() * 100)
    return folder


def contents(folder: pathlib.Path):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else None


def publish_new(out: pathlib.Path) -> None:
    with artifacts.staging(out) as stage:
        (stage / artifacts.SCRATCH).mkdir()
        (stage / artifacts.SCRATCH / 'encoder.tflite').write_bytes(b'scratch')
        fake_export(stage / 'x', 'new')
        for path in (stage / 'x').iterdir():
            path.rename(stage / path.name)
        (stage / 'x').rmdir()
        artifacts.publish(stage, out)


@pytest.mark.parametrize('swap', [True, False], ids=['atomic-swap', 'two-renames'])
def test_publishing_replaces_the_old_folder_whole_and_leaves_nothing_beside(swap, tmp_path, monkeypatch):
    swaps, exchange = [], artifacts._exchange
    def recorded(a, b):  # without the swap: as on a system without renameat2
        swaps.append(exchange(a, b) if swap else False)
        return swaps[-1]
    monkeypatch.setattr(artifacts, '_exchange', recorded)
    out = fake_export(tmp_path / 'exp', 'old')
    publish_new(out)
    assert swaps == [swap and sys.platform.startswith('linux')]
    assert contents(out) == {'encoder.bin': b'new' * 100, 'export.json': b'{"tag": "new"}'}  # no scratch folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ['exp']
    publish_new(tmp_path / 'first')  # no old folder: a plain rename
    assert (tmp_path / 'first' / 'export.json').read_text() == '{"tag": "new"}'


def test_a_failed_second_rename_puts_the_old_folder_back(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, '_exchange', lambda a, b: False)
    out = fake_export(tmp_path / 'exp', 'old')
    before = contents(out)
    real_rename = pathlib.Path.rename

    def rename(self, target):
        if self.name.startswith('.exp.partial-') and pathlib.Path(target).name == 'exp':
            raise OSError(28, 'No space left on device')
        return real_rename(self, target)
    monkeypatch.setattr(pathlib.Path, 'rename', rename)
    with pytest.raises(errors.UserError, match='cannot replace .*exp with the new export .*the folder is unchanged'):
        publish_new(out)
    assert contents(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ['exp']


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which('chattr'), reason='needs root and chattr')
def test_a_folder_that_cannot_be_renamed_is_left_as_it_was(tmp_path):
    out = fake_export(tmp_path / 'exp', 'old')
    before = contents(out)
    if subprocess.run(['chattr', '+i', str(out)], check=False, capture_output=True).returncode:
        pytest.skip('this file system has no immutable flag')
    try:
        with pytest.raises(errors.UserError, match='cannot replace .*Operation not permitted'):
            publish_new(out)
    finally:
        subprocess.run(['chattr', '-i', str(out)], check=True)
    assert contents(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ['exp']


def test_the_next_export_tidies_what_killed_ones_left(tmp_path):
    # Killed between the two renames of the fallback: the old folder aside, none in place, a staging folder.
    fake_export(tmp_path / f'.exp.old-{DEAD_PID}', 'old')
    fake_export(tmp_path / f'.exp.partial-{DEAD_PID}', 'half')
    fake_export(tmp_path / f'.exp.partial-{os.getpid()}', 'a live export')  # (its own: started afresh)
    artifacts.recover(tmp_path / 'exp')
    assert (tmp_path / 'exp' / 'export.json').read_text() == '{"tag": "old"}'  # put back
    assert sorted(p.name for p in tmp_path.iterdir()) == ['.exp.partial-' + str(os.getpid()), 'exp']
    fake_export(tmp_path / f'.exp.old-{DEAD_PID}', 'older')  # killed after the second rename: a new one is in place
    publish_new(tmp_path / 'exp')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['exp']


def test_the_destination_is_resolved_and_checked(tmp_path, monkeypatch):
    real = fake_export(tmp_path / 'real', 'old')
    (tmp_path / 'link').symlink_to(real)
    publish_new(tmp_path / 'link')  # published where the link points; the link stays
    assert (tmp_path / 'link').is_symlink() and (real / 'export.json').read_text() == '{"tag": "new"}'
    monkeypatch.chdir(real)
    for given, message in (('.', 'is the current directory'), ('..', 'holds files but no export.json'),
                           ('/', 'file-system root')):
        with pytest.raises(errors.UserError, match=message):
            artifacts.check_destination(given)
