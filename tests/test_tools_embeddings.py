"""The vtn-embeddings command: cache a split with a frozen encoder, then train the decoder alone on the cache."""
import jax
import numpy as np

from conftest import run_command
from vtn_jax import checkpoints
from vtn_jax.models import vtn as vtn_lib
from vtn_jax.tools import embeddings


def test_cache_then_train_the_decoder(tiny_config, tiny_data_dir, tmp_path, capsys):
    model = vtn_lib.create_model(tiny_config.model)
    variables = vtn_lib.init_variables(model, jax.random.key(2), image_size=32)
    weights, cache, out = tmp_path / 'weights.npz', tmp_path / 'test.npz', tmp_path / 'decoder.npz'
    checkpoints.save_flat_npz(variables, weights)
    common = ['--config', 'tiny', '--checkpoint', weights, '--data_dir', tiny_data_dir]
    assert run_command(embeddings, 'cache', *common, '--split', 'test', '--output', cache) == (0, '')
    with np.load(cache) as arrays:
        assert arrays['embeddings'].shape[1:] == (tiny_config.model.num_frames, tiny_config.model.embed_dim)
        assert len(arrays['label']) == len(arrays['embeddings']) > 16  # every segment of the 16 test videos
    assert run_command(embeddings, 'train', *common, '--train_cache', cache, '--eval_cache', cache, '--steps', 3,
                       '--batch_size', 8, '--output', out) == (0, '')
    printed = capsys.readouterr().out
    assert 'before: {' in printed and 'after: {' in printed
    trained = checkpoints.read_flat_npz(out, model)  # a flat .npz the model loads strictly
    flat = {k: v for k, v in jax.tree_util.tree_flatten_with_path(trained)[0]}
    start = {k: v for k, v in jax.tree_util.tree_flatten_with_path(variables)[0]}
    moved = {jax.tree_util.keystr(k)[:40] for k in flat if not np.array_equal(flat[k], start[k])}
    assert moved and all("'decoder'" in k or "'head'" in k for k in moved)  # the encoder stays frozen
    code, message = run_command(embeddings, 'cache', *common, '--output', cache)
    assert code == 1 and message == 'error: --split is required: the TFDS split to encode (see --help)'
