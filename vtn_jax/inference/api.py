"""The Python API: an action recognizer from an export folder or a checkpoint, in three lines.

    from vtn_jax import Recognizer
    rec = Recognizer.from_export('artifacts/r34')        # or Recognizer.from_checkpoint('tiny', 'runs/tiny')
    for step in rec.stream('video.mp4'):                  # a label for every frame, as it arrives
        print(step.frame_index, step.top)                 # [(class name, probability), ...] (empty in warm-up)
    rec.predict_video('video.mp4')                        # the whole video's top-k (the paper's Video@1)

An export folder describes itself (`export.json`, read and checked by `vtn_jax.inference.export_record`: the
clip, the preprocessing, what each file takes, the class names, each file's checksum and whether the export's
verification passed), so nothing else is needed to run it; `from_export` needs only OpenVINO, OpenCV and
numpy. `from_checkpoint` runs the model in JAX.
"""
import contextlib
import pathlib
from typing import Iterator, Optional, Sequence, Union

import numpy as np

from vtn_jax import configs
from vtn_jax import errors
from vtn_jax.data import class_names as class_names_lib
from vtn_jax.data import frames as frames_lib
from vtn_jax.data import live
from vtn_jax.data import video_io
from vtn_jax.inference import export_record
from vtn_jax.inference import recognizer as recognizer_lib
from vtn_jax.inference import streams as streams_lib
from vtn_jax.inference import whole_video
from vtn_jax.models import modality as modality_lib


StreamStep = streams_lib.StreamStep  # one frame of a stream and its label (defined with the stream runner)


MAX_CAMERA_INDEX = 2 ** 31 - 1  # OpenCV takes a C int (an index, plus a capture API's offset such as 200 for V4L2)


def parse_source(source: Union[str, int, pathlib.Path]) -> Union[str, int]:
    """'0', '1', ... (or an int) -> a camera index; anything else is a video file path.

    Raises:
        UserError: a camera index outside 0 .. MAX_CAMERA_INDEX.
    """
    if not isinstance(source, int):
        source = str(source)
        if live.source_kind(source) != 'camera':  # (the one test of a camera index: ASCII digits)
            return source
    too_long = isinstance(source, str) and len(source) > len(str(MAX_CAMERA_INDEX))  # int() refuses 4,300+ digits
    if too_long or not 0 <= int(source) <= MAX_CAMERA_INDEX:
        shown = source if len(str(source)) < 40 else f'{str(source)[:20]}...({len(source)} digits)'
        raise errors.UserError(f'camera index {shown} is out of range (0 to {MAX_CAMERA_INDEX}); for a video file '
                               'give its path')
    return int(source)


