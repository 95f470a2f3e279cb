"""Multi-process data-parallel training and evaluation with jax.distributed on localhost CPU (gloo)."""
import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest


WORKER = os.path.join(os.path.dirname(__file__), 'distributed_worker.py')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def launch(mode, workdir, out, steps, data_dir, *, processes=1, devices=1):
    """Runs `processes` workers (each with `devices` CPU devices) and waits for all of them."""
    port = free_port()
    procs = []
    for pid in range(processes):
        env = {**os.environ, 'WORKER_DEVICES': str(devices), 'TF_CPP_MIN_LOG_LEVEL': '2'}
        if processes > 1:
            env.update(VTN_COORDINATOR=f'127.0.0.1:{port}', VTN_NUM_PROCESSES=str(processes),
                       VTN_PROCESS_ID=str(pid))
        procs.append(subprocess.Popen([sys.executable, WORKER, mode, str(workdir), str(out), str(steps),
                                       str(data_dir)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for p, text in zip(procs, outputs):
        assert p.returncode == 0, text[-3000:]
    return outputs


def load_params(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def max_diff(a, b):
    assert a.keys() == b.keys()
    return max(float(np.abs(a[k] - b[k]).max()) for k in a)


@pytest.fixture(scope='module')
def data_dir(tiny_data_dir):
    return tiny_data_dir


@pytest.fixture(scope='module')
def runs(tmp_path_factory, data_dir):
    root = tmp_path_factory.mktemp('dist')
    launch('train+dense', root / 'two_proc', root / 'p2', 3, data_dir, processes=2)
    launch('train', root / 'one_proc', root / 'p1', 3, data_dir)
    launch('eval', root / 'two_proc', root / 'p1', 3, data_dir)  # the two-process checkpoint in one process
    launch('train', root / 'two_dev', root / 'd2', 3, data_dir, devices=2)
    return root, data_dir


@pytest.mark.slow  # the `runs` fixture: four multi-process training runs
def test_two_processes_end_with_identical_params_equal_to_one_process(runs):
    root, _ = runs
    p2 = [load_params(root / f'p2_params_{i}.npz') for i in range(2)]
    assert max_diff(p2[0], p2[1]) == 0.0
    # Two processes and one process with two devices run the same program: bitwise equal.
    two_devices = load_params(root / 'd2_params_0.npz')
    assert max_diff(p2[0], two_devices) == 0.0
    # Against one device the gradient all-reduce sums in another order (~1e-9 on near-zero gradients);
    # Adam divides by sqrt(v) + 1e-8 and turns that into up to ~3e-6 after 3 steps at lr 1e-4.
    one = load_params(root / 'p1_params_0.npz')
    assert max_diff(p2[0], one) <= 1e-5
    meta = json.loads((root / 'p2_train_0.json').read_text())
    assert meta['process_count'] == 2 and meta['device_count'] == 2
    assert json.loads((root / 'd2_train_0.json').read_text())['device_count'] == 2


@pytest.mark.slow  # the `runs` fixture: four multi-process training runs
def test_evaluation_over_two_processes_equals_one(runs):
    root, _ = runs
    two = [json.loads((root / f'p2_train_{i}.json').read_text()) for i in range(2)]  # its final evaluation
    one = json.loads((root / 'p1_eval_0.json').read_text())
    assert two[0]['process_count'] == 2 and one['process_count'] == 1
    for key in ('clip_top1', 'video_top1', 'num_clips', 'num_videos'):
        assert two[0][key] == two[1][key] == one[key], key
    assert abs(two[0]['loss'] - one['loss']) < 1e-5


@pytest.mark.slow  # the `runs` fixture: four multi-process training runs
def test_dense_evaluation_over_two_processes_gathers_every_video(runs):
    root, _ = runs
    dense = [json.loads((root / f'p2_dense_{i}.json').read_text()) for i in range(2)]
    one = json.loads((root / 'p1_eval_0.json').read_text())  # segments mode, one process
    assert dense[0]['process_count'] == 2
    assert dense[0] == dense[1]
    for key in ('clip_top1', 'video_top1', 'num_clips', 'num_videos'):
        assert dense[0][key] == one[key], key
    assert abs(dense[0]['loss'] - one['loss']) < 1e-5


@pytest.mark.slow  # the `runs` fixture: four multi-process training runs
def test_two_process_checkpoint_resumes_in_one_process(runs):
    root, data_dir = runs
    out = launch('train', root / 'two_proc', root / 'resume', 5, data_dir)
    assert 'resuming from' in out[0] and '/checkpoints/3' in out[0]
    assert json.loads((root / 'resume_train_0.json').read_text())['step'] == 5


def test_sigterm_to_one_of_two_processes_stops_both_after_the_same_step_with_a_checkpoint(data_dir, tmp_path):
    """JAX's preemption service tells every process; all stop after the same step and save it together."""
    port, procs = free_port(), []
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for pid in range(2):
        env = {**os.environ, 'TF_CPP_MIN_LOG_LEVEL': '2', 'PYTHONPATH': root, 'VTN_COORDINATOR': f'127.0.0.1:{port}',
               'VTN_NUM_PROCESSES': '2', 'VTN_PROCESS_ID': str(pid)}
        procs.append(subprocess.Popen(
            [sys.executable, '-m', 'vtn_jax.tools.train', '--config', 'tiny', '--workdir', str(tmp_path),
             f'--config.data.data_dir={data_dir}', '--config.train.num_train_steps=1000',
             '--config.train.eval_every_steps=1000', '--config.train.checkpoint_every_steps=1000',
             '--config.train.log_every_steps=1'], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True, cwd=root))
    try:
        lines = []
        for line in procs[0].stdout:  # process 0 logs the progress
            lines.append(line)
            if 'step 2/1000' in line:
                break
        procs[1].send_signal(signal.SIGTERM)  # a preemption notice to process 1 only
        outputs = [''.join(lines) + procs[0].communicate(timeout=300)[0], procs[1].communicate(timeout=300)[0]]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    stops = []
    for p, text in zip(procs, outputs):
        assert p.returncode == 0, text[-3000:]
        found = [line for line in text.splitlines() if line.startswith('stopped by a preemption notice (SIGTERM to one '
                                                                       'of the processes) at step ')]
        assert len(found) == 1 and found[0].endswith(': checkpoint saved, resume with the same command'), text[-3000:]
        stops.append(int(found[0].split(' at step ')[1].split(':')[0]))
    assert stops[0] == stops[1] >= 2
    assert (tmp_path / 'checkpoints' / str(stops[0])).is_dir()


# ---- Prefetcher: the lookahead in front of the devices ----------------------------------------------------------

def test_prefetcher_keeps_order_and_bounds_its_lookahead():
    import threading
    import time
    from vtn_jax import distributed
    read = []

    def source():
        for i in range(10):
            read.append(i)
            yield i

    for size in (0, 1, 3):
        read.clear()
        prefetcher = distributed.Prefetcher(source(), lambda x: (x, threading.current_thread().name), size)
        first = next(prefetcher)
        time.sleep(0.3)  # let the thread fill its queue
        assert len(read) <= 1 + size + 1  # the item returned, `size` waiting, one in the making
        rest = list(prefetcher)
        assert [first[0]] + [x for x, _ in rest] == list(range(10))
        assert (first[1] == threading.current_thread().name) == (size == 0)  # size 0: no thread


def test_prefetcher_raises_errors_in_order_and_closes():
    from vtn_jax import distributed

    def source():
        yield from (0, 1)
        raise OSError('corrupt record')

    with distributed.Prefetcher(source(), lambda x: x * 10, 2) as prefetcher:
        assert next(prefetcher) == 0 and next(prefetcher) == 10
        with pytest.raises(OSError, match='corrupt record'):
            next(prefetcher)
    endless = distributed.Prefetcher(iter(int, 1), lambda x: x, 2)  # an endless source: close stops the thread
    assert next(endless) == 0
    endless.close()
    assert not endless._thread.is_alive()


def test_prefetch_to_device_gives_global_arrays():
    import jax
    from vtn_jax import distributed
    mesh = distributed.create_mesh()
    batches = [{'video': np.full((2, 3), i, np.uint8), 'label': np.arange(2, dtype=np.int32) + i} for i in range(3)]
    for batch, got in zip(batches, distributed.prefetch_to_device(iter(batches), mesh)):
        assert isinstance(got['video'], jax.Array) and got['video'].dtype == np.uint8
        assert got['video'].sharding == distributed.data_sharded(mesh)
        np.testing.assert_array_equal(np.asarray(got['label']), batch['label'])
