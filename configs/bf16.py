r"""ResNet-34-VTN for GPUs and TPUs: bfloat16 compute, float32 parameters; the paper's recipe otherwise.

    python train.py --config configs/bf16.py --workdir runs/r34_bf16 \
            --config.data.name=video_folder --config.data.builder_config=kinetics

Convolutions, matrix products and the activations between them run in bfloat16 (tensor cores, MXUs); the
parameters, Adam's moments, BatchNorm statistics, softmax, logits and the loss stay float32 (VTN's one `dtype`
field). The uint8 batches are normalised on the device in float32 and cast by the model.
tests/test_training_steps.py checks that 200 tiny steps in bfloat16 track the float32 loss curve.
"""
from vtn_jax.configs import default


def get_config():
    """Returns the default config computing in bfloat16."""
    config = default.get_config()
    config.model.dtype = 'bfloat16'
    return config
