"""The Python API: an action recognizer from an export folder or a checkpoint, in three lines.

    from vtn_jax import Recognizer
    rec = Recognizer.from_export('artifacts/r34')        # or Recognizer.from_checkpoint('tiny', 'runs/tiny')
    for step in rec.stream('video.mp4'):                  # a label for every frame, as it arrives
        print(step.frame_index, step.top)                 # [(class name, probability), ...] (empty in warm-up)
    rec.predict_video('video.mp4')                        # the whole video's top-k (the paper's Video@1)

An export folder describes itself (`export.json`: the model config, frame count, stride, crop, normalisation,
input layout and colour, class names), so nothing else is needed to run it; `from_export` needs only
OpenVINO, OpenCV and numpy. `from_checkpoint` runs the model in JAX.
"""
import dataclasses
import json
import pathlib
import time
from typing import Iterator, Optional, Sequence, Union

import numpy as np

from vtn_jax import configs
from vtn_jax.data import class_names as class_names_lib
from vtn_jax.data import video_io
from vtn_jax.inference import recognizer as recognizer_lib
from vtn_jax.inference import whole_video

SIDECAR = 'export.json'
# Relative shortfall of decoded frames against the container's frame count that counts as a broken stream:
# containers round or estimate the count, so a few frames of difference are normal.
TRUNCATION_TOLERANCE = 0.1


def read_sidecar(folder) -> dict:
    """Reads an export folder's `export.json`; FileNotFoundError when the folder holds no export."""
    path = pathlib.Path(folder) / SIDECAR
    if not path.is_file():
        raise FileNotFoundError(f'{path} does not exist: {folder} holds no export (make one with vtn-export)')
    return json.loads(path.read_text())


@dataclasses.dataclass(frozen=True)
class StreamStep:
    """One frame of a stream and what the recognizer made of it.

    Attributes:
        frame_index: 0-based index of the frame.
        time_s: its time: position in the file, or arrival time for a camera.
        frame_bgr: the frame as OpenCV decoded it, BGR uint8 [H, W, 3] (read-only: the recognizer may still use
            it); `frame` is its RGB copy, made when asked for.
        prediction: the recognizer's output for the window ending at this frame (None during the warm-up); with
            decode_every > 1, the latest one (its frame_index says which window).
        top: [(class name, probability)] best first; empty without a prediction.
    """
    frame_index: int
    time_s: float
    frame_bgr: np.ndarray
    prediction: Optional[recognizer_lib.Prediction]
    top: tuple[tuple[str, float], ...]

    @property
    def frame(self) -> np.ndarray:
        """The decoded frame, RGB uint8 [H, W, 3]."""
        return np.ascontiguousarray(self.frame_bgr[..., ::-1])


def parse_source(source: Union[str, int, pathlib.Path]) -> Union[str, int]:
    """'0', '1', ... (or an int) -> a camera index; anything else is a video file path."""
    if isinstance(source, int):
        return source
    source = str(source)
    return int(source) if source.isdigit() else source


