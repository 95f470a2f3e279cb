"""What the inference tests share: a counting backend, random videos, the tiny models, the offline model run window
by window (the reference every online result must equal). Not a test module itself."""
import jax
import jax.numpy as jnp
import numpy as np

from vtn_jax.models import vtn as model_lib

NUM_VIDEO_FRAMES = 70  # > 64 frames: several windows of every phase


class CountingBackend:
    """Wraps a backend and records every encoder input, so a test can see which frames were encoded."""

    def __init__(self, backend):
        self.backend = backend
        self.num_steps, self.frame_channels = backend.num_steps, backend.frame_channels
        self.embed_dim, self.num_classes = backend.embed_dim, backend.num_classes
        self.encoded = []  # one entry per encoded frame
        self.decode_calls = 0

    def encode(self, frames_NHWC):
        self.encoded.extend(np.array(f) for f in frames_NHWC)
        return self.backend.encode(frames_NHWC)

    def decode(self, emb_BSD):
        self.decode_calls += len(emb_BSD)
        return self.backend.decode(emb_BSD)


def make_video(num_frames=NUM_VIDEO_FRAMES, height=40, width=52, seed=0):
    """Random RGB uint8 frames (shorter side 40 > the tiny resize 37, so the resize and crop both act)."""
    return np.random.default_rng(seed).integers(0, 256, (num_frames, height, width, 3), dtype=np.uint8)


def build(tiny_config, modality, stride=2):
    """The tiny config for `modality` and `stride`, and its model and variables (the library compiles the
    initialisation once per model)."""
    config = tiny_config
    config.model.modality = modality
    config.data.stride = stride
    model = model_lib.create_model(config.model)
    return config, model, model_lib.init_variables(model, jax.random.key(0), image_size=32)


def offline_logits(model, variables, frames_NHWC, ends, indices_fn):
    """The offline model run on one clip per window end: clip t = frames_NHWC[indices_fn(t)]."""
    clips = jnp.stack([frames_NHWC[indices_fn(t)] for t in ends])
    return np.asarray(model_lib.jit_apply(variables, clips, model=model))
