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
import os
import re
import signal
import sys
import threading
from typing import Callable, Iterator, Optional, TypeVar

_T = TypeVar('_T')


class UserError(ValueError):
    """Bad input from the user; the message is one line naming the file, key or value at fault."""


def root_cause(error: BaseException, limit: int = 240) -> str:
    """What an error comes down to, on one line of at most `limit` characters: an operating-system error met on
    the way (errno and its text: 'No space left on device', as TensorStore reports it inside a long message),
    else '<type>: <first line>' of the innermost exception it was raised from (`raise ... from`)."""
    chain = [error]
    while chain[-1].__cause__ is not None:
        chain.append(chain[-1].__cause__)
    for e in reversed(chain):
        if isinstance(e, OSError) and e.errno:
            return str(e)
        found = re.search(r"os_error_code='?(\d+)", str(e))
        if found:
            return f'[Errno {found.group(1)}] {os.strerror(int(found.group(1)))}'
    text = next((line.strip() for line in str(chain[-1]).splitlines() if line.strip()), '')
    text = f'{type(chain[-1]).__name__}: {text}' if text else type(chain[-1]).__name__
    return text if len(text) <= limit else text[:limit - 3] + '...'


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or `kill`'s stop), raised where the process was, so clean-up runs."""

    signum = signal.SIGTERM


def exit_status(stop: KeyboardInterrupt) -> int:
    """The shell's status for a process stopped by this signal: 128 + its number (130 SIGINT, 143 SIGTERM)."""
    return 128 + int(getattr(stop, 'signum', signal.SIGINT))


def process_alive(pid) -> bool:
    """Whether process `pid` of this host still runs (a lock's or a staging folder's owner); False for a value
    that is no PID."""
    try:
        os.kill(int(pid), 0)
    except (ProcessLookupError, TypeError, ValueError, OverflowError):
        return False
    except PermissionError:  # it runs, as another user
        return True
    return True


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
    previous_hook = sys.unraisablehook

    def resend_swallowed_stops(unraisable):
        # A signal's handler runs wherever Python is, also in a garbage-collection callback or a __del__, where
        # an exception can only be reported: a stop raised there would be lost. It is sent again instead, a moment
        # later from another thread (sent from here, its handler would run here again), and raised at the next
        # point that can take it.
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            signum = getattr(unraisable.exc_value, 'signum', signal.SIGINT)
            threading.Timer(0.01, os.kill, (os.getpid(), signum)).start()
            return
        previous_hook(unraisable)

    sys.unraisablehook = resend_swallowed_stops
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.unraisablehook = previous_hook


_STOPS = (signal.SIGINT, signal.SIGTERM)


def _signum(stop: KeyboardInterrupt) -> int:
    return int(getattr(stop, 'signum', signal.SIGINT))


def _set_handlers(handlers: dict, caught: list) -> None:
    """Sets each signal's handler, also when a pending stop's old handler runs in between (Python runs a
    signal's handler at its next chance, which can be inside `signal.signal` itself): that stop goes to `caught`."""
    for s, handler in handlers.items():
        while True:
            try:
                signal.signal(s, handler)
                break
            except KeyboardInterrupt as e:
                caught.append(_signum(e))


@contextlib.contextmanager
def deferred_stops() -> Iterator[None]:
    """Holds SIGINT and SIGTERM back until the block is done, then raises the first one that came (as
    KeyboardInterrupt or `Terminated`): for work that must finish whole once started (an output being written).
    A stop already pending while the hold is set up or taken down is held too. Outside the main thread signals
    cannot be caught there, and nothing changes."""
    if not _in_main_thread():
        yield
        return
    caught = []

    def hold(signum, frame):
        del frame
        caught.append(signum)

    previous = {}
    while len(previous) < len(_STOPS):  # (getsignal is Python code too: a pending stop can land in it)
        try:
            previous = {s: signal.getsignal(s) for s in _STOPS}
        except KeyboardInterrupt as e:
            caught.append(_signum(e))
    _set_handlers(dict.fromkeys(_STOPS, hold), caught)
    try:
        yield
    finally:
        _set_handlers(previous, caught)
        if caught:  # also when the block raised: the stop wins, that error is its __context__
            raise Terminated() if caught[0] == signal.SIGTERM else KeyboardInterrupt()


def finish_whole(work: Callable[[], _T]) -> tuple[_T, Optional[KeyboardInterrupt]]:
    """Runs `work` once, whole, with SIGINT and SIGTERM held back (`deferred_stops`); returns its result and the
    stop that came meanwhile (None if none) instead of raising it. A stop can still land before the hold is in
    place (Python runs a pending signal's handler at its next call, e.g. on the way into `deferred_stops`): it is
    kept, and `work` starts then."""
    stop = None
    for _ in range(3):
        done = []
        try:
            with deferred_stops():
                done.append(work())
        except KeyboardInterrupt as e:
            stop = stop or e
        if done:
            return done[0], stop
    raise stop
