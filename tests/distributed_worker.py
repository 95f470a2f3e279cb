"""One process of the multi-process tests (tests/test_distributed.py); not a test module itself.

    python tests/distributed_worker.py train|train+dense|eval WORKDIR OUT_PREFIX STEPS DATA_DIR

train: trains (the final evaluation, segments mode, is in its JSON); train+dense: also evaluates the result
densely (whole videos, gathered over the processes); eval: evaluates a workdir's checkpoint (segments).
Environment: VTN_COORDINATOR / VTN_NUM_PROCESSES / VTN_PROCESS_ID (vtn_jax.distributed), WORKER_DEVICES.
"""
import json
import os
import pathlib
import sys

import jax

jax.config.update('jax_num_cpu_devices', int(os.environ.get('WORKER_DEVICES', '1')))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from vtn_jax import distributed
from vtn_jax import logs

distributed.initialize()
logs.configure_cli_logging(verbose=True)  # progress and 'resuming from' on stdout, as a command shows them

import flax
import numpy as np

from vtn_jax.configs import tiny
from vtn_jax.training import evaluation
from vtn_jax.training import trainer


def main():
    mode, workdir, out, steps, data_dir = sys.argv[1:6]
    config = tiny.get_config()
    config.data.data_dir = data_dir
    config.train.num_train_steps = int(steps)
    config.train.eval_every_steps = 1000
    config.train.checkpoint_every_steps = 1000
    config.train.log_every_steps = 1
    pid = jax.process_index()
    results = {}
    if mode.startswith('train'):
        results['train'], state = trainer.train_and_evaluate(config, workdir, return_state=True)
        flat = flax.traverse_util.flatten_dict(distributed.fetch(state.params), sep='/')
        np.savez(f'{out}_params_{pid}.npz', **flat)
    if mode == 'train+dense':
        results['dense'] = evaluation.evaluate_checkpoint(config, workdir, mode='dense', verbose=False)
    if mode == 'eval':
        results['eval'] = evaluation.evaluate_checkpoint(config, workdir, mode='segments', verbose=False)
    for name, result in results.items():
        result.update(process_count=jax.process_count(), device_count=jax.device_count())
        pathlib.Path(f'{out}_{name}_{pid}.json').write_text(json.dumps(result))


if __name__ == '__main__':
    main()
