"""The authors' sampling and crops as TensorFlow ops: the uniform10 clip starts and their "stride then pad"
indices (checked against the authors' arithmetic, written out in 1-based frames in the comments), and the 13
crop offsets; every op eagerly and inside tf.data.Dataset.map."""
import numpy as np
import pytest
import tensorflow as tf

from vtn_jax.data import input_pipeline
from vtn_jax.data import authors_ops


def both_ways(fn, *args):
    """fn's result eagerly, after checking it equals the result inside Dataset.map."""
    eager = tf.nest.map_structure(lambda t: t.numpy(), fn(*[tf.convert_to_tensor(a) for a in args]))
    ds = tf.data.Dataset.from_tensors(tuple(tf.convert_to_tensor(a) for a in args)).map(fn)
    tf.nest.map_structure(np.testing.assert_array_equal, eager, tf.nest.map_structure(lambda t: t.numpy(),
                                                                                     next(iter(ds))))
    return eager


@pytest.mark.parametrize('n, expected', [
    # The authors' starts are 1-based (1 + i * step); these are 0-based. step = max(1, (n - 32) // 9).
    (300, [0, 29, 58, 87, 116, 145, 174, 203, 232, 261]),  # theirs 1, 30, ..., 262: the last ends at 293 < 300
    (250, [0, 24, 48, 72, 96, 120, 144, 168, 192, 216]),
    (40, list(range(10))),  # step 1: heavily overlapping
    (20, list(range(10))),  # shorter than 32 frames: 10 truncated, loop-padded clips
    (5, list(range(5))),  # starts past the end give no clip
])
def test_uniform_clip_starts_are_the_authors(n, expected):
    assert both_ways(lambda a: authors_ops.uniform_clip_starts(a, 16, 2), n).tolist() == expected
    assert authors_ops.num_uniform_clips(n) == len(expected)


@pytest.mark.parametrize('n, start, expected', [
    (300, 261, list(range(261, 293, 2))),  # a full clip: as clip_indices
    (20, 0, list(range(0, 20, 2)) + list(range(0, 12, 2))),  # theirs (1-based) 1,3,...,19,1,3,...,11
    (20, 1, list(range(1, 20, 2)) + list(range(1, 13, 2))),  # 2,4,...,20,2,4,...,12
    (21, 0, list(range(0, 21, 2)) + list(range(0, 10, 2))),  # stride then pad: 0..20 then 0, 2, ...
    (5, 4, [4] * 16),  # one frame left
])
def test_looped_clip_indices_stride_then_pad(n, start, expected):
    got = both_ways(lambda a, b: authors_ops.looped_clip_indices(a, b, 16, 2), n, start)
    assert got.tolist() == expected
    if n >= start + 32:
        assert got.tolist() == input_pipeline.clip_indices(n, start, 16, 2).numpy().tolist()


def test_offset_window_quarter_steps():
    # 256x340, side 224: quarter steps (256-224)//4 = 8 and (340-224)//4 = 29 (the authors' 340x256 example after
    # their 2019 Scale(256): y in {0, 8, 16, 24, 32}, x in {0, 29, 58, 87, 116}).
    seen = {tuple(both_ways(lambda u: authors_ops.offset_window(256, 340, 224, u), np.float32((i + 0.5) / 13))
                  .tolist()) for i in range(13)}
    assert len(seen) == 13
    assert {t for t, _, _ in seen} == {0, 8, 16, 24, 32} and {left for _, left, _ in seen} == {0, 29, 58, 87, 116}
    assert (16, 58, 224) in seen  # the centre
    assert authors_ops.offset_window(256, 340, 224, 0.99999).numpy().tolist() == [24, 87, 224]  # the last one
