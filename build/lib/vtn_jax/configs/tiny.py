r"""Tiny VTN for tests and CPU smoke runs (seconds per step on 2 cores).

    python train.py --config configs/tiny.py --workdir runs/tiny
"""
from vtn_jax.configs import default


def get_config():
    """Returns the tiny configuration: small trunk, 2 small decoder blocks, 32x32 crops."""
    config = default.get_config()
    config.model.encoder = 'resnet_tiny'
    config.model.num_classes = 8
    config.model.embed_dim = 32
    config.model.num_layers = 2
    config.model.num_heads = 4
    config.model.ffn_dim = 64
    config.model.num_frames = 8
    config.data.num_frames = 8
    config.data.crop_size = 32
    config.data.builder_config = 'tiny'
    config.train.batch_size = 8
    config.train.eval_batch_size = 8
    config.train.num_train_steps = 20
    config.train.eval_every_steps = 10
    config.train.log_every_steps = 5
    config.train.checkpoint_every_steps = 10
    return config
