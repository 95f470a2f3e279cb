r"""MobileNetV2-VTN, RGB: the reference's own MobileNetV2 (plain ReLU, 1280 channels reduced to 512).

    python train.py --config configs/mobilenetv2.py --workdir runs/mobilenetv2
"""
from vtn_jax.configs import default


def get_config():
    """Returns the default config with the changes above."""
    config = default.get_config()
    config.model.encoder = 'mobilenetv2'
    return config
