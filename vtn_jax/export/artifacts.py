"""What an export is: its options, its parts (the pure batch-1 functions), what each file takes and gives,
and the sidecar `export.json` that makes an export folder self-describing.

Artifacts (in `out_dir`, described by `export.json`):
  whole    video [1, T, H, W, 3] (NCHW layout: [1, T, 3, H, W]) -> logits [1, classes]
  encoder  frame [1, H, W, C] (NCHW: [1, C, H, W]) -> embedding [1, D]; C = 3, or 6 for 'stacked'
  decoder  embeddings [1, S, D] -> logits [1, classes]; S = T (rgb) or T - 1 (rgbdiff, stacked)
Every part has `<part>.onnx` (float32, normalised RGB input) and `<part>.xml` (float32 weights, plus the
uint8 PrePostProcessor input when asked), and optionally `<part>_fp16.xml` (FP16-compressed weights),
`<part>_int8.xml` (NNCF post-training quantisation) and `<part>_int8_fdw.xml` (INT8 with the depthwise
convolutions left in float; MobileNetV2 only).

uint8 input: OpenVINO's PrePostProcessor folds u8 -> f32, BGR -> RGB and (x - 255 mean) / (255 std) into
the IR of every part whose input is a raw frame: the whole model (any modality; rgbdiff and stacked take
the difference of the normalised frames inside the graph, so that stays exact) and the rgb encoder. The
rgbdiff and stacked encoders take a difference of normalised frames (range about +-4.4, mean-free), which a
uint8 tensor cannot hold and a mean subtraction would corrupt, so their IR keeps the float input: the
caller normalises frames and takes the differences (`vtn_jax.models.modality`). The ONNX files always take
normalised float input (ONNX Runtime has no preprocessing step).
"""
import dataclasses
import json
import pathlib
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from vtn_jax.inference.api import SIDECAR, read_sidecar  # noqa: F401  (one reader of export.json)
from vtn_jax.models import vtn as vtn_lib

