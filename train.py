r"""Trains and evaluates a VTN. Thin entry point: everything lives in vtn_jax.trainer.

  python train.py --config configs/tiny.py --workdir runs/tiny
  python train.py --config configs/default.py --workdir runs/r34 --config.optim.learning_rate=1e-4
  python train.py --config configs/default.py --workdir runs/r34 --eval_only            # best checkpoint
  python train.py --config configs/default.py --eval_only --checkpoint vtn_r34.pth      # a reference file

A run resumes from the latest checkpoint in --workdir by itself. Many processes: see README "Scale-out".
"""
import json
import sys

from absl import app, flags
from ml_collections import config_flags

from vtn_jax import distributed
from vtn_jax import logs

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file (configs/<name>.py).', lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for checkpoints, TensorBoard events and logs.')
_EVAL_ONLY = flags.DEFINE_bool('eval_only', False, 'Only evaluate: --checkpoint, else the best checkpoint in '
                               '--workdir.')
_CHECKPOINT = flags.DEFINE_string('checkpoint', '', 'With --eval_only: a workdir or a reference .pth/.npz.')
_EVAL_MODE = flags.DEFINE_enum('eval_mode', 'segments', ['segments', 'clip', 'dense'], 'With --eval_only: all '
                               'non-overlapping segments per video (Video@1, paper), the central clip, or '
                               'dense (whole videos, every frame encoded once: the segments metrics plus '
                               'per-frame top-1).')
_SPLIT = flags.DEFINE_string('split', '', 'With --eval_only: the split (default config.data.eval_split).')
flags.mark_flags_as_required(['config'])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    logs.configure_cli_logging()  # WARNING, without the libraries' routine notices; -v 0 shows everything
    distributed.initialize()  # no-op for one process; see vtn_jax/distributed.py
    from vtn_jax import trainer  # pylint: disable=import-outside-toplevel  (after jax.distributed)
    config = _CONFIG.value
    if _EVAL_ONLY.value:
        result = trainer.evaluate_checkpoint(config, _CHECKPOINT.value or _WORKDIR.value, mode=_EVAL_MODE.value,
                                             split=_SPLIT.value or None)
    else:
        if not _WORKDIR.value:
            raise app.UsageError('--workdir is required for training')
        result = trainer.train_and_evaluate(config, _WORKDIR.value)
    print(json.dumps(result, indent=1, sort_keys=True))


if __name__ == '__main__':
    sys.exit(app.run(main))
