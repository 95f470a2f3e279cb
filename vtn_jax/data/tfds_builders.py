r"""TFDS builders for the video datasets: `synthetic_actions` and `video_folder` (`vtn-data` builds them).

Stored format (measured, see docs/data.md): every frame is resized so its shorter side is
`resize_short` (INTER_AREA) and stored as a JPEG (quality `jpeg_quality`, encoded with OpenCV) in a
`tfds.features.Video(encoding_format='jpeg')`. The input pipeline reads the JPEG strings without
decoding them and decodes (and crops) only the frames it samples, which is what makes reading fast;
PNG, zlib or raw tensors were 4-10x bigger and slower to build.

Examples are stored in a fixed pseudo-random order (`disable_shuffling` with a seeded permutation
of the videos); a video's `video_id` is its index in that order (its storage position when no video
was left out) and `info.metadata['num_frames'][split][i]` is the length of the video at position i:
the evaluation pipeline uses it to count segments per process without reading data.

`info.metadata['mirror_labels'][k]` is the class a left-right mirrored video of class k shows:
itself for real datasets, the opposite direction for synthetic_actions' right/left and
clockwise/anticlockwise classes; the training pipeline relabels flipped clips with it.

synthetic_actions' `light` and `light_tiny` configs (the demo's data) draw a light shape on a darker background
and start each video with a short lead-in of another motion (`vtn_jax.data.synthetic`: polarity, lead_in).
Its `two_cue` and `two_cue_tiny` configs generate `vtn_jax.data.two_cue` videos instead
(12 classes = 3 appearances x 4 motions: only a model that sees single frames and frame differences gets
them all) and add a `validation` split for tuning, generated from indices after train and test.

Bad videos (cannot be opened, corrupt, zero frames, fewer than `min_frames` decodable frames) never
stop the build and are never skipped silently: each is printed, listed in `bad_videos.json` in the
dataset directory and in `info.metadata['bad_videos']`; `load_report` returns them. A truncated
video (its stream stops well before its header's count, as many Kinetics files do) keeps its
decodable frames when there are at least `min_frames` of them and is listed as truncated with both
counts (`info.metadata['truncated_videos']`). Videos shorter than a 32-frame segment are kept and
loop-padded when sampled (`vtn_jax.data.input_pipeline`).

Scale: a `video_folder` build decodes in threads of this process by default, in N worker processes
with `workers=N` (`vtn-data --workers`), or through TFDS's Apache Beam support on a cluster runner
with `beam_options` (`vtn-data --beam_pipeline_options`, needs the `[beam]` extra); the three give the
same dataset.
"""
import dataclasses
import functools
import json
import logging
import os
import pathlib
import time
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
import tensorflow_datasets as tfds
from etils import epath

from vtn_jax import logs
from vtn_jax.data import split_files
from vtn_jax.data import synthetic
from vtn_jax.data import two_cue
from vtn_jax.data import video_builds
from vtn_jax.data import video_io

REPORT_FILE = 'bad_videos.json'
_ROWS_SUFFIX = '.build_rows.json'  # a Beam build's report rows per split (removed once read)
_LOG = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# Encoding and parallel generation shared by both builders.
# ---------------------------------------------------------------------------------------------


encode_frames = video_io.encode_jpegs  # RGB uint8 frames (T, H, W, 3) -> JPEG byte strings (OpenCV)


