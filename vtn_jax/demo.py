r"""Real-time action recognition demo: a label for every frame of a video file or a camera.

    python -m vtn_jax.demo --input ../shared/data/videos/vtest.avi --class_names kinetics400.txt \
        --config configs/default.py --checkpoint resnet34_vtn_rgb_kinetics.pth \
        --output runs/vtest_annotated.avi --timeline runs/vtest_timeline.csv

    python -m vtn_jax.demo --input 0 --class_names names.txt --config configs/default.py \
        --encoder_ir export/encoder.xml --decoder_ir export/decoder.xml      # camera 0, OpenVINO

Frames are fed one at a time to `vtn_jax.streaming.OnlineRecognizer` (each frame encoded once, the decoder
run over the last T frames at the config's stride). For every frame it prints the top-k with the frame's
timestamp and the running FPS, draws the top-k labels and probabilities on the frame (`--output`: same size,
frame count and frame rate as the input) and writes one timeline row (`--timeline` CSV: frame, time_s,
label1, prob1, ...; the label cells are empty for warm-up frames without a prediction).

The model comes from `--config` plus either `--checkpoint` (a reference .pth/.npz, or a training workdir)
or the exported OpenVINO pair `--encoder_ir`/`--decoder_ir`; with neither, random weights (a loud warning).
Bad input (not a video, a corrupt or truncated stream, a class-names file that does not fit the model) ends
the run with a one-line message and exit status 1; a stream that breaks mid-way is processed up to the
frame that broke, and the outputs hold those frames.
"""
import argparse
import ast
import csv
import importlib.util
import os
import pathlib
import sys
import time
from typing import Optional, Sequence

import cv2
import numpy as np

from vtn_jax import dense
from vtn_jax import model as model_lib
from vtn_jax import streaming
from vtn_jax import video_io

# Relative shortfall of decoded frames against the container's frame count that counts as a broken stream:
# containers round or estimate the count, so a few frames of difference are normal.
_TRUNCATION_TOLERANCE = 0.1


class DemoError(Exception):
    """Bad input or configuration; the message says what and where, for the user."""


def load_config(path: str, overrides: Sequence[str] = ()):
    """Loads `get_config()` from a config file and applies `--config.a.b=value` overrides."""
    if not os.path.isfile(path):
        raise DemoError(f'config file {path} does not exist')
    spec = importlib.util.spec_from_file_location('vtn_demo_config', path)
    module = importlib.util.module_from_spec(spec)
    repo = str(pathlib.Path(__file__).resolve().parents[1])
    if repo not in sys.path:
        sys.path.insert(0, repo)  # config files import `configs.default`
    spec.loader.exec_module(module)
    config = module.get_config()
    for item in overrides:
        key, _, text = item[len('--config.'):].partition('=')
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text  # a bare string
        try:
            config.update_from_flattened_dict({key: value})
        except (KeyError, AttributeError, TypeError) as e:
            raise DemoError(f'cannot apply {item}: {e}') from e
    return config


def read_class_names(path: Optional[str], num_classes: int) -> list[str]:
    """One class name per line, in class order; the count must equal the model's classes.

    Without a file the names are 'class 0', 'class 1', ...
    """
    if not path:
        return [f'class {i}' for i in range(num_classes)]
    try:
        text = pathlib.Path(path).read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as e:
        raise DemoError(f'cannot read the class-names file {path}: {e}') from e
    names = [line.strip() for line in text.splitlines()]
    while names and not names[-1]:
        names.pop()  # a trailing newline or blank lines at the end are not classes
    if len(names) != num_classes:
        raise DemoError(f'the class-names file {path} has {len(names)} names but the model has {num_classes} '
                        'classes (one name per line, in class-index order)')
    if not all(names):
        raise DemoError(f'the class-names file {path} has an empty line at line {names.index("") + 1}')
    return names


