r"""SE-ResNeXt-101 32x4d VTN, RGB, normalised as the authors' SE-ResNeXt checkpoints: x / 255 only (their
`--no-mean-norm --no-std-norm`), not ImageNet mean/std.

    python train.py --config configs/se_resnext101.py --workdir runs/se_resnext101 \
        --config.train.init_checkpoint=se_resnext101_32x4d-3b2fe3d8.pth   # Cadene's ImageNet weights
"""
from vtn_jax.configs import default
from vtn_jax.models import pretrained


def get_config():
    """Returns the default config with the changes above."""
    config = default.get_config()
    config.model.encoder = 'se_resnext101_32x4d'
    config.data.mean, config.data.std = pretrained.NORMALIZATION['se_resnext101_32x4d']  # (0, 0, 0), (1, 1, 1)
    return config
