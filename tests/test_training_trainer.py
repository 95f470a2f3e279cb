"""End-to-end training on the tiny config and synthetic_actions: checkpoints, exact resume, failures, learning."""
import json
import logging
import os
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from vtn_jax.configs import demo
from vtn_jax.data import input_pipeline
from vtn_jax import checkpoints
from vtn_jax import distributed
from vtn_jax import logs
from vtn_jax.errors import UserError
from vtn_jax.training import evaluation
from vtn_jax.training import trainer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture()
def data_dir(tiny_data_dir):
    return tiny_data_dir  # synthetic_actions/tiny (conftest); the demo config's dataset is built beside it


@pytest.fixture()
def config(tiny_config, data_dir):
    tiny_config.data.data_dir = str(data_dir)
    tiny_config.train.num_train_steps = 2
    tiny_config.train.eval_every_steps = 2
    tiny_config.train.checkpoint_every_steps = 2
    tiny_config.train.log_every_steps = 1
    return tiny_config


def params_of(workdir, which='latest'):
    return checkpoints.restore_variables(workdir, which=which)['params']


def assert_trees_close(a, b, atol):
    for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=0)


def test_two_steps_checkpoint_and_exact_resume(config, tmp_path):
    result = trainer.train_and_evaluate(config, tmp_path / 'a')
    assert result['step'] == 2 and np.isfinite(result['loss']) and result['num_videos'] == 16
    # The run's last evaluation is its final state's, with the eval-mode model: evaluating the saved checkpoint
    # on its own gives the same numbers (a train-mode BatchNorm or a stale state would not).
    again = evaluation.evaluate_checkpoint(config, str(tmp_path / 'a'), verbose=False)
    for key in ('loss', 'clip_top1', 'video_top1', 'num_clips'):
        assert result[key] == pytest.approx(again[key], abs=1e-6), key
    assert (tmp_path / 'a' / 'checkpoints' / '2').is_dir()
    assert list((tmp_path / 'a').glob('events.out.tfevents*'))  # TensorBoard summaries
    # What the run is and how each evaluation went, for a person: config, class names, per-class report.
    assert json.loads((tmp_path / 'a' / 'config.json').read_text())['model']['encoder'] == 'resnet_tiny'
    assert len((tmp_path / 'a' / 'class_names.txt').read_text().split()) == config.model.num_classes
    report = json.loads((tmp_path / 'a' / 'eval' / 'step_2' / 'per_class.json').read_text())
    assert sum(c['videos'] for c in report['classes']) == result['num_videos'] == 16
    assert sum(map(sum, report['confusion_matrix'])) == 16
    hits = sum(report['confusion_matrix'][i][i] for i in range(config.model.num_classes))
    assert hits / 16 == result['video_top1']
    assert (tmp_path / 'a' / 'eval' / 'step_2' / 'confusion_matrix.png').stat().st_size > 0
    # Resume: the same workdir continues at step 2; 2 + 2 steps equal 4 uninterrupted steps.
    config.train.num_train_steps = 4
    config.train.eval_every_steps = 100
    resumed = trainer.train_and_evaluate(config, tmp_path / 'a')
    assert resumed['step'] == 4
    trainer.train_and_evaluate(config, tmp_path / 'b')
    assert_trees_close(params_of(tmp_path / 'a'), params_of(tmp_path / 'b'), atol=1e-6)
    assert checkpoints.read_run_config(tmp_path / 'b').model.encoder == 'resnet_tiny'


