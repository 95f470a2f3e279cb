"""Costs (vtn_jax.models.costs): multiply-adds counted from the traced program (checked on hand-worked layers),
the parameter count of the initialised model, the paper's GMAC per frame, and the README's cost row."""
import math
import pathlib

import flax.linen as nn
import jax
import jax.numpy as jnp

from vtn_jax.configs import default
from vtn_jax.models import costs
from vtn_jax.models import vtn as vtn_lib

README = pathlib.Path(__file__).resolve().parents[1] / 'README.md'


def macs(fn, *args) -> int:
    return costs._count_macs(jax.make_jaxpr(fn)(*args).jaxpr)


def test_multiply_adds_of_hand_worked_layers():
    x = jnp.zeros((1, 6, 6, 2))
    conv = nn.Conv(5, (3, 3), padding='SAME')
    # 6 x 6 outputs x 5 channels, each from 3 x 3 x 2 inputs (padded positions counted).
    assert macs(conv.apply, conv.init(jax.random.key(0), x), x) == 6 * 6 * 5 * 3 * 3 * 2
    dense, y = nn.Dense(3), jnp.zeros((4, 7))
    variables = dense.init(jax.random.key(0), y)
    assert macs(dense.apply, variables, y) == 4 * 3 * 7
    # Inside a jitted scan too: two steps of a dense layer (4 x 3 x 7) and a matrix product (4 x 7 x 3).
    looped = jax.jit(lambda v, z: jax.lax.scan(lambda c, _: (dense.apply(v, c) @ jnp.ones((3, 7)), None), z, None,
                                               length=2)[0])
    assert macs(looped, variables, y) == 2 * (4 * 3 * 7 + 4 * 7 * 3)


def paper_tolerance(figure: float) -> float:
    """1% of the paper's figure, or half a unit of its last printed digit where that is coarser (0.4)."""
    decimals = len(repr(figure).split('.')[1]) if '.' in repr(figure) else 0
    return max(0.01 * figure, 0.5 * 10 ** -decimals)


def test_resnet34_vtn_costs_match_the_paper_and_the_readme():
    model = vtn_lib.create_model(default.get_config().model)
    result = costs.compute_costs(model, 224)
    leaves = jax.tree_util.tree_leaves(vtn_lib.abstract_variables(model)['params'])
    assert result.params == sum(math.prod(leaf.shape) for leaf in leaves)
    paper = costs.PAPER_GMAC[('resnet34', 'rgb')]
    assert abs(result.gmac_per_frame - paper) <= paper_tolerance(paper)
    assert result.encoder_gmac > 20 * result.decoder_gmac  # the CNN dominates
    row = next(line for line in README.read_text().splitlines() if 'GMAC per frame, ResNet-34-VTN' in line)
    assert f'{result.params:,} / {result.gmac_per_frame:.2f} (paper {paper})' in row
    # The encoder's cost grows with the pixels (padding aside), the decoder's not at all.
    half = costs.compute_costs(model, 112)
    assert half.decoder_gmac == result.decoder_gmac
    assert 0.24 < half.encoder_gmac / result.encoder_gmac < 0.27
    cells = [c.strip() for c in costs.format_row('resnet34', model, result).strip('|').split('|')]
    assert cells == ['resnet34', 'rgb', f'{result.params:,}', f'{result.encoder_gmac:.3f}',
                     f'{result.decoder_gmac:.3f}', f'{result.gmac_per_frame:.2f}', str(paper)]


def test_mobilenetv2_vtn_gmac_matches_the_paper():
    model = vtn_lib.create_model({**default.get_config().model, 'encoder': 'mobilenetv2'})
    paper = costs.PAPER_GMAC[('mobilenetv2', 'rgb')]
    assert abs(costs.compute_costs(model, 224).gmac_per_frame - paper) <= paper_tolerance(paper)
