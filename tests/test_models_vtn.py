"""Model tests: shapes, exact parameter counts, finiteness, jit == no-jit, temporal order, bf16, modalities,
dropout rates and places, torch's initialisation."""
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vtn_jax.configs import default
from vtn_jax.models import decoder as decoder_lib
from vtn_jax.models import modality as modality_lib
from vtn_jax.models import vtn as model_lib


def tiny_model(tiny_config, **overrides):
    return model_lib.create_model({**tiny_config.model, **overrides})


def random_clip(model, batch=2, size=32, seed=1):
    return jax.random.normal(jax.random.key(seed), (batch, model.num_frames, size, size, 3))


def test_paper_sized_parameter_counts():
    # The reference's trainable counts (reference_state_dicts.txt), 400 classes.
    config = default.get_config()
    for encoder, expected in [('resnet34', 28_852_432), ('mobilenetv2', 10_447_504)]:
        model = model_lib.create_model({**config.model, 'encoder': encoder})
        shapes = jax.eval_shape(lambda m=model: model_lib.init_variables(m, jax.random.key(0)))
        assert model_lib.count_params(shapes['params']) == expected
    rgbdiff = model_lib.create_model({**config.model, 'modality': 'rgbdiff'})
    shapes = jax.eval_shape(lambda: model_lib.init_variables(rgbdiff, jax.random.key(0)))
    assert model_lib.count_params(shapes['params']) == 28_851_920  # 15-row position table


def test_tiny_parameter_count_and_shapes(tiny_config):
    model = tiny_model(tiny_config)
    variables = model_lib.init_variables(model, jax.random.key(0), image_size=32)
    assert model_lib.count_params(variables['params']) == 95_696
    logits = model.apply(variables, random_clip(model))
    assert logits.shape == (2, 8) and logits.dtype == jnp.float32
    assert np.all(np.isfinite(np.asarray(logits)))
    emb = model.apply(variables, jnp.zeros((5, 32, 32, 3)), method=model_lib.VTN.encode)
    assert emb.shape == (5, 32)


def test_any_input_size_works(tiny_config):
    model = tiny_model(tiny_config)
    variables = model_lib.init_variables(model, jax.random.key(0), image_size=32)
    for size in (24, 48, 57):  # the reference's fixed 7x7 pool breaks on sizes other than 224
        assert model.apply(variables, random_clip(model, size=size)).shape == (2, 8)


def test_jit_equals_no_jit(tiny_config):
    model = tiny_model(tiny_config)
    variables = model_lib.init_variables(model, jax.random.key(0), image_size=32)
    clip = random_clip(model)
    eager = model.apply(variables, clip)
    jitted = jax.jit(model.apply)(variables, clip)
    np.testing.assert_allclose(np.asarray(eager), np.asarray(jitted), atol=1e-5, rtol=0)


def test_reversing_frames_changes_logits_but_not_a_mean_pool(tiny_config):
    model = tiny_model(tiny_config)
    variables = model_lib.init_variables(model, jax.random.key(0), image_size=32)
    clip = random_clip(model)
    forward = np.asarray(model.apply(variables, clip))
    backward = np.asarray(model.apply(variables, clip[:, ::-1]))
    assert np.abs(forward - backward).max() > 1e-3
    # A mean-pool baseline (per-frame classifier on the raw embeddings, averaged) is order-blind.
    def mean_pool(v, x):
        b, t = x.shape[:2]
        emb = model.apply(v, x.reshape((b * t,) + x.shape[2:]), method=model_lib.VTN.encode)
        return jnp.mean(emb.reshape(b, t, -1), axis=1)
    np.testing.assert_allclose(mean_pool(variables, clip), mean_pool(variables, clip[:, ::-1]), atol=1e-5)


def test_bfloat16_compute_returns_float32_logits(tiny_config):
    model = tiny_model(tiny_config, dtype='bfloat16')
    variables = model_lib.init_variables(model, jax.random.key(0), image_size=32)
    assert all(x.dtype == jnp.float32 for x in jax.tree_util.tree_leaves(variables['params']))
    logits = model.apply(variables, random_clip(model))
    assert logits.dtype == jnp.float32
    ref = tiny_model(tiny_config).apply(variables, random_clip(model))
    assert np.all(np.isfinite(np.asarray(logits)))
    assert np.abs(np.asarray(logits) - np.asarray(ref)).max() < 0.1  # bf16 keeps ~3 significant digits


