"""Log levels of the command-line entry points (train.py, export.py, `python -m vtn_jax.main_job`).

By default (no `--verbosity` / `-v` flag) absl logs at WARNING, and the libraries' routine warnings are dropped:
TFDS's `dtype is deprecated` notices and orbax's notes on read-only checkpoint managers, printed on every dataset
read and every restore. Our own warnings (random weights, INT8 calibration fallbacks, data errors) and every
library message at ERROR or above still show. `-v 0` (or higher) shows everything again.
"""
import logging as py_logging

from absl import flags, logging

# (path fragment of the emitting file, text in the message): warnings that say nothing a user can act on.
ROUTINE_WARNINGS = (
    ('tensorflow_datasets', 'is deprecated'),
    ('orbax', 'read_only=True'),
    ('orbax', 'Given directory is read only'),
    ('tensorflow/python/util/deprecation', 'map_fn'),
)


class _DropRoutine(py_logging.Filter):
    def filter(self, record: py_logging.LogRecord) -> bool:
        if record.levelno >= py_logging.ERROR:
            return True
        text = record.getMessage()
        return not any(where in record.pathname and what in text for where, what in ROUTINE_WARNINGS)


def configure_cli_logging():
    """WARNING level without the routine library warnings, unless --verbosity was given (call after flags parse)."""
    if flags.FLAGS['verbosity'].present:
        return
    logging.set_verbosity(logging.WARNING)
    handler = logging.get_absl_handler()
    if not any(isinstance(f, _DropRoutine) for f in handler.filters):
        handler.addFilter(_DropRoutine())
