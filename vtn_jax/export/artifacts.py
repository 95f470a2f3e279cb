"""What an export is: its options, its parts (the pure batch-1 functions) and what each file takes and gives
(the `InputSpec`s of `vtn_jax.inference.export_record`, the one record `export.json` and the IR's rt_info are
both written from).

Artifacts (in `out_dir`, described by `export.json`, with the class names in `labels.txt`):
  whole    video [1, T, H, W, 3] (NCHW layout: [1, T, 3, H, W]) -> logits [1, classes]; its IRs take the clip as
           OpenVINO Model API's action classifier feeds it: [1, 1, T, H, W, 3] (NSTHWC) or [1, 1, 3, T, H, W]
           (NSCTHW), reshaped (and transposed) inside to the 5-d input
  encoder  frame [1, H, W, C] (NCHW: [1, C, H, W]) -> embedding [1, D]; C = 3, or 6 for 'stacked'
  decoder  embeddings [1, S, D] -> logits [1, classes]; S = T (rgb) or T - 1 (rgbdiff, stacked)
Every part has `<part>.onnx` (float32, normalised RGB input) and `<part>.xml` (float32 weights, plus the
uint8 PrePostProcessor input when asked), and optionally `<part>_fp16.xml` (FP16-compressed weights),
`<part>_int8.xml` (NNCF post-training quantisation) and `<part>_int8_fdw.xml` (INT8 with the depthwise
convolutions left in float; MobileNetV2 only). An Open Model Zoo export (`omz`) adds `decoder_omz.xml`: the
decoder behind a strided Slice, taking the demo's window of consecutive embeddings (`vtn_jax.export.omz`).

uint8 input: OpenVINO's PrePostProcessor folds u8 -> f32, BGR -> RGB and (x - 255 mean) / (255 std) into
the IR of every part whose input is a raw frame: the whole model (any modality; rgbdiff and stacked take
the difference of the normalised frames inside the graph, so that stays exact) and the rgb encoder. The
rgbdiff and stacked encoders take a difference of normalised frames (range about +-4.4, mean-free), which a
uint8 tensor cannot hold and a mean subtraction would corrupt, so their IR keeps the float input: the
caller normalises frames and takes the differences (`vtn_jax.models.modality`). The ONNX files always take
normalised float input (ONNX Runtime has no preprocessing step).
"""
import contextlib
import ctypes
import dataclasses
import errno
import os
import pathlib
import shutil
import sys
from typing import Any, Callable, Iterator, Sequence

import jax
import jax.numpy as jnp

from vtn_jax import errors
from vtn_jax.inference import export_record
from vtn_jax.models import modality as modality_lib
from vtn_jax.models import vtn as vtn_lib

PARTS = export_record.PARTS
LAYOUTS = ('NHWC', 'NCHW')
COLORS = export_record.COLORS
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
            raise ValueError('omz: Open Model Zoo\'s demo takes the encoder and the decoder only '
                             '(parts encoder,decoder)')


@dataclasses.dataclass(frozen=True)
class PartSpec:
    """One exportable part: a pure batch-1 function and its fixed input/output shapes."""
    name: str
    fn: Callable[[Any], Any]
    input_shape: tuple
    output_shape: tuple
    takes_pixels: bool  # its input is frames of pixels (not differences), so the uint8 PrePostProcessor applies

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
                            (1, d, 1, 1) if omz else (1, d), modality_lib.encoder_sees_frames(model.modality)),
        'decoder': PartSpec('decoder', decoder, (1, s, d), (1, k), False),
    }


SCRATCH = '.scratch'  # inside the staging folder: the TFLite files the verification reads; never published


def _target(out_dir) -> pathlib.Path:
    """The folder an export is published at: `out_dir` with every symlink and '.' / '..' resolved, so the staging
    folder sits beside the folder that is replaced (the same file system: renames, never copies)."""
    return pathlib.Path(os.path.realpath(out_dir))


