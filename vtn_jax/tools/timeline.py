r"""vtn-timeline: a label for every frame of a whole video file and its Video@1, every frame encoded once.

    vtn-timeline --export artifacts/r34 --input video.mp4 --output timeline.json      # or .csv
    vtn-timeline --checkpoint runs/tiny --input video.avi --output timeline.csv

CSV: one row per frame (frame, time_s, top-k); JSON: also the non-overlapping segments and the video's top-k; a
PNG of the same name shows the label of every frame over time.
"""
import math
import pathlib

from absl import app

from vtn_jax.tools import cli

COMMON = ((cli.INPUT, 'The video file (required).'),
          (cli.OUTPUT, 'The timeline file: .csv or .json (required); a .png of the same name is written beside it.'),
          cli.EXPORT, cli.CHECKPOINT, cli.CONFIG, cli.CLASS_NAMES, cli.PRECISION, cli.THREADS, cli.TOP_K,
          cli.WARMUP, cli.ALLOW_UNVERIFIED)  # the shared flags this command takes (its --help lists them)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
# The library loads after --help.
    from vtn_jax import plots
    from vtn_jax.data import video_io
    from vtn_jax.inference import annotate
    from vtn_jax.inference import recognizer as recognizer_lib
    from vtn_jax.inference import timeline as timeline_lib
    path = cli.require_one(cli.INPUT, 'a video file')
    output = cli.require(cli.OUTPUT, 'the timeline file (.csv or .json)')
    timeline_lib.check_timeline_path(output)
    pathlib.Path(output).parent.mkdir(parents=True, exist_ok=True)  # a folder that cannot be made fails now
    info = video_io.video_info(path)  # a bad file fails before the model loads
    if next(video_io.iter_frames(path), None) is None:  # (opening it is not enough: it must decode)
        raise video_io.VideoReadError(path, 'no decodable frames (zero frames or corrupt stream)')
    recognizer = cli.create_recognizer()
    # Decoded frame by frame as the pass goes: a long or 4K video never sits in memory whole.
    result = recognizer.video_file_logits(path, warmup=cli.WARMUP.value)
    k = min(cli.TOP_K.value, len(recognizer.class_names))
    fps = info['fps'] if math.isfinite(info['fps']) and info['fps'] > 0 else 30.0
    timeline_lib.write_timeline(output, result, recognizer.class_names, fps=fps, k=k)
    plot = plots.save_png(pathlib.Path(output).with_suffix('.png'),
                          plots.draw_timeline(*timeline_lib.frame_top1(result), recognizer.class_names, fps=fps))
    top = recognizer_lib.top_k_of_logits(result.video_logits, k)
    video_text = annotate.format_top(top, recognizer.class_names) or 'no prediction (video shorter than one clip)'
    print(f'{len(result.frame_logits)} frames, {result.encoder_passes} encoder passes, '
          f'{len(result.segment_starts)} segments; video: {video_text}')
    print(f'timeline written to {output} and {plot}')


def run():
    """Console entry point `vtn-timeline`."""
    cli.run(main, common=COMMON)


if __name__ == '__main__':
    run()
