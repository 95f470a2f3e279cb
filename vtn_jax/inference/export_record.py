"""The record of an export folder: what `export.json` holds and what each IR's rt_info says, in one place.

The export (`vtn_jax.export.pipeline`) builds one `ExportRecord` and writes both `export.json` (`to_json`)
and every IR's rt_info['model_info'] (`model_info(part)`) from it; the deploy side (`Recognizer.from_export`,
`vtn-demo --export`, the export's own verification) reads it back with `read(folder)`, which validates every
field against one schema (types, ranges, lengths; the key named in the message) and keeps every file inside
the folder. The OpenVINO backend then asserts the IR against the part's `InputSpec` instead of guessing.

    record = export_record.read('artifacts/r34')
    record.clip.stride, record.preprocessing.eval_crop, record.class_names
    record.parts['encoder'].ir_input.dtype            # 'float32' or 'uint8'
    record.file('encoder')                           # artifacts/r34/encoder.xml (inside the folder, checked)

Parts: whole (video [1, T, H, W, 3] or NCHW [1, T, 3, H, W] -> logits [1, K]; its IR takes the clip as OpenVINO
Model API's action classifier does, [1, 1, T, H, W, 3] or [1, 1, 3, T, H, W]), encoder (frame [1, H, W, C] or
[1, C, H, W] -> embedding [1, D], [1, D, 1, 1] for Open Model Zoo's demo), decoder (embeddings [1, S, D] ->
logits [1, K]; an Open Model Zoo export adds `decoder_omz.xml`, which takes the demo's window of
(S - 1) * stride + 1 consecutive embeddings and keeps every stride-th).

Two clients read the IRs alone: OpenVINO Model API (`model_api.models.Model.create_model('whole.xml')` finds its
`ActionClassificationModel` and every setting it needs in rt_info) and Open Model Zoo's action_recognition_demo
(`-at en-de -m_en encoder.xml -m_de decoder_omz.xml -lb labels.txt`); `labels.txt` holds the class names as
given, one per line.
"""
import dataclasses
import hashlib
import json
import math
import os
import pathlib
from typing import Optional

import numpy as np

from vtn_jax import errors
from vtn_jax.data import frames as frames_lib
from vtn_jax.models import modality as modality_lib

SIDECAR = 'export.json'
LABELS = 'labels.txt'  # the class names as given, one per line (Model API's path_to_labels, the OMZ demo's -lb)
FORMAT = 'vtn_jax export 3'
PARTS = ('whole', 'encoder', 'decoder')
# The whole model's IR takes Model API's 6-d clip (N, S = clips x crops, then T, H, W, C or C, T, H, W); its
# ONNX file the 5-d [1, T, H, W, C] / [1, T, C, H, W] ('?' is the time axis).
LAYOUTS = {'whole': ('NSTHWC', 'NSCTHW', 'N?HWC', 'N?CHW'), 'encoder': ('NHWC', 'NCHW'), 'decoder': ('NSD',)}
CHANNELS_FIRST = ('NCHW', 'N?CHW', 'NSCTHW')
DTYPES = ('float32', 'uint8')
COLORS = ('RGB', 'BGR')
NORMALIZATIONS = ('by_caller', 'in_graph', 'none')  # who computes (x / 255 - mean) / std
FILE_KEYS = ('onnx', 'ir', 'ir_fp16', 'ir_int8', 'ir_int8_fdw', 'ir_omz')
MAX_CLASSES = 100_000
MAX_SIDECAR_BYTES = 16 << 20
MODEL_TYPE = 'vtn_action_recognition'  # our identity in rt_info: vtn_model_type (and model_type but on the whole)
MODEL_API_TYPE = 'Action Classification'  # Model API's ActionClassificationModel.__model__, looked up by model_type
OMZ_DEMO_CROP = 224  # Open Model Zoo's action_recognition_demo crops every frame to 224 x 224 (hard-coded)


def _fail(where: str, message: str):
    raise errors.UserError(f'{where}: {message}')


