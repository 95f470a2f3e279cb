"""The entry points' log filter drops the libraries' routine warnings and nothing else."""
import logging
import sys

from vtn_jax import logs


def record(pathname, level, message):
    return logging.LogRecord('absl', level, pathname, 1, message, None, None)


def test_routine_library_warnings_are_dropped_and_the_rest_kept():
    keep = logs._DropRoutine().filter
    tfds = '/venv/lib/python3.11/site-packages/tensorflow_datasets/core/features/feature.py'
    orbax = '/venv/lib/python3.11/site-packages/orbax/checkpoint/checkpoint_manager.py'
    assert not keep(record(tfds, logging.WARNING, '`FeatureConnector.dtype` is deprecated. Please change ...'))
    assert not keep(record(orbax, logging.WARNING, 'CheckpointManagerOptions.read_only=True, setting create=False.'))
    assert keep(record(tfds, logging.ERROR, 'x is deprecated'))  # errors always show
    assert keep(record(tfds, logging.WARNING, 'Dataset is missing a split'))  # other library warnings show
    assert keep(record('/repo/vtn_jax/export.py', logging.WARNING, 'NO --checkpoint: EXPORTING RANDOMLY ...'))


def test_a_run_log_file_gets_the_library_tracebacks_that_the_terminal_does_not(tmp_path, capfd):
    from absl import logging as absl_logging
    root = logging.getLogger()
    attached = absl_logging.get_absl_handler() in root.handlers
    absl_logging.use_absl_handler()  # what a command's app.run does: the libraries' terminal
    terminal = absl_logging.get_absl_handler().python_handler
    stream, terminal.stream = terminal.stream, sys.stderr  # (an earlier test's capture may still be its stream)
    logs.configure_cli_logging()
    library, path = logging.getLogger('orbax_like_library'), tmp_path / 'train.log'
    try:
        with logs.log_to_file(path):
            try:
                raise ValueError('RESOURCE_EXHAUSTED: deep detail')
            except ValueError:
                library.error('background save failed', exc_info=True)
            library.warning('first line\nsecond line')
            logging.getLogger('vtn_jax.test').info('our progress line')
        library.error('after the run')
    finally:
        terminal.stream = stream
        if not attached:
            root.removeHandler(absl_logging.get_absl_handler())
    text = path.read_text()
    for line in ('background save failed', 'Traceback', 'RESOURCE_EXHAUSTED: deep detail', 'second line',
                 'our progress line'):
        assert line in text
    assert 'after the run' not in text
    out, err = capfd.readouterr()
    assert 'background save failed' not in err and 'Traceback' not in err  # the file has it
    assert f'first line (the rest in {path})' in err and 'second line' not in err
    assert 'our progress line' in out and 'after the run' in err  # the terminal is as before after the run


def test_a_log_file_on_a_full_disk_falls_silent(capfd):
    with logs.log_to_file('/dev/full'):  # every write fails with ENOSPC
        for _ in range(3):
            logging.getLogger('vtn_jax.test').warning('a line that cannot be written')
    assert 'Logging error' not in capfd.readouterr().err  # no traceback of logging's own
