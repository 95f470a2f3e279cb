"""A workdir holds one run: its lock against a real second process (alive, then killed), the config a resumed run
must keep, and the data checked before anything compiles."""
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys

import pytest
import tensorflow_datasets as tfds

from conftest import run_command
from vtn_jax.data import input_pipeline
from vtn_jax.errors import UserError
from vtn_jax.tools import train
from vtn_jax.training import trainer
from vtn_jax.training import workdir as workdir_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HOLD = ('import sys, time\nfrom vtn_jax.training import workdir\n'
        'with workdir.WorkdirLock(sys.argv[1]):\n    print("locked", flush=True)\n    time.sleep(600)\n')


@pytest.fixture()
def config(tiny_config, tmp_path_factory):
    tiny_config.data.data_dir = str(tmp_path_factory.getbasetemp() / 'tfds')  # shared by this module's tests
    return tiny_config


@pytest.fixture()
def warnings_of_workdir(caplog):
    logger = logging.getLogger('vtn_jax')
    cut_off = not logger.propagate  # a command's logging set-up stops vtn_jax at its own handler
    if cut_off:
        logger.addHandler(caplog.handler)
    yield caplog
    if cut_off:
        logger.removeHandler(caplog.handler)


def test_a_second_run_is_refused_naming_the_holder_and_a_dead_holders_lock_is_taken_over(config, tmp_path,
                                                                                        warnings_of_workdir):
    holder = subprocess.Popen([sys.executable, '-c', HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, 'PYTHONPATH': ROOT, 'TF_CPP_MIN_LOG_LEVEL': '2'})
    try:
        assert holder.stdout.readline().strip() == 'locked'
        lock = json.loads((tmp_path / 'train.lock').read_text())
        assert lock['pid'] == holder.pid and lock['host'] == socket.gethostname()
        expected = f'in use by the training run of PID {holder.pid} on host {socket.gethostname()}'
        with pytest.raises(UserError, match=expected):
            trainer.train_and_evaluate(config, tmp_path)  # refused before anything else happens
        assert not (tmp_path / 'config.json').exists()
    finally:
        holder.send_signal(signal.SIGKILL)  # dies without releasing anything
        holder.wait()
    with workdir_lib.WorkdirLock(tmp_path):
        assert json.loads((tmp_path / 'train.lock').read_text())['pid'] == os.getpid()
    assert f'took over the lock {tmp_path / "train.lock"} of PID {holder.pid}' in warnings_of_workdir.text
    assert (tmp_path / 'train.lock').read_text() == ''  # released
    with workdir_lib.WorkdirLock(tmp_path):  # a released lock is taken without a note
        pass
    assert warnings_of_workdir.text.count('took over') == 1


def test_without_flock_the_lock_file_decides_by_host_and_pid(tmp_path, monkeypatch, warnings_of_workdir):
    def no_flock(*_):
        raise OSError(38, 'Function not implemented')  # ENOSYS, as on some FUSE mounts

    monkeypatch.setattr(workdir_lib.fcntl, 'flock', no_flock)
    (tmp_path / 'train.lock').write_text(json.dumps({'host': socket.gethostname(), 'pid': os.getppid()}))
    with pytest.raises(UserError, match=f'PID {os.getppid()} on host'):
        workdir_lib.WorkdirLock(tmp_path).__enter__()
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    (tmp_path / 'train.lock').write_text(json.dumps({'host': socket.gethostname(), 'pid': dead.pid}))
    with workdir_lib.WorkdirLock(tmp_path):
        pass
    assert f'of PID {dead.pid}' in warnings_of_workdir.text


