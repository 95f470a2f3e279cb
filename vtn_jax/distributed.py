"""Devices and processes: multi-process start-up through JAX's own runtime (`jax.distributed`), the ('data',)
mesh every step runs on, and moving arrays between this process and the global arrays.

Nothing to do for one process. For many: set VTN_COORDINATOR (host:port), VTN_NUM_PROCESSES and
VTN_PROCESS_ID on every process, or run under SLURM / on a Cloud TPU VM, where `jax.distributed.initialize()`
finds everything by itself (VTN_DISTRIBUTED=auto). CPU processes talk over gloo (JAX's default).
"""
import logging
import os
import queue
import threading
from typing import Callable, Iterable, Iterator

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

_LOG = logging.getLogger(__name__)


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
        _LOG.info('jax.distributed: %d processes, %d devices', jax.process_count(), jax.device_count())


def create_mesh() -> jax.sharding.Mesh:
    """A 1-D ('data',) mesh over every global device (Auto axes: XLA propagates the shardings)."""
    return jax.make_mesh((jax.device_count(),), ('data',), axis_types=(jax.sharding.AxisType.Auto,))


def replicated(mesh) -> NamedSharding:
    """Every device holds the whole array (parameters, optimiser state)."""
    return NamedSharding(mesh, P())


def data_sharded(mesh) -> NamedSharding:
    """Split along the batch axis over the 'data' devices."""
    return NamedSharding(mesh, P('data'))


def to_global(batch, mesh):
    """This process's numpy batch -> global arrays sharded along 'data' (the global batch)."""
    sharding = data_sharded(mesh)
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in batch.items()}


class Prefetcher:
    """Iterates over `transfer(item)` for the items of `items`, computed ahead in a background thread (at most
    `size` finished items wait, one more may be under way): the next batches are read and sent to the devices
    while the current step runs.

    Order and values are those of the plain loop; an exception raised by `items` or `transfer` is raised by the
    `next` call that would have returned that item (the items before it are returned first). `size` 0 runs
    everything in the caller's thread (no lookahead). Close it (or use it as a context manager) to stop the
    thread; the source is then no longer read.
    """

    _END = object()

    def __init__(self, items: Iterable, transfer: Callable, size: int = 2):
        self._items, self._transfer, self._size = iter(items), transfer, size
        self._queue = queue.Queue(maxsize=max(size, 1))
        self._stop = threading.Event()
        self._thread = None
        if size > 0:
            self._thread = threading.Thread(target=self._fill, name='vtn-prefetch', daemon=True)
            self._thread.start()

    def _put(self, entry) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self):
        while not self._stop.is_set():
            try:
                entry = (self._transfer(next(self._items)), None)
            except StopIteration:
                self._put((self._END, None))
                return
            except BaseException as e:  # noqa: BLE001  (re-raised in the consumer, in order)
                self._put((None, e))
                return
            if not self._put(entry):
                return

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        if self._thread is None:
            return self._transfer(next(self._items))
        if self._stop.is_set():
            raise StopIteration
        value, error = self._queue.get()
        if error is not None:
            self._stop.set()
            raise error
        if value is self._END:
            self._stop.set()
            raise StopIteration
        return value

    def close(self):
        """Stops the background thread (it finishes the item it is computing) and waits for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def prefetch_to_device(batches: Iterable[dict], mesh, size: int = 2) -> Prefetcher:
    """`to_global` of each numpy batch, `size` batches ahead in a background thread (same global sharding)."""
    return Prefetcher(batches, lambda batch: to_global(batch, mesh), size)


def fetch(x):
    """A replicated global array (or tree) -> numpy, also when it is not fully addressable (many processes)."""
    return jax.tree.map(lambda a: np.asarray(a.addressable_data(0)), x)


def gather_rows(x: np.ndarray) -> np.ndarray:
    """Concatenates every process's rows of x (their counts may differ); x itself with one process."""
    if jax.process_count() == 1:
        return x
    counts = np.asarray(multihost_utils.process_allgather(np.int64(len(x)))).reshape(-1)
    padded = np.zeros((int(counts.max()),) + x.shape[1:], x.dtype)
    padded[:len(x)] = x
    gathered = np.asarray(multihost_utils.process_allgather(padded))
    return np.concatenate([gathered[p, :counts[p]] for p in range(len(counts))])


def barrier(name: str) -> None:
    """Waits until every process got here (nothing to do for one process)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)
