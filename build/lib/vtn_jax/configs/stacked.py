r"""ResNet-34-VTN on stacked RGB + RGB difference (6-channel first conv, 15 decoder steps).

    python train.py --config configs/stacked.py --workdir runs/stacked
"""
from vtn_jax.configs import default


def get_config():
    """Returns the default config with the changes above."""
    config = default.get_config()
    config.model.modality = 'stacked'
    return config
