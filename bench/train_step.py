r"""Throughput of the jitted training step (clips/s), compile time and peak memory, optionally against the
authors' PyTorch step in the same run.

    python bench/train_step.py --config configs/default.py --batch 2 --steps 5
    python bench/train_step.py --config configs/default.py --batch 16 --dtypes float32,bfloat16   # on a GPU
    python bench/train_step.py --config configs/default.py --batch 2 \
        --reference_dir ~/openvino_training_extensions/pytorch_toolkit/action_recognition

Inputs are synthetic on-device tensors (ResNet-34-VTN by default: 16 x 224 x 224 clips, 400 classes, Adam). The
mesh step (NamedSharding on a ('data',) mesh, what train.py runs) is timed next to a plain single-device jit of the
same function; their ratio is the mesh path's overhead. `--reference_dir` points at a user's checkout of the
reference code (opencv/openvino_training_extensions, pytorch_toolkit/action_recognition, commit d014ee02); it is
imported from there and never vendored. Its eager fp32 step, autocast bf16 step and (with --torch_compile) the
compiled step are timed with the same batch, and the ratios printed. `bench/gpu_check.py` reuses these functions.
"""
import argparse
import functools
import importlib.util
import pathlib
import platform
import resource
import sys
import time

import jax
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vtn_jax import distributed
from vtn_jax.models import vtn as model_lib
from vtn_jax.training import state as state_lib
from vtn_jax.training import steps as steps_lib


