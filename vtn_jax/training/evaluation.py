"""Evaluation on a split, every clip and video counted exactly once: loss, Clip@k and Video@k.

Modes: 'segments' (the paper's Video@1: every non-overlapping 32-frame segment of every video, clip logits
averaged per video), 'uniform10' (the authors' test loop: 10 evenly spaced, overlapping 32-frame clips per video,
clip logits averaged; the Video@1 their published checkpoints report), 'clip' (the central clip of each video:
Clip@1), and 'dense' (the 'segments' metrics from whole videos, each frame encoded once by the inference code's
whole-video pass, plus per-frame top-1). The spatial crop of every mode is `config.data.eval_crop`
('paper' or 'authors'). Every video is scored; the authors' test loop never scores the last video of a split.
Imports inference (never the reverse) and nothing of the training loop.
"""
import functools
import json
import logging
import pathlib
from typing import Optional

import jax
import numpy as np

from vtn_jax import checkpoints
from vtn_jax import distributed
from vtn_jax import logs
from vtn_jax import metrics as metrics_lib
from vtn_jax import plots
from vtn_jax.data import frames as frames_lib
from vtn_jax.data import input_pipeline
from vtn_jax.inference import jax_backend
from vtn_jax.inference import whole_video
from vtn_jax.models import modality as modality_lib
from vtn_jax.models import vtn as vtn_lib
from vtn_jax.training import state as state_lib

_LOG = logging.getLogger(__name__)
EVAL_MODES = ('segments', 'uniform10', 'clip', 'dense')


def check_eval_mode(mode: str) -> str:
    """Returns `mode`; raises ValueError naming the choices otherwise."""
    if mode not in EVAL_MODES:
        raise ValueError(f'evaluation mode must be one of {EVAL_MODES}, got {mode!r}')
    return mode


def eval_step(variables, batch, *, model, mean, std):
    """Eval-mode logits for a batch (a uint8 video is normalised here, on the device, with `mean` and `std`);
    the label, video id and mask are passed through for host metrics."""
    logits = model.apply(variables, frames_lib.model_input(batch['video'], mean, std), train=False)
    return logits, batch['label'], batch['video_id'], batch['mask']


def make_eval_fn(model, data_config, mesh):
    """The jitted `eval_step` of `model` (its result replicated on `mesh`): built once per run and reused."""
    return jax.jit(functools.partial(eval_step, model=model, mean=tuple(data_config.mean), std=tuple(data_config.std)),
                   out_shardings=distributed.replicated(mesh))


def _progress(verbose: bool, data_config, split: str, what: str) -> Optional[logs.Progress]:
    """A progress line for process 0 when `verbose`."""
    if not verbose or jax.process_index() != 0:
        return None
    if what == 'video':
        total = input_pipeline.num_examples(data_config, split)
    else:
        total = input_pipeline.num_eval_batches(data_config, split, batch_size=1, mode=what)
    return logs.Progress(_LOG, total, 'clip' if what != 'video' else what)


def write_report(accumulator: metrics_lib.EvalAccumulator, report_dir, class_names, title: str = '') -> None:
    """Per-class Video@1 and the confusion matrix of the videos' predictions: JSON and PNG in `report_dir`."""
    _, video_logits, video_labels = accumulator.video_logits()
    matrix = metrics_lib.confusion_matrix(video_logits.argmax(-1), video_labels, len(class_names))
    report_dir = pathlib.Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / 'per_class.json').write_text(json.dumps(metrics_lib.per_class_report(matrix, class_names),
                                                          indent=1))
    plots.save_png(report_dir / 'confusion_matrix.png', plots.draw_confusion_matrix(matrix, class_names, title))


def evaluate(model, variables, data_config, *, batch_size: int, mesh, mode: str = 'segments',
             split: Optional[str] = None, eval_fn=None, verbose: bool = False,
             report_dir=None, accumulator: Optional[metrics_lib.EvalAccumulator] = None) -> dict[str, float]:
    """Evaluates on a split: loss, Clip@1/5 and Video@1/5, every clip and video counted exactly once.

    Args:
        model: the VTN.
        variables: its variables, replicated on `mesh`.
        data_config: `config.data`.
        batch_size: global evaluation batch (padded batches are masked).
        mesh: the ('data',) mesh.
        mode: 'segments', 'uniform10', 'clip' or 'dense' (see the module docstring).
        split: TFDS split (default data_config.eval_split).
        eval_fn: `make_eval_fn(model, data_config, mesh)` to reuse (training builds it once).
        verbose: log progress (process 0).
        report_dir: if given, process 0 writes per-class accuracy and the confusion matrix there.
        accumulator: 'segments' / 'clip' modes: an empty EvalAccumulator to collect the logits in, for a caller
            that needs more than the metrics (e.g. `accumulator.video_logits()`).
    """
    split = split or data_config.eval_split
    if check_eval_mode(mode) == 'dense':
        backend = jax_backend.JaxBackend(model, distributed.fetch(variables))
        return evaluate_split(backend, data_config, split, modality=model.modality, batch_size=batch_size,
                              verbose=verbose, report_dir=report_dir)
    local_batch = state_lib.check_batch_size(batch_size, 'train.eval_batch_size')
    eval_fn = eval_fn or make_eval_fn(model, data_config, mesh)
    accumulator = metrics_lib.EvalAccumulator() if accumulator is None else accumulator
    batches = input_pipeline.create_split(data_config, split, batch_size=local_batch, mode=mode,
                                          process_index=jax.process_index(), process_count=jax.process_count())
    progress = _progress(verbose, data_config, split, mode)
    with distributed.prefetch_to_device(batches, mesh) as device_batches:  # the next batches move during a step
        for batch in device_batches:
            accumulator.add(*distributed.fetch(eval_fn(variables, batch)))
            if progress:
                progress.update(min(accumulator.num_clips * jax.process_count(), progress.total))
    return _finish(accumulator, data_config, split, mode, report_dir)


