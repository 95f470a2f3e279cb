"""The VTN temporal decoder: position table + self-attention blocks, exactly as the reference computes them.

Shapes: x_BTD is [batch, time steps, embed_dim]. Softmax and LayerNorm statistics run in float32 whatever
the compute dtype is.

Initialisation is PyTorch's, as the authors' modules get it:
  w_qs / w_ks / w_vs [heads, d, d_k]: `xavier_normal_` on the whole 3-D tensor, whose torch fans are
      fan_in = d * d_k and fan_out = heads * d_k: std sqrt(2 / (d d_k + heads d_k)) = 0.00775 at d = 512.
  feed-forward w_1 / w_2 (their kernel-1 Conv1d) and the VTN's `reduce` (a 1x1 Conv2d): torch's default, weight
      and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (`kaiming_uniform_(a=sqrt(5))`).
  LayerNorm scale 1, shift 0; the position table the sinusoid of `sinusoid_table` (row 0 zeros).
The position table's row 0 never trains: the authors' `nn.Embedding(..., padding_idx=0)` gives it a zero
gradient, and here a stop_gradient does (with a zero row, Adam's L2 term adds nothing either, so it stays 0).
"""
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def torch_xavier_normal(key, shape, dtype=jnp.float32):
    """torch.nn.init.xavier_normal_ (gain 1) with torch's fans: fan_in = shape[1] * prod(shape[2:]),
    fan_out = shape[0] * prod(shape[2:]) (for a Linear (out, in) weight; here any tensor of rank >= 2)."""
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    std = np.sqrt(2.0 / (shape[1] * receptive + shape[0] * receptive))
    return jax.random.normal(key, shape, dtype) * jnp.asarray(std, dtype)


def torch_uniform(fan_in: int):
    """torch's default Linear / Conv init for a layer of `fan_in` inputs: U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
    the bound of both `kaiming_uniform_(a=sqrt(5))` on the weight and the bias rule."""
    bound = 1.0 / np.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)
    return init


def torch_dense(features: int, fan_in: int, *, dtype=jnp.float32, name=None) -> nn.Dense:
    """nn.Dense initialised as torch's nn.Linear / kernel-1 Conv (weight and bias U(+-1/sqrt(fan_in)))."""
    return nn.Dense(features, dtype=dtype, name=name, kernel_init=torch_uniform(fan_in),
                    bias_init=torch_uniform(fan_in))