def check_destination(out_dir) -> pathlib.Path:
    """Fails early, naming the path, when an export cannot be published at `out_dir`: its parent must be
    writable, and an existing `out_dir` must be empty or hold an export (which is then replaced whole), and must
    be neither a mount point nor the current directory (or one above it). Returns the resolved folder."""
    given, out_dir = pathlib.Path(out_dir), _target(out_dir)
    if out_dir.parent == out_dir:
        raise errors.UserError(f'{given} is a file-system root: give a folder for the export')
    if out_dir.exists() and not out_dir.is_dir():
        raise errors.UserError(f'{given} is a file: the export needs a folder there')
    if out_dir.is_dir():
        if any(out_dir.iterdir()) and not (out_dir / export_record.SIDECAR).is_file():
            raise errors.UserError(f'{given} holds files but no {export_record.SIDECAR}: an export replaces its '
                                   'folder whole, so give a new or empty folder')
        if os.path.ismount(out_dir):
            raise errors.UserError(f'{given} is a mount point, which cannot be replaced: give a folder inside it')
        cwd = pathlib.Path(os.path.realpath(os.getcwd()))
        if cwd == out_dir or out_dir in cwd.parents:
            raise errors.UserError(f'{given} is the current directory (or holds it), which an export cannot replace: '
                                   'give another folder, or run from elsewhere')
    parent = out_dir.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = parent / f'.{out_dir.name}.write-test-{os.getpid()}'
        probe.write_bytes(b'')
        probe.unlink()
    except OSError as e:
        raise errors.UserError(f'cannot write the export beside {given} (in {parent}): {e.strerror or e}') from e
    return out_dir


def _dead_leftovers(out_dir: pathlib.Path, kind: str) -> list:
    """`.<name>.<kind>-<pid>` folders beside `out_dir` whose process is gone (an export killed there)."""
    found = []
    for old in out_dir.parent.glob(f'.{out_dir.name}.{kind}-*'):
        pid = old.name.rpartition('-')[2]
        if pid.isdigit() and not errors.process_alive(pid):
            found.append(old)
    return found


def recover(out_dir) -> None:
    """Tidies up after exports killed at `out_dir` (SIGKILL, power loss): their staging folders are removed, and
    a previous export set aside by the two-rename fallback of `publish` (`.<name>.old-<pid>`) goes back in place
    when nothing took its place, else is removed."""
    out_dir = _target(out_dir)
    for old in _dead_leftovers(out_dir, 'old'):
        if not out_dir.exists() and (old / export_record.SIDECAR).is_file():
            old.rename(out_dir)
        else:
            shutil.rmtree(old, ignore_errors=True)
    for stale in _dead_leftovers(out_dir, 'partial'):
        shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def staging(out_dir) -> Iterator[pathlib.Path]:
    """A fresh staging folder `.<name>.partial-<pid>` beside `out_dir`, removed on the way out (whatever
    happens, SIGTERM included where the command turned it into an exception, `errors.stop_on_sigterm`); what
    exports killed there left behind is tidied first (`recover`)."""
    out_dir = check_destination(out_dir)
    recover(out_dir)
    stage = out_dir.parent / f'.{out_dir.name}.partial-{os.getpid()}'
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)


_RENAME_EXCHANGE = 2  # renameat2 flag (Linux 3.15+): swap two paths in one step


def _exchange(a: pathlib.Path, b: pathlib.Path) -> bool:
    """Swaps two folders atomically (Linux renameat2 RENAME_EXCHANGE); False where the system or the file system
    cannot (then the caller renames twice)."""
    if not sys.platform.startswith('linux'):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _sync(folder: pathlib.Path) -> None:
    """Flushes every file of `folder` and the folder itself to disk (a power cut after publishing keeps them)."""
    for path in [*folder.iterdir(), folder]:
        if path.is_file() or path == folder:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            except OSError:  # some file systems cannot fsync a folder
                pass
            finally:
                os.close(fd)


def publish(stage: pathlib.Path, out_dir) -> None:
    """Puts a complete staging folder at `out_dir` (a previous export there is replaced whole), flushed to disk.

    Where the system can (Linux), the two folders are swapped in one atomic step: a reader, or a kill at any
    instant, sees the old folder or the new one, never a mix nor none; the old one, now at the staging path, is
    removed by `staging`. Elsewhere the old folder is renamed aside and the new one into place; a failure between
    the two renames puts the old one back, and an export killed between them is put back by the next export
    (`recover`). A folder that cannot be replaced (permissions, in use) raises UserError and is left as it was.
    """
    out_dir = _target(out_dir)
    shutil.rmtree(stage / SCRATCH, ignore_errors=True)
    _sync(stage)
    try:
        if out_dir.exists():
            if not _exchange(stage, out_dir):
                _rename_twice(stage, out_dir)
        else:
            stage.rename(out_dir)
    except OSError as e:
        raise errors.UserError(f'cannot replace {out_dir} with the new export ({e.strerror or e}); the folder is '
                               'unchanged: check its permissions, or give another --output') from e
    _sync(out_dir.parent)


