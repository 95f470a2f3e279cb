"""The entry points' log filter drops the libraries' routine warnings and nothing else."""
import logging

from vtn_jax import logs


def record(pathname, level, message):
    return logging.LogRecord('absl', level, pathname, 1, message, None, None)


def test_routine_library_warnings_are_dropped_and_the_rest_kept():
    keep = logs._DropRoutine().filter  # pylint: disable=protected-access
    tfds = '/venv/lib/python3.11/site-packages/tensorflow_datasets/core/features/feature.py'
    orbax = '/venv/lib/python3.11/site-packages/orbax/checkpoint/checkpoint_manager.py'
    assert not keep(record(tfds, logging.WARNING, '`FeatureConnector.dtype` is deprecated. Please change ...'))
    assert not keep(record(orbax, logging.WARNING, 'CheckpointManagerOptions.read_only=True, setting create=False.'))
    assert keep(record(tfds, logging.ERROR, 'x is deprecated'))  # errors always show
    assert keep(record(tfds, logging.WARNING, 'Dataset is missing a split'))  # other library warnings show
    assert keep(record('/repo/vtn_jax/export.py', logging.WARNING, 'NO --checkpoint: EXPORTING RANDOMLY ...'))
