r"""The main job's model (`make demo`): the tiny VTN on stacked RGB + RGB differences of synthetic_actions/light.

    python train.py --config configs/demo.py --workdir runs/demo/train

The data (docs/data.md, "synthetic_actions/light"): the 8 synthetic motions (right/left, down/up, grow/shrink,
clockwise/anticlockwise) of a light shape on a darker background, each video led in by up to 10 frames of
another motion. Why each choice, measured with this model at 2,000 steps (seed 0, docs/data.md has the table):

- A light shape: frame differences then show which way a motion goes (the leading edge brightens). On the default
  set, whose shapes are as often darker as lighter, RGB differences give Video@1 0.47: each motion's axis, but
  a guess at its direction.
- Stacked input (each frame with its difference, 6 channels): RGB differences alone leave the sense of a rotation
  uncertain; with the frame the shape's body is seen with the motion of its edges.
- The lead-in: training clips that hold a change of action, so that the online label follows a new action after
  a few frames, not once most of the 15-frame window shows it.
"""
from vtn_jax.configs import tiny


def get_config():
    """Returns the demo configuration: tiny model, stacked, 384 training videos, Adam at 1e-3, 2000 steps."""
    config = tiny.get_config()
    config.model.modality = 'stacked'
    config.data.builder_config = 'light'  # 384 train / 128 test videos of 64x64 frames, a light shape, lead-ins
    config.train.batch_size = 16
    config.train.eval_batch_size = 32
    config.train.num_train_steps = 2000
    config.train.eval_every_steps = 1000
    config.train.log_every_steps = 100
    config.train.checkpoint_every_steps = 1000
    config.optim.learning_rate = 1e-3  # the paper's 1e-4 is for ImageNet-initialised ResNet-34
    config.optim.plateau_patience = 2  # evaluations (of 1000 steps) without improvement before LR / 10
    return config