def record_calls(model, variables, clip, *, train):
    """Runs the model and records every Dropout, self-attention and feed-forward call: (kind, path, module,
    input, output)."""
    calls = []

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        module = context.module
        if context.method_name == '__call__' and isinstance(
                module, (nn.Dropout, decoder_lib.MultiHeadSelfAttention, decoder_lib.PositionwiseFeedForward)):
            calls.append((type(module).__name__, '/'.join(module.path), module, args[0], out))
        return out

    with nn.intercept_methods(interceptor):
        kwargs = dict(rngs={'dropout': jax.random.key(1)}, mutable=['batch_stats']) if train else {}
        model.apply(variables, clip, train=train, **kwargs)
    return calls


def test_dropout_rates_and_places_are_the_authors(tiny_config):
    # The authors' decoder drops (a) the attention probabilities, (b) the concatenated heads before the residual
    # and LayerNorm, (c) the feed-forward output before the residual and LayerNorm; nothing else (no dropout on
    # the embeddings, the position table or before the classifier). Distinct rates show which is which.
    model = tiny_model(tiny_config, dropout_rate=0.3, attention_dropout_rate=0.2)
    variables = model_lib.init_variables(model, jax.random.key(0), image_size=32)
    clip = random_clip(model)
    calls = record_calls(model, variables, clip, train=True)
    dropouts = [(path, module.rate, x.ndim) for kind, path, module, x, _ in calls if kind == 'Dropout']
    expected = []
    for i in range(tiny_config.model.num_layers):
        expected += [(f'decoder/block{i}/attention/Dropout_0', 0.2, 4),  # probabilities [B, H, T, T]
                     (f'decoder/block{i}/attention/Dropout_1', 0.3, 3),  # heads [B, T, D]
                     (f'decoder/block{i}/ffn/Dropout_0', 0.3, 3)]
    assert sorted(dropouts) == sorted(expected)
    for kind, path, module, x, y in calls:
        x, y = np.asarray(x), np.asarray(y)
        if kind == 'Dropout':  # inverted dropout: kept values scaled by 1 / (1 - p), about p of them zeroed
            kept = y != 0
            np.testing.assert_allclose(y[kept], x[kept] / (1 - module.rate), rtol=1e-5)
            if x.size >= 1000:
                assert abs((1 - kept.mean()) - module.rate) < 0.05, (path, 1 - kept.mean())
    # The feed-forward's dropped output is added to its input, then the reference LayerNorm: recompute it.
    ffn = {path: (x, y) for kind, path, _, x, y in calls if kind == 'PositionwiseFeedForward'}
    dropped = {path: y for kind, path, _, _, y in calls if kind == 'Dropout' and path.endswith('ffn/Dropout_0')}
    for path, (x, y) in ffn.items():
        ln = variables['params']['decoder'][path.split('/')[1]]['ffn']['layer_norm']
        z = np.asarray(dropped[f'{path}/Dropout_0'], np.float64) + np.asarray(x, np.float64)
        z = (z - z.mean(-1, keepdims=True)) / (z.std(-1, ddof=1, keepdims=True) + 1e-3)
        np.testing.assert_allclose(np.asarray(y), z * np.asarray(ln['scale']) + np.asarray(ln['bias']), atol=1e-4)
    # In evaluation every dropout passes its input through.
    for kind, _, _, x, y in record_calls(model, variables, clip, train=False):
        if kind == 'Dropout':
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_initialisation_is_torchs():
    # Paper-sized decoder (d 512, 8 heads, ffn 1024): q/k/v torch xavier_normal_ on the whole (8, 512, 64) tensor
    # (std sqrt(2 / (512 * 64 + 8 * 64)) = 0.00775), feed-forward weights and biases U(+-1/sqrt(fan_in)).
    decoder = decoder_lib.Decoder(num_steps=16)
    params = decoder.init(jax.random.key(0), jnp.zeros((1, 16, 512)), deterministic=True)['params']
    block = params['block0']
    for name in ('w_qs', 'w_ks', 'w_vs'):
        w = np.asarray(block['attention'][name])
        assert w.shape == (8, 512, 64)
        assert abs(w.std() / np.sqrt(2.0 / (512 * 64 + 8 * 64)) - 1) < 0.01 and abs(w.mean()) < 1e-4
    for layer, fan_in in (('w_1', 512), ('w_2', 1024)):
        for leaf in ('kernel', 'bias'):
            w = np.asarray(block['ffn'][layer][leaf])
            bound = 1 / np.sqrt(fan_in)
            assert np.abs(w).max() <= bound and np.abs(w).max() > 0.98 * bound
            if leaf == 'kernel':
                assert abs(w.std() / (bound / np.sqrt(3)) - 1) < 0.01
    np.testing.assert_array_equal(params['position_table'], decoder_lib.sinusoid_table(16, 512))
    torch = pytest.importorskip('torch')
    # And torch itself on the same shapes: the same distributions (std within 2%).
    torch.manual_seed(0)
    qkv = torch.empty(8, 512, 64)
    torch.nn.init.xavier_normal_(qkv)
    assert abs(np.asarray(block['attention']['w_qs']).std() / float(qkv.std()) - 1) < 0.02
    for layer, conv in (('w_1', torch.nn.Conv1d(512, 1024, 1)), ('w_2', torch.nn.Conv1d(1024, 512, 1))):
        ours = np.asarray(block['ffn'][layer]['kernel'])
        assert abs(ours.std() / float(conv.weight.detach().std()) - 1) < 0.02
        assert abs(np.abs(ours).max() / float(conv.weight.detach().abs().max()) - 1) < 0.01
        assert abs(np.abs(np.asarray(block['ffn'][layer]['bias'])).max()
                   / float(conv.bias.detach().abs().max()) - 1) < 0.05


