r"""ResNet-18-VTN, RGB.

    python train.py --config configs/resnet18.py --workdir runs/resnet18
"""
from vtn_jax.configs import default


def get_config():
    """Returns the default config with the changes above."""
    config = default.get_config()
    config.model.encoder = 'resnet18'
    return config
