"""How vtn_jax talks to its user: module loggers under 'vtn_jax', one progress line, and the commands' setup.

Library code never prints: it logs to `logging.getLogger(__name__)` (progress and results at INFO, what the
user should act on at WARNING). A command (`vtn_jax.tools`) calls `configure_cli_logging()` once: vtn_jax's
messages then go to stdout as plain lines (warnings prefixed), the libraries' (TensorFlow, orbax, TFDS) only at
WARNING and above, without their routine notices (TFDS's `dtype is deprecated` on every read, orbax's notes on
read-only managers). `-v 0` (absl's --verbosity) shows every library message again. `log_to_file` also writes
every message, tracebacks included, to a file (a training run's `train.log`); meanwhile a command's terminal shows
the first line of a library message with a traceback, and where the rest is.

TensorFlow also writes notices from native code while it starts (oneDNN's "custom operations are on", twice,
whatever TF_CPP_MIN_LOG_LEVEL says; absl's "All log messages before absl::InitializeLog()"). A command's process
calls `quiet_native_start()` before anything imports TensorFlow (importing `vtn_jax.tools` does): native logging
below WARNING is off (TF_CPP_MIN_LOG_LEVEL=2 unless set), and TensorFlow's import writes its stderr to a
temporary file, from which the known notices go to `NATIVE_NOTICES_SEEN` and any other line to stderr as usual.
With `-v`, `configure_cli_logging` undoes both (and shows the notices already dropped). Library use (a
notebook, a test) changes nothing.
"""
import contextlib
import functools
import importlib.abc
import logging
import math
import os
import sys
import tempfile
import threading
import time

# (path fragment of the emitting file, text in the message): warnings that say nothing a user can act on.
ROUTINE_WARNINGS = (
    ('tensorflow_datasets', 'is deprecated'),
    ('orbax', 'read_only=True'),
    ('orbax', 'Given directory is read only'),
    ('orbax', 'did not provide metrics'),  # every save of a step without an evaluation
    ('tensorflow/python/util/deprecation', 'map_fn'),
    ('tensorflow_datasets', 'Using custom data configuration'),  # every video_folder build and read
)


# Text in a line of native stderr that TensorFlow writes while it starts, and that says nothing a user can act on.
NATIVE_NOTICES = (
    'All log messages before absl::InitializeLog() is called',
    'oneDNN custom operations are on',
    'This TensorFlow binary is optimized to use available CPU instructions',
    'To enable the following instructions:',
)
NATIVE_NOTICES_SEEN: list[str] = []  # the notices dropped so far (configure_cli_logging(verbose=True) shows them)
_TF_LEVEL_SET = []  # quiet_native_start set TF_CPP_MIN_LOG_LEVEL (not the user)


