"""What a training run checks and holds in its workdir before anything compiles: one run per workdir (a lock file
naming the holder's host and PID), the data it will read (both splits there and whole), the config it resumes
with (the workdir's `config.json`, key by key), and what it writes for a person (`config.json`,
`class_names.txt`)."""
import datetime
import errno
import fcntl
import json
import logging
import os
import pathlib
import socket

import jax
import tensorflow_datasets as tfds

from vtn_jax import checkpoints
from vtn_jax.data import class_names as class_names_lib
from vtn_jax.data import input_pipeline
from vtn_jax import errors
from vtn_jax.errors import UserError

_LOG = logging.getLogger(__name__)
LOCK = 'train.lock'
_TFRECORD_FRAMING = 16  # bytes around every TFRecord record: length (8), its CRC (4), the data's CRC (4)
CONFIG = 'config.json'
# Fields a resumed run may change without --allow_config_change: how long it runs, how often it evaluates, logs
# and saves, and where the data lives; none changes what the saved state means.
RESUME_FREE_FIELDS = frozenset({
    'train.num_train_steps', 'train.num_train_epochs', 'train.eval_every_steps', 'train.eval_every_epochs',
    'train.eval_batch_size', 'train.log_every_steps', 'train.checkpoint_every_steps', 'train.max_to_keep',
    'train.max_data_errors', 'train.prefetch', 'data.data_dir'})


class WorkdirLock:
    """An exclusive lock on `<workdir>/train.lock` for a `with` block (process 0 of a run takes it).

    The lock is the kernel's (`flock`: released when its process ends, however it ends); the file says who holds
    it ({host, pid, started}). A lock whose holder is gone is taken over with a note. On a file system without
    `flock` the file alone decides: a live PID on this host, or any other host, holds it.
    """

    def __init__(self, workdir):
        self.path = pathlib.Path(workdir) / LOCK
        self._fd = None

    def _holder(self) -> dict:
        try:
            text = self.path.read_text()
            return json.loads(text) if text.strip() else {}
        except (OSError, ValueError):
            return {}

    def _refuse(self, holder: dict):
        os.close(self._fd)
        self._fd = None
        raise UserError(f'{self.path.parent} is in use by the training run of PID {holder.get("pid", "?")} on host '
                        f'{holder.get("host", "?")} (since {holder.get("started", "?")}; lock {self.path}): one run '
                        'per workdir: stop that run or choose another --workdir (delete the lock if that run is '
                        'gone)')

    def __enter__(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._refuse(self._holder())
        except OSError as e:  # no flock here (some network and FUSE file systems): judge by the file
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
            holder = self._holder()
            if holder and (holder.get('host') != socket.gethostname() or errors.process_alive(holder.get('pid'))):
                self._refuse(holder)
        holder = self._holder()
        if holder.get('pid'):  # written by a run that ended without releasing it (killed, crashed host)
            _LOG.warning('took over the lock %s of PID %s on host %s: that run is gone', self.path, holder['pid'],
                         holder.get('host', '?'))
        mine = {'host': socket.gethostname(), 'pid': os.getpid(),
                'started': datetime.datetime.now().isoformat(timespec='seconds')}
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, (json.dumps(mine) + '\n').encode(), 0)
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            os.ftruncate(self._fd, 0)  # an empty lock file is free (the file stays: removing it races a newcomer)
            os.close(self._fd)  # releases the flock
            self._fd = None


def _flat(tree: dict, prefix: str = '') -> dict:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f'{prefix}{key}.'))
        else:
            out[prefix + key] = value
    return out


def config_changes(stored: dict, config, source: str = 'the stored config') -> dict:
    """{field: (stored value, current value)} for every field of `config` that differs from a stored config (a
    config.json, completed with the defaults it lacks; `source` names it in a warning about unknown fields)."""
    before = _flat(json.loads(checkpoints.full_config(stored, source).to_json_best_effort()))
    now = _flat(json.loads(config.to_json_best_effort()))
    return {k: (before.get(k), now.get(k)) for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)}


