"""Per-frame 2D CNN trunks (NHWC), without classifiers, as the reference builds them.

Every trunk maps frames [N, H, W, C] to a feature map [N, h, w, features]; the VTN pools it and maps it to
the embedding width. Padding is written out explicitly and symmetrically as PyTorch does (a stride-2 3x3
conv pads 1 on each side); JAX's 'SAME' pads (0, 1) on even inputs and changes the logits by 0.1-0.3.

Module and parameter names are chosen so that `vtn_jax.checkpoints` maps every key of the authors'
PyTorch state dicts to one Flax path (e.g. `resnet.4.0.conv1.weight` -> `encoder/layer1_0/conv1/kernel`).
"""
import functools
from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

# PyTorch BatchNorm2d defaults: eps 1e-5, momentum 0.1 (= Flax momentum 0.9).
BatchNorm = functools.partial(nn.BatchNorm, momentum=0.9, epsilon=1e-5)


def conv(features, kernel, stride=1, *, groups=1, bias=False, dtype=jnp.float32, name=None):
    """A torch-style Conv2d: square kernel, symmetric padding kernel // 2."""
    pad = kernel // 2
    return nn.Conv(features, (kernel, kernel), strides=(stride, stride), padding=((pad, pad), (pad, pad)),
                   feature_group_count=groups, use_bias=bias, dtype=dtype, name=name,
                   kernel_init=nn.initializers.variance_scaling(2.0, 'fan_out', 'normal'))


def max_pool_3x3_s2(x, *, ceil_mode=False):
    """MaxPool2d(3, stride 2, padding 1) as torch; with ceil_mode (SE-ResNeXt) padding 0, ceil rounding."""
    if ceil_mode:
        # torch ceil_mode extends the last window past the edge; padding the right/bottom with -inf does it.
        pad_h = (-(x.shape[1] - 3)) % 2
        pad_w = (-(x.shape[2] - 3)) % 2
        padding = ((0, pad_h), (0, pad_w))
    else:
        padding = ((1, 1), (1, 1))
    # Pad with -inf explicitly and pool VALID: exporters handle this form exactly.
    x = jnp.pad(x, ((0, 0), padding[0], padding[1], (0, 0)), constant_values=-jnp.inf)
    return nn.max_pool(x, window_shape=(3, 3), strides=(2, 2), padding='VALID')


class BasicBlock(nn.Module):
    """ResNet-18/34 block: two 3x3 convs; the second BN closes the branch before the residual add."""
    features: int
    stride: int = 1
    downsample: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        norm = functools.partial(BatchNorm, use_running_average=not train, dtype=self.dtype)
        residual = x
        y = conv(self.features, 3, self.stride, dtype=self.dtype, name='conv1')(x)
        y = nn.relu(norm(name='bn1')(y))
        y = conv(self.features, 3, dtype=self.dtype, name='conv2')(y)
        y = norm(name='bn2')(y)
        if self.downsample:
            residual = conv(self.features, 1, self.stride, dtype=self.dtype, name='downsample_conv')(x)
            residual = norm(name='downsample_bn')(residual)
        return nn.relu(y + residual)


