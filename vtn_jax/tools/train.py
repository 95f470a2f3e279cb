r"""vtn-train: trains and evaluates a VTN (resumes from --workdir by itself), or evaluates a checkpoint.

    vtn-train --config tiny --workdir runs/tiny
    vtn-train --config configs/default.py --workdir runs/r34 --config.optim.learning_rate=1e-4
    vtn-train --config default --workdir runs/r34 --eval_only                 # the best checkpoint of a run
    vtn-train --config default --eval_only --checkpoint r34.pth --eval_mode clip
    vtn-train --config authors_recipe --eval_only --checkpoint r34.pth      # the authors' published protocol

Every evaluation writes per-class Video@1 and the confusion matrix (JSON and PNG) under <workdir>/eval/; the
resolved config and the class names go to <workdir>/config.json and class_names.txt when training starts, and
everything logged (library tracebacks included) to <workdir>/train.log. One run per workdir (<workdir>/train.lock).

SIGTERM (a preemption) or SIGINT (Ctrl-C) stops after the step in flight and saves a checkpoint of it: exit 0
(SIGTERM) or 130 (SIGINT); the same command resumes exactly there.

Many processes: docs/training.md "Scale-out: many devices and many hosts".
"""
import atexit
import json
import os
import pathlib
import signal
import sys

from absl import app, flags

from vtn_jax.tools import cli

_EVAL_ONLY = flags.DEFINE_bool('eval_only', False, 'Only evaluate: --checkpoint, else the best checkpoint in '
                               '--workdir: the evaluated step that scored best on the metric the run watched '
                               '(config.optim.plateau_metric: the lowest eval loss by default, the highest Clip@1 '
                               'for authors_recipe), the latest step when none was evaluated.')
_ALLOW_CONFIG_CHANGE = flags.DEFINE_bool(
    'allow_config_change', False, 'Resume a workdir although the config differs from its config.json (which it then '
    'replaces); without it the run is refused, naming the fields. Run length, the evaluation/log/checkpoint periods '
    'and data.data_dir may change without it.')
# The modes are training.evaluation.EVAL_MODES (checked there); named here so that --help needs no JAX.
_EVAL_MODE = flags.DEFINE_string('eval_mode', None, 'With --eval_only (default: the config\'s train.eval_mode): '
                                 'segments (all non-overlapping segments per video: Video@1, paper), uniform10 '
                                 "(the authors' 10 evenly spaced clips per video: their published Video@1), clip "
                                 '(the central clip) or dense (whole videos, every frame encoded once: the segments '
                                 'metrics plus per-frame top-1).')

COMMON = (cli.CONFIG, cli.WORKDIR,
          (cli.CHECKPOINT, "With --eval_only: the weights to evaluate, a training workdir, a flat .npz or the "
                           "authors' .pth/.npz (default: the best checkpoint in --workdir)."),
          (cli.SPLIT, "With --eval_only: the TFDS split to evaluate (default: the config's data.eval_split).")
          )  # the shared flags this command takes (its --help lists them)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    config = cli.require(cli.CONFIG, 'the experiment config (a path or a shipped name such as tiny)')
    if cli.CHECKPOINT.value and not _EVAL_ONLY.value:
        raise app.UsageError(f'--checkpoint {cli.CHECKPOINT.value} is read only with --eval_only: to start training '
                             f'from those weights pass --config.train.init_checkpoint={cli.CHECKPOINT.value} (add '
                             '--eval_only to evaluate them)')
# The library loads after --help and the usage checks.
    from vtn_jax import distributed
    from vtn_jax.training import evaluation
    from vtn_jax.training import trainer
    distributed.initialize()  # no-op for one process
    if _EVAL_ONLY.value:
        mode = _EVAL_MODE.value or config.train.eval_mode
        report = (pathlib.Path(cli.WORKDIR.value) / 'eval' / f'{cli.SPLIT.value or config.data.eval_split}_'
                  f'{mode}') if cli.WORKDIR.value else None
        result = evaluation.evaluate_checkpoint(config, cli.CHECKPOINT.value or cli.WORKDIR.value, mode=mode,
                                                split=cli.SPLIT.value or None, report_dir=report)
    else:
        workdir = cli.require(cli.WORKDIR, 'where the run is written')
        try:
            result = trainer.train_and_evaluate(config, workdir, allow_config_change=_ALLOW_CONFIG_CHANGE.value)
        except trainer.CheckpointSaveError as e:
            if os.environ.get('VTN_TRACEBACK'):
                raise
            # The abandoned write's futures are still being collected by orbax's asyncio loop, which reports them
            # as tracebacks while Python shuts down. The one line says it all and the previous checkpoint is
            # complete: the exit handlers (JAX's own shutdown among them) run, then the process ends without
            # the interpreter's final collection.
            print(f'error: {cli.one_line(e)}', file=sys.stderr, flush=True)
            sys.stdout.flush()
            atexit._run_exitfuncs()
            os._exit(1)
        except trainer.TrainingStopped as stopped:
            for sig in (signal.SIGTERM, signal.SIGINT):  # a late second signal: no traceback on the way out
                signal.signal(sig, signal.SIG_IGN)
            print(stopped, flush=True)
            sys.exit(stopped.exit_code)
    print(json.dumps(result, indent=1, sort_keys=True))


def run():
    """Console entry point `vtn-train`."""
    cli.run(main, common=COMMON)


if __name__ == '__main__':
    run()
