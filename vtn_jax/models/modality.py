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
import dataclasses

from vtn_jax import errors

MODALITIES = ('rgb', 'rgbdiff', 'stacked')
_CHANNELS = {'rgb': 3, 'rgbdiff': 3, 'stacked': 6}
# Largest clip geometry accepted where a clip enters from outside (a config, an export.json): the ring
# buffers of a streaming recognizer hold stride x steps embeddings, so an absurd value would allocate without end.
MAX_NUM_FRAMES = 1024
MAX_STRIDE = 64


def check_modality(modality: str) -> str:
    """Returns `modality`; raises UserError naming the choices otherwise. Called where a modality enters (a
    config, a model, an export.json); the helpers below trust their argument."""
    if modality not in MODALITIES:
        raise errors.UserError(f'model.modality must be one of {MODALITIES}, got {modality!r}')
    return modality


def needs_previous_frame(modality: str) -> bool:
    """Whether an encoder input needs the frame one step earlier too (rgbdiff and stacked take a difference)."""
    return modality != MODALITIES[0]


def encoder_sees_frames(modality: str) -> bool:
    """Whether the encoder input is a (normalised) frame itself, which a uint8 tensor can hold (rgb only)."""
    return not needs_previous_frame(modality)


def num_steps(num_frames: int, modality: str) -> int:
    """Decoder time steps S: T for rgb, T - 1 for the difference modalities."""
    return num_frames - 1 if needs_previous_frame(modality) else num_frames


def frame_channels(modality: str) -> int:
    """Encoder input channels: 6 for stacked, else 3."""
    return _CHANNELS[modality]


def step_offset(stride: int, modality: str) -> int:
    """Raw frames before the first encoder input: 0 for rgb, `stride` for a difference (it needs two frames)."""
    return stride if needs_previous_frame(modality) else 0


def encoder_input(current, previous, modality: str):
    """The encoder input for normalised frame(s) `current` [..., H, W, 3], given the frame(s) one step earlier
    (`previous`, same shape; ignored for rgb)."""
    if not needs_previous_frame(modality):
        return current
    diff = current - previous
    if modality == 'rgbdiff':
        return diff
    return current.__array_namespace__().concat([current, diff], axis=-1)


def clip_encoder_inputs(video_BTHWC, modality: str):
    """Normalised clips [B, T, H, W, 3] -> the encoder inputs of their S steps [B, S, H, W, C]."""
    if not needs_previous_frame(modality):
        return video_BTHWC
    return encoder_input(video_BTHWC[:, 1:], video_BTHWC[:, :-1], modality)


@dataclasses.dataclass(frozen=True)
class Clip:
    """What one decoder window is made of: T frames sampled every `stride` raw frames, as `modality` inputs.

    Validated once, when made; everything that builds windows (the online recognizer, the whole-video pass,
    the export) takes one of these instead of the three numbers.

    Attributes:
        num_frames: T, frames in a clip (config.model.num_frames).
        stride: s, raw frames between two clip frames (config.data.stride).
        modality: 'rgb', 'rgbdiff' or 'stacked' (config.model.modality).
    """
    num_frames: int
    stride: int
    modality: str

    def __post_init__(self):
        check_modality(self.modality)
        for name, value, low, top in (('num_frames', self.num_frames, 2, MAX_NUM_FRAMES),
                                      ('stride', self.stride, 1, MAX_STRIDE)):
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= top:
                raise errors.UserError(f'{name} must be an integer from {low} to {top}, got {value!r}')

    @classmethod
    def from_config(cls, config) -> 'Clip':
        """The clip of a full config (model.num_frames, data.stride, model.modality)."""
        return cls(config.model.num_frames, config.data.stride, config.model.modality)

    @property
    def num_steps(self) -> int:
        """S, decoder steps per window."""
        return num_steps(self.num_frames, self.modality)

    @property
    def frame_channels(self) -> int:
        return frame_channels(self.modality)

    @property
    def needs_previous_frame(self) -> bool:
        return needs_previous_frame(self.modality)

    @property
    def step_offset(self) -> int:
        """Raw frames before the first encoder input (0 for rgb, the stride for a difference)."""
        return step_offset(self.stride, self.modality)

    @property
    def span(self) -> int:
        """Raw frames from a window's first frame to its last: (T - 1) * stride; the first full window ends at
        frame `span`."""
        return (self.num_frames - 1) * self.stride

    def to_json(self) -> dict:
        return dataclasses.asdict(self)