class _DropRoutine(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR:
            return True
        text = record.getMessage()
        return not any(where in record.pathname and what in text for where, what in ROUTINE_WARNINGS)


class _PlainFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        return text if record.levelno < logging.WARNING else f'{record.levelname}: {text}'


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever sys.stdout is when a record is emitted (a test's capture, a redirected stream)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def _is_library_traceback(record: logging.LogRecord) -> bool:
    return not record.name.startswith('vtn_jax') and bool(record.exc_info or record.stack_info)


class _FirstLineOfLibraries(logging.Formatter):
    """Formats a library record of several lines as its first line and where the rest went."""

    def __init__(self, inner: logging.Formatter, where: str):
        super().__init__()
        self.inner, self.where = inner, where

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage().strip()
        if record.name.startswith('vtn_jax') or '\n' not in text:
            return self.inner.format(record)
        short = logging.makeLogRecord(record.__dict__)  # the record itself goes on whole to the file handler
        short.msg, short.args = f'{text.splitlines()[0]} (the rest in {self.where})', ()
        return self.inner.format(short)


class _FileHandler(logging.FileHandler):
    """A log file that stops writing, silently, once a write fails (a full disk must not add logging's own
    tracebacks to the terminal)."""

    def handleError(self, record: logging.LogRecord) -> None:
        self.setLevel(logging.CRITICAL + 1)

    def close(self) -> None:
        try:
            super().close()
        except OSError:  # the last flush on a full disk
            pass


@contextlib.contextmanager
def log_to_file(path):
    """For the `with` block, every message of vtn_jax and of the libraries, tracebacks included, is also appended
    to `path`; on a command's terminal (`configure_cli_logging` without verbose) a library message with a
    traceback goes to the file only (the error it leads to is what the command reports), and one of several lines
    shows its first line and the path.

    Yields:
        The file handler (it stops writing, silently, when the disk is full).
    """
    handler = _FileHandler(path, encoding='utf-8')
    handler.setFormatter(logging.Formatter('%(asctime)s %(levelname)s %(name)s: %(message)s'))
    ours, root = logging.getLogger('vtn_jax'), logging.getLogger()
    loggers = [root] + ([ours] if not ours.propagate else [])  # vtn_jax reaches root unless a command cut it off
    for logger in loggers:
        logger.addHandler(handler)
    terminal, previous = None, None
    if _CLI['configured']:
        from absl import logging as absl_logging
        terminal = absl_logging.get_absl_handler().python_handler
        previous = terminal.formatter
        terminal.setFormatter(_FirstLineOfLibraries(previous or logging.Formatter(), str(path)))
        terminal.addFilter(_is_library_traceback_filter)
        # Exceptions Python can only report (in a callback, a __del__, a thread), such as orbax's asyncio loop
        # raising "Event loop is closed" after a failed save: logged with their traceback (so to the file only).
        hooks = sys.unraisablehook, threading.excepthook
        sys.unraisablehook = functools.partial(_log_unraisable, hooks[0])
        threading.excepthook = _log_thread_exception
    try:
        yield handler
    finally:
        if terminal is not None:
            terminal.setFormatter(previous)
            terminal.removeFilter(_is_library_traceback_filter)
            sys.unraisablehook, threading.excepthook = hooks
        for logger in loggers:
            logger.removeHandler(handler)
        handler.close()


_LIBRARIES = logging.getLogger('libraries')  # not vtn_jax's: a record with a traceback stays off the terminal


def _log_unraisable(previous, unraisable) -> None:
    if not isinstance(unraisable.exc_value, Exception):  # a stop (KeyboardInterrupt): the previous hook's
        previous(unraisable)
        return
    _LIBRARIES.warning('%s: %r', unraisable.err_msg or 'Exception ignored in', unraisable.object,
                       exc_info=(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback))


def _log_thread_exception(args) -> None:
    if args.exc_type is SystemExit:
        return
    _LIBRARIES.warning('exception in thread %s', args.thread.name if args.thread else '?',
                       exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def _is_library_traceback_filter(record: logging.LogRecord) -> bool:
    return not _is_library_traceback(record)  # the file has it; the error that follows says what it was


_CLI = {'configured': False}  # configure_cli_logging ran (absl's handler is the libraries' terminal)


def configure_cli_logging(verbose: bool = False) -> None:
    """vtn_jax at INFO as plain lines on stdout; other libraries at WARNING without routine notices.

    Args:
        verbose: leave the libraries' log level as it is (absl's --verbosity was given).
    """
    ours = logging.getLogger('vtn_jax')
    if not any(isinstance(h, _StdoutHandler) for h in ours.handlers):
        handler = _StdoutHandler(sys.stdout)
        handler.setFormatter(_PlainFormatter())
        ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    ours.propagate = False
    if verbose:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlowImport)]
        if _TF_LEVEL_SET and 'tensorflow' not in sys.modules:
            os.environ.pop('TF_CPP_MIN_LOG_LEVEL', None)
        if NATIVE_NOTICES_SEEN:
            sys.stderr.write(''.join(NATIVE_NOTICES_SEEN))
            NATIVE_NOTICES_SEEN.clear()
        return
    _CLI['configured'] = True
    from absl import logging as absl_logging  # only commands use absl
    absl_logging.set_verbosity(absl_logging.WARNING)
    handler = absl_logging.get_absl_handler()
    if not any(isinstance(f, _DropRoutine) for f in handler.filters):
        handler.addFilter(_DropRoutine())


@contextlib.contextmanager
def native_notices_dropped():
    """Sends the process's stderr (file descriptor 2: native code writes there) to a temporary file while the
    block runs; afterwards lines with a NATIVE_NOTICES text are kept in NATIVE_NOTICES_SEEN, the others written
    to stderr."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors='replace').splitlines(keepends=True)
            NATIVE_NOTICES_SEEN.extend(line for line in lines if any(n in line for n in NATIVE_NOTICES))
            other = ''.join(line for line in lines if not any(n in line for n in NATIVE_NOTICES))
            if other:
                sys.stderr.write(other)
                sys.stderr.flush()


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` through the other finders and runs its import inside native_notices_dropped (then
    leaves sys.meta_path: a `find_spec` alone, as etils makes to see whether TensorFlow is installed, imports
    nothing)."""

    def find_spec(self, fullname, path, target=None):
        if fullname != 'tensorflow':
            return None
        others = [f for f in sys.meta_path if f is not self]
        spec = next((s for s in (getattr(f, 'find_spec', lambda *a: None)(fullname, path, target) for f in others)
                     if s is not None), None)
        if spec is not None and spec.loader is not None:
            exec_module = spec.loader.exec_module

            def quiet_exec(module):
                if self in sys.meta_path:
                    sys.meta_path.remove(self)
                with native_notices_dropped():
                    exec_module(module)

            spec.loader.exec_module = quiet_exec
        return spec


def quiet_native_start() -> None:
    """For a command's process, before TensorFlow is imported: TensorFlow's native logging at WARNING and above
    (TF_CPP_MIN_LOG_LEVEL=2 unless set) and its start-up notices dropped (see the module docstring)."""
    if 'TF_CPP_MIN_LOG_LEVEL' not in os.environ:
        os.environ['TF_CPP_MIN_LOG_LEVEL'] = '2'
        _TF_LEVEL_SET.append(True)
    if 'tensorflow' not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowImport())


