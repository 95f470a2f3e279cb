r"""vtn-quickstart: from nothing to a trained, evaluated, exported, verified and timed VTN, streaming a video.

    vtn-quickstart --workdir runs/demo                                       # what `make demo` runs
    vtn-quickstart --workdir runs/demo_seed1 --config demo --config.train.seed=1
    vtn-quickstart --workdir runs/quick --config demo --config.train.num_train_steps=500 --seconds 0

Stages, each with progress output: build the config's dataset; train (resumes if the workdir has a run);
evaluate the best checkpoint with the paper's protocol (Video@1 from every non-overlapping T x stride-frame
segment of every test video, 16 frames for the demo model,
with the per-class report and confusion matrix in <workdir>/evaluation); export ONNX + OpenVINO IR (whole model
and the encoder/decoder pair) verified against JAX, and time the IRs in OpenVINO; render a video whose every
frame has a known label (`vtn_jax.data.labelled_video`: one continuous stream through every class, drawn like the
training videos), stream it through the exported pair and score the online labels
(`vtn_jax.inference.stream_report`: per-frame accuracy over all frames and over the frames whose window lies
inside one action, the delay after each change, a per-segment table), with an annotated copy, a timeline and
<workdir>/overview.png. The summary is printed and written to <workdir>/summary.md and summary.json.
`--video` also streams a file of yours (a visual check: its labels are unknown).
"""
import logging
import sys
import time

from absl import app, flags

from vtn_jax.tools import cli

_LOG = logging.getLogger('vtn_jax.quickstart')
_VIDEO = flags.DEFINE_string('video', '', 'Also stream this video file (a visual check; its labels are unknown).')

COMMON = (cli.CONFIG, (cli.WORKDIR, 'Where the run, the export and the summary go (default: runs/demo).'),
          (cli.SECONDS, 'Seconds per timing measurement of the exported IRs (default here: 0.5; 0 skips timing).')
          )  # the shared flags this command takes (its --help lists them)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    from vtn_jax.tools import quickstart_stages  # the library loads after --help
    t = time.time()
    seconds = cli.SECONDS.value if flags.FLAGS['seconds'].present else quickstart_stages.BENCHMARK_SECONDS
    summary = quickstart_stages.run_quickstart(cli.config_or('demo'), cli.WORKDIR.value or 'runs/demo',
                                               video=_VIDEO.value, benchmark_seconds=seconds)
    _LOG.info('quickstart done in %.0f s', time.time() - t)
    if not summary['verification']['passed']:
        sys.exit(1)


def run():
    """Console entry point `vtn-quickstart`."""
    cli.run(main, common=COMMON)


if __name__ == '__main__':
    run()
