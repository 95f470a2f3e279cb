"""Multi-process start-up through JAX's own runtime (`jax.distributed`), driven by flags or environment.

Nothing to do for one process. For many: set VTN_COORDINATOR (host:port), VTN_NUM_PROCESSES and
VTN_PROCESS_ID on every process, or run under SLURM / on a Cloud TPU VM, where `jax.distributed.initialize()`
finds everything by itself (VTN_DISTRIBUTED=auto). CPU processes talk over gloo (JAX's default).
"""
import os

import jax


def initialize() -> None:
    """Calls `jax.distributed.initialize` when the environment asks for many processes."""
    coordinator = os.environ.get('VTN_COORDINATOR', '')
    if coordinator:
        num = int(os.environ['VTN_NUM_PROCESSES'])
        pid = int(os.environ['VTN_PROCESS_ID'])
        local = os.environ.get('VTN_LOCAL_DEVICE_IDS', '')
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num, process_id=pid,
                                   local_device_ids=[int(i) for i in local.split(',')] if local else None)
    elif os.environ.get('VTN_DISTRIBUTED', '') == 'auto' or 'SLURM_NTASKS' in os.environ and \
            int(os.environ.get('SLURM_NTASKS', '1')) > 1:
        jax.distributed.initialize()  # SLURM, TPU VMs, Kubernetes/MPI: detected by JAX
    if jax.process_count() > 1 and jax.process_index() == 0:
        print(f'jax.distributed: {jax.process_count()} processes, {jax.device_count()} devices', flush=True)
