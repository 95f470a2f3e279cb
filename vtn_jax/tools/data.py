r"""vtn-data: builds a video dataset (TFDS) from videos or generated ones, and reports its bad videos.

    vtn-data build synthetic_actions --data_dir data_cache/tfds [--builder_config tiny]
    vtn-data build video_folder --root /data/UCF-101 --split_files ucf101 --split_number 1 --data_dir data_cache/tfds
    vtn-data build video_folder --root /data/hmdb51 --split_files hmdb51 --split_number 2 \
        --splits_dir /data/testTrainMulti_7030_splits --data_dir data_cache/tfds
    vtn-data build video_folder --root /data/kinetics400 --split_files kinetics \
        --annotations train.csv,validate.csv --data_dir data_cache/tfds
    vtn-data build video_folder --root my_videos --split_files folder --data_dir data_cache/tfds
    vtn-data build video_folder --root /data/kinetics400 --split_files kinetics --workers 16 --data_dir /data/tfds
    vtn-data build video_folder --root /nfs/kinetics400 --split_files kinetics --data_dir gs://bucket/tfds \
        --beam_pipeline_options=runner=DataflowRunner,project=P,region=R,temp_location=gs://bucket/tmp
    vtn-data report video_folder --builder_config ucf101_split1 --data_dir data_cache/tfds

A build is idempotent (an existing build is reopened), prints its progress and every bad video, and writes
bad_videos.json next to the data. A video_folder build is named <split_files>_split<N> (ucf101, hmdb51) or after
its split files (kinetics, folder) unless --builder_config names it.
"""
import os

from absl import app, flags

from vtn_jax.data import split_files
from vtn_jax.tools import cli

COMMANDS = ('build', 'report')
_BUILDER_CONFIG = flags.DEFINE_string('builder_config', '', "synthetic_actions: 'default' | 'tiny'; video_folder: "
                                      'the name of the build (default: <split_files>_split<N>, e.g. ucf101_split1)')
_ROOT = flags.DEFINE_string('root', '', 'video_folder: the folder with one subfolder per class.')
_SPLIT_FILES = flags.DEFINE_enum('split_files', 'folder', list(split_files.LAYOUTS),
                                 'video_folder: where the splits come from (folder: a stable 80/20 hash split).')
_SPLIT_NUMBER = flags.DEFINE_enum('split_number', '1', ['1', '2', '3'], 'ucf101 / hmdb51: the official split.')
_SPLITS_DIR = flags.DEFINE_string('splits_dir', '', 'Folder of the split files (default: ucfTrainTestlist/ or '
                                  'testTrainMulti_7030_splits/ in --root, else --root).')
_ANNOTATIONS = flags.DEFINE_list('annotations', [], 'kinetics: CSV files, relative to --root unless they exist as '
                                 'given (default: every *.csv in --root).')
_TEST_PERCENT = flags.DEFINE_integer('test_percent', 20, 'folder: percent of the videos in the test split.')
_RESIZE_SHORT = flags.DEFINE_integer('resize_short', 256, 'Stored shorter side in pixels.')
_MIN_FRAMES = flags.DEFINE_integer('min_frames', 1, 'Videos with fewer decodable frames are reported and left out; '
                                   'a truncated video with at least this many is kept (and listed as truncated).')
_JPEG_QUALITY = flags.DEFINE_integer('jpeg_quality', 90, 'JPEG quality of the stored frames.')
_WORKERS = flags.DEFINE_integer('workers', 0, 'video_folder: decode in this many worker processes (0: threads of '
                               'this process). One machine: about one per core.')
_BEAM = flags.DEFINE_string('beam_pipeline_options', '', 'video_folder: build through Apache Beam (pip install '
                            '"vtn_jax[beam]") with these comma-separated pipeline options, e.g. '
                            'runner=DirectRunner,direct_num_workers=8 or a cluster runner (see docs/data.md).')

COMMON = ((cli.DATA_DIR, 'TFDS data directory to build in or report on (required).'),)  # the shared flags this
# command takes (its --help lists them)


def main(argv):
    from vtn_jax.data import tfds_builders  # TFDS: after --help
    if len(argv) != 3 or argv[1] not in COMMANDS or argv[2] not in tfds_builders.BUILDERS:
        raise app.UsageError(f'usage: vtn-data {{{",".join(COMMANDS)}}} {{{",".join(sorted(tfds_builders.BUILDERS))}}} '
                             '--data_dir DIR [flags]')
    command, name = argv[1], argv[2]
    data_dir = cli.require(cli.DATA_DIR, 'the TFDS data directory')
    if command == 'report':
        config = _BUILDER_CONFIG.value or ('default' if name == 'synthetic_actions' else '')
        path = tfds_builders.prepared_dir(name, data_dir, config) if config else None
        if path is None:
            raise FileNotFoundError(f'{name}/{config or "?"} is not built in {data_dir} (give --builder_config)')
        print(tfds_builders.format_report(tfds_builders.load_report(path), path))
        return
    if name == 'synthetic_actions':
        tfds_builders.build(name, data_dir, _BUILDER_CONFIG.value)
        return
    root = cli.require(_ROOT, 'the folder of videos, one subfolder per class')
    tfds_builders.build(name, data_dir, _BUILDER_CONFIG.value, root=root, layout=_SPLIT_FILES.value,
                        split_number=int(_SPLIT_NUMBER.value), splits_dir=_SPLITS_DIR.value,
                        annotations=tuple(os.fspath(a) for a in _ANNOTATIONS.value),
                        test_percent=_TEST_PERCENT.value, resize_short=_RESIZE_SHORT.value,
                        min_frames=_MIN_FRAMES.value, jpeg_quality=_JPEG_QUALITY.value, workers=_WORKERS.value,
                        beam_options=_BEAM.value)


def run():
    """Console entry point `vtn-data`."""
    cli.run(main, common=COMMON)


if __name__ == '__main__':
    run()