class Recognizer:
    """A model (any backend), the clip and preprocessing it was trained with, and its class names.

    Args:
        backend: batched `encode` / `decode` (`JaxBackend`, `OpenVinoBackend`).
        clip: frames, stride and modality (`vtn_jax.models.modality.Clip`).
        preprocessing: crop and normalisation (`vtn_jax.data.frames.Preprocessing`).
        class_names: one per class (default 'class 0', 'class 1', ...).
    """

    def __init__(self, backend, clip: modality_lib.Clip, preprocessing: frames_lib.Preprocessing,
                 class_names: Optional[Sequence[str]] = None):
        recognizer_lib.check_backend(backend, clip, preprocessing)
        self.backend, self.clip, self.preprocessing = backend, clip, preprocessing
        self.class_names = list(class_names or class_names_lib.default_class_names(backend.num_classes))
        if len(self.class_names) != backend.num_classes:
            raise errors.UserError(f'{len(self.class_names)} class names for a model with {backend.num_classes} '
                                   'classes')

    @classmethod
    def from_export(cls, folder, *, precision: Optional[str] = None, threads: int = 0,
                    class_names: Optional[Sequence[str]] = None, allow_unverified: bool = False,
                    hint: str = 'LATENCY') -> 'Recognizer':
        """The exported encoder and decoder IR of `folder`, in OpenVINO, configured from its `export.json`.

        Args:
            folder: a `vtn-export` output folder.
            precision: OpenVINO inference precision ('f32', 'bf16', 'f16'; None: the CPU's default), or 'int8':
                the export's INT8 IRs (`vtn-export --int8`), their float parts in the CPU's default.
            threads: inference threads (0: all).
            class_names: override the names recorded in the export.
            allow_unverified: run a folder whose verification failed or never ran (refused by default).
            hint: OpenVINO's performance hint for the encoder ('LATENCY'; 'THROUGHPUT' for many streams, see
                `openvino_backend.OpenVinoBackend`).

        Raises:
            UserError: the folder is not a complete, verified export (naming the file or key at fault).
        """
        from vtn_jax.inference import openvino_backend  # optional: OpenVINO
        record = export_record.read(folder)
        record.check_verified(allow_unverified)
        key = 'ir_int8' if precision == 'int8' else 'ir'
        encoder, decoder = record.checked_file('encoder', key), record.checked_file('decoder', key)
        backend = openvino_backend.OpenVinoBackend(encoder, decoder, precision=None if key == 'ir_int8' else precision,
                                                   num_threads=threads, encoder_input=record.parts['encoder'].ir_input,
                                                   hint=hint)
        return cls(backend, record.clip, record.preprocessing, class_names=class_names or record.class_names)

    @classmethod
    def from_checkpoint(cls, config, checkpoint: str = '', *,
                        class_names: Optional[Sequence[str]] = None) -> 'Recognizer':
        """The model of `config` in JAX, with weights from `checkpoint` (a workdir, flat .npz or the authors'
        .pth/.npz; '' = random weights, said loudly). `config` is a ConfigDict or the name of a shipped config."""
        # JAX is optional for a deployment: only this constructor needs it.
        from vtn_jax import checkpoints
        from vtn_jax.inference import jax_backend
        from vtn_jax.models import vtn as vtn_lib
        if isinstance(config, str):
            config = configs.load(config)
        model = vtn_lib.create_model(config.model)
        variables, _ = checkpoints.load_variables(checkpoint, model, image_size=config.data.crop_size,
                                                  seed=config.train.seed)
        return cls(jax_backend.JaxBackend(model, variables), modality_lib.Clip.from_config(config),
                   frames_lib.Preprocessing.from_config(config.data), class_names=class_names)

    def online(self, *, frame_color: str = 'RGB', **options) -> recognizer_lib.OnlineRecognizer:
        """A fresh online recognizer (one encoder pass per frame) with this model's clip and preprocessing.

        `options`: the `OnlineRecognizer`'s (warmup, smoothing, hysteresis, margin, k, pipelined, decode_every,
        label_every, gaps, raw_frames)."""
        return recognizer_lib.OnlineRecognizer(self.backend, self.clip, self.preprocessing, frame_color=frame_color,
                                               **options)

    def named(self, top: Sequence[tuple[int, float]]) -> tuple[tuple[str, float], ...]:
        """[(class index, p)] -> [(class name, p)]."""
        return tuple((self.class_names[c], p) for c, p in top)

    def stream(self, source, **options) -> streams_lib.Streams:
        """Recognises a video file, camera or network stream frame by frame: iterate it for `StreamStep`s.

        The next frame is decoded in a background thread while this one is recognised, and a frame's decoder
        window runs while the next frame is encoded (a step then comes out one frame later, with the same
        label). Cameras and rtsp:// / http:// streams are live (newest frame wins, dropped frames counted; a file
        too with live=True, played at its own frame rate); `report()` gives the counts and the capture-to-label
        latency. `options`: `streams.Streams`'s (live, max_frames, overlap, live_options) and the
        `OnlineRecognizer`'s (warmup, smoothing, hysteresis, margin, k, decode_every, label_every, gaps).

        Raises (while iterating):
            VideoReadError: the source cannot be opened, changes frame size, or (a file) ends well before the
                frame count its header announces; every frame before the fault has been yielded.
            UserError: a live source that cannot be opened, or that stopped and did not come back.
        """
        return self.stream_many([source], **options)

    def stream_many(self, sources: Sequence, **options) -> streams_lib.Streams:
        """Recognises several sources at once with this one model (one compiled encoder and decoder; per source
        its own rings, labels and latency): iterate for `StreamStep`s (`step.stream` says which source), in
        rounds of one frame per source that has one. Options as `stream`."""
        return streams_lib.Streams(self, [parse_source(s) for s in sources], **options)

    def video_logits(self, frames_RGB: np.ndarray, *, warmup: str = 'wait') -> whole_video.DenseLogits:
        """The whole-video pass over decoded RGB uint8 frames [N, H, W, 3]: every frame encoded once (through
        the backend's in-IR preprocessing, after `Preprocessing.host_stage`, where it has one)."""
        online = self.online()
        if online.takes_raw:
            staged = np.stack([self.preprocessing.host_stage(f) for f in frames_RGB])
            self.backend.prepare_frames(*staged.shape[1:3], preprocessing=self.preprocessing,
                                        modality=self.clip.modality)
            return whole_video.dense_video_logits(self.backend.encode_frames, self.backend.decode, staged,
                                                  self.clip, warmup=warmup, raw_frames=True)
        frames = np.stack([online.preprocess(f) for f in frames_RGB])
        return whole_video.dense_video_logits(self.backend.encode, self.backend.decode, frames, self.clip,
                                              warmup=warmup)

    def video_file_logits(self, path, *, warmup: str = 'wait') -> whole_video.DenseLogits:
        """`video_logits` of a video file, decoded frame by frame as the pass goes: the same result as
        `video_logits(video_io.read_video(path))`, bit for bit, in memory that does not grow with the video's
        length or size (a few decoded frames, not all of them; `whole_video.dense_video_logits_stream`).

        Raises:
            VideoReadError: as `video_io.read_video`: not a video, a frame size that changes, or a stream that ends
                well before the frame count its header announces (found at the end).
        """
        online = self.online()
        frames = _checked_frames(path)
        if not online.takes_raw:
            return whole_video.dense_video_logits_stream(self.backend.encode, self.backend.decode,
                                                         map(online.preprocess, frames), self.clip, warmup=warmup)

        def staged():
            for i, frame in enumerate(frames):
                frame = self.preprocessing.host_stage(frame)
                if not i:
                    self.backend.prepare_frames(*frame.shape[:2], preprocessing=self.preprocessing,
                                                modality=self.clip.modality)
                yield frame
        # The raw-frame encoder (OpenVINO's batch-1 IR) and its decoder run one item at a time, so batches of one
        # give the same numbers and hold one full-size frame, not 32.
        return whole_video.dense_video_logits_stream(self.backend.encode_frames, self.backend.decode, staged(),
                                                     self.clip, warmup=warmup, raw_frames=True, batch_size=1)

    def predict_video(self, path, *, k: int = recognizer_lib.DEFAULT_TOP_K) -> tuple[tuple[str, float], ...]:
        """The top-k of a whole video file: clip logits averaged over its non-overlapping 32-frame segments
        (the paper's Video@1); empty for a video shorter than one clip."""
        result = self.video_file_logits(path)
        return self.named(recognizer_lib.top_k_of_logits(result.video_logits, k))


def _checked_frames(path) -> Iterator[np.ndarray]:
    """The RGB frames of a video file, decoded a little ahead; VideoReadError as `video_io.read_video` raises it
    (no frame, a frame size that changes, a stream cut well before its header's frame count)."""
    expected = video_io.video_info(path)['num_frames']
    count, size = 0, None
    with contextlib.closing(video_io.prefetched(video_io.iter_frames(path))) as frames:
        for frame in frames:
            if size is None:
                size = frame.shape
            elif frame.shape != size:
                raise video_io.VideoReadError(path, f'frame size changed from {size} to {frame.shape}', count)
            yield frame
            count += 1
    if not count:
        raise video_io.VideoReadError(path, 'no decodable frames (zero frames or corrupt stream)')
    if video_io.is_truncated(count, expected):
        raise video_io.VideoReadError(path, f'stream ended after {count} of {expected} frames (truncated or corrupt)',
                                      count)