def _get(record, key: str, kind, where: str):
    """record[key] of type `kind`, or a UserError naming where and the key."""
    if not isinstance(record, dict):
        _fail(where, f'expected an object, got {type(record).__name__}')
    if key not in record:
        _fail(where, f'"{key}" is missing')
    value = record[key]
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        _fail(where, f'"{key}" must be an integer, got {value!r}')
    if kind is not int and not isinstance(value, kind):
        _fail(where, f'"{key}" must be {getattr(kind, "__name__", kind)}, got {type(value).__name__}')
    return value


def _shape(value, where: str) -> tuple:
    if not isinstance(value, list) or not value or not all(
            isinstance(d, int) and not isinstance(d, bool) and 0 < d < 1 << 20 for d in value):
        _fail(where, f'"shape" must be a list of positive integers, got {value!r}')
    return tuple(value)


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What one exported file takes: shape, layout, dtype, channel order and who normalises."""
    name: str
    shape: tuple
    layout: str
    dtype: str = 'float32'
    color: str = 'RGB'  # channel order of frame inputs ('' for the decoder's embeddings)
    normalization: str = 'by_caller'
    content: str = ''

    @property
    def nchw(self) -> bool:
        """Whether the channel axis comes before the image axes."""
        return self.layout in CHANNELS_FIRST

    def arrange(self, x: np.ndarray) -> np.ndarray:
        """A batch-1 input in channels-last terms (a frame [1, H, W, C] or a clip [1, T, H, W, C], already in this
        input's dtype and colour order) laid out as this input takes it, contiguous."""
        if self.layout in ('N?CHW', 'NSCTHW'):
            x = np.transpose(x, (0, 4, 1, 2, 3) if self.layout == 'NSCTHW' else (0, 1, 4, 2, 3))
        elif self.layout == 'NCHW':
            x = np.transpose(x, (0, 3, 1, 2))
        if self.layout.startswith('NS') and self.layout != 'NSD':
            x = x[:, None]  # Model API's clips x crops axis: one clip
        return np.ascontiguousarray(x)

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), 'shape': list(self.shape)}

    @classmethod
    def from_json(cls, record, part: str, where: str) -> 'InputSpec':
        spec = cls(name=_get(record, 'name', str, where), shape=_shape(_get(record, 'shape', list, where), where),
                   layout=_get(record, 'layout', str, where), dtype=_get(record, 'dtype', str, where),
                   color=_get(record, 'color', str, where), normalization=_get(record, 'normalization', str, where),
                   content=record.get('content', '') if isinstance(record.get('content', ''), str) else '')
        for key, value, choices in (('layout', spec.layout, LAYOUTS[part]), ('dtype', spec.dtype, DTYPES),
                                    ('normalization', spec.normalization, NORMALIZATIONS),
                                    ('color', spec.color, COLORS if part != 'decoder' else ('',))):
            if value not in choices:
                _fail(where, f'"{key}" must be one of {choices}, got {value!r}')
        return spec


@dataclasses.dataclass(frozen=True)
class PartRecord:
    """One exported part: its files (key -> file name in the folder), what they take and what they give."""
    name: str
    files: dict
    ir_input: InputSpec
    onnx_input: InputSpec
    output_shape: tuple

    def to_json(self) -> dict:
        content = ('frame embedding' if self.name == 'encoder'
                   else 'clip logits, mean over the decoder steps (softmax gives probabilities)')
        return {**self.files, 'ir_input': self.ir_input.to_json(), 'onnx_input': self.onnx_input.to_json(),
                'output': {'name': 'embedding' if self.name == 'encoder' else 'logits',
                           'shape': list(self.output_shape), 'dtype': 'float32', 'content': content}}

    @classmethod
    def from_json(cls, record, part: str, where: str) -> 'PartRecord':
        files = {}
        for key in FILE_KEYS:
            if key in record:
                name = _get(record, key, str, where)
                if pathlib.PurePath(name).name != name or name in ('', '.', '..') or '\\' in name:
                    _fail(where, f'"{key}" must be a file name inside the export folder, got {name!r}')
                files[key] = name
        if 'ir' not in files:
            _fail(where, '"ir" is missing')
        output = _get(record, 'output', dict, where)
        return cls(part, files, InputSpec.from_json(_get(record, 'ir_input', dict, where), part, f'{where}.ir_input'),
                   InputSpec.from_json(_get(record, 'onnx_input', dict, where), part, f'{where}.onnx_input'),
                   _shape(_get(output, 'shape', list, f'{where}.output'), f'{where}.output'))