def test_reduce_and_head_initialisation(tiny_config):
    # The tiny trunk has 64 channels for a 32-wide embedding, so it has the 1x1 `reduce` (torch Conv2d default).
    model = tiny_model(tiny_config)
    params = model_lib.init_variables(model, jax.random.key(0), image_size=32)['params']
    bound = 1 / np.sqrt(64)
    for leaf in ('kernel', 'bias'):
        w = np.asarray(params['reduce'][leaf])
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    head = params['head']
    np.testing.assert_array_equal(head['bias'], 0.0)
    assert abs(np.asarray(head['kernel']).std() / 0.02 - 1) < 0.15  # N(0, 0.02), 256 values


def test_rgbdiff_frames_are_later_minus_earlier(tiny_config):
    clip = jnp.arange(2 * 4 * 2 * 2 * 3, dtype=jnp.float32).reshape(2, 4, 2, 2, 3) ** 2
    diff = modality_lib.clip_encoder_inputs(clip, 'rgbdiff')
    assert diff.shape == (2, 3, 2, 2, 3)  # T - 1 differences, as the reference's RGBDiff
    np.testing.assert_array_equal(diff[:, 1], clip[:, 2] - clip[:, 1])
    stacked = modality_lib.clip_encoder_inputs(clip, 'stacked')
    assert stacked.shape == (2, 3, 2, 2, 6)
    np.testing.assert_array_equal(stacked[..., :3], clip[:, 1:])
    np.testing.assert_array_equal(stacked[..., 3:], diff)


def test_stacked_first_conv_and_rgb_half(tiny_config):
    stacked = tiny_model(tiny_config, modality='stacked')
    variables = model_lib.init_variables(stacked, jax.random.key(0), image_size=32)
    kernel = variables['params']['encoder']['stem_conv']['kernel']
    assert kernel.shape == (7, 7, 6, 8)
    # With the difference half zero-weighted, the stacked encoder equals an RGB encoder on the same frames.
    rgb = tiny_model(tiny_config)
    rgb_vars = jax.tree.map(lambda x: x, variables)
    rgb_vars['params']['encoder']['stem_conv']['kernel'] = kernel[:, :, :3]
    zeroed = jax.tree.map(lambda x: x, variables)
    zeroed['params']['encoder']['stem_conv']['kernel'] = kernel.at[:, :, 3:].set(0.0)
    clip = random_clip(stacked)
    frames = clip[:, 1:].reshape((-1, 32, 32, 3))
    emb_rgb = rgb.apply(rgb_vars, frames, method=model_lib.VTN.encode)
    emb_stacked = stacked.apply(zeroed, modality_lib.clip_encoder_inputs(clip, 'stacked').reshape((-1, 32, 32, 6)),
                                method=model_lib.VTN.encode)
    np.testing.assert_allclose(emb_rgb, emb_stacked, atol=1e-5)


