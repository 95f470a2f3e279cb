"""A VTN and its variables as a recognizer backend: jitted `VTN.encode` and `VTN.decode` (`vtn.jit_apply`: compiled
once per model and batch size in a process, whatever the number of backends)."""
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

    def encode(self, frames_NHWC: np.ndarray) -> np.ndarray:
        return np.asarray(vtn_lib.jit_apply(self.variables, frames_NHWC, model=self.model, method=vtn_lib.VTN.encode))

    def decode(self, emb_BSD: np.ndarray) -> np.ndarray:
        return np.asarray(vtn_lib.jit_apply(self.variables, emb_BSD, model=self.model, method=vtn_lib.VTN.decode))
