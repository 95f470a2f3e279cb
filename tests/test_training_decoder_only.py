"""Embedding cache round trip and decoder-only training."""
import jax
import numpy as np

from vtn_jax.data import frames as frames_lib
from vtn_jax.data import input_pipeline
from vtn_jax.models import vtn as model_lib
from vtn_jax.training import decoder_only


def test_cached_decoder_equals_full_model_and_trains(tiny_config, tiny_data_dir, tmp_path):
    config = tiny_config
    config.data.data_dir = str(tiny_data_dir)
    config.model.modality = 'rgbdiff'
    model = model_lib.create_model(config.model)
    variables = model_lib.init_variables(model, jax.random.key(0), image_size=32)
    cache = decoder_only.cache_split(config, variables, 'test', tmp_path / 'test.npz', batch_size=8)
    assert cache['embeddings'].shape[1:] == (7, 32)  # rgbdiff: T - 1 steps
    read = decoder_only.read_cache(tmp_path / 'test.npz')
    # The full model on the same clips gives the decoder-on-cache logits (1e-5).
    batch = next(input_pipeline.create_split(config.data, 'test', batch_size=8, mode='segments'))
    assert batch['video'].dtype == np.uint8  # normalised on the device, as the cache's encoder does
    video = frames_lib.model_input(batch['video'], config.data.mean, config.data.std)
    full = np.asarray(jax.jit(model.apply)(variables, video))[batch['mask']]
    decode = jax.jit(lambda v, e: model.apply(v, e, method=model_lib.VTN.decode))
    cached = np.asarray(decode(variables, read['embeddings'][:len(full)]))
    np.testing.assert_allclose(cached, full, atol=1e-5, rtol=0)
    before = decoder_only.evaluate_cache(model, variables, read)
    assert before['num_clips'] == len(read['label'])
    # Decoder-only training moves the decoder and head, never the encoder, and fits the cache.
    config.optim.learning_rate = 1e-3
    trained = decoder_only.train_decoder(config, variables, read, steps=60, batch_size=16, log_every=0)
    np.testing.assert_array_equal(trained['params']['encoder']['stem_conv']['kernel'],
                                  variables['params']['encoder']['stem_conv']['kernel'])
    assert np.abs(np.asarray(trained['params']['head']['kernel'] - variables['params']['head']['kernel'])).max() > 0
    after = decoder_only.evaluate_cache(model, trained, read)
    assert after['loss'] < before['loss']