class Progress:
    """One progress line with rate and ETA, logged at most every `every_s` seconds (and at the end).

    Args:
        logger: where the line goes (INFO).
        total: units of work.
        what: the unit's name ('step', 'video', ...).
        start: units already done (a resumed run).
        every_s: minimum seconds between two lines; 0 logs every update.
    """

    def __init__(self, logger: logging.Logger, total: int, what: str, *, start: int = 0, every_s: float = 5.0):
        self.logger, self.total, self.what, self.start, self.every_s = logger, total, what, start, every_s
        self.t0 = self.last = time.time()

    def line(self, done: int, extra: str = '') -> str:
        """'step 120/1000 (12%) <extra> 3.10 steps/s ETA 00:04:43'."""
        elapsed = time.time() - self.t0
        rate = (done - self.start) / elapsed if elapsed > 0 else 0.0
        eta = (self.total - done) / rate if rate > 0 else float('nan')
        eta_text = time.strftime('%H:%M:%S', time.gmtime(eta)) if math.isfinite(eta) else '?'
        extra = f' {extra}' if extra else ''
        return (f'{self.what} {done}/{self.total} ({100 * done / max(self.total, 1):.0f}%){extra} '
                f'{rate:.2f} {self.what}s/s ETA {eta_text}')

    def update(self, done: int, extra: str = '', *, force: bool = False) -> None:
        """Logs the line if `every_s` has passed since the last one, at the end, or when forced."""
        now = time.time()
        if force or done >= self.total or now - self.last >= self.every_s:
            self.last = now
            self.logger.info(self.line(done, extra))
