"""SIGTERM and SIGINT stop a run cleanly: real signals to this process and to a real `vtn-train` child; the stopped
run's checkpoint is complete and resuming it ends bitwise where an uninterrupted run ends."""
import logging
import os
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest

from vtn_jax import checkpoints
from vtn_jax.training import preemption
from vtn_jax.training import trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def data_dir(tiny_data_dir):
    return tiny_data_dir


# The run's settings; evaluation only at the end, so a run of any length evaluates once, at its last step.
SETTINGS = {'train.eval_every_steps': 1000, 'train.checkpoint_every_steps': 1000, 'train.log_every_steps': 1}


def start_training(workdir, data_dir, steps):
    """A real `vtn-train` child with SIGINT at its default (as from a terminal; a background job ignores it)."""
    command = [sys.executable, '-m', 'vtn_jax.tools.train', '--config', 'tiny', '--workdir', str(workdir),
               f'--config.data.data_dir={data_dir}', f'--config.train.num_train_steps={steps}',
               *(f'--config.{k}={v}' for k, v in SETTINGS.items())]
    # Compiled as this process compiles (tests/conftest.py turns XLA's optimisations off), so that the stopped
    # run resumed here is bitwise comparable with a run made here.
    env = {**os.environ, 'PYTHONPATH': ROOT, 'TF_CPP_MIN_LOG_LEVEL': '2', 'JAX_DISABLE_MOST_OPTIMIZATIONS': 'true'}
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def read_until(proc, text, lines):
    for line in proc.stdout:
        lines.append(line)
        if text in line:
            return
    raise AssertionError(f'{text!r} never came:\n' + ''.join(lines[-30:]))


def finish(proc, lines, timeout=300):
    lines.append(proc.communicate(timeout=timeout)[0])
    return ''.join(lines)


def stopped_step(output, name):
    found = [line for line in output.splitlines() if line.startswith(f'stopped by {name} at step ')]
    assert len(found) == 1, output[-3000:]
    assert found[0].endswith(': checkpoint saved, resume with the same command'), found[0]
    return int(found[0].split(' at step ')[1].split(':')[0])


def test_sigterm_saves_the_step_and_the_resumed_run_ends_bitwise_as_an_uninterrupted_one(tiny_config, data_dir,
                                                                                        tmp_path):
    proc, lines = start_training(tmp_path / 'stopped', data_dir, 1000), []
    read_until(proc, 'step 2/1000', lines)
    proc.send_signal(signal.SIGTERM)
    output = finish(proc, lines)
    assert proc.returncode == 0, output[-3000:]
    assert 'Traceback' not in output
    step = stopped_step(output, 'SIGTERM')
    assert step >= 2 and (tmp_path / 'stopped' / 'checkpoints' / str(step)).is_dir()
    # The same run resumed to step + 2, and a run of step + 2 steps from scratch: bitwise the same parameters.
    tiny_config.data.data_dir = str(data_dir)
    tiny_config.update_from_flattened_dict({**SETTINGS, 'train.num_train_steps': step + 2})
    resumed = trainer.train_and_evaluate(tiny_config, tmp_path / 'stopped')
    straight = trainer.train_and_evaluate(tiny_config, tmp_path / 'straight')
    assert resumed['step'] == straight['step'] == step + 2 and resumed == straight
    a = checkpoints.restore_variables(tmp_path / 'stopped', which='latest')
    b = checkpoints.restore_variables(tmp_path / 'straight', which='latest')
    jax.tree.map(np.testing.assert_array_equal, a, b)


def test_sigint_twice_exits_130_without_a_traceback_and_keeps_the_checkpoint_whole(data_dir, tmp_path):
    proc, lines = start_training(tmp_path, data_dir, 1000), []
    read_until(proc, 'step 2/1000', lines)
    proc.send_signal(signal.SIGINT)
    read_until(proc, 'SIGINT: stopping after the step in flight', lines)
    proc.send_signal(signal.SIGINT)  # impatient Ctrl-C: the save goes on
    output = finish(proc, lines)
    assert proc.returncode == 130, output[-3000:]
    assert 'Traceback' not in output and 'KeyboardInterrupt' not in output
    assert 'SIGINT again: ignored' in output
    step = stopped_step(output, 'SIGINT')
    assert checkpoints.read_run(tmp_path, 'latest')[0] == step  # complete: it restores


def check_signals_in_this_process():
    """Real signals to this process around `StopSignals` (run in a fresh interpreter by the test below: a test
    process's own signal handlers and libraries are not a clean start)."""
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger('vtn_jax.training.preemption')
    logger.addHandler(handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    for sig, code in ((signal.SIGTERM, 0), (signal.SIGINT, 130)):
        try:
            with preemption.StopSignals():
                os.kill(os.getpid(), sig)  # Python runs the handler right after this call
            raise AssertionError('no stop')
        except preemption.TrainingStopped as e:
            assert 'before training started: nothing to save' in str(e)
            assert e.exit_code == code and e.step is None
    with preemption.StopSignals() as signals:
        signals.start_training()
        assert not signals.should_stop(1)
        os.kill(os.getpid(), signal.SIGTERM)
        assert signals.should_stop(2) and signals.received == 'SIGTERM'
        signals.saving_step = 2
        os.kill(os.getpid(), signal.SIGINT)  # a second signal: noted, nothing else
        stopped = signals.stopped(2)
    assert stopped.exit_code == 0 and str(stopped) == ('stopped by SIGTERM at step 2: checkpoint saved, resume '
                                                       'with the same command')
    assert any('SIGINT again: ignored, the checkpoint of step 2 is being written' in m for m in messages)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before  # handlers given back
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with preemption.StopSignals():  # ignored by whoever started the process: left ignored
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_signals_before_and_during_training_in_this_process():
    code = ('import sys; sys.path.insert(0, "tests"); import test_training_preemption as t; '
            't.check_signals_in_this_process(); print("held")')
    proc = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, 'PYTHONPATH': ROOT, 'TF_CPP_MIN_LOG_LEVEL': '2'}, check=False)
    assert proc.returncode == 0 and proc.stdout.strip().endswith('held'), proc.stdout[-2000:] + proc.stderr[-3000:]