def create_backend(args, config):
    """The JAX model (checkpoint, workdir or random weights) or the OpenVINO pair named on the command line."""
    if args.encoder_ir or args.decoder_ir:
        if not (args.encoder_ir and args.decoder_ir):
            raise DemoError('give both --encoder_ir and --decoder_ir (the exported encoder and decoder)')
        for path in (args.encoder_ir, args.decoder_ir):
            if not os.path.isfile(path):
                raise DemoError(f'model file {path} does not exist')
        if args.checkpoint:
            raise DemoError('give either --checkpoint or --encoder_ir/--decoder_ir, not both')
        precision = None if args.precision == 'auto' else args.precision
        try:
            backend = streaming.OpenVinoBackend(args.encoder_ir, args.decoder_ir, precision=precision)
        except (RuntimeError, ValueError) as e:
            raise DemoError(f'cannot load the OpenVINO models: {e}') from e
        print(f'OpenVINO backend, inference precision {backend.inference_precision}', file=sys.stderr)
        return backend
    import jax  # pylint: disable=import-outside-toplevel
    model = model_lib.create_model(config.model)
    if not args.checkpoint:
        print('\n' + '!' * 78 + '\nWARNING: no --checkpoint and no --encoder_ir/--decoder_ir: the model has RANDOM '
              'weights,\nso its predictions are meaningless (use this only to try the pipeline).\n' + '!' * 78,
              file=sys.stderr)
        variables = model_lib.init_variables(model, jax.random.key(config.train.seed),
                                             image_size=config.data.crop_size)
    else:
        # Every checkpoint kind the export accepts: a training workdir, our flat .npz, a reference .pth/.npz.
        from vtn_jax import export  # pylint: disable=import-outside-toplevel
        try:
            variables, _ = export.load_variables(args.checkpoint, model, image_size=config.data.crop_size)
        except (FileNotFoundError, ValueError, ImportError, NotImplementedError) as e:
            raise DemoError(f'cannot load --checkpoint {args.checkpoint}: {e}') from e
    return streaming.JaxBackend(model, variables)


def parse_source(text: str):
    """'0', '1', ... -> a camera index; anything else is a video file path."""
    return int(text) if text.isdigit() else text


def open_frames(source):
    """Opens a video file or camera.

    Args:
        source: a file path, or an int camera index.

    Returns:
        (RGB uint8 frame iterator, frame rate (30 when unknown, e.g. a camera), the container's frame count or 0).

    Raises:
        DemoError: the file cannot be opened as a video.
    """
    if isinstance(source, str):
        try:
            info = video_io.video_info(source)
        except video_io.VideoReadError as e:
            raise DemoError(str(e)) from e
        fps, expected = info['fps'], info['num_frames']
    else:
        fps, expected = 0.0, 0
    try:
        frames = video_io.iter_frames(source)
    except video_io.VideoReadError as e:
        raise DemoError(str(e)) from e
    return frames, (fps if fps and np.isfinite(fps) and fps > 0 else 30.0), expected


def draw_prediction(frame_BGR: np.ndarray, top: Sequence[tuple[int, float]], class_names: Sequence[str],
                    status: str) -> np.ndarray:
    """Draws the top-k labels with their probabilities and a status line on a BGR frame (in place)."""
    height, width = frame_BGR.shape[:2]
    scale = max(0.35, min(height, width) / 720.0)
    line = int(round(30 * scale)) + 4
    lines = [f'{class_names[c]}  {100 * p:.1f}%' for c, p in top] + [status]
    box_h = min(height, line * len(lines) + line // 2)
    # A darkened band under the text keeps it readable on any background.
    frame_BGR[:box_h] = (frame_BGR[:box_h] * 0.45).astype(np.uint8)
    for i, text in enumerate(lines):
        color = (255, 255, 255) if i < len(lines) - 1 else (160, 220, 255)
        cv2.putText(frame_BGR, text, (int(8 * scale) + 4, line * (i + 1)), cv2.FONT_HERSHEY_SIMPLEX,
                    0.8 * scale, color, max(1, int(round(2 * scale))), cv2.LINE_AA)
    return frame_BGR


def choose_codec(path: str) -> str:
    """The OpenCV codec for an annotated video: MJPG for .avi, mp4v for .mp4 / .mov."""
    codecs = {'.avi': 'MJPG', '.mp4': 'mp4v', '.mov': 'mp4v'}
    suffix = pathlib.Path(path).suffix.lower()
    if suffix not in codecs:
        raise DemoError(f'--output {path} must end in .avi (MJPG) or .mp4 (mp4v)')
    return codecs[suffix]


def create_writer(path: str, fps: float, width: int, height: int) -> cv2.VideoWriter:
    """An OpenCV writer for `path` (see `output_codec`); DemoError if OpenCV cannot write it."""
    codec = choose_codec(path)
    pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*codec), fps, (width, height))
    if not writer.isOpened():
        raise DemoError(f'OpenCV cannot write {path} with codec {codec}')
    return writer


def format_top(top: Sequence[tuple[int, float]], class_names: Sequence[str]) -> str:
    """'label 0.531 | label 0.212 | ...' for printing."""
    return ' | '.join(f'{class_names[c]} {p:.3f}' for c, p in top)


