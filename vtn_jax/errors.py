"""The project's error types: bad input from the user, and a stop asked for by a signal.

Library code raises `UserError` (or a subclass) with a message that names the file, key or value and says what
to do; every `vtn-*` command prints it as one line and exits 1 (`vtn_jax.tools.cli`), and `Recognizer` users
can catch it. It subclasses ValueError, so code that caught ValueError before still does.

A stop (Ctrl-C, or SIGTERM from a scheduler or `kill`) is a `KeyboardInterrupt`: Python raises it for SIGINT,
and `stop_on_sigterm` makes SIGTERM raise `Terminated` (a KeyboardInterrupt) instead of ending the process on
the spot, so `finally` blocks run (a staging folder is removed, a timeline is finished). `deferred_stops` holds a
stop back while something that must not be cut short (finishing an output) runs, and raises it afterwards.
"""
import contextlib
import signal
import threading
from typing import Iterator


class UserError(ValueError):
    """Bad input from the user; the message is one line naming the file, key or value at fault."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or `kill`'s stop), raised where the process was, so clean-up runs."""

    signum = signal.SIGTERM


def exit_status(stop: KeyboardInterrupt) -> int:
    """The shell's status for a process stopped by this signal: 128 + its number (130 SIGINT, 143 SIGTERM)."""
    return 128 + int(getattr(stop, 'signum', signal.SIGINT))


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_terminated(signum, frame):
    del signum, frame
    raise Terminated()


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """Within the block SIGTERM raises `Terminated` (Python's default would end the process at once, running no
    `finally` block). The previous handler is restored afterwards. Outside the main thread: no change."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def deferred_stops() -> Iterator[None]:
    """Holds SIGINT and SIGTERM back until the block is done, then raises the first one that came (as
    KeyboardInterrupt or `Terminated`): for work that must finish whole once started (an output being written).
    Outside the main thread signals cannot be caught there, and nothing changes."""
    if not _in_main_thread():
        yield
        return
    caught = []

    def hold(signum, frame):
        del frame
        caught.append(signum)

    previous = {s: signal.signal(s, hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if caught:
        raise Terminated() if caught[0] == signal.SIGTERM else KeyboardInterrupt()