class Bottleneck(nn.Module):
    """ResNet-50 (stride on the 3x3 conv) and SE-ResNeXt (grouped 3x3 conv + squeeze-excitation) block."""
    features: int  # inner width of the 3x3 conv
    out_features: int
    stride: int = 1
    downsample: bool = False
    groups: int = 1
    se_reduction: int = 0  # 0: no squeeze-excitation
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        norm = functools.partial(BatchNorm, use_running_average=not train, dtype=self.dtype)
        residual = x
        y = nn.relu(norm(name='bn1')(conv(self.features, 1, dtype=self.dtype, name='conv1')(x)))
        y = conv(self.features, 3, self.stride, groups=self.groups, dtype=self.dtype, name='conv2')(y)
        y = nn.relu(norm(name='bn2')(y))
        y = norm(name='bn3')(conv(self.out_features, 1, dtype=self.dtype, name='conv3')(y))
        if self.se_reduction:
            s = jnp.mean(y, axis=(1, 2), keepdims=True)
            s = nn.relu(nn.Conv(self.out_features // self.se_reduction, (1, 1), dtype=self.dtype, name='se_fc1')(s))
            s = nn.sigmoid(nn.Conv(self.out_features, (1, 1), dtype=self.dtype, name='se_fc2')(s))
            y = y * s
        if self.downsample:
            residual = conv(self.out_features, 1, self.stride, dtype=self.dtype, name='downsample_conv')(x)
            residual = norm(name='downsample_bn')(residual)
        return nn.relu(y + residual)


class ResNet(nn.Module):
    """ResNet / SE-ResNeXt trunk up to the last stage (no pooling, no classifier)."""
    stage_sizes: Sequence[int]
    block: str = 'basic'  # basic | bottleneck
    widths: Sequence[int] = (64, 128, 256, 512)
    stem_width: int = 64
    groups: int = 1
    width_per_group: int = 64
    se_reduction: int = 0
    ceil_mode_pool: bool = False  # SE-ResNeXt (pretrainedmodels) pools with ceil_mode=True, padding 0
    dtype: Any = jnp.float32

    @property
    def num_features(self) -> int:
        return self.widths[-1] * (4 if self.block == 'bottleneck' else 1)

    @nn.compact
    def __call__(self, x, *, train: bool):
        x = conv(self.stem_width, 7, 2, dtype=self.dtype, name='stem_conv')(x)
        x = nn.relu(BatchNorm(use_running_average=not train, dtype=self.dtype, name='stem_bn')(x))
        x = max_pool_3x3_s2(x, ceil_mode=self.ceil_mode_pool)
        in_features = self.stem_width
        for i, (num_blocks, width) in enumerate(zip(self.stage_sizes, self.widths)):
            for j in range(num_blocks):
                stride = 2 if i > 0 and j == 0 else 1
                name = f'layer{i + 1}_{j}'
                if self.block == 'basic':
                    out = width
                    x = BasicBlock(width, stride, downsample=(stride != 1 or in_features != out),
                                   dtype=self.dtype, name=name)(x, train=train)
                else:
                    out = width * 4
                    inner = width * self.width_per_group // 64 * self.groups
                    x = Bottleneck(inner, out, stride, downsample=(stride != 1 or in_features != out),
                                   groups=self.groups, se_reduction=self.se_reduction, dtype=self.dtype,
                                   name=name)(x, train=train)
                in_features = out
        return x


# MobileNetV2 settings (expansion t, channels c, repeats n, first stride s), width 1.0.
MOBILENETV2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                        (6, 160, 3, 2), (6, 320, 1, 1))


class InvertedResidual(nn.Module):
    """The reference's MobileNetV2 block; layer names follow its `conv.<index>` Sequential positions."""
    in_features: int
    out_features: int
    stride: int
    expansion: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, *, train: bool):
        norm = functools.partial(BatchNorm, use_running_average=not train, dtype=self.dtype)
        hidden = self.in_features * self.expansion
        y = x
        if self.expansion == 1:
            # No 1x1 expand conv: dw (conv_0, bn_1, relu), linear pw (conv_3, bn_4).
            y = nn.relu(norm(name='bn_1')(conv(hidden, 3, self.stride, groups=hidden, dtype=self.dtype,
                                               name='conv_0')(y)))
            y = norm(name='bn_4')(conv(self.out_features, 1, dtype=self.dtype, name='conv_3')(y))
        else:
            y = nn.relu(norm(name='bn_1')(conv(hidden, 1, dtype=self.dtype, name='conv_0')(y)))
            y = nn.relu(norm(name='bn_4')(conv(hidden, 3, self.stride, groups=hidden, dtype=self.dtype,
                                               name='conv_3')(y)))
            y = norm(name='bn_7')(conv(self.out_features, 1, dtype=self.dtype, name='conv_6')(y))
        if self.stride == 1 and self.in_features == self.out_features:
            y = x + y
        return y


class MobileNetV2(nn.Module):
    """The reference's own MobileNetV2 (plain ReLU, width 1.0, 1280 output channels)."""
    dtype: Any = jnp.float32
    num_features: int = 1280

    @nn.compact
    def __call__(self, x, *, train: bool):
        x = conv(32, 3, 2, dtype=self.dtype, name='stem_conv')(x)
        x = nn.relu(BatchNorm(use_running_average=not train, dtype=self.dtype, name='stem_bn')(x))
        in_features, index = 32, 1
        for t, c, n, s in MOBILENETV2_SETTINGS:
            for j in range(n):
                x = InvertedResidual(in_features, c, s if j == 0 else 1, t, dtype=self.dtype,
                                     name=f'block{index}')(x, train=train)
                in_features, index = c, index + 1
        x = conv(self.num_features, 1, dtype=self.dtype, name='head_conv')(x)
        return nn.relu(BatchNorm(use_running_average=not train, dtype=self.dtype, name='head_bn')(x))


# Encoder name -> constructor. `resnet_tiny` is for tests and CPU smoke runs only.
ENCODERS = {
    'resnet18': functools.partial(ResNet, stage_sizes=(2, 2, 2, 2)),
    'resnet34': functools.partial(ResNet, stage_sizes=(3, 4, 6, 3)),
    'resnet50': functools.partial(ResNet, stage_sizes=(3, 4, 6, 3), block='bottleneck'),
    'se_resnext101_32x4d': functools.partial(ResNet, stage_sizes=(3, 4, 23, 3), block='bottleneck', groups=32,
                                             width_per_group=4, se_reduction=16, ceil_mode_pool=True),
    'mobilenetv2': MobileNetV2,
    'resnet_tiny': functools.partial(ResNet, stage_sizes=(1, 1, 1, 1), widths=(8, 16, 32, 64), stem_width=8),
}


def create_encoder(name: str, *, dtype=jnp.float32, name_scope: str = 'encoder') -> nn.Module:
    """Builds the trunk called `name`; raises KeyError listing the known names otherwise."""
    if name not in ENCODERS:
        raise KeyError(f'unknown encoder {name!r}; choose one of {sorted(ENCODERS)}')
    return ENCODERS[name](dtype=dtype, name=name_scope)


def encoder_features(name: str) -> int:
    """Channels of the trunk's last feature map (before the `reduce` projection)."""
    if name not in ENCODERS:
        raise KeyError(f'unknown encoder {name!r}; choose one of {sorted(ENCODERS)}')
    return ENCODERS[name]().num_features