def run_demo(args) -> dict:
    """Runs the demo for parsed command-line `args`; returns a summary. Raises DemoError on bad input."""
    config = load_config(args.config, args.config_overrides)
    if args.output:
        choose_codec(args.output)  # a bad name fails now, not after the model has loaded
    source = parse_source(args.input)
    frames, fps, expected = open_frames(source)  # a bad file fails before the model loads
    if not args.encoder_ir:
        read_class_names(args.class_names, config.model.num_classes)  # likewise
    backend = create_backend(args, config)
    class_names = read_class_names(args.class_names, backend.num_classes)
    try:
        recognizer = streaming.OnlineRecognizer.from_config(backend, config, warmup=args.warmup,
                                                            smoothing=args.smoothing, k=args.top_k)
    except ValueError as e:
        raise DemoError(str(e)) from e
    k = recognizer.k
    writer, timeline, timeline_file = None, None, None
    if args.timeline:
        pathlib.Path(args.timeline).parent.mkdir(parents=True, exist_ok=True)
        timeline_file = open(args.timeline, 'w', newline='', encoding='utf-8')  # pylint: disable=consider-using-with
        timeline = csv.writer(timeline_file)
        timeline.writerow(dense.format_timeline_header(k))
    count, predicted, size = 0, 0, None
    start = time.perf_counter()
    error = None
    try:
        for frame in frames:
            if size is None:
                size = frame.shape
                if args.output:
                    writer = create_writer(args.output, fps, frame.shape[1], frame.shape[0])
            elif frame.shape != size:
                error = f'{args.input}: frame {count} is {frame.shape[1]}x{frame.shape[0]}, earlier frames ' \
                        f'{size[1]}x{size[0]} (corrupt stream); frames 0..{count - 1} were processed'
                break
            prediction = recognizer.push(frame)
            elapsed = time.perf_counter() - start
            rate = (count + 1) / elapsed if elapsed > 0 else 0.0
            # A file's timestamp is its frame's place in the video; a camera's is the time it arrived.
            time_s = count / fps if isinstance(source, str) else elapsed
            top = prediction.top if prediction is not None else ()
            predicted += prediction is not None
            if timeline:
                timeline.writerow(dense.format_timeline_row(count, time_s, top, class_names, k))
            if top:
                status = f'frame {count}  {time_s:.2f} s  {rate:.1f} FPS'
            else:
                status = f'warming up {count + 1}/{recognizer.first_full_frame + 1}  {time_s:.2f} s'
            if args.print_every and count % args.print_every == 0:
                text = format_top(top, class_names) if top else 'warming up (no prediction yet)'
                print(f'frame {count:6d}  {time_s:8.3f} s  {text}  [{rate:.1f} FPS]', flush=True)
            if writer is not None:
                bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
                writer.write(draw_prediction(bgr, top, class_names, status))
            count += 1
            if args.max_frames and count >= args.max_frames:
                break
    except KeyboardInterrupt:
        print('interrupted: finishing the outputs', file=sys.stderr)
    except video_io.VideoReadError as e:  # a camera that cannot be opened or fails mid-stream
        error = f'{e}; frames 0..{count - 1} were processed' if count else str(e)
    finally:
        elapsed = time.perf_counter() - start
        if writer is not None:
            writer.release()
        if timeline_file is not None:
            timeline_file.close()
    summary = {'frames': count, 'predictions': predicted, 'encoder_calls': recognizer.encoder_calls,
               'fps': count / elapsed if elapsed > 0 else 0.0}
    print(f'{count} frames, {predicted} predictions, {recognizer.encoder_calls} encoder passes, '
          f'{summary["fps"]:.1f} FPS end to end', file=sys.stderr)
    if count == 0:
        raise DemoError(error or f'{args.input}: no frame could be decoded (not a video, or a corrupt stream)')
    if error is None and not args.max_frames and expected and count < expected * (1 - _TRUNCATION_TOLERANCE):
        error = (f'{args.input}: the stream broke at frame {count} of the {expected} its header announces '
                 f'(truncated or corrupt); frames 0..{count - 1} were processed and written')
    if error:
        raise DemoError(error)
    if predicted == 0:
        print(f'note: {args.input} has {count} frames, fewer than one window ({recognizer.first_full_frame + 1} '
              f'frames: {recognizer.num_frames} at stride {recognizer.stride}), so --warmup=wait gives no '
              'prediction; --warmup=repeat predicts from the first frames', file=sys.stderr)
    return summary


