"""Stopping a run cleanly: SIGTERM (what preemptible VMs, Kubernetes and batch schedulers send) and SIGINT (Ctrl-C)
let the step in flight finish, a checkpoint of that step is written and completed, and the run ends with
`TrainingStopped` (a command prints its one line and exits 0 for SIGTERM, 130 for SIGINT). Resuming with the
same command continues exactly where it stopped.

One process: Python handlers set a flag the loop reads after every step. A second signal while the run stops is
said to be ignored; the checkpoint is still completed (SIGKILL stops at once, and then the previous complete
checkpoint is the one a resume uses: orbax never accepts a half-written one).

Many processes (`jax.distributed`): they must stop after the same step or the collectives of the others hang.
JAX's preemption service (on by default) catches SIGTERM in any process, tells every process through the
coordination service, and `reached_preemption_sync_point(step)`, called after every step by every process,
becomes true on all of them at the same step (the largest step any process had reached, plus one). SIGINT is
forwarded to it as a SIGTERM to this process. A signal that arrives before the first step takes effect after it.
"""
import logging
import os
import signal
import threading
from typing import Optional

import jax
from jax.experimental import multihost_utils

_LOG = logging.getLogger(__name__)
EXIT_CODES = {'SIGTERM': 0, 'SIGINT': 130}  # 130 = 128 + SIGINT, what a shell reports for Ctrl-C
_RESUME = 'resume with the same command'


class TrainingStopped(Exception):
    """The run stopped on a signal; the message is the one line a command prints, `exit_code` its status."""

    def __init__(self, message: str, *, signal_name: str, step: Optional[int], exit_code: int):
        super().__init__(message)
        self.signal_name, self.step, self.exit_code = signal_name, step, exit_code


class StopSignals:
    """Catches SIGTERM and SIGINT for the duration of a `with` block (in the main thread; elsewhere it does
    nothing). Before `start_training()` a signal in a one-process run stops at once (nothing to save yet)."""

    def __init__(self):
        self.multi_process = jax.process_count() > 1
        self.received: Optional[str] = None  # the first signal's name
        self.training = False
        self.finishing = False  # the loop ended: the last saves are being completed
        self.saving_step: Optional[int] = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            return self
        # Many processes: SIGTERM stays with JAX's preemption service (a Python handler would replace its own).
        for sig in (signal.SIGINT,) if self.multi_process else (signal.SIGTERM, signal.SIGINT):
            if signal.getsignal(sig) is not signal.SIG_IGN:  # ignored by whoever started us (nohup, a background job)
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame):
        del frame
        name = signal.Signals(signum).name
        if self.finishing:
            _LOG.warning('%s: ignored, the run has finished and completes its last checkpoint', name)
            return
        if self.received:
            what = (f'the checkpoint of step {self.saving_step} is being written'
                    if self.saving_step is not None else 'the run stops after the step in flight')
            _LOG.warning('%s again: ignored, %s and will be complete (SIGKILL stops at once; a resume then uses '
                         'the previous complete checkpoint)', name, what)
            return
        self.received = name
        if self.multi_process:
            os.kill(os.getpid(), signal.SIGTERM)  # to JAX's preemption service, which tells every process
        elif not self.training:
            raise TrainingStopped(f'stopped by {name} before training started: nothing to save, {_RESUME}',
                                  signal_name=name, step=None, exit_code=EXIT_CODES[name])
        _LOG.warning('%s: stopping after the step in flight and saving a checkpoint', name)

    def start_training(self) -> None:
        """From now on a signal stops the loop after the step in flight (`should_stop`)."""
        self.training = True

    def should_stop(self, step: int) -> bool:
        """Called after every step (by every process: the same calls everywhere)."""
        if not self.multi_process:
            return self.received is not None
        try:
            return multihost_utils.reached_preemption_sync_point(step)
        except RuntimeError:  # jax_enable_preemption_service=False: SIGTERM is not caught at all
            return False

    def stopped(self, step: int) -> TrainingStopped:
        """The exception that ends the run once the checkpoint of `step` is complete."""
        name = self.received or 'SIGTERM'
        if self.multi_process and not self.received:
            what = 'a preemption notice (SIGTERM to one of the processes)'
        else:
            what = name
        return TrainingStopped(f'stopped by {what} at step {step}: checkpoint saved, {_RESUME}', signal_name=name,
                               step=step, exit_code=EXIT_CODES[name])
