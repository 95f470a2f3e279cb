r"""Stacked ResNet-34-VTN distilled from the two-stream RGB + RGB-diff teacher (T = 8, w = 0.4).

Pass the trained teacher streams:
    --config.distill.rgb_checkpoint=runs/default --config.distill.motion_checkpoint=runs/rgbdiff

    python train.py --config configs/stacked_kd.py --workdir runs/stacked_kd
"""
from vtn_jax.configs import default


def get_config():
    """Returns the default config with the changes above."""
    config = default.get_config()
    config.model.modality = 'stacked'
    config.distill.enabled = True
    return config
