r"""SE-ResNeXt-101 32x4d VTN, RGB.

    python train.py --config configs/se_resnext101.py --workdir runs/se_resnext101
"""
from vtn_jax.configs import default


def get_config():
    """Returns the default config with the changes above."""
    config = default.get_config()
    config.model.encoder = 'se_resnext101_32x4d'
    return config