def sinusoid_table(length: int, dim: int) -> np.ndarray:
    """The reference's position table init: row 0 zeros, then sin on even and cos on odd channels."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    i = np.arange(dim)[None, :]
    angle = pos / np.power(10000.0, 2 * (i // 2) / dim)
    table = np.where(i % 2 == 0, np.sin(angle), np.cos(angle))
    table[0] = 0.0
    return table.astype(np.float32)


class ReferenceLayerNorm(nn.Module):
    """The reference LayerNorm: (z - mean) / (unbiased std + eps) * scale + bias; identity when T == 1.

    Not `nn.LayerNorm`: eps is added to the standard deviation (not the variance) and the std divides by
    N - 1. A standard LayerNorm moves the reference logits by about 5e-3.
    """
    epsilon: float = 1e-3

    @nn.compact
    def __call__(self, z_BTD):
        dim = z_BTD.shape[-1]
        scale = self.param('scale', nn.initializers.ones, (dim,))
        bias = self.param('bias', nn.initializers.zeros, (dim,))
        if z_BTD.shape[1] == 1:
            return z_BTD
        z = z_BTD.astype(jnp.float32)
        mean = jnp.mean(z, axis=-1, keepdims=True)
        std = jnp.std(z, axis=-1, keepdims=True, ddof=1)
        out = (z - mean) / (std + self.epsilon) * scale + bias
        return out.astype(z_BTD.dtype)


class MultiHeadSelfAttention(nn.Module):
    """Per-head bias-free q/k/v projections (w_qs/w_ks/w_vs of shape [heads, d, d_k]), no output projection.

    Heads are concatenated head-major (channel = h * d_k + j), then dropout, residual and LayerNorm.
    """
    num_heads: int
    scale: float  # multiplies q.k; the reference uses 1/sqrt(d), the paper 1/sqrt(d_k)
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x_BTD, *, deterministic: bool):
        dim = x_BTD.shape[-1]
        head_dim = dim // self.num_heads
        shape = (self.num_heads, dim, head_dim)
        w_q, w_k, w_v = (self.param(n, torch_xavier_normal, shape).astype(self.dtype)
                         for n in ('w_qs', 'w_ks', 'w_vs'))
        x = x_BTD.astype(self.dtype)
        q_BTHK = jnp.einsum('btd,hdk->bthk', x, w_q)
        k_BTHK = jnp.einsum('btd,hdk->bthk', x, w_k)
        v_BTHK = jnp.einsum('btd,hdk->bthk', x, w_v)
        scores_BHQK = jnp.einsum('bqhk,bshk->bhqs', q_BTHK, k_BTHK).astype(jnp.float32) * self.scale
        probs_BHQK = nn.softmax(scores_BHQK, axis=-1)
        probs_BHQK = nn.Dropout(self.attention_dropout_rate)(probs_BHQK, deterministic=deterministic)
        out_BTHK = jnp.einsum('bhqs,bshk->bqhk', probs_BHQK.astype(self.dtype), v_BTHK)
        out_BTD = out_BTHK.reshape(x_BTD.shape[:2] + (self.num_heads * head_dim,))
        out_BTD = nn.Dropout(self.dropout_rate)(out_BTD, deterministic=deterministic)
        return ReferenceLayerNorm(name='layer_norm')(out_BTD + x_BTD.astype(out_BTD.dtype))


class PositionwiseFeedForward(nn.Module):
    """Two kernel-1 convolutions d -> ffn_dim (ReLU) -> d with biases; dropout, residual, LayerNorm."""
    ffn_dim: int
    dropout_rate: float = 0.1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x_BTD, *, deterministic: bool):
        dim = x_BTD.shape[-1]
        y = nn.relu(torch_dense(self.ffn_dim, dim, dtype=self.dtype, name='w_1')(x_BTD))
        y = torch_dense(dim, self.ffn_dim, dtype=self.dtype, name='w_2')(y)
        y = nn.Dropout(self.dropout_rate)(y, deterministic=deterministic)
        return ReferenceLayerNorm(name='layer_norm')(y + x_BTD.astype(y.dtype))


class DecoderBlock(nn.Module):
    """Self-attention then the position-wise feed-forward."""
    num_heads: int
    ffn_dim: int
    scale: float
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x_BTD, *, deterministic: bool):
        x_BTD = MultiHeadSelfAttention(self.num_heads, self.scale, self.dropout_rate, self.attention_dropout_rate,
                                       dtype=self.dtype, name='attention')(x_BTD, deterministic=deterministic)
        return PositionwiseFeedForward(self.ffn_dim, self.dropout_rate, dtype=self.dtype,
                                       name='ffn')(x_BTD, deterministic=deterministic)


class Decoder(nn.Module):
    """Adds the trainable (T, d) position table (row 0 frozen), then runs `num_layers` decoder blocks."""
    num_steps: int
    num_layers: int = 4
    num_heads: int = 8
    ffn_dim: int = 1024
    attention_scale: str = 'model'  # 'model': 1/sqrt(d) (reference); 'head': 1/sqrt(d_k) (paper)
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.1
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x_BTD, *, deterministic: bool):
        steps, dim = x_BTD.shape[1:]
        if steps != self.num_steps:
            raise ValueError(f'the decoder takes {self.num_steps} time steps, got {steps} (input shape '
                             f'{x_BTD.shape}); check model.num_frames and model.modality')
        if self.attention_scale == 'model':
            scale = 1.0 / np.sqrt(dim)
        elif self.attention_scale == 'head':
            scale = 1.0 / np.sqrt(dim // self.num_heads)
        else:
            raise ValueError(f"model.attention_scale must be 'model' or 'head', got {self.attention_scale!r}")
        table = self.param('position_table', lambda _, shape: jnp.asarray(sinusoid_table(*shape)), (steps, dim))
        # padding_idx=0: row 0 gets no gradient (its value is used as it is, zero unless a checkpoint says not).
        table = jnp.concatenate([jax.lax.stop_gradient(table[:1]), table[1:]], axis=0)
        x_BTD = x_BTD.astype(jnp.float32) + table
        for i in range(self.num_layers):
            x_BTD = DecoderBlock(self.num_heads, self.ffn_dim, scale, self.dropout_rate,
                                 self.attention_dropout_rate, dtype=self.dtype,
                                 name=f'block{i}')(x_BTD, deterministic=deterministic)
        return x_BTD