def test_a_resumed_run_keeps_its_config_unless_allowed(config, tmp_path, warnings_of_workdir):
    (tmp_path / 'config.json').write_text(config.to_json_best_effort())
    config.train.num_train_steps = 50  # run length: may change
    workdir_lib.check_resumed_config(config, tmp_path, allow_change=False)
    assert 'train.num_train_steps: 20 in the workdir, 50 now' in warnings_of_workdir.text
    config.optim.learning_rate = 0.01
    config.model.num_layers = 3
    with pytest.raises(UserError, match=r'another config \(model.num_layers: 2 in the workdir, 3 now; '
                                        r'optim.learning_rate: 0.0001 in the workdir, 0.01 now\).*'
                                        '--allow_config_change'):
        workdir_lib.check_resumed_config(config, tmp_path, allow_change=False)
    workdir_lib.check_resumed_config(config, tmp_path, allow_change=True)
    assert 'optim.learning_rate: 0.0001 in the workdir, 0.01 now' in warnings_of_workdir.text


def test_an_old_partial_config_json_compares_with_the_defaults_it_lacks(config, tmp_path):
    stored = json.loads(config.to_json_best_effort())
    del stored['optim']['plateau_eps'], stored['train']['prefetch']  # written before those fields existed
    assert workdir_lib.config_changes(stored, config) == {}
    config.optim.plateau_eps = 1e-6
    assert workdir_lib.config_changes(stored, config) == {'optim.plateau_eps': (1e-8, 1e-6)}


def test_vtn_train_refuses_a_changed_config_on_resume_and_names_the_flag(config, tmp_path):
    workdir = tmp_path / 'run'
    (workdir / 'checkpoints' / '2').mkdir(parents=True)  # a step: the run resumes
    (workdir / 'config.json').write_text(config.to_json_best_effort())
    flags = ['--config', 'tiny', '--workdir', workdir, f'--config.data.data_dir={config.data.data_dir}']
    code, message = run_command(train, *flags, '--config.optim.learning_rate=0.01')
    assert code == 1 and message.startswith('error: ') and '\n' not in message
    assert 'optim.learning_rate: 0.0001 in the workdir, 0.01 now' in message and '--allow_config_change' in message
    assert json.loads((workdir / 'config.json').read_text())['optim']['learning_rate'] == 0.0001  # untouched


def test_vtn_train_checkpoint_without_eval_only_is_a_usage_error(tmp_path):
    code, message = run_command(train, '--config', 'tiny', '--workdir', tmp_path, '--checkpoint', 'r34.pth')
    assert code == 1 and '--config.train.init_checkpoint=r34.pth' in message and '--eval_only' in message
    assert not (tmp_path / 'train.lock').exists()


def test_a_missing_eval_split_fails_before_training_naming_split_and_data_dir(config, tmp_path):
    config.data.eval_split = 'validation'
    with pytest.raises(UserError, match=r"the eval split \(config.data.eval_split\) 'validation' is not in the "
                                        rf"dataset at {config.data.data_dir}/synthetic_actions/tiny/.*\(its splits: "
                                        'test, train\\)'):
        trainer.train_and_evaluate(config, tmp_path)
    assert not (tmp_path / 'checkpoints').exists() and not (tmp_path / 'config.json').exists()


def test_check_split_names_an_absent_a_missing_and_a_cut_short_split(config, tmp_path):
    builder = input_pipeline.load_builder(config.data)
    for split in ('train', 'test'):
        workdir_lib.check_split(builder, split)  # whole: no error
    with pytest.raises(UserError, match=r"the eval split 'validation' is not in the dataset at .*tiny/1.0.0 "
                                        r'\(its splits: test, train\)'):
        workdir_lib.check_split(builder, 'validation', 'the eval split')
    copy = tmp_path / 'copy'
    shutil.copytree(builder.data_dir, copy)
    record = next(copy.glob('*test.tfrecord*'))
    record.write_bytes(record.read_bytes()[:-1000])  # an interrupted copy
    cut = tfds.builder_from_directory(copy)
    with pytest.raises(UserError, match=rf"'test' of the dataset at {copy} is cut short: its 1 file\(s\) hold "
                                        r'\d+ bytes, \d+ were written'):
        workdir_lib.check_split(cut, 'test')
    workdir_lib.check_split(cut, 'train')
    record.unlink()
    with pytest.raises(UserError, match=rf"'test' of the dataset at {copy} lacks 1 of its 1 files "
                                        r'\(synthetic_actions-test.tfrecord-00000-of-00001\)'):
        workdir_lib.check_split(cut, 'test')