def test_prefetching_changes_no_result(config, tmp_path):
    """Batches sent to the device ahead of the step (config.train.prefetch) train bitwise like the plain loop."""
    config.train.num_train_steps = 3
    config.train.eval_every_steps = 3
    config.train.checkpoint_every_steps = 3
    results = {}
    for prefetch in (0, 3):
        config.train.prefetch = prefetch
        results[prefetch] = trainer.train_and_evaluate(config, tmp_path / f'prefetch{prefetch}')
    assert results[0] == results[3]
    for a, b in zip(jax.tree_util.tree_leaves(params_of(tmp_path / 'prefetch0')),
                    jax.tree_util.tree_leaves(params_of(tmp_path / 'prefetch3'))):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_a_relative_workdir_trains_and_restores(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # orbax refuses relative paths; the trainer resolves them
    result = trainer.train_and_evaluate(config, 'runs/relative')
    assert result['step'] == 2 and (tmp_path / 'runs/relative/checkpoints/2').is_dir()
    assert checkpoints.restore_variables('runs/relative')['params']


def test_nan_loss_stops_the_run_naming_the_step(config, tmp_path, monkeypatch):
    real = input_pipeline.create_split

    def poisoned(*args, **kwargs):
        for i, batch in enumerate(real(*args, **kwargs), start=kwargs.get('start_step', 0)):
            if kwargs['mode'] == 'train' and i == 2:  # the third training batch (step 3)
                # A float video is taken as already normalised (frames.model_input): NaN reaches the model.
                batch = {**batch, 'video': np.full(batch['video'].shape, np.nan, np.float32)}
            yield batch

    monkeypatch.setattr(input_pipeline, 'create_split', poisoned)
    config.train.num_train_steps = 4
    config.train.checkpoint_every_steps = 2
    config.train.eval_every_steps = 100
    with pytest.raises(trainer.NonFiniteLossError, match='at step 3'):
        trainer.train_and_evaluate(config, tmp_path)
    assert sorted(p.name for p in (tmp_path / 'checkpoints').iterdir() if p.name.isdigit()) == ['2']
    assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree_util.tree_leaves(params_of(tmp_path)))


def test_data_error_is_counted_and_reported_not_fatal(config, tmp_path, monkeypatch, capsys):
    logs.configure_cli_logging(verbose=True)  # as a command shows it
    real = input_pipeline.create_split
    calls = []

    def flaky(*args, **kwargs):
        calls.append(kwargs.get('start_step'))
        for i, batch in enumerate(real(*args, **kwargs), start=kwargs.get('start_step', 0)):
            if kwargs['mode'] == 'train' and i == 1:
                raise OSError('corrupt record in shard 0')
            yield batch

    monkeypatch.setattr(input_pipeline, 'create_split', flaky)
    config.train.num_train_steps = 3
    config.train.eval_every_steps = 100
    result = trainer.train_and_evaluate(config, tmp_path)
    assert result['data_errors'] == 1 and result['step'] == 3
    assert 'DATA ERROR (1 so far) at input batch 1: OSError: corrupt record' in capsys.readouterr().out
    assert calls[:2] == [0, 2]  # reopened after the bad batch, not from the start


def test_unknown_config_key_fails_with_its_name(config, tmp_path):
    config.lock()  # as train.py loads it (lock_config=True)
    with pytest.raises(AttributeError, match='learning_rat'):
        config.optim.learning_rat = 1.0  # a locked ConfigDict (as train.py loads it) rejects new keys
    config.unlock()
    config.model.num_layer = 3
    with pytest.raises(ValueError, match='num_layer'):
        trainer.train_and_evaluate(config, tmp_path)


@pytest.mark.slow
@pytest.mark.optimized  # 600 steps: running, not compiling, is the cost
def test_tiny_model_learns_synthetic_actions(data_dir, tmp_path):
    # The main job's model (configs/demo.py: tiny VTN on RGB differences; the file says why not RGB) on the
    # default synthetic set, 8 classes: chance 0.125, and 0.3 on 128 test videos is 5 sigma above it.
    config = demo.get_config()
    config.data.data_dir = str(data_dir)
    config.train.num_train_steps = 600
    config.train.eval_every_steps = 600
    config.train.checkpoint_every_steps = 600
    result = trainer.train_and_evaluate(config, tmp_path)
    assert result['video_top1'] >= 0.3, result


