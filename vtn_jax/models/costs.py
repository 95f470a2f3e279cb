"""Parameters and GMAC per frame of a configured VTN (the paper's cost measure).

GMAC per frame = one frame through the encoder + one pass of the whole decoder over a window, as in the
paper's tables. Multiply-adds are counted exactly from the traced program: every convolution and matrix
product contributes (output elements) x (inputs per output), padded positions included, which is the usual
convention (XLA's own cost analysis skips multiply-adds on padding and reports about 7% less for ResNet-34).
`vtn-costs` (vtn_jax/tools/costs.py) prints them as a table.
"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from vtn_jax.models import vtn as vtn_lib

# The paper's figures (Tables 1 and 5) for comparison.
PAPER_GMAC = {('resnet34', 'rgb'): 3.77, ('resnet34', 'stacked'): 3.88, ('resnet50', 'rgb'): 4.25,
              ('mobilenetv2', 'rgb'): 0.4}


@dataclasses.dataclass
class Costs:
    params: int
    encoder_gmac: float  # one frame
    decoder_gmac: float  # one window (all steps) + classifier

    @property
    def gmac_per_frame(self) -> float:
        return self.encoder_gmac + self.decoder_gmac


def _count_macs(jaxpr) -> int:
    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == 'conv_general_dilated':
            out, rhs = eqn.outvars[0].aval, eqn.invars[1].aval
            spec = eqn.params['dimension_numbers'].rhs_spec  # (out, in, spatial...) positions in rhs
            per_output = int(np.prod([rhs.shape[d] for d in spec[1:]]))
            total += int(np.prod(out.shape)) * per_output
        elif eqn.primitive.name == 'dot_general':
            (lhs_contract, _), _ = eqn.params['dimension_numbers']
            lhs = eqn.invars[0].aval
            total += int(np.prod(eqn.outvars[0].aval.shape)) * int(np.prod([lhs.shape[d] for d in lhs_contract]))
        repeats = eqn.params['length'] if eqn.primitive.name == 'scan' else 1  # a scan runs its body `length` times
        for sub in jax.core.jaxprs_in_params(eqn.params):
            total += repeats * _count_macs(sub)
    return total


def _gmac(fn, *args) -> float:
    return _count_macs(jax.make_jaxpr(fn)(*args).jaxpr) / 1e9


def compute_costs(model: vtn_lib.VTN, image_size: int) -> Costs:
    """Exact parameter count and XLA-counted GMAC of `model` on `image_size` frames."""
    variables = jax.eval_shape(lambda: vtn_lib.init_variables(model, jax.random.key(0), image_size=image_size))
    frame = jax.ShapeDtypeStruct((1, image_size, image_size, model.frame_channels), jnp.float32)
    window = jax.ShapeDtypeStruct((1, model.num_steps, model.embed_dim), jnp.float32)
    enc = _gmac(lambda v, x: model.apply(v, x, method=vtn_lib.VTN.encode), variables, frame)
    dec = _gmac(lambda v, e: model.apply(v, e, method=vtn_lib.VTN.decode), variables, window)
    return Costs(vtn_lib.count_params(variables['params']), enc, dec)


def format_row(name: str, model: vtn_lib.VTN, costs: Costs) -> str:
    paper = PAPER_GMAC.get((model.encoder, model.modality))
    return (f'| {name} | {model.modality} | {costs.params:,} | {costs.encoder_gmac:.3f} | {costs.decoder_gmac:.3f} '
            f'| {costs.gmac_per_frame:.2f} | {paper if paper else "-"} |')
