"""What the encoder sees per decoder step, for each input modality, in any array library.

Inputs are always `num_frames` normalised RGB frames; the difference modalities are computed from them:
  rgb      S = T steps, the frames themselves.
  rgbdiff  S = T - 1 steps: frame[i] - frame[i-1], i = 1..T-1 (the reference's RGBDiff).
  stacked  S = T - 1 steps: [frame[i], frame[i] - frame[i-1]] stacked to 6 channels, i = 1..T-1. Every
           step has a true difference (no zero-difference frame), so a frame's encoder input never depends
           on where the window starts: streaming encodes each frame once and stays exact.

The functions use the arrays' own namespace (`x.__array_namespace__()`), so the same code runs on numpy
arrays (streaming, export, dense inference) and on jax arrays inside jit (the model): one definition, and
importing this module pulls in neither JAX nor TensorFlow.
"""
MODALITIES = ('rgb', 'rgbdiff', 'stacked')


def check_modality(modality: str) -> str:
    """Returns `modality`; raises ValueError naming the choices otherwise."""
    if modality not in MODALITIES:
        raise ValueError(f'model.modality must be one of {MODALITIES}, got {modality!r}')
    return modality


def num_steps(num_frames: int, modality: str) -> int:
    """Decoder time steps S: T for rgb, T - 1 for the difference modalities."""
    return num_frames if check_modality(modality) == 'rgb' else num_frames - 1


def frame_channels(modality: str) -> int:
    """Encoder input channels: 6 for stacked, else 3."""
    return 6 if check_modality(modality) == 'stacked' else 3


def step_offset(stride: int, modality: str) -> int:
    """Raw frames before the first encoder input: 0 for rgb, `stride` for a difference (it needs two frames)."""
    return 0 if check_modality(modality) == 'rgb' else stride


def encoder_input(current, previous, modality: str):
    """The encoder input for normalised frame(s) `current` [..., H, W, 3], given the frame(s) one step earlier
    (`previous`, same shape; ignored for rgb)."""
    if check_modality(modality) == 'rgb':
        return current
    diff = current - previous
    if modality == 'rgbdiff':
        return diff
    return current.__array_namespace__().concat([current, diff], axis=-1)


def clip_encoder_inputs(video_BTHWC, modality: str):
    """Normalised clips [B, T, H, W, 3] -> the encoder inputs of their S steps [B, S, H, W, C]."""
    if check_modality(modality) == 'rgb':
        return video_BTHWC
    return encoder_input(video_BTHWC[:, 1:], video_BTHWC[:, :-1], modality)