@pytest.mark.parametrize('modality', ['rgb', 'rgbdiff', 'stacked'])
def test_dense_evaluation_gives_the_segments_metrics(config, modality):
    """Whole videos, each frame encoded once, give the 'segments' clips and metrics, plus per-frame labels."""
    from vtn_jax.models import vtn as model_lib
    config.model.modality = modality
    model = model_lib.create_model(config.model)
    variables = model_lib.init_variables(model, jax.random.key(3), image_size=config.data.crop_size)
    mesh = distributed.create_mesh()
    kwargs = dict(batch_size=config.train.eval_batch_size, mesh=mesh)
    segments = evaluation.evaluate(model, variables, config.data, mode='segments', **kwargs)
    dense = evaluation.evaluate(model, variables, config.data, mode='dense', **kwargs)
    for key in ('num_clips', 'num_videos', 'clip_top1', 'clip_top5', 'video_top1', 'video_top5'):
        assert dense[key] == segments[key], key
    assert dense['loss'] == pytest.approx(segments['loss'], abs=1e-5)
    lengths = input_pipeline.load_builder(config.data).info.metadata['num_frames'][config.data.eval_split]
    first = (config.data.num_frames - 1) * config.data.stride  # 'wait': no label before the first full window
    assert dense['num_predicted_frames'] == sum(max(n - first, 0) for n in lengths)
    offset = 0 if modality == 'rgb' else config.data.stride
    assert dense['encoder_passes'] == sum(n - offset for n in lengths)
    assert dense['window_encoder_passes'] == dense['num_predicted_frames'] * model.num_steps
    hits = dense['frame_top1'] * dense['num_predicted_frames']  # a fraction of the predicted frames
    assert hits == pytest.approx(round(hits), abs=1e-6)


def test_the_authors_recipe_trains_and_evaluates(config, tmp_path):
    # configs/authors_recipe.py's choices on the tiny model: the authors' crops and evaluation, uniform10 Video@1,
    # the plateau on clip accuracy, the schedule in epochs (48 videos / batch 8 = 6 steps an epoch).
    config.data.eval_crop = 'authors'
    config.data.crop_placement = 'authors'
    config.train.eval_mode = 'uniform10'
    config.optim.plateau_metric, config.optim.plateau_mode = 'clip_top1', 'max'
    config.train.num_train_epochs = 2 / 6  # 2 steps
    config.train.eval_every_epochs = 1 / 6
    result = trainer.train_and_evaluate(config, tmp_path)
    lengths = input_pipeline.load_builder(config.data).info.metadata['num_frames'][config.data.eval_split]
    assert result['step'] == 2 and result['num_clips'] == sum(min(10, n) for n in lengths)
    # Two evaluations fed the plateau rule; its state is in the checkpoint's metadata (what a resume reads).
    with ocp.CheckpointManager(tmp_path / 'checkpoints', options=ocp.CheckpointManagerOptions(read_only=True)) as m:
        meta = m.restore(2, args=ocp.args.Composite(meta=ocp.args.JsonRestore())).meta
    assert meta['plateau']['num_steps'] == 2 and meta['plateau']['learning_rate'] == config.optim.learning_rate


def test_an_unknown_eval_mode_fails_before_training(config, tmp_path):
    config.train.eval_mode = 'sparse'
    with pytest.raises(ValueError, match="evaluation mode must be one of .*'sparse'"):
        trainer.train_and_evaluate(config, tmp_path / 'bad')
    assert not (tmp_path / 'bad').exists()


def test_training_can_evaluate_densely(config, tmp_path):
    config.train.eval_mode = 'dense'
    result = trainer.train_and_evaluate(config, tmp_path / 'dense')
    assert result['step'] == 2 and result['encoder_passes'] > 0
    again = evaluation.evaluate_checkpoint(config, str(tmp_path / 'dense'), mode='dense', verbose=False)
    for key in ('frame_top1', 'video_top1', 'num_predicted_frames'):
        assert result[key] == pytest.approx(again[key], abs=1e-9), key


@pytest.mark.parametrize('metric, mode, best', [('loss', 'min', 2), ('clip_top1', 'max', 3)])
def test_the_manager_keeps_the_best_on_the_watched_metric_and_the_latest(config, tmp_path, metric, mode, best):
    config.optim.plateau_metric, config.optim.plateau_mode = metric, mode
    manager = checkpoints.create_manager(tmp_path, max_to_keep=1)
    saver = trainer._Saver(manager, tmp_path, config.optim, 'train.log')
    state = {'params': {'w': np.zeros(2, np.float32)}, 'batch_stats': {}}
    for step, loss, top1 in ((1, 0.5, 0.1), (2, 0.2, 0.3), (3, 0.9, 0.6), (4, None, None)):
        saver.save(step, jax.device_put(state), {'step': step},
                   {'loss': loss, 'clip_top1': top1} if loss is not None else None)
    saver.wait()
    assert manager.all_steps() == sorted({best, 4}) and manager.best_step() == best  # the best and the latest
    manager.close()


