"""The vtn-train command: --eval_only on a checkpoint file prints the metrics and writes the per-class report;
its usage errors are one line. (Training itself: tests/test_training_trainer.py.)"""
import json

import jax

from conftest import run_command
from vtn_jax import checkpoints
from vtn_jax.models import vtn as vtn_lib
from vtn_jax.tools import train


def test_eval_only_reports_a_checkpoint_on_the_tiny_split(tiny_config, tiny_data_dir, tmp_path, capsys):
    model = vtn_lib.create_model(tiny_config.model)
    weights = tmp_path / 'weights.npz'
    checkpoints.save_flat_npz(vtn_lib.init_variables(model, jax.random.key(1), image_size=32), weights)
    common = ['--config', 'tiny', f'--config.data.data_dir={tiny_data_dir}', '--eval_only', '--checkpoint', weights]
    assert run_command(train, *common, '--workdir', tmp_path / 'run', '--eval_mode', 'clip') == (0, '')
    printed = capsys.readouterr().out
    result = json.loads(printed[printed.index('{'):])
    assert result['num_clips'] == result['num_videos'] == 16  # clip mode: the central clip of each test video
    assert 0 <= result['clip_top1'] <= result['clip_top5'] <= 1
    report = tmp_path / 'run' / 'eval' / 'test_clip'
    per_class = json.loads((report / 'per_class.json').read_text())['classes']
    assert len(per_class) == tiny_config.model.num_classes and sum(c['videos'] for c in per_class) == 16
    assert (report / 'confusion_matrix.png').is_file()
    code, message = run_command(train, *common, '--eval_mode', 'clips')  # checked by the library: one line
    assert code == 1 and "'clips'" in message and 'segments' in message and '\n' not in message


def test_usage_errors_name_the_flag():
    assert run_command(train) == (1, '--config is required: the experiment config (a path or a shipped name such '
                                     'as tiny) (see --help)'.join(['error: ', '']))
    assert run_command(train, '--config', 'tiny') == \
        (1, 'error: --workdir is required: where the run is written (see --help)')
    assert run_command(train, '--config', 'tiny', '--export', 'x') == \
        (1, 'error: vtn-train takes no --export (see --help)')