def check_resumed_config(config, workdir: pathlib.Path, *, allow_change: bool) -> None:
    """A resumed run must have the config it started with (`config.json`), but for `RESUME_FREE_FIELDS`;
    `allow_change` accepts any change. Raises UserError naming every differing field."""
    path = workdir / CONFIG
    if not path.is_file():
        return
    changes = config_changes(json.loads(path.read_text()), config, str(path))
    refused = {k: v for k, v in changes.items() if k not in RESUME_FREE_FIELDS}
    listed = '; '.join(f'{k}: {a!r} in the workdir, {b!r} now' for k, (a, b) in (refused or changes).items())
    if refused and not allow_change:
        raise UserError(f'{workdir} holds a run with another config ({listed}): resume with the config in {path}, '
                        'choose another --workdir, or pass --allow_config_change to resume with this one')
    if changes:
        _LOG.warning('resuming %s with a changed config: %s', workdir, listed)




def check_split(builder, split: str, what: str = 'split') -> None:
    """Raises UserError when a prepared split is absent, or its files are missing or cut short (an interrupted copy
    or build); only the file sizes are read, against the byte count TFDS recorded when it wrote them.

    Args:
        builder: the prepared dataset (`load_builder`).
        split: the split's name.
        what: how the message names it (e.g. 'the eval split (config.data.eval_split)').
    """
    where = builder.data_dir
    splits = builder.info.splits
    if split not in splits:
        raise UserError(f'{what} {split!r} is not in the dataset at {where} (its splits: '
                        f'{", ".join(sorted(splits.keys()))}): name one of those, or build the split with vtn-data')
    info = splits[split]
    paths = [pathlib.Path(os.fspath(p)) for p in info.filepaths]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise UserError(f'{what} {split!r} of the dataset at {where} lacks {len(missing)} of its {len(paths)} files '
                        f'({missing[0]}{", ..." if len(missing) > 1 else ""}): copy the dataset again or rebuild it '
                        'with vtn-data build')
    if builder.info.file_format == tfds.core.file_adapters.FileFormat.TFRECORD:
        size = sum(p.stat().st_size for p in paths)
        expected = int(info.num_bytes) + _TFRECORD_FRAMING * info.num_examples
        if size < expected:
            raise UserError(f'{what} {split!r} of the dataset at {where} is cut short: its {len(paths)} file(s) hold '
                            f'{size} bytes, {expected} were written: copy the dataset again or rebuild it with '
                            'vtn-data build')


def check_data(data_config) -> list[str]:
    """The train and eval splits exist and are whole (file sizes only), and the class names; raises UserError."""
    builder = input_pipeline.load_builder(data_config)
    check_split(builder, data_config.train_split, 'the training split (config.data.train_split)')
    check_split(builder, data_config.eval_split, 'the eval split (config.data.eval_split)')
    return input_pipeline.class_names(data_config)


def prepare_workdir(config, workdir: pathlib.Path, *, allow_config_change: bool = False) -> list[str]:
    """Checks the config against the data and the workdir before anything runs, and writes what the run is.

    The resolved config goes to `config.json` (and into every checkpoint) and the class names to
    `class_names.txt` (the demo reads them); `model.num_classes` must equal the dataset's class count; a workdir
    with checkpoints must hold the same config (`check_resumed_config`).

    Returns:
        The class names.
    """
    if config.data.num_frames != config.model.num_frames:
        raise UserError(f'config.data.num_frames={config.data.num_frames} differs from '
                        f'config.model.num_frames={config.model.num_frames}')
    names = check_data(config.data)
    if len(names) != config.model.num_classes:
        raise UserError(f'config.model.num_classes={config.model.num_classes}, but the dataset '
                        f'{config.data.name}/{config.data.builder_config or "default"} has {len(names)} classes: '
                        f'set --config.model.num_classes={len(names)}')
    if checkpoints.has_steps(workdir):
        check_resumed_config(config, workdir, allow_change=allow_config_change)
    if jax.process_index() == 0:
        workdir.mkdir(parents=True, exist_ok=True)
        temporary = workdir / f'.{CONFIG}.tmp'
        temporary.write_text(config.to_json_best_effort(indent=1) + '\n')
        temporary.replace(workdir / CONFIG)  # never half-written
        class_names_lib.write_class_names(workdir / 'class_names.txt', names)
    return names
