"""Tests for vtn_jax.data.two_cue and its TFDS config (synthetic_actions/two_cue_tiny): the class grammar, each
class's appearance and motion read back from pixels, balance, determinism, that appearance-only pairs have
identical difference frames (also through the stored JPEG) and that motion-only pairs look the same in a single
frame, mirroring and the labelled stream. Hand-written pixel detectors stand in for a model: they see only what is
in the frames."""
import colorsys
import itertools

import cv2
import numpy as np
import pytest
import tensorflow_datasets as tfds

from vtn_jax.data import tfds_builders
from vtn_jax.data import two_cue as tc


def rounded(static):
    return np.clip(static, 0, 255).round()


def mover_moments(frames, static, threshold):
    """Per-frame centroid x and long-axis orientation (radians, clockwise positive, unwrapped modulo pi) of the
    pixels that differ from the static image by more than `threshold`."""
    mask = np.abs(frames.astype(np.float64) - rounded(static)).max(-1) > threshold
    yy, xx = np.mgrid[0:frames.shape[1], 0:frames.shape[2]] + 0.5
    cx, angle = [], []
    for m in mask:
        n = m.sum()
        x0, y0 = (m * xx).sum() / n, (m * yy).sum() / n
        mu20, mu02 = (m * (xx - x0) ** 2).sum() / n, (m * (yy - y0) ** 2).sum() / n
        mu11 = (m * (xx - x0) * (yy - y0)).sum() / n
        cx.append(x0)
        angle.append(0.5 * np.arctan2(2 * mu11, mu20 - mu02))
    return np.array(cx), np.unwrap(2 * np.array(angle)) / 2


def mover_contrast(frames, static, threshold):
    """Per-frame spread (standard deviation over pixels and channels) of the pixels that differ from the
    static image: the stripes' contrast."""
    mask = np.abs(frames.astype(np.float64) - rounded(static)).max(-1) > threshold
    return np.array([frame[m].std() for frame, m in zip(frames.astype(np.float64), mask)])


def motion_of(frames, static, threshold=8.0):
    """Motion class from pixels: 1 (move) or 2 (rotate) if the mover's x (relative to the width) or orientation
    (relative to pi) changes steadily, 3 (blink) if its contrast swings, else 0 (still)."""
    t = np.arange(len(frames))
    cx, angle = mover_moments(frames, static, threshold)
    dx = abs(np.polyfit(t, cx, 1)[0]) * (len(t) - 1) / frames.shape[2]
    da = abs(np.polyfit(t, angle, 1)[0]) * (len(t) - 1) / np.pi
    contrast = mover_contrast(frames, static, threshold)
    swing = np.ptp(contrast) / contrast.max()
    if max(dx, da) > 0.1:
        return 1 if dx > da else 2
    return 3 if swing > 0.25 else 0


def band_pixels(frame):
    b = tc.band_rows(frame.shape[0])
    return np.concatenate([frame[:b], frame[frame.shape[0] - b:]]).astype(np.float64)


def appearance_of(frame, saturation=200):
    """Appearance from one frame's bands, twice: by the hue of the saturated pixels and by the texture of their
    mask (no colour). Returns (by_hue, by_texture); -1 where the texture is unclear."""
    b = tc.band_rows(frame.shape[0])
    bands = band_pixels(frame)
    mask = bands.max(-1) - bands.min(-1) > saturation  # only the pattern is that saturated
    r, g, bl = bands[mask].mean(0) / 255
    hue = colorsys.rgb_to_hsv(r, g, bl)[0] * 360
    by_hue = int(np.argmin([min(abs(hue - h), 360 - abs(hue - h)) for h in tc.CUE_HUES]))
    scores = []
    for band in (mask[:b], mask[b:]):
        coverage = band.mean(0)  # per column
        edge_rows = band[[0, 1, -2, -1]].mean()  # discs never reach the band's first and last rows
        scores.append((np.mean(np.minimum(coverage, 1 - coverage)),  # bars: columns all or nothing
                       np.mean(np.abs(coverage - 0.5)),  # checks: every column half covered
                       edge_rows))
    binary, half, edges = np.mean(scores, axis=0)
    by_texture = 0 if edges < 0.02 else 1 if binary < 0.05 else 2 if half < 0.1 else -1
    return by_hue, by_texture


def ks_statistic(a, b):
    """Two-sample Kolmogorov-Smirnov statistic."""
    grid = np.concatenate([a, b])
    ca = np.searchsorted(np.sort(a), grid, side='right') / len(a)
    cb = np.searchsorted(np.sort(b), grid, side='right') / len(b)
    return np.abs(ca - cb).max()


