r"""The main job's model: the tiny VTN on RGB differences of the default synthetic_actions set.

It learns the motion-direction task clearly above chance in about two minutes on 2 CPU cores (`make demo`):

    python train.py --config configs/demo.py --workdir runs/demo/train

RGB differences, not RGB: a global-average-pooled CNN embedding barely encodes where a shape is, so an RGB
model cannot tell "moves left" from "moves right" (docs/ablation.md has the measured ablation); a
difference frame shows the leading and trailing edge and so the direction.
"""
from vtn_jax.configs import tiny


def get_config():
    """Returns the demo configuration: tiny model, rgbdiff, 384 training videos, Adam at 1e-3."""
    config = tiny.get_config()
    config.model.modality = 'rgbdiff'
    config.data.builder_config = 'default'  # 384 train / 128 test videos of 64x64 frames
    config.train.batch_size = 16
    config.train.eval_batch_size = 32
    config.train.num_train_steps = 2000
    config.train.eval_every_steps = 500
    config.train.log_every_steps = 100
    config.train.checkpoint_every_steps = 500
    config.optim.learning_rate = 1e-3  # the paper's 1e-4 is for ImageNet-initialised ResNet-34
    config.optim.plateau_patience = 2  # evaluations (of 500 steps) without improvement before LR / 10
    return config
