r"""The paper's Table 1 on synthetic_actions: RGB, RGB-diff, stacked, the fused teacher, RGB + KD, stacked + KD.

    python bench/ablation.py --workdir runs/ablation --seeds 0,1 --steps 2000

Every run has the same budget (configs/demo.py: the tiny VTN, same steps, batch and seed); the teacher is the
0.5/0.5 fusion of the trained RGB and RGB-diff runs of the same seed, and the KD runs distil it (T = 8, w = 0.4).
Prints a Markdown table of Clip@1 (all segments) and Video@1 as mean +- spread over the seeds, with GMAC per frame
at 224x224 for the ResNet-34 versions of each row (the tiny model's own cost is negligible).
"""
import argparse
import json
import pathlib
import sys

import jax
import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vtn_jax import checkpoints  # noqa: E402
from vtn_jax import distributed  # noqa: E402
from vtn_jax.configs import demo  # noqa: E402
from vtn_jax.models import vtn as model_lib  # noqa: E402
from vtn_jax.training import evaluation  # noqa: E402
from vtn_jax.training import trainer  # noqa: E402

ROWS = [  # name, modality, distil, GMAC of the ResNet-34 version (vtn-costs)
    ('RGB', 'rgb', False, 3.79),
    ('RGB-diff', 'rgbdiff', False, 3.78),
    ('Stacked RGB + RGB-diff', 'stacked', False, 3.90),
    ('Fused teacher (RGB + RGB-diff)', None, False, 7.56),
    ('RGB + KD', 'rgb', True, 3.79),
    ('Stacked + KD', 'stacked', True, 3.90),
]


def run_row(workdir, seed, steps, modality, distil, teacher_dirs, data_dir):
    config = demo.get_config()
    config.data.data_dir = data_dir
    config.model.modality = modality
    config.train.seed = seed
    config.train.num_train_steps = steps
    config.train.eval_every_steps = steps
    config.train.checkpoint_every_steps = steps
    config.train.log_every_steps = max(steps // 4, 1)
    if distil:
        config.distill.enabled = True
        config.distill.rgb_checkpoint, config.distill.motion_checkpoint = teacher_dirs
    result = trainer.train_and_evaluate(config, workdir)
    return result['clip_top1'], result['video_top1']


def evaluate_teacher(teacher_dirs, data_dir):
    config = demo.get_config()
    config.data.data_dir = data_dir
    teacher = model_lib.create_two_stream(config.model)
    parts = [checkpoints.restore_variables(d, getattr(teacher, s)) for d, s in zip(teacher_dirs, ('rgb', 'motion'))]
    mesh = distributed.create_mesh()
    variables = jax.device_put(model_lib.assemble_two_stream(*parts), distributed.replicated(mesh))
    result = evaluation.evaluate(teacher, variables, config.data, batch_size=config.train.eval_batch_size, mesh=mesh)
    return result['clip_top1'], result['video_top1']


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--workdir', default='runs/ablation')
    parser.add_argument('--seeds', default='0,1')
    parser.add_argument('--steps', type=int, default=2000)
    parser.add_argument('--data_dir', default='data_cache/tfds')
    args = parser.parse_args()
    root = pathlib.Path(args.workdir)
    results = {name: [] for name, *_ in ROWS}
    for seed in [int(s) for s in args.seeds.split(',')]:
        teacher_dirs = (str(root / f'rgb_s{seed}'), str(root / f'rgbdiff_s{seed}'))
        for name, modality, distil, _ in ROWS:
            print(f'==== seed {seed}: {name}', flush=True)
            if modality is None:
                results[name].append(evaluate_teacher(teacher_dirs, args.data_dir))
            else:
                tag = f'{modality}{"_kd" if distil else ""}_s{seed}'
                results[name].append(run_row(str(root / tag), seed, args.steps, modality, distil, teacher_dirs,
                                             args.data_dir))
            print(f'     Clip@1 {results[name][-1][0]:.3f} Video@1 {results[name][-1][1]:.3f}', flush=True)
    (root / 'ablation.json').write_text(json.dumps(results, indent=1))
    print(f'\nsynthetic_actions (8 classes, chance 0.125), configs/demo.py budget: {args.steps} steps, '
          f'seeds {args.seeds}; mean +- half-range over seeds')
    print('| model | Clip@1 | Video@1 | GMAC/frame (ResNet-34 version) |\n|---|---|---|---|')
    for name, *_, gmac in ROWS:
        clip, video = np.array(results[name]).T
        print(f'| {name} | {clip.mean():.3f} +- {np.ptp(clip) / 2:.3f} | {video.mean():.3f} +- {np.ptp(video) / 2:.3f} '
              f'| {gmac} |')


if __name__ == '__main__':
    main()