def _finish(accumulator, data_config, split: str, mode: str, report_dir) -> dict[str, float]:
    """The metrics, and the report written by process 0 when asked for."""
    result = accumulator.compute()
    if report_dir and jax.process_index() == 0:
        write_report(accumulator, report_dir, input_pipeline.class_names(data_config),
                     f'{split}, {mode}: Video@1 {result["video_top1"]:.3f} over {int(result["num_videos"])} videos')
    return result


def evaluate_split(backend, data_config, split: str, *, modality: str, warmup: str = 'wait',
                   batch_size: int = 32, verbose: bool = False, report_dir=None) -> dict[str, float]:
    """Dense evaluation of a split: the paper's metrics from every frame encoded once, plus per-frame ones.

    Every video is decoded whole with the evaluation crop (`input_pipeline.create_video_split`), encoded
    once per frame and decoded over its non-overlapping segments and over the window ending at every frame.
    The clip and video metrics are those of `evaluate` in 'segments' mode (same clips, same
    logits up to float rounding); the extra ones are:
        frame_top1: top-1 accuracy over every frame that has a prediction (its window's label).
        num_predicted_frames: frames with a prediction.
        encoder_passes: frames run through the encoder.
        window_encoder_passes: what running the offline model window by window would cost (windows * T).

    Many processes: each evaluates its share of the videos and the results are gathered, so every
    process returns the same numbers. One video's frames are held in memory at a time (N x S x S x 3 float32).

    Args:
        backend: batched encode / decode, e.g. `JaxBackend(model, variables)`.
        data_config: `config.data`.
        split: TFDS split name.
        modality: the model's modality ('rgb', 'rgbdiff', 'stacked'; config.model.modality).
        warmup: 'wait' or 'repeat' for the per-frame labels of the first (T-1)s frames.
        batch_size: encoder and decoder batch (every batch padded to it: one compilation).
        verbose: log progress (process 0).
    """
    c = data_config
    clip = modality_lib.Clip(c.num_frames, c.stride, modality)
    clips, clip_labels, clip_videos, frame_hits = [], [], [], []
    passes = window_passes = 0
    videos = input_pipeline.create_video_split(c, split, process_index=jax.process_index(),
                                               process_count=jax.process_count())
    progress = _progress(verbose, data_config, split, 'video')
    for i, video in enumerate(videos):
        frames = frames_lib.normalize(video['frames'], c.mean, c.std)  # uint8 -> the normalised frames inference takes
        result = whole_video.dense_video_logits(backend.encode, backend.decode, frames, clip, warmup=warmup,
                                                batch_size=batch_size, fixed_batch=True)
        label = int(video['label'])
        clips.append(result.segment_logits)
        clip_labels.append(np.full(len(result.segment_logits), label, np.int64))
        clip_videos.append(np.full(len(result.segment_logits), int(video['video_id']), np.int64))
        predicted = result.frame_logits[~np.isnan(result.frame_logits).any(axis=1)]
        frame_hits.append(predicted.argmax(axis=1) == label)
        passes += result.encoder_passes
        window_passes += len(predicted) * backend.num_steps
        if progress:
            progress.update(i + 1)
    if not clips:  # a process with no videos (more processes than videos) still joins the gathers
        clips, clip_labels, clip_videos = [np.zeros((0, backend.num_classes), np.float32)], [np.zeros(0, np.int64)], \
            [np.zeros(0, np.int64)]
        frame_hits = [np.zeros(0, bool)]
    logits = distributed.gather_rows(np.concatenate(clips).astype(np.float32))
    accumulator = metrics_lib.EvalAccumulator()
    accumulator.add(logits, distributed.gather_rows(np.concatenate(clip_labels)),
                    distributed.gather_rows(np.concatenate(clip_videos)), np.ones(len(logits), bool))
    hits = distributed.gather_rows(np.concatenate(frame_hits))
    counts = distributed.gather_rows(np.asarray([[passes, window_passes]], np.int64)).sum(axis=0)
    out = _finish(accumulator, c, split, 'dense', report_dir)
    out.update({'frame_top1': float(hits.mean()) if len(hits) else float('nan'),
                'num_predicted_frames': float(len(hits)),
                'encoder_passes': float(counts[0]), 'window_encoder_passes': float(counts[1])})
    return out


def evaluate_checkpoint(config, checkpoint, *, mode: str = 'segments', split: Optional[str] = None,
                        verbose: bool = True, report_dir=None) -> dict[str, float]:
    """Evaluation alone: a training workdir, our flat .npz or the authors' `.pth`/`.npz` on a split (with the
    per-class report written to `report_dir` when given)."""
    if not checkpoint:
        raise ValueError('evaluation needs --checkpoint (a workdir or a .pth/.npz) or --workdir')
    check_eval_mode(mode)
    mesh = distributed.create_mesh()
    model = vtn_lib.create_model(config.model)
    variables, _ = checkpoints.load_variables(checkpoint, model, image_size=config.data.crop_size)
    variables = jax.device_put(variables, distributed.replicated(mesh))
    return evaluate(model, variables, config.data, batch_size=config.train.eval_batch_size, mesh=mesh, mode=mode,
                    split=split, verbose=verbose, report_dir=report_dir)