def cpu_model() -> str:
    try:
        for line in open('/proc/cpuinfo'):
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def load_config(path):
    spec = importlib.util.spec_from_file_location('bench_config', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def peak_memory_mb() -> float:
    stats = jax.local_devices()[0].memory_stats() if jax.default_backend() != 'cpu' else None
    if stats and 'peak_bytes_in_use' in stats:
        return stats['peak_bytes_in_use'] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # host RSS (KiB -> MiB)


def time_fn(step, state, batch, steps):
    t = time.perf_counter()
    state, metrics = step(state, batch)
    jax.block_until_ready(metrics['loss'])
    compile_s = time.perf_counter() - t
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        state, metrics = step(state, batch)
        jax.block_until_ready(metrics['loss'])
        times.append(time.perf_counter() - t)
    return compile_s, float(np.median(times)), state


def synthetic_batch(config, batch_size: int, input_kind: str, seed: int = 0) -> dict:
    """A synthetic host batch: 'float' = normalised float32 clips (what the pipeline shipped before), 'uint8' =
    pixels (what it ships now: the step normalises them on the device)."""
    size = config.data.crop_size
    shape = (batch_size, config.model.num_frames, size, size, 3)
    rng = np.random.default_rng(seed)
    if input_kind == 'uint8':
        video = rng.integers(0, 256, shape, np.uint8)
    elif input_kind == 'float':
        video = rng.standard_normal(shape, np.float32)
    else:
        raise ValueError(f"input kind must be 'float' or 'uint8', got {input_kind!r}")
    return {'video': video, 'label': np.arange(batch_size, dtype=np.int32) % config.model.num_classes}


def step_function(config, model):
    """The training step `vtn-train` runs (vtn_jax.training.steps.train_step), with the config's optimiser."""
    tx = state_lib.create_optimizer(config.optim)
    return functools.partial(steps_lib.train_step, model=model, tx=tx, learning_rate=config.optim.learning_rate,
                             mean=tuple(config.data.mean), std=tuple(config.data.std))


def bench_jax(config, batch_size, dtype, steps, *, input_kind='float', names=('plain', 'mesh')):
    """{name: (compile / first call s, median step s)} of the plain single-device jit and the mesh step."""
    config.model.dtype = dtype
    model = model_lib.create_model(config.model)
    mesh = distributed.create_mesh()
    fn = step_function(config, model)
    key = jax.random.key(0)
    batch = synthetic_batch(config, batch_size, input_kind)
    results = {}
    for name in names:
        state = state_lib.create_train_state(config, model, key, mesh)
        if name == 'mesh':
            step = jax.jit(lambda s, b: fn(s, b),
                           in_shardings=(distributed.replicated(mesh), distributed.data_sharded(mesh)),
                           out_shardings=(distributed.replicated(mesh), distributed.replicated(mesh)), donate_argnums=0)
            b = distributed.to_global(batch, mesh)
        else:
            state = jax.device_put(jax.device_get(state), jax.devices()[0])
            step = jax.jit(lambda s, b: fn(s, b), donate_argnums=0)
            b = jax.device_put(batch, jax.devices()[0])
        compile_s, median_s, _ = time_fn(step, state, b, steps)
        results[name] = (compile_s, median_s)
    return results


REFERENCE_VARIANTS = {  # name: (torch.compile, autocast bf16)
    'eager fp32': (False, False), 'eager amp': (False, True),
    'compile fp32': (True, False), 'compile amp': (True, True),
}


def bench_reference(reference_dir, batch_size, steps, *, variants=('eager fp32', 'eager amp'), device='cpu'):
    """{'reference <variant>': (first call s, median step s)}: the authors' VideoTransformer trained with Adam on a
    random batch, eagerly or through torch.compile, in fp32 or under autocast bf16 (AMP), on `device`."""
    import torch
    from reference_onnx import build_reference_model  # bench/
    model = build_reference_model(reference_dir).train().to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4)
    video = torch.randn(batch_size, 16, 3, 224, 224, device=device)
    labels = torch.arange(batch_size, device=device) % 400
    loss_fn = torch.nn.CrossEntropyLoss()
    device_type = torch.device(device).type
    sync = torch.cuda.synchronize if device_type == 'cuda' else (lambda: None)

    def step(m, autocast):
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type, dtype=torch.bfloat16, enabled=autocast):
            loss = loss_fn(m(video), labels)
        loss.backward()
        opt.step()
        sync()
        return loss

    out = {}
    for name in variants:
        use_compile, autocast = REFERENCE_VARIANTS[name]
        m = torch.compile(model) if use_compile else model
        t = time.perf_counter()
        step(m, autocast)
        first = time.perf_counter() - t
        times = []
        for _ in range(steps):
            t = time.perf_counter()
            step(m, autocast)
            times.append(time.perf_counter() - t)
        out[f'reference {name}'] = (first, float(np.median(times)))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=str(REPO / 'configs' / 'default.py'))
    parser.add_argument('--batch', type=int, default=2, help='global batch (clips)')
    parser.add_argument('--steps', type=int, default=5, help='timed steps after the first (compiling) one')
    parser.add_argument('--dtypes', default='float32,bfloat16', help='compute dtypes to time')
    parser.add_argument('--reference_dir', default='', help="a checkout of the authors' action_recognition")
    parser.add_argument('--torch_compile', action='store_true', help='also time torch.compile (slow to compile)')
    args = parser.parse_args()
    config = load_config(args.config)
    print(f'device: {jax.devices()[0].device_kind} ({jax.default_backend()}), {jax.device_count()} device(s); '
          f'CPU {cpu_model()}')
    print(f'model {config.model.encoder}/{config.model.modality}, batch {args.batch} clips of '
          f'{config.model.num_frames}x{config.data.crop_size}x{config.data.crop_size}, {config.model.num_classes} '
          f'classes, median of {args.steps} steps')
    print('| step | compile / first call s | median step s | clips/s | peak MiB |\n|---|---|---|---|---|')
    rows = {}
    for dtype in args.dtypes.split(','):
        for name, (first, median) in bench_jax(config, args.batch, dtype, args.steps).items():
            rows[f'vtn_jax {dtype} {name}'] = median
            print(f'| vtn_jax {dtype} ({name}) | {first:.1f} | {median:.3f} | {args.batch / median:.2f} | '
                  f'{peak_memory_mb():.0f} |', flush=True)
        print(f'mesh / plain step time ({dtype}): {rows[f"vtn_jax {dtype} mesh"] / rows[f"vtn_jax {dtype} plain"]:.3f}')
    if args.reference_dir:
        variants = ('eager fp32', 'eager amp') + (('compile fp32',) if args.torch_compile else ())
        for name, (first, median) in bench_reference(args.reference_dir, args.batch, args.steps,
                                                     variants=variants).items():
            rows[name] = median
            print(f'| {name} | {first:.1f} | {median:.3f} | {args.batch / median:.2f} | - |', flush=True)
        best_ours = min(v for k, v in rows.items() if k.startswith('vtn_jax'))
        for name in [k for k in rows if k.startswith('reference')]:
            print(f'speed ratio vtn_jax best / {name}: {rows[name] / best_ours:.2f}x')


if __name__ == '__main__':
    main()