class _VideoBuilderMixin:
    """Shared generation: ordered parallel decode, JPEG encoding, lengths and bad-video metadata."""

    @tfds.core.utils.classproperty
    @classmethod
    def code_path(cls):
        # Nothing is downloaded, so there is no checksums file to find next to the code; TFDS's
        # own lookup imports `importlib_resources`, which tensorflow-datasets does not install.
        return None

    # TFDS prints "Downloading and preparing dataset Unknown size ..." and "... downloaded and prepared" to stdout,
    # whatever the log level: nothing is downloaded here, and build() logs its own report.
    def _log_download_bytes(self):
        pass

    _log_download_done = _log_download_bytes

    def _features(self, class_names: Sequence[str], frame_shape) -> tfds.features.FeaturesDict:
        return tfds.features.FeaturesDict({
            'video': tfds.features.Video(shape=(None, *frame_shape, 3), encoding_format='jpeg'),
            'label': tfds.features.ClassLabel(names=list(class_names)),
            'video_id': np.int32,
            'name': tfds.features.Text(),
        })

    def _record(self, key: str, split: str, value):
        # info.metadata is saved with the dataset info after generation, and restored on load.
        metadata = self.info.metadata
        table = dict(metadata.get(key, {}))
        table[split] = value
        metadata[key] = table

    def _record_rows(self, split: str, rows: Sequence[dict]):
        """Records a split's lengths (storage order), bad and truncated videos from its report rows."""
        lengths, bad, truncated = video_builds.summarize_rows(split, rows)
        self._record('num_frames', split, lengths)
        self._record('bad_videos', split, bad)
        self._record('truncated_videos', split, truncated)
        self.info.metadata['num_bad_videos'] = sum(len(v) for v in self.info.metadata['bad_videos'].values())

    def _generate_videos(self, split: str, items: Sequence, load: Callable, num_workers: int, *,
                         processes: bool = False):
        """Yields (video_id, example) for every item that loads; records lengths, bad and truncated videos.

        Args:
            split: the split name (for metadata and messages).
            items: sequence of (name, label, ...) in storage order.
            load: fn(item) -> JPEG frames, or (JPEG frames, header frame count), raising video_io.VideoReadError
                for bad videos; it must pickle with `processes`.
            num_workers: decoding threads, or worker processes with `processes`.
            processes: decode in worker processes.
        """
        rows = []
        progress = logs.Progress(_LOG, len(items), 'video')
        outcomes = video_builds.map_ordered(functools.partial(video_io.catch_read_error, load), items,
                                            num_workers, processes=processes)
        for index, (item, outcome) in enumerate(zip(items, outcomes)):
            example, row = video_builds.examine_video(index, item, outcome, split=split,
                                                      min_frames=self.builder_config.min_frames)
            rows.append(row)
            progress.update(index + 1, f'[{split}] {sum(bool(r["reason"]) for r in rows)} bad')
            if example is not None:
                yield index, example
        self._record_rows(split, rows)


# ---------------------------------------------------------------------------------------------
# synthetic_actions
# ---------------------------------------------------------------------------------------------


GENERATORS = {'synthetic': synthetic, 'two_cue': two_cue}  # synthetic_actions' video generators


@dataclasses.dataclass(eq=False)
class SyntheticActionsConfig(tfds.core.BuilderConfig):
    """Sizes and seed of a synthetic_actions variant (see vtn_jax.data.synthetic and .two_cue)."""
    generator: str = 'synthetic'  # synthetic (motion only, 2..8 classes) | two_cue (appearance x motion, 12)
    num_train: int = 384
    num_test: int = 128
    num_validation: int = 0  # > 0 adds a 'validation' split (indices after train and test)
    height: int = 64
    width: int = 64
    num_classes: int = 8
    min_frames: int = 40  # video lengths are drawn from [min_frames, max_frames]
    max_frames: int = 80
    difficulty: float = 0.0
    polarity: str = 'random'  # synthetic only: 'random' (shape and background colours independent) | 'light'
    lead_in: int = 0  # synthetic only: > 0 starts each video with up to this many frames of another motion
    seed: int = 0
    jpeg_quality: int = 90


