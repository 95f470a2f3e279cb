r"""The main job's model: the tiny VTN on RGB differences of synthetic_actions/light (`make demo`).

    python train.py --config configs/demo.py --workdir runs/demo/train

The data: the 8 synthetic motions (right/left, down/up, grow/shrink, clockwise/anticlockwise) of a light shape
on a darker background. RGB differences see the motion and, because the shape is lighter than what it moves
over, its direction: the leading edge brightens and the trailing edge darkens. On the default set (shape colours
independent of the background) the same model learns which way a motion goes no better than a coin flip, since
a shape moving right and its colour-inverted twin moving left give the same difference frames (measured:
Video@1 0.47 after 2000 steps, every error the opposite direction; docs/data.md).
"""
from vtn_jax.configs import tiny


def get_config():
    """Returns the demo configuration: tiny model, rgbdiff, 384 training videos, Adam at 1e-3, 2000 steps."""
    config = tiny.get_config()
    config.model.modality = 'stacked'
    config.data.builder_config = 'light'  # 384 train / 128 test videos of 64x64 frames, a light shape
    config.train.batch_size = 16
    config.train.eval_batch_size = 32
    config.train.num_train_steps = 2000
    config.train.eval_every_steps = 1000
    config.train.log_every_steps = 100
    config.train.checkpoint_every_steps = 1000
    config.optim.learning_rate = 1e-3  # the paper's 1e-4 is for ImageNet-initialised ResNet-34
    config.optim.plateau_patience = 2  # evaluations (of 1000 steps) without improvement before LR / 10
    return config
