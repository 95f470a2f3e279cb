"""Weights from every source through one function: flat .npz round trip, mismatches named, corrupt files, random
weights with real-scale BatchNorm statistics."""
import json
import logging

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from export_helpers import normalized, tiny_setup, uint8_clips
from vtn_jax import checkpoints
from vtn_jax.configs import default
from vtn_jax.configs import tiny
from vtn_jax.errors import UserError
from vtn_jax.models import vtn as model_lib


def test_flat_npz_round_trip_and_mismatches(tmp_path):
    config, model, variables = tiny_setup()
    path = tmp_path / 'own.npz'
    checkpoints.save_flat_npz(variables, path)
    loaded, source = checkpoints.load_variables(str(path), model, image_size=32)
    assert 'flat npz' in source
    jax.tree.map(np.testing.assert_array_equal, loaded, variables)

    flat = dict(np.load(path))
    flat['params/head/kernel'] = np.zeros((32, 5), np.float32)  # a 5-class head for an 8-class model
    np.savez(tmp_path / 'wrong_shape.npz', **flat)
    with pytest.raises(checkpoints.CheckpointMismatchError, match=r'params/head/kernel.*\(32, 5\).*\(32, 8\)'):
        checkpoints.load_variables(str(tmp_path / 'wrong_shape.npz'), model, image_size=32)

    del flat['params/head/kernel']
    np.savez(tmp_path / 'missing.npz', **flat)
    with pytest.raises(checkpoints.CheckpointMismatchError, match='missing key params/head/kernel'):
        checkpoints.load_variables(str(tmp_path / 'missing.npz'), model, image_size=32)

    # Another encoder's checkpoint for this config: fails naming the keys (not silently half-loaded).
    _, _, other = tiny_setup(num_classes=3)
    checkpoints.save_flat_npz(other, tmp_path / 'other.npz')
    with pytest.raises(checkpoints.CheckpointMismatchError, match='params/head/bias'):
        checkpoints.load_variables(str(tmp_path / 'other.npz'), model, image_size=32)


def test_corrupted_and_reference_format_checkpoints_fail_with_message(tmp_path):
    _, model, _ = tiny_setup()
    corrupted = tmp_path / 'corrupted.npz'
    corrupted.write_bytes(b'PK\x03\x04 this is not a zip archive')
    with pytest.raises(checkpoints.CheckpointMismatchError, match='cannot read'):
        checkpoints.load_variables(str(corrupted), model, image_size=32)
    # Reference-format keys (no 'params/' prefix) go to the reference loader, which names what is missing.
    np.savez(tmp_path / 'reference.npz', **{'fc.weight': np.zeros((8, 32), np.float32)})
    with pytest.raises(checkpoints.CheckpointMismatchError, match='missing key'):
        checkpoints.load_variables(str(tmp_path / 'reference.npz'), model, image_size=32)
    with pytest.raises(FileNotFoundError, match='does_not_exist'):
        checkpoints.load_variables(str(tmp_path / 'does_not_exist.pth'), model, image_size=32)


def test_random_weights_get_batch_statistics_of_real_scale():
    config, model, variables = tiny_setup()
    frames = normalized(uint8_clips(1, seed=13)[0], config)
    emb = np.asarray(model.apply(variables, frames, method=model_lib.VTN.encode))
    # Fresh running statistics (0, 1) shrink activations layer by layer; batch statistics keep unit scale.
    assert 0.2 < emb.std() < 5.0
    stem_mean = variables['batch_stats']['encoder']['stem_bn']['mean']
    assert np.abs(stem_mean).max() > 1e-3


def save_run(workdir, steps: dict, best: int):
    """A training workdir whose step s holds params filled with s and `steps[s]` (its config); only `best` was
    evaluated (saved as the trainer saves: state, meta with the config, metrics)."""
    _, _, variables = tiny_setup()
    manager = checkpoints.create_manager(workdir, max_to_keep=len(steps))
    for step, config in steps.items():
        state = {'params': jax.tree.map(lambda x, s=step: np.full_like(x, s), variables['params']),
                 'batch_stats': variables['batch_stats'], 'step': np.int32(step)}
        metrics = checkpoints.checkpoint_metrics({'loss': 0.5, 'clip_top1': 0.2}, 'loss', 'min') if step == best \
            else None
        manager.save(step, args=ocp.args.Composite(state=ocp.args.StandardSave(state),
                                                   meta=ocp.args.JsonSave({'config': config.to_json()})),
                     metrics=metrics)
    manager.wait_until_finished()
    manager.close()