PARTS = ('whole', 'encoder', 'decoder')
LAYOUTS = ('NHWC', 'NCHW')
COLORS = ('RGB', 'BGR')
# Output tensor names of the parts (the ONNX and IR outputs are renamed to these).
OUTPUT_NAMES = {'whole': 'logits', 'encoder': 'embedding', 'decoder': 'logits'}
INPUT_NAMES = {'whole': 'video', 'encoder': 'frame', 'decoder': 'embeddings'}
# IR variant -> (sidecar key, INFERENCE_PRECISION_HINT; None = the CPU plugin's default, bf16 where the CPU
# has AVX-512-bf16 or AMX, else f32).
# 'int8_f32' runs the INT8 IR's float parts in f32, as a CPU without bf16 (AVX2) does: with
# ONEDNN_MAX_CPU_ISA=AVX2 it approximates such a host's INT8 and f32 speed on an AVX-512 one.
VARIANTS = {'f32': ('ir', 'f32'), 'default': ('ir', None), 'fp16': ('ir_fp16', 'f32'),
            'int8': ('ir_int8', None), 'int8_f32': ('ir_int8', 'f32'), 'int8_fdw': ('ir_int8_fdw', None)}


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """What to export. Defaults give float32 ONNX + IR of all three parts with NHWC float input."""
    parts: Sequence[str] = PARTS
    layout: str = 'NHWC'  # NHWC | NCHW (the image axes of the input tensor)
    uint8_input: bool = False  # IR takes uint8 frames; mean/std (and colour order) folded in by OpenVINO PPP
    color: str = 'RGB'  # channel order of uint8 input: RGB | BGR (OpenCV frames are BGR)
    fp16: bool = False  # also write <part>_fp16.xml with FP16-compressed weights
    int8: bool = False  # also write <part>_int8.xml quantised by NNCF
    calib_clips: int = 300  # calibration clips for INT8 (the encoder gets one frame per clip)
    calib_split: str = ''  # TFDS split for calibration ('' = config.data.train_split; 'synthetic' = noise)
    int8_float_depthwise: bool = False  # keep depthwise (GroupConvolution) layers out of INT8
    verify_clips: int = 4  # clips for the built-in verification
    verify_split: str = ''  # TFDS split for verification clips and Clip@1 ('' = random uint8 clips)
    tolerance: float = 1e-4  # gate: max|diff| / max(1, max|JAX|)
    seed: int = 0  # random clips (calibration fallback and verification)
    omz: bool = False  # encoder output [1, D, 1, 1]: Open Model Zoo's action_recognition_demo interface

    @classmethod
    def for_omz(cls, **kwargs) -> 'ExportOptions':
        """What Open Model Zoo's action_recognition_demo takes: encoder [1, 3, H, W] uint8 BGR (the IR normalises)
        -> [1, D, 1, 1], decoder [1, S, D] -> logits [1, K]."""
        return cls(**{**kwargs, 'parts': ('encoder', 'decoder'), 'layout': 'NCHW', 'uint8_input': True,
                      'color': 'BGR', 'omz': True})

    def validate(self):
        """Raises ValueError naming the first bad option."""
        unknown = [p for p in self.parts if p not in PARTS]
        if unknown or not self.parts:
            raise ValueError(f'parts must be a non-empty subset of {PARTS}, got {list(self.parts)}')
        if self.layout not in LAYOUTS:
            raise ValueError(f'layout must be one of {LAYOUTS}, got {self.layout!r}')
        if self.color not in COLORS:
            raise ValueError(f'color must be one of {COLORS}, got {self.color!r}')
        if self.color != 'RGB' and not self.uint8_input:
            raise ValueError('color applies to uint8 input only (float input is always normalised RGB)')
        if self.int8 and self.calib_clips < 1:
            raise ValueError(f'calib_clips must be positive, got {self.calib_clips}')
        if self.verify_clips < 1:
            raise ValueError(f'verify_clips must be positive, got {self.verify_clips}')
        if self.omz and 'whole' in self.parts:
            raise ValueError('omz: Open Model Zoo\'s demo takes the encoder and the decoder only (parts encoder,decoder)')


@dataclasses.dataclass(frozen=True)
class PartSpec:
    """One exportable part: a pure batch-1 function and its fixed input/output shapes."""
    name: str
    fn: Callable[[Any], Any]
    input_shape: tuple
    output_shape: tuple
    raw_frames: bool  # its input is raw RGB frames, so the uint8 PrePostProcessor applies

    @property
    def input_name(self) -> str:
        return INPUT_NAMES[self.name]

    @property
    def output_name(self) -> str:
        return OUTPUT_NAMES[self.name]


def create_parts(model: vtn_lib.VTN, variables, image_size: int, layout: str = 'NHWC', omz: bool = False) -> dict:
    """The pure eval-mode functions of the whole model, the encoder and the decoder, for batch 1.

    NCHW input is transposed inside the function, so the ONNX and IR take it natively; `omz` gives the encoder
    output the shape [1, D, 1, 1] (Open Model Zoo's action_recognition_demo).
    """
    variables = jax.tree.map(jnp.asarray, variables)
    t, s, c, d, k = model.num_frames, model.num_steps, model.frame_channels, model.embed_dim, model.num_classes
    h = w = image_size
    nchw = layout == 'NCHW'

    def whole(video):
        if nchw:
            video = jnp.transpose(video, (0, 1, 3, 4, 2))  # [1, T, C, H, W] -> [1, T, H, W, C]
        return model.apply(variables, video)

    def encoder(frame):
        if nchw:
            frame = jnp.transpose(frame, (0, 2, 3, 1))
        emb = model.apply(variables, frame, method=vtn_lib.VTN.encode)
        return emb.reshape(1, d, 1, 1) if omz else emb

    def decoder(emb):
        return model.apply(variables, emb, method=vtn_lib.VTN.decode)

    return {
        'whole': PartSpec('whole', whole, (1, t, 3, h, w) if nchw else (1, t, h, w, 3), (1, k), True),
        'encoder': PartSpec('encoder', encoder, (1, c, h, w) if nchw else (1, h, w, c),
                            (1, d, 1, 1) if omz else (1, d), model.modality == 'rgb'),
        'decoder': PartSpec('decoder', decoder, (1, s, d), (1, k), False),
    }


