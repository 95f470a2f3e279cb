"""A VTN and its variables as a recognizer backend: jitted `VTN.encode` and `VTN.decode`."""
import jax
import numpy as np

from vtn_jax.models import vtn as vtn_lib


class JaxBackend:
    """Batched encode [N, H, W, C] -> [N, D] and decode [B, S, D] -> [B, K], numpy in and out.

    One compilation per batch size; `whole_video` pads batches to one size.
    """

    def __init__(self, model: vtn_lib.VTN, variables):
        self.model = model
        self.variables = jax.device_put(variables)  # once, not on every call
        self.num_steps = model.num_steps
        self.frame_channels = model.frame_channels
        self.embed_dim = model.embed_dim
        self.num_classes = model.num_classes
        self._encode = jax.jit(lambda v, x: model.apply(v, x, method=vtn_lib.VTN.encode))
        self._decode = jax.jit(lambda v, e: model.apply(v, e, method=vtn_lib.VTN.decode))

    def encode(self, frames_NHWC: np.ndarray) -> np.ndarray:
        return np.asarray(self._encode(self.variables, frames_NHWC))

    def decode(self, emb_BSD: np.ndarray) -> np.ndarray:
        return np.asarray(self._decode(self.variables, emb_BSD))
