r"""The paper's Table 1 on synthetic_actions/two_cue, where a class needs appearance AND motion: RGB, RGB-diff,
stacked, the fused two-stream teacher, RGB + KD, stacked + KD, and stacked + KD from a weak teacher.

    python bench/ablation.py --workdir runs/ablation --seeds 0,1,2 --steps 2000
    python bench/ablation.py --workdir runs/tune --seeds 0 --split validation --temperature 4 --weight 1

Every trained row is the tiny VTN of configs/demo.py with the same budget (--steps, batch, learning rate) and,
per seed, the same initialisation and data order; only the modality and the loss differ. Training selects its
checkpoint on the `validation` split (best validation loss); the table is computed on --split (`test`; tune
with `validation`). Per seed:

  RGB, RGB-diff, stacked       trained with cross-entropy;
  fused teacher                0.5 * RGB + 0.5 * RGB-diff logits of that seed's two trained models (nothing
                               trained: vtn.create_two_stream / assemble_two_stream, as the trainer's teacher);
  RGB + KD, stacked + KD       CE + w * T^2 * KL(teacher || student) with that teacher (--temperature, --weight);
  weak teacher                 the same RGB model with an untrained RGB-diff stream (random initialisation): it
                               knows the appearance, which the stacked student learns by itself, and no motion;
  stacked + KD (weak teacher)  distilled from it: a teacher that knows nothing more than the student should not
                               help.

Prints one Markdown table: Clip@1 (every non-overlapping segment) and Video@1 (segment logits averaged per
video) as the mean over seeds with a 95% t-interval, the per-seed Video@1, and the share of videos on which the
row's top-1 equals the fused teacher's; then the paired per-seed differences that isolate distillation (same
seed, so the same initialisation and data order). Runs resume: a finished run is only evaluated again. Also
written to <workdir>/ablation.json.
"""
import json
import pathlib
import platform
import sys
import time

import jax
import numpy as np
from absl import app, flags
from scipy import stats

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))  # the repo root, for `vtn_jax`

from vtn_jax import checkpoints
from vtn_jax import distributed
from vtn_jax import logs
from vtn_jax import metrics
from vtn_jax.configs import demo
from vtn_jax.data import two_cue
from vtn_jax.models import vtn as vtn_lib
from vtn_jax.training import evaluation
from vtn_jax.training import trainer

_WORKDIR = flags.DEFINE_string('workdir', 'runs/ablation', 'Where every run and ablation.json are written.')
_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2'], 'Training seeds (initialisation, dropout, data order).')
_STEPS = flags.DEFINE_integer('steps', 2000, 'Training steps of every trained row.')
_TEMPERATURE = flags.DEFINE_float('temperature', 2.0, 'Distillation temperature T.')
_WEIGHT = flags.DEFINE_float('weight', 1.0, 'Distillation weight w: loss = CE + w * T^2 * KL.')
_SPLIT = flags.DEFINE_enum('split', 'test', ['test', 'validation'], 'Split the table is computed on (tune on '
                           'validation).')
_ROWS = flags.DEFINE_list('rows', [], 'Only these rows (keys: rgb, rgbdiff, stacked, teacher, rgb_kd, stacked_kd, '
                          'weak_teacher, stacked_weak_kd); the teacher rows need rgb and rgbdiff. Default: all.')
_DATA_DIR = flags.DEFINE_string('data_dir', 'data_cache/tfds', 'TFDS data directory (two_cue is built there once).')

# key, table name, GMAC per frame of the ResNet-34 version at 224x224 (`vtn-costs`; the tiny model's is negligible)
ROWS = (
    ('rgb', 'RGB', 3.79),
    ('rgbdiff', 'RGB-diff', 3.78),
    ('stacked', 'Stacked RGB + RGB-diff', 3.90),
    ('teacher', 'Fused teacher (RGB + RGB-diff)', 7.56),
    ('rgb_kd', 'RGB + KD', 3.79),
    ('stacked_kd', 'Stacked + KD', 3.90),
    ('weak_teacher', 'Weak teacher (RGB + untrained RGB-diff)', 7.56),
    ('stacked_weak_kd', 'Stacked + KD from the weak teacher', 3.90),
)
# The paired differences reported under the table: (row, its baseline).
PAIRS = (('stacked_kd', 'stacked'), ('rgb_kd', 'rgb'), ('stacked_weak_kd', 'stacked'), ('stacked_kd', 'teacher'))