def run_dense(args) -> dense.DenseLogits:
    """The `python -m vtn_jax.dense` command: a whole file, every frame encoded once, a timeline written."""
    config = load_config(args.config, args.config_overrides)
    try:
        fps = video_io.video_info(args.input)['fps'] or 30.0
        video = video_io.read_video(args.input)
    except video_io.VideoReadError as e:
        raise DemoError(str(e)) from e
    if not args.encoder_ir:
        read_class_names(args.class_names, config.model.num_classes)  # fail before the model loads
    backend = create_backend(args, config)
    class_names = read_class_names(args.class_names, backend.num_classes)
    try:
        recognizer = streaming.OnlineRecognizer.from_config(backend, config)  # checks the model and config agree
    except ValueError as e:
        raise DemoError(str(e)) from e
    frames = np.stack([recognizer.preprocess(f) for f in video])
    result = dense.dense_video_logits(backend.encode, backend.decode, frames, num_frames=recognizer.num_frames,
                                      stride=recognizer.stride, modality=recognizer.modality, warmup=args.warmup)
    dense.write_timeline(args.output, result, class_names, fps=fps, k=min(args.top_k, len(class_names)))
    video_logits = result.video_logits
    top = () if np.isnan(video_logits).any() else streaming.select_top_k(streaming.softmax(video_logits), args.top_k)
    print(f'{len(frames)} frames, {result.encoder_passes} encoder passes, {len(result.segment_starts)} segments; '
          f'video: {format_top(top, class_names) or "no prediction (video shorter than one clip)"}')
    print(f'timeline written to {args.output}')
    return result


def build_parser(description: str = __doc__.split('\n', 1)[0], *, dense: bool = False) -> argparse.ArgumentParser:
    """The command line of the demo (and, with dense=True, of `python -m vtn_jax.dense`)."""
    parser = argparse.ArgumentParser(
        prog='python -m vtn_jax.dense' if dense else 'python -m vtn_jax.demo', description=description,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog='Config fields can be overridden as --config.data.stride=2. Exit status 1 with a one-line '
               'message on bad input.')
    io = parser.add_argument_group('input and output')
    if dense:
        io.add_argument('--input', required=True, help='video file')
        io.add_argument('--output', required=True, help='timeline file: .csv (frame, time_s, top-k) or .json '
                                                        '(also segments and the video-level top-k)')
    else:
        io.add_argument('--input', required=True, help='video file, or a camera index (0, 1, ...)')
        io.add_argument('--output', default='', help='annotated copy of the video (.avi: MJPG, .mp4: mp4v)')
        io.add_argument('--timeline', default='', help='per-frame CSV: frame, time_s, label1, prob1, ...')
        io.add_argument('--print_every', type=int, default=1, help='print every n-th frame (0: never)')
        io.add_argument('--max_frames', type=int, default=0, help='stop after this many frames (0: all)')
    io.add_argument('--class_names', default='', help='text file, one class name per line in class order '
                                                       '(default: "class 0", "class 1", ...)')
    model = parser.add_argument_group('model (a checkpoint, or the exported OpenVINO pair)')
    model.add_argument('--config', default='configs/default.py',
                       help='config file: model, num_frames, stride, crop and normalisation')
    model.add_argument('--checkpoint', default='',
                       help='training workdir, flat .npz (vtn_jax.export.save_flat_npz) or reference .pth/.npz '
                            'checkpoint; none: random weights')
    model.add_argument('--encoder_ir', default='', help='exported encoder ([1,H,W,C] -> [1,D]), for OpenVINO')
    model.add_argument('--decoder_ir', default='', help='exported decoder ([1,S,D] -> [1,K]), for OpenVINO')
    model.add_argument('--precision', default='auto', choices=('auto', 'f32', 'bf16', 'f16'),
                       help='OpenVINO inference precision (auto: the device default, bf16 where the CPU has it)')
    pred = parser.add_argument_group('prediction')
    pred.add_argument('--top_k', type=int, default=3, help='labels printed, drawn and written per frame')
    pred.add_argument('--warmup', default='wait', choices=streaming.WARMUP_POLICIES,
                      help='first (T-1)*stride frames: wait for a full window, or repeat the frames seen '
                           '(as the reference demo)')
    if not dense:
        pred.add_argument('--smoothing', type=float, default=0.0,
                          help='EMA factor in [0, 1) on the displayed probabilities (0: off)')
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]):
    """Parses argv; `--config.a.b=value` items become `args.config_overrides`."""
    args, rest = parser.parse_known_args(argv)
    args.config_overrides = [a for a in rest if a.startswith('--config.') and '=' in a]
    unknown = [a for a in rest if a not in args.config_overrides]
    if unknown:
        parser.error(f'unrecognized arguments: {" ".join(unknown)}')
    return args


def main(argv: Optional[Sequence[str]] = None):
    """`python -m vtn_jax.demo` (see the module docstring)."""
    args = parse_args(build_parser(), argv)
    try:
        run_demo(args)
    except DemoError as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main()
