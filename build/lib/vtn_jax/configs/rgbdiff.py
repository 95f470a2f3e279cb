r"""ResNet-34-VTN on RGB differences (15 decoder steps), the reference's VideoTransformerMotion.

    python train.py --config configs/rgbdiff.py --workdir runs/rgbdiff
"""
from vtn_jax.configs import default


def get_config():
    """Returns the default config with the changes above."""
    config = default.get_config()
    config.model.modality = 'rgbdiff'
    return config