def check_writable(out_dir) -> pathlib.Path:
    """Creates `out_dir` and proves a file can be written there; raises OSError naming the path otherwise."""
    out_dir = pathlib.Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / '.write_test'
        probe.write_bytes(b'')
        probe.unlink()
    except OSError as e:
        raise OSError(f'cannot write the export to {out_dir}: {e.strerror or e}') from e
    return out_dir



def input_spec(spec: PartSpec, modality: str, options: ExportOptions, data_config, *, ir: bool) -> dict:
    """What a caller must feed one artifact (recorded in the sidecar and read back by the verification)."""
    if spec.name == 'decoder':
        return {'name': spec.input_name, 'shape': list(spec.input_shape), 'layout': 'NSD', 'dtype': 'float32',
                'content': 'encoder embeddings of the last S steps, oldest first'}
    out = {'name': spec.input_name, 'shape': list(spec.input_shape),
           'layout': layout_string(spec.name, options.layout)}
    if ir and options.uint8_input and spec.raw_frames:
        out.update(dtype='uint8', color=options.color,
                   preprocessing=f'inside the IR (OpenVINO PrePostProcessor): {options.color} -> RGB, '
                                 '(x / 255 - mean) / std')
    else:
        out.update(dtype='float32', color='RGB', preprocessing='by the caller: (x / 255 - mean) / std')
    out.update(mean=list(data_config.mean), std=list(data_config.std))
    if spec.name == 'encoder' and modality == 'rgbdiff':
        out['content'] = 'normalised frame[i] - normalised frame[i-1] (a difference frame, not a raw frame)'
    elif spec.name == 'encoder' and modality == 'stacked':
        out['content'] = ('channels 0-2: normalised frame[i]; channels 3-5: normalised frame[i] - frame[i-1]')
    elif spec.name == 'encoder':
        out['content'] = 'one frame'
    else:
        out['content'] = f'{spec.input_shape[1]} consecutive sampled frames (stride of config.data.stride)'
    return out


def layout_string(part: str, layout: str) -> str:
    if part == 'whole':
        return 'N?CHW' if layout == 'NCHW' else 'N?HWC'  # '?' is the time axis
    return layout


def write_sidecar(out_dir, sidecar: dict) -> None:
    """Writes `export.json` atomically (never a half-written sidecar)."""
    path = pathlib.Path(out_dir) / SIDECAR
    tmp = path.with_suffix('.json.tmp')
    tmp.write_text(json.dumps(sidecar, indent=1, default=str) + '\n')
    tmp.replace(path)


def ir_model_info(part: str, config, num_steps: int, class_names, options: ExportOptions) -> dict:
    """The facts of `export.json` that a reader of the IR alone needs, as OpenVINO `rt_info` strings under
    'model_info' (the convention of OpenVINO Training Extensions and Model API: space-separated lists; spaces in
    a class name become '_')."""
    mean = [255.0 * m for m in config.data.mean]
    scale = [255.0 * s for s in config.data.std]
    return {
        'model_type': 'vtn_action_recognition', 'vtn_part': part, 'modality': config.model.modality,
        'num_frames': str(config.model.num_frames), 'stride': str(config.data.stride), 'num_steps': str(num_steps),
        'crop_size': str(config.data.crop_size), 'layout': layout_string(part, options.layout),
        'input_color': options.color if options.uint8_input else 'RGB',
        'mean_values': ' '.join(f'{v:g}' for v in mean), 'scale_values': ' '.join(f'{v:g}' for v in scale),
        'eval_preprocess': config.data.get('eval_preprocess', 'paper'),
        'labels': ' '.join(n.replace(' ', '_') for n in class_names) if class_names is not None else '',
    }
