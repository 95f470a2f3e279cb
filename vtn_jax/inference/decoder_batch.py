"""Several decoder windows in one inference: an exported batch-1 decoder IR turned into a batch-B one.

Why: the decoder's time goes to its FullyConnected layers (about 80-90% of the layer time of the default
config's decoder, `bench/openvino_latency.py --profile --parts decoder`), and they are bound by reading the
weights (7.6 M parameters, 15 MB in bf16), not by arithmetic: one row costs about what 16 rows cost. A batch of
B windows reads the weights once for all of them, so the time per window falls with B (`bench/decoder_batch.py`
measures it). Windows of B streams (or B labels of one stream) then share one call.

Every artifact is exported with batch 1 and fixed shapes (see `vtn_jax.export.convert`): its Reshape targets are
constants starting with that 1. `with_batch` rewrites each such target to copy the batch from its input (the
Reshape's `special_zero` 0) and reshapes the model's input to [B, S, D]; B = None leaves the batch dynamic (one
compiled model for any B, at some cost per call in the CPU plugin). A window's logits do not depend on the other
windows of the batch (f32: equal to the batch-1 model's, tests/test_inference_decoder_batch.py).

    core = ov.Core()
    model = decoder_batch.with_batch(core.read_model('export/decoder.xml'), 4)
    compiled = openvino_backend.compile_openvino(model, hint='LATENCY', core=core)
    logits_BK = compiled({0: windows_BSD})[0]    # windows_BSD [4, S, D] float32 -> [4, K]
"""
from typing import Optional

import numpy as np
import openvino as ov
import openvino.opset13 as opset

from vtn_jax.errors import UserError


def with_batch(model: ov.Model, batch: Optional[int]) -> ov.Model:
    """A copy of a batch-1 decoder (or any batch-1 model whose batch passes through Reshapes) taking `batch`.

    Args:
        model: the exported decoder, input [1, S, D], output [1, K].
        batch: windows per call (>= 1), or None for a dynamic batch.

    Raises:
        UserError: the model does not have batch 1, or moves its batch axis into another one somewhere
            (a Reshape whose output does not start with the input's batch of 1), so it cannot be batched.
    """
    if batch is not None and (int(batch) != batch or batch < 1):
        raise UserError(f'the decoder batch must be an integer >= 1 or None (dynamic), got {batch}')
    model = model.clone()
    if len(model.inputs) != 1 or model.inputs[0].get_partial_shape().is_dynamic:
        raise UserError('cannot batch the decoder: it should have one input of a fixed shape, it has '
                        f'{[str(i.get_partial_shape()) for i in model.inputs]}')
    shape = list(model.inputs[0].get_shape())
    if not shape or shape[0] != 1:
        raise UserError(f'cannot batch the decoder: its input shape {shape} does not start with batch 1')
    for op in model.get_ordered_ops():
        if op.get_type_name() != 'Reshape':
            continue
        target = op.input_value(1).get_node()
        source = op.input_value(0).get_partial_shape()
        if target.get_type_name() != 'Constant' or source.is_dynamic:
            raise UserError(f'cannot batch the decoder: Reshape {op.get_friendly_name()} has a computed target '
                            'shape (only constant ones can take the batch from their input)')
        values = np.array(target.get_data(), copy=True)
        special_zero = op.get_attributes()['special_zero']
        if values.ndim != 1 or not len(values) or values[0] != 1 or source.to_shape()[0] != 1 or (
                not special_zero and (values[1:] == 0).any()):
            raise UserError(f'cannot batch the decoder: Reshape {op.get_friendly_name()} maps {source} to '
                            f'{values.tolist()}, which moves the batch axis')
        values[0] = 0  # special_zero: copy dimension 0 (the batch) from the input
        op.input(1).replace_source_output(opset.constant(values, dtype=values.dtype).output(0))
        op.set_attribute('special_zero', True)
    try:
        model.reshape({model.inputs[0]: ov.PartialShape([-1 if batch is None else int(batch)] + shape[1:])})
    except RuntimeError as e:
        raise UserError(f'cannot batch the decoder for a batch of {batch}: '
                        f'{str(e).strip().splitlines()[0]}') from None
    for output in model.outputs:
        first = output.get_partial_shape()[0]
        if (batch is None and not first.is_dynamic) or (batch is not None and first != int(batch)):
            raise UserError(f'cannot batch the decoder: its output {output.get_any_name()} has shape '
                            f'{output.get_partial_shape()} for a batch of {batch}')
    return model