@dataclasses.dataclass(frozen=True)
class ExportRecord:
    """Everything an export folder says about itself.

    Attributes:
        clip: frames, stride and modality the model was trained with.
        preprocessing: the crop and normalisation the model expects (`source` 'raw').
        class_names: one per class (default names 'class 0', ... when the export was given none).
        parts: part name -> `PartRecord`.
        omz: the files follow Open Model Zoo's action_recognition_demo interface.
        info: the rest of export.json as written (provenance, options, timings, verification, benchmark).
        folder: where it was read from (None for a record being written).
    """
    clip: modality_lib.Clip
    preprocessing: frames_lib.Preprocessing
    class_names: tuple
    parts: dict
    omz: bool = False
    info: dict = dataclasses.field(default_factory=dict)
    folder: Optional[pathlib.Path] = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def verification(self) -> Optional[dict]:
        """The verification report written by the export (None: it did not run or did not finish)."""
        return self.info.get('verification')

    def to_json(self) -> dict:
        return {**self.info, 'format': FORMAT, 'clip': self.clip.to_json(),
                'preprocessing': self.preprocessing.to_json(), 'num_steps': self.clip.num_steps,
                'class_names': list(self.class_names), 'omz': self.omz,
                'artifacts': {name: part.to_json() for name, part in self.parts.items()}}

    @classmethod
    def from_json(cls, record, where: str = SIDECAR) -> 'ExportRecord':
        """Validates a parsed export.json; a UserError names the key at fault."""
        if not isinstance(record, dict):
            _fail(where, f'expected a JSON object, got {type(record).__name__}')
        found = record.get('format')
        if found != FORMAT:
            _fail(where, f'format {found!r} is not {FORMAT!r}: this folder was written by another version of '
                         'vtn-export; export it again')
        clip_json = _get(record, 'clip', dict, where)
        try:
            clip = modality_lib.Clip(_get(clip_json, 'num_frames', int, f'{where} clip'),
                                     _get(clip_json, 'stride', int, f'{where} clip'),
                                     _get(clip_json, 'modality', str, f'{where} clip'))
        except errors.UserError as e:
            raise errors.UserError(f'{where}: clip.{e}') from None
        preprocessing = frames_lib.Preprocessing.from_json(_get(record, 'preprocessing', dict, where), where=where)
        names = check_class_names(_get(record, 'class_names', list, where), where)
        artifacts = _get(record, 'artifacts', dict, where)
        unknown = sorted(set(artifacts) - set(PARTS))
        if unknown or not artifacts:
            _fail(where, f'"artifacts" must hold some of {PARTS}, got {sorted(artifacts)}')
        parts = {name: PartRecord.from_json(artifacts[name], name, f'{where} artifacts.{name}') for name in artifacts}
        omz = record.get('omz', False)
        if not isinstance(omz, bool):
            _fail(where, f'"omz" must be true or false, got {omz!r}')
        out = cls(clip, preprocessing, tuple(names), parts, omz,
                  {k: v for k, v in record.items() if k not in _OWN_KEYS})
        out.check_shapes(where)
        if omz and (preprocessing.crop_size, preprocessing.eval_crop) != (OMZ_DEMO_CROP, 'authors'):
            _fail(where, f'an Open Model Zoo export takes the demo\'s crop (eval_crop \'authors\', crop_size '
                         f'{OMZ_DEMO_CROP}), but "preprocessing" says {preprocessing.eval_crop!r} at '
                         f'{preprocessing.crop_size}')
        return out

    def check_shapes(self, where: str = SIDECAR) -> None:
        """The parts' shapes agree with the clip, the crop and the class count (UserError otherwise)."""
        crop, k = self.preprocessing.crop_size, self.num_classes
        for name, part in self.parts.items():
            got = part.ir_input.shape
            if name == 'decoder':
                want = (1, self.clip.num_steps, got[-1])
            elif name == 'encoder':
                c = self.clip.frame_channels
                want = (1, c, crop, crop) if part.ir_input.nchw else (1, crop, crop, c)
            else:  # Model API's 6-d clip
                t = self.clip.num_frames
                want = (1, 1, 3, t, crop, crop) if part.ir_input.nchw else (1, 1, t, crop, crop, 3)
            if got != want:
                _fail(where, f'artifacts.{name}.ir_input.shape is {list(got)}, but the clip and crop give {list(want)}')
            if name != 'encoder' and part.output_shape[-1] != k:
                _fail(where, f'artifacts.{name} gives {part.output_shape[-1]} classes, but class_names has {k}')

    @property
    def omz_window(self) -> int:
        """Consecutive embeddings `decoder_omz.xml` takes: (S - 1) * stride + 1, so that Open Model Zoo's demo,
        which keeps the last consecutive frames, hands it the model's stride-s window ending at every frame."""
        return (self.clip.num_steps - 1) * self.clip.stride + 1

    def model_info(self, part: str, key: str = 'ir') -> dict:
        """What the IR `key` of `part` carries in rt_info['model_info'] (strings; lists space-separated): the
        record's facts for a reader of the .xml alone, in the vocabulary of OpenVINO Model API.

        The whole model's IR is what Model API's ActionClassificationModel takes as it is: `model_type` names that
        wrapper (our own identity is `vtn_model_type`), and the settings it reads (models/action_classification.py
        and models/parameters.py of openvino-model-api 0.4.7) say what to do to the BGR uint8 frames it is given,
        already cropped as the model expects (`vtn_jax.inference.model_api`): `reverse_input_channels` ('True':
        the IR takes RGB), `mean_values` / `scale_values` on the 0-255 scale (only where the caller normalises;
        a uint8 IR normalises inside), `resize_type` 'standard' (the only resize that keeps the crop as given),
        `labels` (names with whitespace as '_', since Model API splits on whitespace; labels.txt has them as
        given) and `input_dtype` ('u8' or 'f32')."""
        spec = self.parts[part].ir_input
        info = {'model_type': MODEL_API_TYPE if part == 'whole' else MODEL_TYPE, 'vtn_model_type': MODEL_TYPE,
                'vtn_part': part, 'modality': self.clip.modality,
                'num_frames': str(self.clip.num_frames), 'stride': str(self.clip.stride),
                'num_steps': str(self.clip.num_steps), 'crop_size': str(self.preprocessing.crop_size),
                'eval_crop': self.preprocessing.eval_crop, 'layout': spec.layout,
                'input_dtype': 'u8' if spec.dtype == 'uint8' else 'f32',
                'labels': ' '.join(''.join('_' if c.isspace() else c for c in n) for n in self.class_names)}
        if part != 'decoder':
            info['input_color'] = spec.color
        if part == 'whole':
            info['reverse_input_channels'] = str(spec.color == 'RGB')  # Model API's frames are BGR
            info['resize_type'] = 'standard'
        if spec.normalization == 'by_caller':
            # What a client must do to a [0, 255] input before it: (x - mean_values) / scale_values.
            info['mean_values'] = ' '.join(f'{255.0 * m:g}' for m in self.preprocessing.mean)
            info['scale_values'] = ' '.join(f'{255.0 * s:g}' for s in self.preprocessing.std)
        if key == 'ir_omz':
            info['omz_window'] = str(self.omz_window)
        return info

    def labels_text(self) -> str:
        """What `labels.txt` holds: the class names as given, one per line."""
        return ''.join(f'{n}\n' for n in self.class_names)

    def file(self, part: str, key: str = 'ir', folder=None) -> pathlib.Path:
        """The path of one file of a part, inside `folder` (default: where the record was read from)."""
        folder = pathlib.Path(folder if folder is not None else self.folder or '.')
        if part not in self.parts:
            raise errors.UserError(f'{folder}: the export has no {part} (it holds {", ".join(self.parts)}); '
                                   'export it with --parts')
        name = self.parts[part].files.get(key)
        if name is None:
            raise errors.UserError(f'{folder}: the export has no {key} file for the {part}')
        return folder / name


    def checked_file(self, part: str, key: str = 'ir') -> pathlib.Path:
        """`file(part, key)` after checking it (and an IR's .bin) against the sizes and SHA-256 the export
        recorded: a file changed or cut short since raises UserError naming it."""
        path = self.file(part, key)
        recorded = self.info.get('files')
        if not isinstance(recorded, dict):
            raise errors.UserError(f'{self.folder / SIDECAR}: "files" (sizes and checksums) is missing; export again')
        for one in (path, path.with_suffix('.bin')) if path.suffix == '.xml' else (path,):
            want = recorded.get(one.name)
            if not isinstance(want, dict):
                raise errors.UserError(f'{one} is not among the files {self.folder / SIDECAR} records; export again')
            if not one.is_file():
                raise errors.UserError(f'{one} is missing from the export folder; export again')
            check_inside(one, self.folder)
            if one.stat().st_size != want.get('bytes') or file_digest(one)['sha256'] != want.get('sha256'):
                raise errors.UserError(f'{one} is not the file the export wrote (its size or SHA-256 differs): it was '
                                       'changed or cut short; export again')
        return path

    def check_verified(self, allow_unverified: bool = False) -> None:
        """Raises UserError unless the export's verification passed (or `allow_unverified`)."""
        report = self.verification
        if allow_unverified or (isinstance(report, dict) and report.get('passed') is True):
            return
        state = 'did not run or did not finish' if report is None else 'failed'
        raise errors.UserError(f'{self.folder}: the export\'s verification {state}, so its files may not compute what '
                               'the model does; export again (or pass --allow_unverified to run it anyway)')