def base_config(seed: int, steps: int, data_dir: str):
    """configs/demo.py on two_cue with `steps` steps, one evaluation (on validation) at the end."""
    config = demo.get_config()
    config.data.data_dir = data_dir
    config.data.builder_config = 'two_cue'
    config.data.eval_split = 'validation'
    config.model.num_classes = two_cue.NUM_CLASSES
    config.train.seed = seed
    config.train.num_train_steps = steps
    config.train.eval_every_steps = steps
    config.train.checkpoint_every_steps = steps
    config.train.log_every_steps = max(steps // 4, 1)
    return config


def train(workdir: pathlib.Path, config, modality: str, teacher=None):
    """Trains one row (resuming, so a finished run is left as it is); `teacher`: (rgb, motion) checkpoints."""
    config.model.modality = modality
    if teacher is not None:
        config.distill.enabled = True
        config.distill.rgb_checkpoint, config.distill.motion_checkpoint = (str(p) for p in teacher)
        config.distill.temperature, config.distill.weight = _TEMPERATURE.value, _WEIGHT.value
    trainer.train_and_evaluate(config, workdir)
    return config


def untrained_motion_stream(path: pathlib.Path, config) -> pathlib.Path:
    """Saves a randomly initialised RGB-diff VTN (the weak teacher's motion stream) as a flat .npz."""
    if not path.exists():
        model = vtn_lib.create_model({**config.model, 'modality': 'rgbdiff'})
        variables = checkpoints.random_variables(model, image_size=config.data.crop_size, seed=config.train.seed)
        checkpoints.save_flat_npz(variables, path)
    return path


def evaluate(model, variables, config, split: str) -> dict:
    """Clip@1 / Video@1 on `split` (segments) and the per-video top-1 predictions."""
    mesh = distributed.create_mesh()
    accumulator = metrics.EvalAccumulator()
    result = evaluation.evaluate(model, jax.device_put(variables, distributed.replicated(mesh)),
                                 config.data, batch_size=config.train.eval_batch_size, mesh=mesh, split=split,
                                 accumulator=accumulator)
    _, video_logits, _ = accumulator.video_logits()
    return {'clip_top1': result['clip_top1'], 'video_top1': result['video_top1'],
            'predictions': video_logits.argmax(axis=1).tolist()}


def run_seed(root: pathlib.Path, seed: int, rows, split: str) -> dict:
    """Trains and evaluates the rows of one seed; returns {row: evaluation}. A row that distils, or a teacher
    row, brings in the RGB, RGB-diff and fused-teacher rows it is built from."""
    rows = set(rows)
    if rows & {'teacher', 'rgb_kd', 'stacked_kd', 'weak_teacher', 'stacked_weak_kd'}:
        rows |= {'rgb', 'rgbdiff', 'teacher'}
    out, runs = {}, {}

    def config():
        return base_config(seed, _STEPS.value, _DATA_DIR.value)

    def trained(key, modality, teacher=None):
        print(f'==== seed {seed}: {key}', flush=True)
        kd = f'_T{_TEMPERATURE.value:g}_w{_WEIGHT.value:g}' if teacher else ''
        runs[key] = root / f'{_STEPS.value}steps' / f'{key}{kd}_s{seed}'
        cfg = train(runs[key], config(), modality, teacher)
        model = vtn_lib.create_model(cfg.model)
        out[key] = evaluate(model, checkpoints.load_variables(runs[key], model)[0], cfg, split)

    def fused(key, rgb_dir, motion_dir):
        model = vtn_lib.create_two_stream(config().model)
        variables = vtn_lib.assemble_two_stream(checkpoints.load_variables(rgb_dir, model.rgb)[0],
                                                checkpoints.load_variables(motion_dir, model.motion)[0])
        out[key] = evaluate(model, variables, config(), split)

    for key in ('rgb', 'rgbdiff', 'stacked'):
        if key in rows:
            trained(key, key)
    teachers = {'teacher': (runs.get('rgb'), runs.get('rgbdiff'))}
    if rows & {'weak_teacher', 'stacked_weak_kd'}:
        teachers['weak_teacher'] = (runs['rgb'], untrained_motion_stream(
            root / f'{_STEPS.value}steps' / f'untrained_rgbdiff_s{seed}.npz', config()))
    for key, (rgb_dir, motion_dir) in teachers.items():
        if key in rows or key == 'weak_teacher':
            fused(key, rgb_dir, motion_dir)
    for key, modality, teacher in (('rgb_kd', 'rgb', 'teacher'), ('stacked_kd', 'stacked', 'teacher'),
                                   ('stacked_weak_kd', 'stacked', 'weak_teacher')):
        if key in rows:
            trained(key, modality, teachers[teacher])
    reference = out.get('teacher', {}).get('predictions')
    for result in out.values():
        result['agreement'] = (float(np.mean(np.equal(result['predictions'], reference)))
                               if reference is not None else None)
    return out


def interval(values) -> tuple:
    """Mean and the half-width of its 95% t-interval (0 for one value)."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        return float(values.mean()), 0.0
    return float(values.mean()), float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def format_table(results: dict, seeds, split: str) -> str:
    """The Markdown table and the paired differences."""
    lines = ['| model | Clip@1 | Video@1 | Video@1 per seed | agrees with the teacher | GMAC/frame (ResNet-34) |',
             '|---|---|---|---|---|---|']
    for key, name, gmac in ROWS:
        if key not in results:
            continue
        per_seed = results[key]
        clip = interval([r['clip_top1'] for r in per_seed])
        video = interval([r['video_top1'] for r in per_seed])
        agree = [r['agreement'] for r in per_seed if r['agreement'] is not None]
        agreement = f'{np.mean(agree):.2f}' if agree else '-'
        seeds_text = ' '.join(f'{r["video_top1"]:.3f}' for r in per_seed)
        lines.append(f'| {name} | {clip[0]:.3f} +- {clip[1]:.3f} | {video[0]:.3f} +- {video[1]:.3f} | '
                     f'{seeds_text} | {agreement} | {gmac:.2f} |')
    lines += ['', f'Paired differences in Video@1 on {split} (same seed: same initialisation and data order), '
                  'mean +- 95% t-interval, per seed:']
    for key, baseline in PAIRS:
        if key in results and baseline in results:
            diff = [a['video_top1'] - b['video_top1'] for a, b in zip(results[key], results[baseline])]
            mean, half = interval(diff)
            names = dict((k, n) for k, n, _ in ROWS)
            lines.append(f'- {names[key]} - {names[baseline]}: {mean:+.3f} +- {half:.3f} '
                         f'({", ".join(f"{d:+.3f}" for d in diff)})')
    return '\n'.join(lines)


def cpu_name() -> str:
    try:
        for line in pathlib.Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.partition(':')[2].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown CPU'


def main(argv):
    del argv
    logs.configure_cli_logging()
    rows = _ROWS.value or [key for key, _, _ in ROWS]
    unknown = sorted(set(rows) - {key for key, _, _ in ROWS})
    if unknown:
        raise app.UsageError(f'unknown --rows {unknown}')
    seeds = [int(s) for s in _SEEDS.value]
    root = pathlib.Path(_WORKDIR.value).resolve()
    (root / f'{_STEPS.value}steps').mkdir(parents=True, exist_ok=True)
    # Rows of the same modality compile the same programs: keep them on disk across runs and seeds.
    jax.config.update('jax_compilation_cache_dir', str(root / 'jax_cache'))
    start = time.time()
    per_seed = [run_seed(root, seed, rows, _SPLIT.value) for seed in seeds]
    results = {key: [r[key] for r in per_seed] for key, _, _ in ROWS if all(key in r for r in per_seed)}
    seconds = time.time() - start
    header = (f'synthetic_actions/two_cue, 12 classes (chance 0.083; one frame tells at most 0.25, '
              f'frame differences at most 0.33), '
              f'{_SPLIT.value} split; configs/demo.py tiny VTN, {_STEPS.value} steps per trained row, batch '
              f'{demo.get_config().train.batch_size}; KD T = {_TEMPERATURE.value:g}, w = {_WEIGHT.value:g}; seeds '
              f'{",".join(map(str, seeds))}; float32 on {cpu_name()} ({jax.device_count()} JAX CPU '
              f'device); {seconds / 60:.1f} min')
    text = header + '\n\n' + format_table(results, seeds, _SPLIT.value)
    print('\n' + text)
    (root / 'ablation.json').write_text(json.dumps({'header': header, 'steps': _STEPS.value, 'seeds': seeds,
                                                    'temperature': _TEMPERATURE.value, 'weight': _WEIGHT.value,
                                                    'split': _SPLIT.value, 'seconds': seconds, 'results': results},
                                                   indent=1))


if __name__ == '__main__':
    app.run(main)
