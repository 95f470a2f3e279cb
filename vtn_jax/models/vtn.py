"""The Video Transformer Network: a 2D CNN embeds every frame, a self-attention decoder mixes the frames,
a per-frame classifier is averaged over time.

Shapes: video_BTHWC is [batch, frames, height, width, 3], already normalised (`config.data.mean/std`), RGB.
`encode`, `embed` and `decode` are callable on their own (streaming inference and split export use them):

    logits = model.apply(variables, video_BTHWC)
    emb_ND = model.apply(variables, frames_NHWC, method=VTN.encode)      # one embedding per encoder input
    emb_BSD = model.apply(variables, video_BTHWC, method=VTN.embed)      # every step of clips
    logits = model.apply(variables, emb_BSD, method=VTN.decode)          # S decoder steps

Modalities (rgb, rgbdiff, stacked) are defined in `vtn_jax.models.modality`; differences are computed here,
on the device.

`init_variables` and `jit_apply` compile once per (model, shapes) in a process: a model (a frozen dataclass) is
hashable, so it is a static argument of one module-level `jax.jit`, and the next call with an equal model reuses
the compiled program (a fresh `jax.jit(lambda ...)` per call would trace and compile again).
"""
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from vtn_jax.models import decoder as decoder_lib
from vtn_jax.models import encoders
from vtn_jax.models import modality as modality_lib


def parse_dtype(dtype) -> Any:
    """'float32' / 'bfloat16' (config strings) or a dtype -> a jnp dtype."""
    if isinstance(dtype, str):
        if dtype not in ('float32', 'bfloat16', 'float16'):
            raise ValueError(f"model.dtype must be 'float32' or 'bfloat16', got {dtype!r}")
        return jnp.dtype(dtype)
    return dtype


class VTN(nn.Module):
    """Video Transformer Network. Fields mirror `config.model` (build it as `VTN(**config.model)`)."""
    encoder: str = 'resnet34'
    modality: str = 'rgb'
    num_classes: int = 400
    num_frames: int = 16
    embed_dim: int = 512
    num_layers: int = 4
    num_heads: int = 8
    ffn_dim: int = 1024
    attention_scale: str = 'model'
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.1
    dtype: Any = 'float32'

    @property
    def num_steps(self) -> int:
        """Decoder time steps: T for RGB, T - 1 for the difference modalities."""
        return modality_lib.num_steps(self.num_frames, self.modality)

    @property
    def frame_channels(self) -> int:
        """Encoder input channels: 3, or 6 for stacked."""
        return modality_lib.frame_channels(self.modality)

    def setup(self):
        modality_lib.check_modality(self.modality)
        dtype = parse_dtype(self.dtype)
        self.trunk = encoders.create_encoder(self.encoder, dtype=dtype, name_scope='encoder')
        if encoders.encoder_features(self.encoder) != self.embed_dim:
            # The reference's 1x1 `reduce_conv` runs before pooling; both are linear, so reducing the pooled
            # vector gives the same result for 49x fewer multiply-adds.
            self.reduce = decoder_lib.torch_dense(self.embed_dim, encoders.encoder_features(self.encoder),
                                                  dtype=dtype, name='reduce')
        else:
            self.reduce = None
        self.temporal = decoder_lib.Decoder(
            self.num_steps, self.num_layers, self.num_heads, self.ffn_dim, self.attention_scale,
            self.dropout_rate, self.attention_dropout_rate, dtype=dtype, name='decoder')
        # The reference's init_weights: N(0, 0.02) weight, zero bias.
        self.head = nn.Dense(self.num_classes, kernel_init=nn.initializers.normal(0.02),
                             bias_init=nn.initializers.zeros, name='head')

    def encode(self, frames_NHWC, *, train: bool = False):
        """Frames [N, H, W, C] (C = 3, or 6 for stacked) -> embeddings [N, embed_dim] (float32)."""
        if frames_NHWC.shape[-1] != self.frame_channels:
            raise ValueError(f'the {self.modality} encoder takes {self.frame_channels}-channel frames, got '
                             f'shape {frames_NHWC.shape}')
        features = self.trunk(frames_NHWC.astype(parse_dtype(self.dtype)), train=train)
        # A true global average pool: any input size works (the reference hard-codes a 7x7 pool).
        emb_ND = jnp.mean(features.astype(jnp.float32), axis=(1, 2))
        if self.reduce is not None:
            emb_ND = self.reduce(emb_ND).astype(jnp.float32)
        return emb_ND

    def embed(self, video_BTHWC, *, train: bool = False):
        """Normalised RGB clips [B, T, H, W, 3] -> the embeddings of their S decoder steps [B, S, D]."""
        if video_BTHWC.ndim != 5 or video_BTHWC.shape[1] != self.num_frames or video_BTHWC.shape[-1] != 3:
            raise ValueError(f'VTN takes clips [B, {self.num_frames}, H, W, 3], got shape {video_BTHWC.shape}')
        frames_BSHWC = modality_lib.clip_encoder_inputs(video_BTHWC, self.modality)
        b, s = frames_BSHWC.shape[:2]
        emb_ND = self.encode(frames_BSHWC.reshape((b * s,) + frames_BSHWC.shape[2:]), train=train)
        return emb_ND.reshape(b, s, -1)

    def decode_steps(self, emb_BSD, *, train: bool = False):
        """Embeddings [B, S, D] -> per-step logits [B, S, num_classes] (float32)."""
        x_BSD = self.temporal(emb_BSD, deterministic=not train)
        return self.head(x_BSD.astype(jnp.float32))

    def decode(self, emb_BSD, *, train: bool = False):
        """Embeddings [B, S, D] -> clip logits [B, num_classes]: the per-step logits averaged over time."""
        return jnp.mean(self.decode_steps(emb_BSD, train=train), axis=1)

    def __call__(self, video_BTHWC, *, train: bool = False):
        """Normalised RGB clips [B, T, H, W, 3] -> clip logits [B, num_classes] (float32)."""
        return self.decode(self.embed(video_BTHWC, train=train), train=train)