def _rename_twice(stage: pathlib.Path, out_dir: pathlib.Path) -> None:
    aside = out_dir.parent / f'.{out_dir.name}.old-{os.getpid()}'
    shutil.rmtree(aside, ignore_errors=True)
    with errors.deferred_stops():  # no Ctrl-C or SIGTERM between the renames
        out_dir.rename(aside)
        try:
            stage.rename(out_dir)
        except BaseException:
            aside.rename(out_dir)
            raise
        aside.rename(stage)  # `staging` removes it with the rest


def keep_failed(stage: pathlib.Path, out_dir) -> pathlib.Path:
    """Moves a staging folder whose verification failed to `<out_dir>.unverified` (for inspection)."""
    out_dir = _target(out_dir)
    kept = out_dir.parent / f'{out_dir.name}.unverified'
    shutil.rmtree(stage / SCRATCH, ignore_errors=True)
    shutil.rmtree(kept, ignore_errors=True)
    stage.rename(kept)
    return kept


def with_checksums(record: export_record.ExportRecord, folder) -> export_record.ExportRecord:
    """The record with the size and SHA-256 of every file in `folder` (but export.json and the scratch folder)
    under info['files']; the deploy side checks the files it loads against them."""
    folder = pathlib.Path(folder)
    files = {p.name: export_record.file_digest(p) for p in sorted(folder.iterdir())
             if p.is_file() and p.name != export_record.SIDECAR}
    return dataclasses.replace(record, info={**record.info, 'files': files})


def layout_string(part: str, layout: str) -> str:
    """The OpenVINO layout of a part's function input: N?HWC / N?CHW for the whole model ('?' is the time axis),
    NHWC / NCHW for the encoder, NSD for the decoder's embeddings."""
    if part == 'decoder':
        return 'NSD'
    if part == 'whole':
        return 'N?CHW' if layout == 'NCHW' else 'N?HWC'
    return layout


def model_api_clip(spec: export_record.InputSpec) -> export_record.InputSpec:
    """The whole model's 5-d input as the 6-d clip OpenVINO Model API feeds (its IR's input): [1, 1, T, H, W, 3]
    (NSTHWC) for N?HWC, [1, 1, 3, T, H, W] (NSCTHW) for N?CHW (Model API knows no N S T C H W)."""
    n, t = spec.shape[:2]
    c, h, w = spec.shape[2:] if spec.nchw else (spec.shape[4], *spec.shape[2:4])
    if spec.nchw:
        return dataclasses.replace(spec, shape=(n, 1, c, t, h, w), layout='NSCTHW')
    return dataclasses.replace(spec, shape=(n, 1, t, h, w, c), layout='NSTHWC')


def _content(spec: PartSpec, modality: str) -> str:
    if spec.name == 'decoder':
        return 'encoder embeddings of the last S steps, oldest first'
    if spec.name == 'whole':
        return f'{spec.input_shape[1]} consecutive sampled frames (stride of the record\'s clip)'
    if not modality_lib.needs_previous_frame(modality):
        return 'one frame'
    if modality_lib.frame_channels(modality) == 6:
        return 'channels 0-2: normalised frame[i]; channels 3-5: normalised frame[i] - frame[i-1]'
    return 'normalised frame[i] - normalised frame[i-1] (a difference frame, not a raw frame)'


def input_specs(spec: PartSpec, modality: str, options: ExportOptions) -> tuple:
    """(IR input, ONNX input) of one part: what a caller must feed each file. The ONNX files always take
    normalised float RGB; an IR takes uint8 frames in `options.color` order, normalised inside, where
    `--uint8_input` applies to it (a part whose input is pixels); the whole model's IR takes Model API's 6-d
    clip (`model_api_clip`)."""
    layout = layout_string(spec.name, options.layout)
    if spec.name == 'decoder':
        decoder = export_record.InputSpec(spec.input_name, tuple(spec.input_shape), layout, 'float32', '', 'none',
                                          _content(spec, modality))
        return decoder, decoder
    onnx = export_record.InputSpec(spec.input_name, tuple(spec.input_shape), layout, 'float32', 'RGB', 'by_caller',
                                   _content(spec, modality))
    ir = model_api_clip(onnx) if spec.name == 'whole' else onnx
    if options.uint8_input and spec.takes_pixels:
        ir = dataclasses.replace(ir, dtype='uint8', color=options.color, normalization='in_graph')
    return ir, onnx