class SyntheticActions(_VideoBuilderMixin, tfds.core.GeneratorBasedBuilder):
    """Generated clips whose class is a motion direction (tfds name `synthetic_actions`)."""

    VERSION = tfds.core.Version('1.0.0')
    RELEASE_NOTES = {'1.0.0': 'First version.'}
    BUILDER_CONFIGS = [
        SyntheticActionsConfig(
            name='default', description='512 videos (384 train, 128 test), 64x64, 8 classes, 40..80 frames.'),
        SyntheticActionsConfig(
            name='tiny', num_train=48, num_test=16, height=40, width=40, min_frames=20, max_frames=48,
            description='64 videos (48 train, 16 test), 40x40, 8 classes, 20..48 frames (some < 32).'),
        # A light shape on a darker background (the sign of a frame difference shows which way an edge moved),
        # each video led in by up to 10 frames of another motion (training clips with a change of action).
        SyntheticActionsConfig(
            name='light', polarity='light', lead_in=10,
            description='512 videos (384 train, 128 test), 64x64, 8 classes, 40..80 frames + a 0..10-frame lead-in '
                        'of another motion, a light shape.'),
        SyntheticActionsConfig(
            name='light_tiny', polarity='light', lead_in=10, num_train=48, num_test=16, height=40, width=40,
            min_frames=20, max_frames=48, description='64 light videos (48 train, 16 test), 40x40, 20..48 frames.'),
        # 64-pixel frames: each band is one row of 16x16 JPEG blocks, so it stays clean through the JPEG.
        SyntheticActionsConfig(
            name='two_cue', generator='two_cue', num_classes=12, num_train=480, num_validation=96, num_test=192,
            description='768 two-cue videos (480 train, 96 validation, 192 test), 64x64, 12 classes = 3 '
                        'appearances x 4 motions, 40..80 frames.'),
        SyntheticActionsConfig(
            name='two_cue_tiny', generator='two_cue', num_classes=12, num_train=24, num_validation=12,
            num_test=12, min_frames=20, max_frames=48,
            description='48 two-cue videos (24 train, 12 validation, 12 test), 64x64, 12 classes, 20..48 frames.'),
    ]

    def _generator(self):
        name = self.builder_config.generator
        if name not in GENERATORS:
            raise ValueError(f'synthetic_actions generator must be one of {sorted(GENERATORS)}, got {name!r}')
        if name != 'synthetic' and (self.builder_config.lead_in or self.builder_config.polarity != 'random'):
            raise ValueError(f'synthetic_actions lead_in and polarity are for the synthetic generator, not {name!r}')
        return GENERATORS[name]

    def _info(self) -> tfds.core.DatasetInfo:
        c = self.builder_config
        generator = self._generator()
        return tfds.core.DatasetInfo(
            builder=self,
            description=generator.DATASET_DESCRIPTION,
            features=self._features(generator.class_names(c.num_classes), (c.height, c.width)),
            supervised_keys=('video', 'label'),
            # A mirrored clip of class k shows class mirror_labels[k] (right <-> left, ...).
            metadata=tfds.core.MetadataDict(mirror_labels=list(generator.MIRROR_CLASSES[:c.num_classes])),
            # Keep the generation order (a seeded permutation): video_id == position in the split.
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # generated, nothing to download
        c = self.builder_config
        splits = {
            'train': self._generate_examples('train', range(c.num_train)),
            'test': self._generate_examples('test', range(c.num_train, c.num_train + c.num_test)),
        }
        if c.num_validation:
            first = c.num_train + c.num_test
            splits['validation'] = self._generate_examples('validation', range(first, first + c.num_validation))
        return splits

    def _generate_examples(self, split: str, indices: Iterable[int]):
        c = self.builder_config
        # Store in a seeded random order so that a training shuffle buffer sees mixed classes.
        order = np.random.default_rng([c.seed, len(split)]).permutation(np.asarray(list(indices)))
        items = [(f'{c.generator}_{i:06d}', int(i) % c.num_classes, int(i)) for i in order]
        generator, options = self._generator(), generator_options(c)
        if c.lead_in:  # make_video only (a labelled stream has its own changes)
            options['lead_in'] = c.lead_in

        def load(item):
            frames, label = generator.make_video(item[2], seed=c.seed, num_frames=(c.min_frames, c.max_frames),
                                                 num_classes=c.num_classes, **options)
            assert label == item[1]
            return encode_frames(frames, c.jpeg_quality)

        yield from self._generate_videos(split, items, load, num_workers=os.cpu_count() or 1)


_SYNTHETIC_CONFIGS = {c.name: c for c in SyntheticActions.BUILDER_CONFIGS}


def synthetic_config(data_config) -> Optional[SyntheticActionsConfig]:
    """The built-in synthetic_actions config that a data config (`config.data`) names, else None."""
    if data_config.name != 'synthetic_actions':
        return None
    return _SYNTHETIC_CONFIGS.get(data_config.builder_config or 'default')


def generator_options(c: SyntheticActionsConfig) -> dict:
    """What a synthetic_actions config passes its generator's make_video and make_labelled_stream besides seeds,
    lengths and classes: frame size, difficulty and (synthetic only) polarity."""
    extra = {'polarity': c.polarity} if c.generator == 'synthetic' else {}
    return {'height': c.height, 'width': c.width, 'difficulty': c.difficulty, **extra}


# ---------------------------------------------------------------------------------------------
# video_folder: split-file parsing (pure functions) and the builder.
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(eq=False)
class VideoFolderConfig(tfds.core.BuilderConfig):
    """Where the videos are and how to store them (see the module docstring)."""
    root: str = ''
    layout: str = 'folder'  # ucf101 | hmdb51 | kinetics | folder
    split_number: int = 1  # ucf101 / hmdb51 official split 1, 2 or 3
    splits_dir: str = ''  # folder of the split files ('' = the layout's usual place)
    annotations: tuple = ()  # kinetics CSV files ('' = every *.csv in root)
    test_percent: int = 20  # 'folder' layout: share of videos in the test split
    resize_short: int = 256  # stored shorter side (paper: 256)
    min_frames: int = 1  # videos with fewer decodable frames are reported and left out
    jpeg_quality: int = 90
    shuffle_seed: int = 0  # storage order permutation


def default_config_name(layout: str, split_number: int = 1) -> str:
    """Returns the config name a video_folder build gets unless given one: e.g. 'ucf101_split1'.

    Give another name (--config) to keep builds of the same videos at other sizes side by side.
    """
    return f'{layout}_split{split_number}' if layout in ('ucf101', 'hmdb51') else layout


class VideoFolder(_VideoBuilderMixin, tfds.core.GeneratorBasedBuilder):
    """A local folder of videos, one subfolder per class (tfds name `video_folder`).

    Build with a config object: VideoFolder(config=VideoFolderConfig(name=..., root=...),
    data_dir=...), or with the CLI / `build('video_folder', data_dir, root=..., layout=...)`.
    Once built, read it back with `build('video_folder', data_dir, config_name)`, which needs
    neither the root nor this class's config.
    """

    VERSION = tfds.core.Version('1.0.0')
    RELEASE_NOTES = {'1.0.0': 'First version.'}

    def __init__(self, *, workers: int = 0, beam: bool = False, **kwargs):
        """workers: decode in that many worker processes (0: threads of this process); beam: generate through
        Apache Beam (download_and_prepare then needs DownloadConfig(beam_options=...))."""
        self._plan = None  # set before super().__init__, which may already call _info()
        self._workers, self._beam = workers, beam
        super().__init__(**kwargs)

    def _split_plan(self):
        """(class_names, {split: [(path, label)]}) from the layout's split files, parsed once."""
        if self._plan is None:
            c = self.builder_config
            if not c.root:
                raise ValueError('video_folder needs a root folder (--root)')
            if c.layout == 'ucf101':
                self._plan = split_files.read_ucf101_splits(c.root, c.split_number, c.splits_dir or None)
            elif c.layout == 'hmdb51':
                self._plan = split_files.read_hmdb51_splits(c.root, c.split_number, c.splits_dir or None)
            elif c.layout == 'kinetics':
                # Relative CSV paths are taken from the video root unless they exist as given.
                annotations = [a if os.path.exists(a) else os.path.join(c.root, a) for a in c.annotations]
                annotations = annotations or sorted(pathlib.Path(c.root).glob('*.csv'))
                if not annotations:
                    raise FileNotFoundError(f'no Kinetics CSV annotations given or in {c.root}')
                self._plan = split_files.read_kinetics_csv(c.root, annotations)
            elif c.layout == 'folder':
                self._plan = split_files.read_class_folders(c.root, c.test_percent)
            else:
                raise ValueError(f'layout must be one of {split_files.LAYOUTS}, got {c.layout!r}')
        return self._plan

    def _info(self) -> tfds.core.DatasetInfo:
        class_names, _ = self._split_plan()
        return tfds.core.DatasetInfo(
            builder=self,
            description=f'Videos from {self.builder_config.root} ({self.builder_config.layout} layout), '
                        f'frames stored as JPEG with the shorter side {self.builder_config.resize_short}.',
            features=self._features(class_names, (None, None)),
            supervised_keys=('video', 'label'),
            # Real actions keep their label when mirrored left-right.
            metadata=tfds.core.MetadataDict(mirror_labels=list(range(len(class_names)))),
            # Keep the generation order (a seeded permutation): video_id == position in the split.
            disable_shuffling=True,
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # local files only
        _, splits = self._split_plan()
        return {split: self._generate_examples(split, items) for split, items in splits.items()}

    def _generate_examples(self, split: str, items: Sequence):
        c = self.builder_config
        order = np.random.default_rng([c.shuffle_seed, len(split)]).permutation(len(items))
        items = [(str(items[i][0]), items[i][1]) for i in order]
        # Module-level and partial: it pickles, for worker processes and Beam workers.
        load = functools.partial(video_io.load_for_storage, resize_short=c.resize_short, jpeg_quality=c.jpeg_quality)
        if self._beam:
            return self._beam_examples(split, items, load)
        return self._generate_videos(split, items, load, num_workers=self._workers or os.cpu_count() or 1,
                                     processes=self._workers > 0)

    def _beam_examples(self, split: str, items: Sequence, load: Callable):
        """The Beam form of _generate_videos (same keys and examples); its report rows go to a side file that
        _download_and_prepare reads once the pipeline has run."""
        return video_builds.beam_examples(items, load, split=split, min_frames=self.builder_config.min_frames,
                                          rows_path=str(epath.Path(self.data_dir) / f'{split}{_ROWS_SUFFIX}'))

    def _download_and_prepare(self, dl_manager, download_config):
        super()._download_and_prepare(dl_manager, download_config)
        if self._beam:  # the pipeline has run: its report rows become the metadata, as a local build records them
            for split in self.info.splits:
                path = epath.Path(self.data_dir) / f'{split}{_ROWS_SUFFIX}'
                self._record_rows(split, json.loads(path.read_text()))
                path.unlink()


# ---------------------------------------------------------------------------------------------
# Building, finding and reporting.
# ---------------------------------------------------------------------------------------------

BUILDERS = {'synthetic_actions': SyntheticActions, 'video_folder': VideoFolder}


def prepared_dir(name: str, data_dir, config_name: str) -> Optional[pathlib.Path]:
    """Returns the dataset directory if it has been fully built, else None."""
    version = str(BUILDERS[name].VERSION)
    path = pathlib.Path(data_dir) / name / config_name / version
    return path if (path / 'dataset_info.json').is_file() else None


def build(name: str, data_dir, builder_config: str = '', *, workers: int = 0, beam_options: str = '',
          **kwargs) -> tfds.core.DatasetBuilder:
    """Prepares a dataset if it is missing (idempotent) and returns its builder.

    Args:
        name: 'synthetic_actions' or 'video_folder'.
        data_dir: the TFDS data directory.
        builder_config: config name ('' = 'default' for synthetic_actions; for video_folder the
            name given at build time, e.g. 'ucf101_split1', or derived from layout/split).
        workers: video_folder: decode in this many worker processes (0: threads of this process).
        beam_options: video_folder: generate through Apache Beam with these pipeline options, comma-separated
            as TFDS's `--beam_pipeline_options` (e.g. 'runner=DirectRunner,direct_num_workers=4'; a cluster:
            'runner=DataflowRunner,project=...,region=...,temp_location=gs://...'); '' builds locally.
        **kwargs: for video_folder, VideoFolderConfig fields (root, layout, split_number, ...);
            for synthetic_actions, SyntheticActionsConfig fields to override a named config.

    Returns:
        The builder; read with builder.as_dataset(...) or vtn_jax.data.input_pipeline.

    Raises:
        ValueError / FileNotFoundError: an unknown name, or a video_folder that is not built and
            has no root given.
    """
    if name not in BUILDERS:
        raise ValueError(f'unknown dataset {name!r}; known: {sorted(BUILDERS)}')
    if name == 'video_folder' and not builder_config:
        if 'layout' not in kwargs:
            raise ValueError('video_folder needs builder_config (e.g. ucf101_split1) or layout/root')
        builder_config = default_config_name(kwargs['layout'], kwargs.get('split_number', 1))
    config_name = builder_config or 'default'
    path = prepared_dir(name, data_dir, config_name)
    if path is not None:
        return tfds.builder_from_directory(path)
    if name == 'synthetic_actions':
        known = _SYNTHETIC_CONFIGS
        if kwargs:  # a custom variant: the default's fields, overridden, under a new name
            if config_name in known:
                raise ValueError(f'give a custom synthetic_actions variant a new name, not {config_name!r}')
            config = dataclasses.replace(known['default'], name=config_name, **kwargs)
        elif config_name in known:
            config = config_name
        else:
            raise ValueError(f'unknown synthetic_actions config {config_name!r}; known: {sorted(known)}')
        builder = SyntheticActions(config=config, data_dir=os.fspath(data_dir))
    else:
        if not kwargs.get('root'):
            raise FileNotFoundError(
                f'video_folder/{config_name} is not built in {data_dir}; build it first with\n'
                f'  vtn-data build video_folder --root <videos> --layout <layout> '
                f'--data_dir {data_dir}')
        builder = VideoFolder(config=VideoFolderConfig(name=config_name, **kwargs), data_dir=os.fspath(data_dir),
                              workers=workers, beam=bool(beam_options))
    start = time.time()
    tfds.disable_progress_bar()  # _generate_videos prints its own progress and bad videos
    download_config = tfds.download.DownloadConfig(verify_ssl=False)
    if beam_options:
        try:
            from apache_beam.options import pipeline_options
        except ImportError as e:
            raise ImportError('a Beam build needs apache-beam: pip install "vtn_jax[beam]"') from e
        download_config = tfds.download.DownloadConfig(verify_ssl=False, beam_options=pipeline_options.PipelineOptions(
            flags=[f'--{option}' for option in beam_options.split(',') if option]))
    builder.download_and_prepare(download_config=download_config)
    report = load_report(builder)
    with open(pathlib.Path(builder.data_dir) / REPORT_FILE, 'w', encoding='utf-8') as f:
        json.dump(report, f, indent=1)
    _LOG.info(format_report(report, builder.data_dir, time.time() - start))
    return builder


def load_report(builder_or_dir) -> dict:
    """Returns the build report of a dataset: good videos per split and the bad videos.

    Args:
        builder_or_dir: a builder, or a prepared dataset directory.

    Returns:
        dict with 'num_videos' {split: int}, 'num_bad_videos' int and 'bad_videos', a list of
        {'split', 'path', 'reason', 'frames_read'}, and 'truncated_videos' (kept with their decodable frames), a
        list of {'split', 'path', 'frames_read', 'header_frames'}.
    """
    builder = builder_or_dir
    if not isinstance(builder, tfds.core.DatasetBuilder):
        builder = tfds.builder_from_directory(os.fspath(builder_or_dir))
    metadata = builder.info.metadata
    bad = [entry for split in sorted(metadata['bad_videos']) for entry in metadata['bad_videos'][split]]
    cut = metadata['truncated_videos'] if 'truncated_videos' in metadata else {}  # builds before it was recorded
    return {
        'num_videos': {split: len(v) for split, v in sorted(metadata['num_frames'].items())},
        'num_bad_videos': int(metadata['num_bad_videos']),
        'bad_videos': bad,
        'truncated_videos': [entry for split in sorted(cut) for entry in cut[split]],
    }


def format_report(report: dict, data_dir, seconds: Optional[float] = None) -> str:
    """Formats a build report for printing."""
    took = f' in {seconds:.1f} s' if seconds is not None else ''
    lines = [f'Built {data_dir}{took}: ' + ', '.join(f'{s} {n} videos' for s, n in report['num_videos'].items())
             + f'; {report["num_bad_videos"]} bad videos left out'
             + (f' (listed in {pathlib.Path(data_dir) / REPORT_FILE})' if report['num_bad_videos'] else '')]
    lines += [f'  [{b["split"]}] {b["path"]}: {b["reason"]}' for b in report['bad_videos']]
    if report['truncated_videos']:
        lines.append(f'{len(report["truncated_videos"])} truncated videos kept with their decodable frames:')
        lines += [f'  [{t["split"]}] {t["path"]}: {t["frames_read"]} of {t["header_frames"]} frames'
                  for t in report['truncated_videos']]
    return '\n'.join(lines)
