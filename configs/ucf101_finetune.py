r"""Fine-tuning Kinetics -> UCF-101 split 1 (paper 4.1: 20 epochs at 1e-5), fresh 101-class head.

Build the data first (docs/data.md "Build") and give the Kinetics checkpoint:
    --config.train.init_checkpoint=resnet34_vtn_kinetics.pth

    python train.py --config configs/ucf101_finetune.py --workdir runs/ucf101_finetune
"""
from vtn_jax.configs import default


def get_config():
    """Returns the default config with the changes above."""
    config = default.get_config()
    config.model.num_classes = 101
    config.data.name = 'video_folder'
    config.data.builder_config = 'ucf101_split1'
    config.optim.learning_rate = 1e-5
    config.train.init_new_head = True
    config.train.num_train_epochs = 20  # of the 9,537 split-1 training videos
    config.train.eval_every_epochs = 1
    config.train.checkpoint_every_steps = 9537 // 32
    return config