def first_param(variables) -> float:
    return float(jax.tree.leaves(variables['params'])[0].flat[0])


@pytest.fixture()
def run_dir(tmp_path):
    """Step 1 (the best) trained with attention_scale 'head', steps 2 and 3 resumed with 'model'."""
    head, model = tiny.get_config(), tiny.get_config()
    head.model.attention_scale = 'head'
    save_run(tmp_path, {1: head, 2: model, 3: model}, best=1)
    return tmp_path


def test_config_and_weights_come_from_the_same_step(run_dir):
    step, variables, config = checkpoints.read_run(run_dir)
    assert step == 1 and first_param(variables) == 1.0 and config.model.attention_scale == 'head'
    # What vtn-demo --checkpoint WORKDIR reads: the config (cli.create_recognizer) and the weights (load_variables)
    assert checkpoints.read_run_config(run_dir).model.attention_scale == 'head'
    assert first_param(checkpoints.restore_variables(run_dir)) == 1.0
    step, variables, config = checkpoints.read_run(run_dir, 'latest')
    assert step == 3 and first_param(variables) == 3.0 and config.model.attention_scale == 'model'


def test_a_step_that_does_not_restore_is_named_and_the_next_intact_one_used(run_dir, caplog):
    logger = logging.getLogger('vtn_jax.checkpoints')
    logger.addHandler(caplog.handler)
    try:
        for path in (run_dir / 'checkpoints' / '1' / 'state').rglob('d/*'):
            path.write_bytes(path.read_bytes()[:path.stat().st_size // 3])  # truncated: an interrupted copy
        step, variables, config = checkpoints.read_run(run_dir)  # the best is damaged: the newest intact one
        assert step == 3 and first_param(variables) == 3.0 and config.model.attention_scale == 'model'
        warned = {r.getMessage() for r in caplog.records if 'does not restore' in r.getMessage()}
        assert len(warned) == 1 and '\n' not in next(iter(warned))  # one line
        assert next(iter(warned)).startswith(f'checkpoint {run_dir}/checkpoints/1 does not restore (ValueError: ')
        assert next(iter(warned)).endswith('): using step 3')
    finally:
        logger.removeHandler(caplog.handler)
    for step in (2, 3):
        (run_dir / 'checkpoints' / str(step) / 'state' / '_METADATA').write_bytes(b'')
    with pytest.raises(UserError, match=r'no checkpoint in .*checkpoints restores \(step 1: .*; step 3: .*; '
                                        r'step 2: .*\): restore the folder from a copy'):
        checkpoints.read_run_config(run_dir)


def test_a_stored_config_is_completed_with_the_defaults(caplog):
    stored = json.loads(tiny.get_config().to_json_best_effort())
    del stored['optim']['plateau_eps']  # a config.json written before the field existed
    stored['data']['retired_field'] = 1
    del stored['data']['eval_crop']
    stored['data']['eval_preprocess'] = 'reference'  # renamed since: data.eval_crop, 'authors'
    logger = logging.getLogger('vtn_jax.checkpoints')
    logger.addHandler(caplog.handler)
    try:
        config = checkpoints.full_config(stored, 'old/config.json')
    finally:
        logger.removeHandler(caplog.handler)
    assert config.optim.plateau_eps == default.get_config().optim.plateau_eps
    assert config.model.encoder == 'resnet_tiny' and config.data.mean == default.get_config().data.mean  # a tuple
    assert 'retired_field' not in config.data and 'eval_preprocess' not in config.data
    assert config.data.eval_crop == 'authors'
    assert 'old/config.json has fields this version does not know, left out: data.retired_field' in caplog.text


def test_the_best_score_follows_the_watched_metric():
    assert checkpoints.checkpoint_metrics({'loss': 0.5, 'clip_top1': 0.25}, 'loss', 'min')['best_score'] == 0.5
    metrics = checkpoints.checkpoint_metrics({'loss': 0.5, 'clip_top1': 0.25}, 'clip_top1', 'max')
    assert metrics == {'eval_loss': 0.5, 'eval_clip_top1': 0.25, 'best_score': -0.25}  # lower is better
    assert checkpoints._best_score({'eval_loss': 0.3}) == 0.3  # older runs