class Recognizer:
    """A model (any backend), its preprocessing and its class names.

    Args:
        backend: batched `encode` / `decode` (`JaxBackend`, `OpenVinoBackend`).
        num_frames, stride, modality, crop_size, mean, std: what the model was trained with (the config's).
        eval_preprocess: the evaluation crop ('paper' or 'reference'; the config's data.eval_preprocess).
        class_names: one per class (default 'class 0', 'class 1', ...).
    """

    def __init__(self, backend, *, num_frames: int, stride: int, modality: str, crop_size: int,
                 mean: Sequence[float], std: Sequence[float], class_names: Optional[Sequence[str]] = None,
                 eval_preprocess: str = 'paper'):
        self.backend = backend
        self.settings = dict(num_frames=num_frames, stride=stride, modality=modality, crop_size=crop_size,
                             mean=tuple(mean), std=tuple(std), eval_preprocess=eval_preprocess)
        self.class_names = list(class_names or class_names_lib.default_class_names(backend.num_classes))
        if len(self.class_names) != backend.num_classes:
            raise ValueError(f'{len(self.class_names)} class names for a model with {backend.num_classes} classes')
        recognizer_lib.OnlineRecognizer(backend, **self.settings)  # checks the model and the settings agree

    @classmethod
    def from_export(cls, folder, *, precision: Optional[str] = None, threads: int = 0,
                    class_names: Optional[Sequence[str]] = None) -> 'Recognizer':
        """The exported encoder and decoder IR of `folder`, in OpenVINO, configured from its `export.json`.

        Args:
            folder: a `vtn-export` output folder.
            precision: OpenVINO inference precision ('f32', 'bf16', 'f16'; None: the CPU's default).
            threads: inference threads (0: all).
            class_names: override the names recorded in the export.
        """
        from vtn_jax.inference import openvino_backend  # pylint: disable=import-outside-toplevel  (optional: OpenVINO)
        folder = pathlib.Path(folder)
        sidecar = read_sidecar(folder)
        parts = sidecar['artifacts']
        missing = [p for p in ('encoder', 'decoder') if p not in parts]
        if missing:
            raise ValueError(f'{folder} has no {" and no ".join(missing)} IR; export with --parts encoder,decoder')
        # A uint8 encoder (vtn-export --uint8_input) takes its --color; the backend feeds it raw frames.
        color = parts['encoder'].get('ir_input', {}).get('color', 'RGB')
        backend = openvino_backend.OpenVinoBackend(folder / parts['encoder']['ir'], folder / parts['decoder']['ir'],
                                                   precision=precision, num_threads=threads, encoder_color=color)
        data, model = sidecar['data'], sidecar['model']
        return cls(backend, num_frames=model['num_frames'], stride=data['stride'], modality=model['modality'],
                   crop_size=data['crop_size'], mean=data['mean'], std=data['std'],
                   class_names=class_names or sidecar.get('class_names'),
                   eval_preprocess=data.get('eval_preprocess', 'paper'))

    @classmethod
    def from_checkpoint(cls, config, checkpoint: str = '', *,
                        class_names: Optional[Sequence[str]] = None) -> 'Recognizer':
        """The model of `config` in JAX, with weights from `checkpoint` (a workdir, flat .npz or the authors'
        .pth/.npz; '' = random weights, said loudly). `config` is a ConfigDict or the name of a shipped config."""
        # JAX is optional for a deployment: only this constructor needs it.
        from vtn_jax import checkpoints  # pylint: disable=import-outside-toplevel
        from vtn_jax.inference import jax_backend  # pylint: disable=import-outside-toplevel
        from vtn_jax.models import vtn as vtn_lib  # pylint: disable=import-outside-toplevel
        if isinstance(config, str):
            config = configs.load(config)
        model = vtn_lib.create_model(config.model)
        variables, _ = checkpoints.load_variables(checkpoint, model, image_size=config.data.crop_size,
                                                  seed=config.train.seed)
        return cls(jax_backend.JaxBackend(model, variables), num_frames=config.model.num_frames,
                   stride=config.data.stride, modality=config.model.modality, crop_size=config.data.crop_size,
                   mean=config.data.mean, std=config.data.std, class_names=class_names,
                   eval_preprocess=config.data.get('eval_preprocess', 'paper'))

    def online(self, *, warmup: str = 'wait', smoothing: float = 0.0, k: int = 5, pipelined: bool = False,
               decode_every: int = 1, frame_color: str = 'RGB') -> recognizer_lib.OnlineRecognizer:
        """A fresh online recognizer (one encoder pass per frame) with this model's settings."""
        return recognizer_lib.OnlineRecognizer(self.backend, warmup=warmup, smoothing=smoothing, k=k,
                                               pipelined=pipelined, decode_every=decode_every,
                                               frame_color=frame_color, **self.settings)

    def named(self, top: Sequence[tuple[int, float]]) -> tuple[tuple[str, float], ...]:
        """[(class index, p)] -> [(class name, p)]."""
        return tuple((self.class_names[c], p) for c, p in top)

    def stream(self, source, *, warmup: str = 'wait', smoothing: float = 0.0, k: int = 5,
               max_frames: int = 0, decode_every: int = 1,
               pipelined: Optional[bool] = None) -> Iterator[StreamStep]:
        """Recognises a video file or camera frame by frame (see `StreamStep`).

        The next frame is decoded in a background thread while this one is recognised, and (pipelined, the
        default where the backend has `decode_async`) the decoder window of a frame runs while the next frame is
        encoded: a frame's step then comes out one frame later, with the same prediction.

        Args:
            decode_every: run the decoder on every k-th window only (labels up to k - 1 frames old).
            pipelined: overlap the decoder with the next frame's encoder (None: where the backend can).

        Raises:
            VideoReadError: the source cannot be opened, changes frame size, or (a file) ends well before the
                frame count its header announces; every frame before the fault has been yielded.
        """
        source = parse_source(source)
        fps, expected = 0.0, 0
        if isinstance(source, str):
            info = video_io.video_info(source)
            fps, expected = info['fps'], info['num_frames']
        fps = fps if fps and np.isfinite(fps) and fps > 0 else 30.0
        if pipelined is None:
            pipelined = callable(getattr(self.backend, 'decode_async', None))
        # Frames stay BGR as decoded: the raw-frame encoder takes them so, and drawing wants them so.
        online = self.online(warmup=warmup, smoothing=smoothing, k=k, pipelined=pipelined,
                             decode_every=decode_every, frame_color='BGR')
        start, size, count = time.perf_counter(), None, 0
        waiting, latest = None, None  # pipelined: the step whose prediction comes with the next push

        def step(held, prediction):
            nonlocal latest
            latest = prediction if prediction is not None else (latest if decode_every > 1 else None)
            top = self.named(latest.top) if latest is not None else ()
            return StreamStep(*held, latest, top)

        frames = video_io.prefetched(video_io.iter_frames(source, color='BGR'))
        error, finished = None, False
        try:
            for frame in frames:
                if size is None:
                    size = frame.shape
                elif frame.shape != size:
                    error = video_io.VideoReadError(source, f'frame size changed from {size[1]}x{size[0]} to '
                                                            f'{frame.shape[1]}x{frame.shape[0]} (corrupt stream)', count)
                    break
                prediction = online.push(frame)
                # A file's timestamp is its frame's place in the video; a camera's is the time it arrived.
                held = (count, count / fps if isinstance(source, str) else time.perf_counter() - start, frame)
                if pipelined:
                    held, waiting = waiting, held
                if held is not None:
                    yield step(held, prediction)
                count += 1
                if max_frames and count >= max_frames:
                    break
            else:
                if count and expected and count < expected * (1 - TRUNCATION_TOLERANCE):
                    error = video_io.VideoReadError(source, f'the stream broke at frame {count} of the {expected} '
                                                            'its header announces (truncated or corrupt)', count)
            finished = True
        finally:
            frames.close()
            if not finished:
                online.reset()  # the consumer left early: let a window still running finish
        if waiting is not None:
            yield step(waiting, online.flush())
        if error is not None:
            raise error

    def video_logits(self, frames_RGB: np.ndarray, *, warmup: str = 'wait') -> whole_video.DenseLogits:
        """The whole-video pass over decoded RGB uint8 frames [N, H, W, 3]: every frame encoded once (raw,
        preprocessed inside the encoder IR, where the backend can)."""
        online = self.online()
        s = self.settings
        kwargs = dict(num_frames=s['num_frames'], stride=s['stride'], modality=s['modality'], warmup=warmup)
        if online.takes_raw(*frames_RGB.shape[1:3]):
            self.backend.prepare_frames(*frames_RGB.shape[1:3], **online.raw_settings())
            return whole_video.dense_video_logits(self.backend.encode_frames, self.backend.decode, frames_RGB,
                                                  raw_frames=True, **kwargs)
        frames = np.stack([online.preprocess(f) for f in frames_RGB])
        return whole_video.dense_video_logits(self.backend.encode, self.backend.decode, frames, **kwargs)

    def predict_video(self, path, *, k: int = 5) -> tuple[tuple[str, float], ...]:
        """The top-k of a whole video file: clip logits averaged over its non-overlapping 32-frame segments
        (the paper's Video@1); empty for a video shorter than one clip."""
        result = self.video_logits(video_io.read_video(path))
        return self.named(recognizer_lib.top_k_of_logits(result.video_logits, k))