def test_encode_then_decode_equals_whole_model(tiny_config):
    for modality in modality_lib.MODALITIES:
        model = tiny_model(tiny_config, modality=modality)
        variables = model_lib.init_variables(model, jax.random.key(0), image_size=32)
        clip = random_clip(model)
        frames = modality_lib.clip_encoder_inputs(clip, modality)
        emb = model.apply(variables, frames.reshape((-1,) + frames.shape[2:]), method=model_lib.VTN.encode)
        logits = model.apply(variables, emb.reshape(2, model.num_steps, -1), method=model_lib.VTN.decode)
        np.testing.assert_allclose(logits, model.apply(variables, clip), atol=1e-5)


def test_two_stream_is_the_mean_of_both_streams(tiny_config):
    teacher = model_lib.create_two_stream(tiny_config.model)
    rgb = tiny_model(tiny_config, modality='rgb')
    motion = tiny_model(tiny_config, modality='rgbdiff')
    rgb_vars = model_lib.init_variables(rgb, jax.random.key(1), image_size=32)
    motion_vars = model_lib.init_variables(motion, jax.random.key(2), image_size=32)
    fused = model_lib.assemble_two_stream(rgb_vars, motion_vars)
    clip = random_clip(rgb)
    expected = 0.5 * rgb.apply(rgb_vars, clip) + 0.5 * motion.apply(motion_vars, clip)
    np.testing.assert_allclose(teacher.apply(fused, clip), expected, atol=1e-5)


def test_reference_layer_norm():
    z = jax.random.normal(jax.random.key(0), (2, 5, 16)) * 3 + 1
    ln = decoder_lib.ReferenceLayerNorm()
    params = ln.init(jax.random.key(1), z)
    out = np.asarray(ln.apply(params, z))
    zn = np.asarray(z, np.float64)
    expected = (zn - zn.mean(-1, keepdims=True)) / (zn.std(-1, ddof=1, keepdims=True) + 1e-3)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    single = z[:, :1]
    np.testing.assert_array_equal(ln.apply(params, single), single)  # identity when T == 1


def test_position_table_init_is_the_reference_sinusoid():
    table = decoder_lib.sinusoid_table(16, 512)
    assert np.all(table[0] == 0)
    np.testing.assert_allclose(table[3, 10], np.sin(3 / 10000 ** (10 / 512)), rtol=1e-6)
    np.testing.assert_allclose(table[3, 11], np.cos(3 / 10000 ** (10 / 512)), rtol=1e-6)


def test_attention_scale_option(tiny_config):
    model = tiny_model(tiny_config)
    variables = model_lib.init_variables(model, jax.random.key(0), image_size=32)
    clip = random_clip(model)
    paper = tiny_model(tiny_config, attention_scale='head')
    assert np.abs(np.asarray(paper.apply(variables, clip) - model.apply(variables, clip))).max() > 1e-4
    with pytest.raises(ValueError, match='attention_scale'):
        tiny_model(tiny_config, attention_scale='sqrt').apply(variables, clip)


def test_bad_config_keys_and_values_fail_with_their_names(tiny_config):
    # Caught when the model is built, before anything is traced, with the choices named.
    with pytest.raises(ValueError, match=r"num_layer.*VTN takes.*num_layers"):
        model_lib.create_model({**tiny_config.model, 'num_layer': 3})
    with pytest.raises(KeyError, match=r"resnet35.*resnet34"):
        tiny_model(tiny_config, encoder='resnet35')
    with pytest.raises(ValueError, match=r"rgbdiff.*'flow'"):
        tiny_model(tiny_config, modality='flow')
    with pytest.raises(ValueError, match=r'\[B, 8, H, W, 3\]'):
        tiny_model(tiny_config).init(jax.random.key(0), jnp.zeros((1, 7, 32, 32, 3)))