def jpeg_round_trip(video, quality=90):
    """What the TFDS builder stores and the pipeline decodes (OpenCV JPEG, 4:2:0)."""
    encoded = tfds_builders.encode_frames(video, quality)
    return np.stack([cv2.cvtColor(cv2.imdecode(np.frombuffer(e, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                     for e in encoded])


# ---------------------------------------------------------------------------------------------
# Grammar, determinism, balance, arguments.
# ---------------------------------------------------------------------------------------------


def test_grammar_and_mirror_table():
    assert len(tc.CLASS_NAMES) == tc.NUM_CLASSES == 12 and tc.class_names() == tc.CLASS_NAMES
    assert (tc.CLASS_NAMES[0] == 'discs_still' and tc.CLASS_NAMES[6] == 'bars_rotate'
            and tc.CLASS_NAMES[11] == 'checks_blink')
    for label in range(12):
        a, m = tc.class_cues(label)
        assert tc.CLASS_NAMES[label] == f'{tc.APPEARANCES[a]}_{tc.MOTIONS[m]}' and a * tc.NUM_MOTIONS + m == label
        assert tc.MIRROR_CLASSES[label] == label  # mirror-symmetric patterns, motions of random direction


def test_deterministic_shaped_and_balanced():
    video, label = tc.make_video(13, seed=3, num_frames=(20, 30), height=40, width=48)
    again, _ = tc.make_video(13, seed=3, num_frames=(20, 30), height=40, width=48)
    other, _ = tc.make_video(13, seed=4, num_frames=(20, 30), height=40, width=48)
    assert video.dtype == np.uint8 and video.shape[1:] == (40, 48, 3) and 20 <= len(video) <= 30
    assert label == 13 % 12 and video.tobytes() == again.tobytes()
    assert video.shape != other.shape or not np.array_equal(video, other)
    specs = [tc.sample_video_spec(i, seed=0, num_frames=(20, 48), height=32, width=32) for i in range(5, 41)]
    labels = [s['label'] for s in specs]
    assert np.bincount(labels).tolist() == [3] * 12
    assert np.bincount(labels[7:19], minlength=12).tolist() == [1] * 12  # any 12 consecutive indices
    assert all(len(s['state']['x']) == s['num_frames'] for s in specs)
    assert len({s['num_frames'] for s in specs}) > 10


@pytest.mark.parametrize('kwargs', [dict(difficulty=1.5), dict(height=16), dict(width=20), dict(height=96, width=40),
                                    dict(label=12), dict(num_frames=1), dict(num_classes=8)])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        tc.sample_video_spec(0, seed=0, **{'num_frames': 4, 'height': 32, 'width': 32, **kwargs})


def test_difficulty_adds_noise_lowers_contrast_and_shortens_motion():
    def spec(label, difficulty):
        return tc.sample_video_spec(0, seed=0, num_frames=10, height=32, width=32, difficulty=difficulty, label=label)

    easy, hard = spec(1, 0.0), spec(1, 1.0)  # move
    assert hard['noise_std'] > 4 * easy['noise_std'] and hard['cue']['alpha'] < easy['cue']['alpha']
    assert np.ptp(hard['mover']['colours']) < np.ptp(easy['mover']['colours'])
    assert 0 < np.ptp(hard['state']['x']) < np.ptp(easy['state']['x'])
    for label, key in ((2, 'angle'), (3, 'contrast')):  # rotate, blink
        assert 0 < np.ptp(spec(label, 1.0)['state'][key]) < np.ptp(spec(label, 0.0)['state'][key])


# ---------------------------------------------------------------------------------------------
# Each class's defining cues, where they live.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize('height, width', [(64, 64), (40, 40), (32, 32), (64, 96), (48, 24)])
def test_mover_stays_in_its_zone_and_the_bands_never_change(height, width):
    b = tc.band_rows(height)
    for i in range(36):
        spec = tc.sample_video_spec(i, seed=1, num_frames=(20, 40), height=height, width=width)
        s, m = spec['state'], spec['mover']
        cos, sin = np.cos(s['angle']), np.sin(s['angle'])
        for su, sv in itertools.product((-1, 1), repeat=2):  # the four corners of the rectangle
            cx = s['x'] + su * s['size'] * cos - sv * m['aspect'] * s['size'] * sin
            cy = s['y'] + su * s['size'] * sin + sv * m['aspect'] * s['size'] * cos
            assert cx.min() >= 1 and cx.max() <= width - 1
            assert cy.min() >= b + 1 and cy.max() <= height - b - 1
    video = tc.render_video(spec)
    static = rounded(tc.spec_static_image(spec))
    assert (video[:, :b] == static[:b]).all() and (video[:, height - b:] == static[height - b:]).all()
    assert (video[:, b:height - b] != static[b:height - b]).any()


def test_every_crop_the_models_see_keeps_band_rows():
    height, b = 64, tc.band_rows(64)
    for scale in (1.0, 0.875, 0.75, 0.66):  # the training crops (input_pipeline.random_crop_window)
        side = int(height * scale)
        for top in range(height - side + 1):
            assert max(0, b - top) + max(0, top + side - (height - b)) >= 10, (scale, top)
    side = round(0.875 * height)  # evaluation: the central crop
    top = (height - side) // 2
    assert max(0, b - top) + max(0, top + side - (height - b)) == 24


def test_every_class_shows_its_appearance_in_one_frame_and_its_motion_across_frames():
    directions = set()
    for i in range(24):  # two videos of each class
        spec = tc.sample_video_spec(i, seed=2, num_frames=(20, 32), height=64, width=64)
        video = tc.render_video(spec)
        static = tc.spec_static_image(spec)
        assert appearance_of(video[len(video) // 2]) == (spec['appearance'],) * 2, i
        assert motion_of(tc.render_video(spec, noise=False), static) == spec['motion'], i
        assert motion_of(video, static, threshold=24) == spec['motion'], i
        assert motion_of(video[::-1], static, threshold=24) == spec['motion'], i  # time reversal keeps the class
        changing = {1: 'x', 2: 'angle', 3: 'contrast'}.get(spec['motion'])
        for key, values in spec['state'].items():
            assert (np.ptp(values) > 0) == (key == changing), (i, key)
        if changing in ('x', 'angle'):  # steady, in a direction drawn at random
            steps = np.sign(np.diff(spec['state'][changing]))
            assert len(set(steps)) == 1
            directions.add((changing, steps[0]))
    assert len(directions) == 4  # both directions of both motions occur


def test_a_gap_network_reads_the_appearance_from_crops():
    """A fixed 1x1 convolution + ReLU + global average pooling tells the appearance from random training crops
    and the central evaluation crop of single frames, resized to 32x32 as the tiny model sees them."""
    weights = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], np.float64)  # red, green, blue
    rng = np.random.default_rng(0)
    for i in range(24):
        spec = tc.sample_video_spec(i, seed=3, num_frames=8, height=64, width=64)
        video = tc.render_video(spec)
        crops = [(4, 4, 56)] + [(rng.integers(64 - s + 1), rng.integers(64 - s + 1), s)
                                for s in (int(64 * rng.choice([1.0, 0.875, 0.75, 0.66])) for _ in range(3))]
        for top, left, side in crops:
            frame = video[rng.integers(len(video)), top:top + side, left:left + side]
            small = cv2.resize(frame, (32, 32), interpolation=cv2.INTER_LINEAR).astype(np.float64)
            assert np.argmax(np.maximum(small @ weights.T - 110, 0).mean(axis=(0, 1))) == spec['appearance']


# ---------------------------------------------------------------------------------------------
# What each modality cannot see: appearance-only and motion-only pairs.
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize('labels', [(0, 4), (4, 8), (2, 10), (7, 11), (1, 9)])
def test_appearance_only_pairs_have_identical_difference_frames(labels):
    a, b = tc.make_spec_pair(5, seed=6, labels=labels, num_frames=(20, 30), height=64, width=64)
    va, vb = tc.render_video(a).astype(np.int16), tc.render_video(b).astype(np.int16)
    rows = tc.band_rows(64)
    assert (va[:, rows:-rows] == vb[:, rows:-rows]).all()  # the mover zone is the same ...
    assert (va != vb).any(axis=(1, 2, 3)).all()  # ... every single frame differs ...
    assert np.array_equal(np.diff(va, axis=0), np.diff(vb, axis=0))  # ... and the differences are identical
    assert appearance_of(va[0].astype(np.uint8))[0] != appearance_of(vb[0].astype(np.uint8))[0]


def test_difference_frames_stay_identical_through_the_stored_jpeg():
    """With 64-pixel frames each band is one row of 16x16 JPEG blocks: after the builder's JPEG the difference
    frames of an appearance-only pair still agree except in the row either side of a band edge."""
    a, b = tc.make_spec_pair(2, seed=7, labels=(0, 8), num_frames=12, height=64, width=64)
    da = np.diff(jpeg_round_trip(tc.render_video(a)).astype(np.int16), axis=0)
    db = np.diff(jpeg_round_trip(tc.render_video(b)).astype(np.int16), axis=0)
    assert set(np.nonzero(np.abs(da - db).max(axis=(0, 2, 3)))[0].tolist()) <= {15, 16, 47, 48}
    assert np.abs(da - db).max() <= 8
    assert not da[:, :15].any() and not da[:, 49:].any()  # the bands do not change at all


def test_motion_only_pairs_share_bands_but_not_differences():
    for labels in [(0, 1), (2, 3), (0, 2), (5, 7), (9, 10), (4, 7)]:
        a, b = tc.make_spec_pair(8, seed=5, labels=labels, num_frames=24, height=48, width=48)
        va, vb = tc.render_video(a).astype(np.int16), tc.render_video(b).astype(np.int16)
        rows = tc.band_rows(48)
        assert (va[:, :rows] == vb[:, :rows]).all() and (va[:, -rows:] == vb[:, -rows:]).all()
        assert not np.array_equal(np.diff(va, axis=0), np.diff(vb, axis=0))


def test_a_single_frame_of_a_motion_only_pair_has_the_same_distribution():
    """The mover's x, y, size, angle (mod pi) and contrast at a random frame have the same distribution for
    every motion (KS, n = 200 per class, alpha = 0.001). The test has the power to see a single-frame cue: on
    the first frame x tells moving from still movers, and a still x at the trajectory's centre instead of at a
    random instant would differ from a moving one's."""
    n, rng = 200, np.random.default_rng(0)
    keys = ('x', 'y', 'size', 'angle', 'contrast')
    samples = {m: {k: [] for k in keys + ('x_first', 'x_centre')} for m in range(4)}
    for i in range(n):
        for motion in range(4):
            spec = tc.sample_video_spec(i, seed=11, num_frames=(20, 48), height=32, width=32, label=motion)
            s, t = samples[motion], rng.integers(spec['num_frames'])
            for key in keys:
                s[key].append(spec['state'][key][t] % np.pi if key == 'angle' else spec['state'][key][t])
            s['x_first'].append(spec['state']['x'][0])
            s['x_centre'].append(spec['state']['x'].mean())
    critical = 1.95 * np.sqrt(2 / n)
    for m1, m2 in itertools.combinations(range(4), 2):
        for key in keys:
            assert ks_statistic(np.array(samples[m1][key]), np.array(samples[m2][key])) < critical, (m1, m2, key)
    assert ks_statistic(np.array(samples[1]['x_first']), np.array(samples[0]['x_first'])) > critical
    assert ks_statistic(np.array(samples[1]['x']), np.array(samples[1]['x_centre'])) > critical


def test_per_motion_mean_frames_agree_within_noise_and_per_appearance_bands_do_not():
    """What the mover adds to the static image, averaged over a video, has the same per-motion mean to within
    the difference between two halves of one class; the bands' per-appearance means differ far beyond it."""
    per_class, size = 48, 32
    rows = tc.band_rows(size)
    mean, bands = np.zeros((4, 2, size, size, 3)), np.zeros((3, 2 * rows, size, 3))
    for i in range(per_class):
        for motion in range(4):
            spec = tc.sample_video_spec(i, seed=12, num_frames=(20, 30), height=size, width=size, label=motion)
            mean[motion, i % 2] += (tc.render_video(spec).mean(0) - rounded(tc.spec_static_image(spec))) / 24
        for appearance in range(3):
            spec = tc.sample_video_spec(i, seed=12, num_frames=2, height=size, width=size, label=4 * appearance)
            bands[appearance] += band_pixels(tc.render_video(spec)[0]) / per_class
    within = np.sqrt(((mean[:, 0] - mean[:, 1]) ** 2).mean(axis=(1, 2, 3)))
    class_mean = mean.mean(1)
    between = [np.sqrt(((class_mean[a] - class_mean[b]) ** 2).mean()) for a, b in itertools.combinations(range(4), 2)]
    assert np.mean(between) < 1.2 * np.mean(within) / np.sqrt(2) and np.max(between) < np.mean(within)
    for a, b in itertools.combinations(range(3), 2):
        assert np.sqrt(((bands[a] - bands[b]) ** 2).mean()) > 5 * np.mean(within)


# ---------------------------------------------------------------------------------------------
# Mirroring and the labelled stream.
# ---------------------------------------------------------------------------------------------


def test_a_mirrored_video_shows_the_mirrored_label():
    for i in range(12):
        spec = tc.sample_video_spec(i, seed=9, num_frames=(20, 32), height=48, width=48)
        flipped = tc.render_video(spec)[:, :, ::-1]
        appearance = appearance_of(flipped[0])
        motion = motion_of(flipped, tc.spec_static_image(spec)[:, ::-1], threshold=24)
        assert appearance == (spec['appearance'],) * 2
        assert (appearance[0], motion) == tc.class_cues(tc.MIRROR_CLASSES[spec['label']]), i
        assert tc.MIRROR_CLASSES[spec['label']] == spec['label']


def test_the_stream_order_shows_every_class_and_every_kind_of_change():
    order = tc.STREAM_ORDER
    assert sorted(order) == list(range(tc.NUM_CLASSES))
    changes = [(np.subtract(tc.class_cues(a), tc.class_cues(b)) != 0).tolist() for a, b in zip(order, order[1:])]
    assert [True, False] in changes and [False, True] in changes and [True, True] in changes


def test_labelled_stream_follows_its_segments():
    labels = [0, 6, 5, 11, 3, 2, 1, 1, 9, 4]
    frames, frame_labels, info = tc.make_labelled_stream(labels, segment_frames=16, seed=3, height=48, width=48,
                                                         return_info=True)
    assert frames.shape == (16 * len(labels), 48, 48, 3) and frames.dtype == np.uint8
    assert frame_labels.tolist() == np.repeat(labels, 16).tolist()
    b = tc.band_rows(48)
    for segment, (start, label) in enumerate(zip(info['segment_starts'], labels)):
        appearance, motion = tc.class_cues(label)
        piece = frames[start:start + 16]
        static = tc.static_image(info['background'], appearance, info['cue'])
        assert (piece[:, :b] == rounded(static)[:b]).all()  # the bands show this segment's pattern
        assert appearance_of(piece[0]) == (appearance, appearance)
        assert motion_of(piece, static, threshold=24) == motion, segment
        if segment and segment not in info['jumps']:  # continuous: one ordinary step across the cut
            assert abs(info['state']['x'][start] - info['state']['x'][start - 1]) < 0.5
            assert abs(info['state']['angle'][start] - info['state']['angle'][start - 1]) < np.deg2rad(6.1)
            assert abs(info['state']['contrast'][start] - info['state']['contrast'][start - 1]) < 0.25
    assert len(info['jumps']) < len(labels) // 2
    frames, frame_labels = tc.make_labelled_stream([4, 9], segment_frames=[5, 7], seed=0, height=32, width=32)
    assert len(frames) == 12 and frame_labels.tolist() == [4] * 5 + [9] * 7
    with pytest.raises(ValueError, match='segment_frames'):
        tc.make_labelled_stream([4, 9], segment_frames=[5], seed=0)


# ---------------------------------------------------------------------------------------------
# The TFDS config.
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope='module')
def tiny_build(tmp_path_factory):
    return tfds_builders.build('synthetic_actions', tmp_path_factory.mktemp('tfds_two_cue'), 'two_cue_tiny')


def test_the_builder_stores_balanced_splits_with_mirror_labels(tiny_build):
    info = tiny_build.info
    assert info.features['label'].names == list(tc.CLASS_NAMES)
    assert info.metadata['mirror_labels'] == list(tc.MIRROR_CLASSES)
    sizes = {'train': 24, 'validation': 12, 'test': 12}
    assert {split: info.splits[split].num_examples for split in sizes} == sizes
    names = set()
    for split, size in sizes.items():
        examples = list(tfds.as_numpy(tiny_build.as_dataset(split=split, shuffle_files=False)))
        labels = [int(e['label']) for e in examples]
        assert np.bincount(labels, minlength=12).tolist() == [size // 12] * 12, split  # class-balanced
        assert [int(e['video_id']) for e in examples] == list(range(size))
        assert [len(e['video']) for e in examples] == info.metadata['num_frames'][split]
        names |= {e['name'] for e in examples}
        for e in examples[:4]:  # the stored (JPEG) frames still show the class's appearance
            assert e['video'].shape[1:] == (64, 64, 3) and 20 <= len(e['video']) <= 48
            assert appearance_of(e['video'][0], saturation=150)[0] == tc.class_cues(int(e['label']))[0]
    assert len(names) == 48  # train, validation and test are different videos