def check_class_names(names, where: str) -> list:
    """`names` if it is a list of 1 to MAX_CLASSES non-empty one-line strings (labels.txt holds one per line);
    a UserError naming `where` otherwise."""
    if not isinstance(names, (list, tuple)) or not names or len(names) > MAX_CLASSES or not all(
            isinstance(n, str) and n.strip() and len(n.splitlines()) == 1 for n in names):
        _fail(where, f'"class_names" must be a list of 1 to {MAX_CLASSES} non-empty one-line strings')
    return list(names)


def check_inside(path: pathlib.Path, folder) -> None:
    """UserError unless `path`, its symbolic links followed, lies in `folder` (an export holds its own files)."""
    real, home = pathlib.Path(path).resolve(), pathlib.Path(folder).resolve()
    if real.parent != home:
        raise errors.UserError(f'{path} is a link to {real}, outside the export folder: an export holds its own '
                               'files; export again')


def file_digest(path) -> dict:
    """{'bytes': size, 'sha256': hex digest} of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return {'bytes': pathlib.Path(path).stat().st_size, 'sha256': digest.hexdigest()}


_OWN_KEYS = ('format', 'clip', 'preprocessing', 'num_steps', 'class_names', 'omz', 'artifacts')


def read(folder) -> ExportRecord:
    """Reads and validates `folder/export.json`; UserError naming the file and key on any fault."""
    folder = pathlib.Path(folder)
    path = folder / SIDECAR
    if not path.is_file():
        raise errors.UserError(f'{path} does not exist: {folder} holds no export (make one with vtn-export)')
    check_inside(path, folder)
    if path.stat().st_size > MAX_SIDECAR_BYTES:
        raise errors.UserError(f'{path} is {path.stat().st_size} bytes: not an export.json')
    try:
        record = json.loads(path.read_text(encoding='utf-8'), parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise errors.UserError(f'{path} is not valid JSON ({type(e).__name__}: {str(e)[:120]}); export again') from None
    return dataclasses.replace(ExportRecord.from_json(record, str(path)), folder=folder)


def _no_constant(name: str):
    raise json.JSONDecodeError(f'{name} is not a JSON number', name, 0)


def write(folder, record: ExportRecord) -> None:
    """Writes `folder/export.json` atomically (never a half-written sidecar)."""
    path = pathlib.Path(folder) / SIDECAR
    tmp = path.with_name(f'.{SIDECAR}.{os.getpid()}.tmp')
    text = json.dumps(_plain(record.to_json()), indent=1, allow_nan=False)
    try:
        with open(tmp, 'w', encoding='utf-8') as f:
            f.write(text + '\n')
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def _plain(value):
    """JSON-ready: tuples as lists, numpy scalars as numbers, non-finite floats as null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, 'item') and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