class TwoStreamVTN(nn.Module):
    """The fused teacher: 0.5 * RGB logits + 0.5 * RGB-diff logits (the reference's VideoTransformerTwoStream).

    Its variables are {'rgb': <an RGB VTN's>, 'motion': <an RGB-diff VTN's>}, so two separately trained
    models assemble into one (see `assemble_two_stream`).
    """
    rgb: VTN
    motion: VTN

    def __call__(self, video_BTHWC, *, train: bool = False):
        return 0.5 * self.rgb(video_BTHWC, train=train) + 0.5 * self.motion(video_BTHWC, train=train)


def create_model(model_config) -> VTN:
    """Builds `VTN(**model_config)`, failing early, with the choices, on a misspelt key, an unknown encoder,
    modality or dtype (before anything is traced)."""
    fields = dict(model_config)
    known = set(VTN.__dataclass_fields__) - {'parent', 'name'}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise ValueError(f'unknown model config key(s) {unknown}; VTN takes {sorted(known)}')
    model = VTN(**fields)
    encoders.encoder_features(model.encoder)  # KeyError naming the known encoders
    modality_lib.check_modality(model.modality)
    parse_dtype(model.dtype)
    return model


def create_two_stream(model_config) -> TwoStreamVTN:
    """The fused teacher for `model_config` (its modality field is overridden per stream)."""
    fields = dict(model_config)
    rgb = create_model({**fields, 'modality': 'rgb'})
    motion = create_model({**fields, 'modality': 'rgbdiff'})
    return TwoStreamVTN(rgb=rgb.clone(name='rgb'), motion=motion.clone(name='motion'))


def assemble_two_stream(rgb_variables, motion_variables):
    """Variables of a TwoStreamVTN from an RGB model's and an RGB-diff model's variables."""
    return {col: {'rgb': rgb_variables[col], 'motion': motion_variables[col]} for col in rgb_variables}


def init_variables(model: nn.Module, rng, *, image_size: int = 224, batch_size: int = 1):
    """Initialises the variables of `model` for clips of `image_size` (the shapes do not depend on it); compiled
    once per (model, image_size, batch_size)."""
    return _init(rng, model=model, image_size=image_size, batch_size=batch_size)


@functools.partial(jax.jit, static_argnames=('model', 'image_size', 'batch_size'))
def _init(rng, *, model: nn.Module, image_size: int, batch_size: int):
    num_frames = model.num_frames if isinstance(model, VTN) else model.rgb.num_frames
    video = jnp.zeros((batch_size, num_frames, image_size, image_size, 3), jnp.float32)
    return model.init(rng, video, train=False)


@functools.partial(jax.jit, static_argnames=('model', 'method'))
def jit_apply(variables, inputs, *, model: nn.Module, method=None):
    """`model.apply(variables, inputs, method=method)` (eval mode), compiled once per (model, method, shapes):
    e.g. `jit_apply(v, frames_NHWC, model=m, method=VTN.encode)`."""
    return model.apply(variables, inputs, method=method)


def count_params(params) -> int:
    """Number of trainable numbers in a parameter tree."""
    return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


def abstract_variables(model: nn.Module):
    """The shapes and dtypes of `model`'s variables (ShapeDtypeStructs), without computing anything."""
    return jax.eval_shape(lambda: init_variables(model, jax.random.key(0), image_size=32))
