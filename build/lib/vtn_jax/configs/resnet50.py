r"""ResNet-50-VTN, RGB (a 1x1 reduce maps 2048 channels to 512).

    python train.py --config configs/resnet50.py --workdir runs/resnet50
"""
from vtn_jax.configs import default


def get_config():
    """Returns the default config with the changes above."""
    config = default.get_config()
    config.model.encoder = 'resnet50'
    return config