def test_a_class_count_that_does_not_fit_the_dataset_fails_before_training(config, tmp_path):
    config.model.num_classes = 5
    with pytest.raises(ValueError, match='num_classes=5.*has 8 classes.*--config.model.num_classes=8'):
        trainer.train_and_evaluate(config, tmp_path / 'bad')
    assert not (tmp_path / 'bad' / 'checkpoints').exists()


def test_a_paper_sized_encoder_from_random_init_is_warned_about(caplog):
    logger = logging.getLogger('vtn_jax.training.trainer')  # caught here even when a command stopped propagation
    logger.addHandler(caplog.handler)
    try:
        trainer.warn_random_init('resnet_tiny')
        assert not caplog.records
        trainer.warn_random_init('se_resnext101_32x4d')
    finally:
        logger.removeHandler(caplog.handler)
    assert 'RANDOM INIT' in caplog.text and 'se_resnext101_32x4d-3b2fe3d8.pth' in caplog.text


@pytest.fixture()
def vtn_log(caplog):
    """vtn_jax's log records, also after a command cut the package's logger off from the root."""
    logger = logging.getLogger('vtn_jax')
    cut_off = not logger.propagate
    if cut_off:
        logger.addHandler(caplog.handler)
    yield caplog
    if cut_off:
        logger.removeHandler(caplog.handler)


def damage(workdir, step):
    """Zeroes every data file of a finished checkpoint step's arrays (a bad disk block, a broken copy)."""
    for path in (workdir / 'checkpoints' / str(step) / 'state').rglob('d/*'):
        path.write_bytes(bytes(path.stat().st_size))


def test_a_damaged_newest_checkpoint_is_named_set_aside_and_the_previous_step_resumed(config, tmp_path, vtn_log):
    config.train.num_train_steps = 3
    config.train.checkpoint_every_steps = 1
    config.train.eval_every_steps = 100
    trainer.train_and_evaluate(config, tmp_path)
    damage(tmp_path, 3)
    config.train.num_train_steps = 4
    assert trainer.train_and_evaluate(config, tmp_path)['step'] == 4
    folder = tmp_path / 'checkpoints'
    assert f'checkpoint {folder}/3 does not restore (ValueError: ' in vtn_log.text
    assert f'moved to {tmp_path}/corrupt_checkpoints/, resuming from step 2' in vtn_log.text
    assert (tmp_path / 'corrupt_checkpoints' / '3' / 'state').is_dir()  # kept for a look
    assert sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit()) == [3, 4]  # step 3 trained again
    for step in (3, 4):
        damage(tmp_path, step)
    config.train.num_train_steps = 5
    with pytest.raises(UserError, match=rf'no checkpoint in {folder} restores \(step 4: .*; step 3: .*\): '):
        trainer.train_and_evaluate(config, tmp_path)  # never a silent fresh start


def test_a_full_disk_during_a_save_ends_in_one_line_naming_the_folder(data_dir, tmp_path):
    workdir = tmp_path / 'full'
    workdir.mkdir()
    mounted = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', str(workdir)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f'cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}')
    try:  # the first checkpoint (1.4 MB) fits, the second does not
        proc = subprocess.run(
            [sys.executable, '-m', 'vtn_jax.tools.train', '--config', 'tiny', '--workdir', str(workdir),
             f'--config.data.data_dir={data_dir}', '--config.train.num_train_steps=3',
             '--config.train.checkpoint_every_steps=1', '--config.train.eval_every_steps=100'],
            capture_output=True, text=True, timeout=600, cwd=ROOT,
            env={**os.environ, 'PYTHONPATH': ROOT, 'TF_CPP_MIN_LOG_LEVEL': '2'})
    finally:
        subprocess.run(['umount', str(workdir)], check=True)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-3000:]
    assert 'Traceback' not in output, output[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f'error: saving checkpoint step 2 to {workdir}/checkpoints failed: '), output[-3000:]
    assert 'No space left on device' in last and f'details in {workdir}/train.log' in last
