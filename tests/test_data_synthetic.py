"""Tests for vtn_jax.data.synthetic: determinism, balance, motion direction, time reversal and that a
single frame carries no class information."""
import numpy as np
import pytest

from vtn_jax.data import synthetic

SIZE = 32


def shape_moments(frames):
    """Per-frame centroid (x, y), area and orientation (radians, clockwise on screen positive) of
    a white shape on black, from image moments."""
    yy, xx = np.mgrid[0:frames.shape[1], 0:frames.shape[2]] + 0.5
    out = []
    for frame in frames.astype(np.float64)[..., 0] / 255.0:
        area = frame.sum()
        cx, cy = (frame * xx).sum() / area, (frame * yy).sum() / area
        mu20 = (frame * (xx - cx) ** 2).sum() / area
        mu02 = (frame * (yy - cy) ** 2).sum() / area
        mu11 = (frame * (xx - cx) * (yy - cy)).sum() / area
        out.append((cx, cy, area, 0.5 * np.arctan2(2 * mu11, mu20 - mu02)))
    cx, cy, area, angle = np.array(out).T
    # The long-axis orientation is defined modulo pi: unwrap it over time.
    angle = np.unwrap(2 * angle) / 2
    return cx, cy, np.log(area), angle


def motion_class(frames):
    """Classifies a shape-only video by which quantity changes most (relative to its range) and
    in which direction: a hand-written motion detector, so it sees only what is in the pixels."""
    t = np.arange(len(frames))
    cx, cy, log_area, angle = shape_moments(frames)
    slopes = np.array([np.polyfit(t, q, 1)[0] * (len(t) - 1) for q in (cx, cy, log_area, angle)])
    # Total change over the video in comparable units: pixels / frame side, log-area, radians / pi.
    changes = slopes / np.array([SIZE, SIZE, 1.0, np.pi])
    axis = int(np.argmax(np.abs(changes)))
    return 2 * axis + int(changes[axis] < 0)


def shape_only(spec):
    """Renders a spec's shape alone (white on black, no noise): its motion without distractions."""
    scene = dict(spec['scene'], background=np.zeros_like(spec['scene']['background']),
                 colours=np.full((2, 3), 255, np.float32), noise_std=0.0)
    return synthetic.render_video(scene, spec['state'], np.zeros_like(spec['noise']))


def test_make_video_is_deterministic_and_shaped():
    video, label = synthetic.make_video(11, seed=3, num_frames=(20, 48), height=40, width=36, num_classes=8)
    again, _ = synthetic.make_video(11, seed=3, num_frames=(20, 48), height=40, width=36, num_classes=8)
    other, _ = synthetic.make_video(11, seed=4, num_frames=(20, 48), height=40, width=36, num_classes=8)
    assert video.dtype == np.uint8 and video.shape[1:] == (40, 36, 3) and 20 <= len(video) <= 48
    assert label == 11 % 8
    np.testing.assert_array_equal(video, again)
    assert video.shape != other.shape or not np.array_equal(video, other)
    assert synthetic.make_video(0, seed=0, num_frames=33, height=8, width=8)[0].shape == (33, 8, 8, 3)


def test_lengths_vary_and_classes_are_balanced():
    lengths, labels = [], []
    for i in range(48):
        spec = synthetic.sample_video_spec(i, seed=0, num_frames=(20, 48), height=8, width=8, num_classes=6)
        lengths.append(len(spec['state']['x']))
        labels.append(spec['label'])
    assert min(lengths) >= 20 and max(lengths) <= 48 and len(set(lengths)) > 10
    assert np.bincount(labels).tolist() == [8] * 6


def test_mirroring_swaps_horizontal_directions():
    spec = synthetic.sample_video_spec(0, seed=4, num_frames=30, height=SIZE, width=SIZE)  # move_right
    frames = shape_only(spec)
    assert motion_class(frames) == 0
    assert motion_class(frames[:, :, ::-1]) == synthetic.MIRROR_CLASSES[0] == 1
    spec = synthetic.sample_video_spec(6, seed=4, num_frames=30, height=SIZE, width=SIZE)  # clockwise
    assert motion_class(shape_only(spec)[:, :, ::-1]) == synthetic.MIRROR_CLASSES[6] == 7


@pytest.mark.parametrize('num_classes, difficulty', [(1, 0.0), (7, 0.0), (9, 0.0), (8, 1.5)])
def test_rejects_bad_arguments(num_classes, difficulty):
    with pytest.raises(ValueError):
        synthetic.make_video(0, seed=0, num_frames=4, height=8, width=8, num_classes=num_classes,
                             difficulty=difficulty)


def test_time_reversal_maps_class_2k_to_2k_plus_1_exactly():
    for label in range(0, 8, 2):
        forward = synthetic.sample_trajectory(np.random.default_rng(7), label, 30, SIZE, SIZE)
        backward = synthetic.sample_trajectory(np.random.default_rng(7), label + 1, 30, SIZE, SIZE)
        for key in forward:
            np.testing.assert_array_equal(forward[key][::-1], backward[key])
    # Frames are rendered independently, so reversing the state and the noise reverses the video.
    spec = synthetic.sample_video_spec(4, seed=1, num_frames=25, height=SIZE, width=SIZE)
    video = synthetic.render_video(spec['scene'], spec['state'], spec['noise'])
    reversed_state = {k: v[::-1] for k, v in spec['state'].items()}
    np.testing.assert_array_equal(
        synthetic.render_video(spec['scene'], reversed_state, spec['noise'][::-1]), video[::-1])


def test_pixels_show_the_class_motion_and_reversal_flips_it():
    hits = reversed_hits = 0
    total = 0
    for i in range(48):
        spec = synthetic.sample_video_spec(i, seed=2, num_frames=(20, 48), height=SIZE, width=SIZE)
        frames = shape_only(spec)
        hits += motion_class(frames) == spec['label']
        reversed_hits += motion_class(frames[::-1]) == spec['label'] ^ 1  # 2k <-> 2k+1
        total += 1
    assert hits == total and reversed_hits == total


def test_a_single_frame_does_not_give_the_class_away():
    num_classes, per_class = 8, 32
    mean = np.zeros((num_classes, 2, SIZE, SIZE, 3))
    frames = {k: [] for k in range(num_classes)}
    for i in range(num_classes * per_class):
        video, label = synthetic.make_video(i, seed=5, num_frames=(20, 40), height=SIZE, width=SIZE)
        mean[label, (i // num_classes) % 2] += video.mean(0) / (per_class / 2)
        frames[label].append(video[::4].reshape(-1, SIZE * SIZE * 3).astype(np.float64))
    # Noise level: the difference of two halves (16 videos each) of the same class.
    within = np.sqrt(((mean[:, 0] - mean[:, 1]) ** 2).mean(axis=(1, 2, 3)))
    class_mean = mean.mean(1)
    between = [np.sqrt(((class_mean[a] - class_mean[b]) ** 2).mean())
               for a in range(num_classes) for b in range(a + 1, num_classes)]
    # Means of 32 videos differ by ~1/sqrt(2) of the 16-vs-16 noise if classes look the same.
    assert np.mean(between) < 1.2 * np.mean(within) / np.sqrt(2)
    assert np.max(between) < np.mean(within)
    # A nearest-class-mean classifier fitted on half the videos is at chance on the other half.
    centroids = mean[:, 0].reshape(num_classes, -1)
    accuracy = np.mean([
        np.mean(((video[:, None] - centroids[None]) ** 2).sum(-1).argmin(1) == label)
        for label in range(num_classes) for video in frames[label][1::2]])
    assert accuracy < 2.0 / num_classes


def test_difficulty_adds_noise():
    easy = synthetic.sample_video_spec(3, seed=0, num_frames=10, height=16, width=16, difficulty=0.0)
    hard = synthetic.sample_video_spec(3, seed=0, num_frames=10, height=16, width=16, difficulty=1.0)
    assert hard['scene']['noise_std'] > 4 * easy['scene']['noise_std']
    assert easy['label'] == 3  # move_up: y is the moving coordinate
    assert 0 < np.ptp(hard['state']['y']) < np.ptp(easy['state']['y'])


def difference_centroids_x(frames):
    """x of the brightening and of the darkening part of each frame difference (summed over channels)."""
    diff = np.diff(frames.astype(np.float64), axis=0).sum(-1)
    xx = np.arange(frames.shape[2]) + 0.5
    brighter, darker = diff.clip(0), (-diff).clip(0)
    return ((brighter * xx).sum((1, 2)) / brighter.sum((1, 2)), (darker * xx).sum((1, 2)) / darker.sum((1, 2)))


def noise_free(spec):
    return synthetic.render_video(spec['scene'], spec['state'], np.zeros_like(spec['noise']))


def test_a_light_shape_shows_its_direction_in_every_difference_frame():
    signs = {'random': set(), 'light': set()}
    for polarity in signs:
        for i in range(0, 64, 8):  # move_right videos
            spec = synthetic.sample_video_spec(i, seed=6, num_frames=20, height=SIZE, width=SIZE, polarity=polarity)
            if polarity == 'light':
                assert spec['scene']['colours'].min() > spec['scene']['background'].max() + 30
            brighter, darker = difference_centroids_x(noise_free(spec))
            signs[polarity].update(np.sign(brighter - darker).tolist())
    # The leading (right) edge brightens and the trailing one darkens for a light shape; with shape colours
    # independent of the background, the other way round about as often.
    assert signs == {'random': {-1.0, 1.0}, 'light': {1.0}}


def test_the_polarity_changes_the_colours_only():
    light = synthetic.sample_video_spec(5, seed=1, num_frames=12, height=SIZE, width=SIZE, polarity='light')
    other = synthetic.sample_video_spec(5, seed=1, num_frames=12, height=SIZE, width=SIZE)
    for key in other['state']:
        np.testing.assert_array_equal(light['state'][key], other['state'][key])
    assert light['scene']['aspect'] == other['scene']['aspect']
    with pytest.raises(ValueError, match="polarity must be one of .* got 'dark'"):
        synthetic.make_video(0, seed=0, num_frames=4, height=8, width=8, polarity='dark')


def test_a_labelled_stream_does_each_class_in_turn_and_stays_in_the_frame():
    frames, labels, info = synthetic.make_labelled_stream(synthetic.STREAM_ORDER, segment_frames=24, seed=3,
                                                          height=SIZE, width=SIZE, polarity='light',
                                                          return_info=True)
    assert frames.shape == (8 * 24, SIZE, SIZE, 3) and frames.dtype == np.uint8
    assert labels.tolist() == np.repeat(synthetic.STREAM_ORDER, 24).tolist()
    assert sorted(synthetic.STREAM_ORDER) == list(range(8))
    assert info['jumps'] == [] and info['segment_starts'] == list(range(0, 8 * 24, 24))
    state = info['state']
    # One continuous scene: no step between two frames is larger than a motion's rate.
    assert np.abs(np.diff(state['x'])).max() < 0.6 * SIZE / 60 + 1e-9
    assert np.abs(np.diff(np.log(state['size']))).max() < np.log(2.5) / 60 + 1e-9
    reach = state['size'] * np.hypot(1.0, info['scene']['aspect'])  # the corners' distance from the centre
    assert (state['x'] - reach).min() >= 0 and (state['x'] + reach).max() <= SIZE
    assert (state['y'] - reach).min() >= 0 and (state['y'] + reach).max() <= SIZE
    # Each segment's pixels show its class (the hand-written motion detector on the shape alone).
    scene = dict(info['scene'], background=np.zeros_like(info['scene']['background']),
                 colours=np.full((2, 3), 255, np.float32), noise_std=0.0)
    for start, label in zip(info['segment_starts'], synthetic.STREAM_ORDER):
        part = {k: v[start:start + 24] for k, v in state.items()}
        shape = synthetic.render_video(scene, part, np.zeros((24, SIZE, SIZE, 3), np.float32))
        assert motion_class(shape) == label, synthetic.CLASS_NAMES[label]


def test_a_labelled_stream_rejects_bad_labels_and_lengths():
    for labels, frames in (([8], 10), ([0, -1], 10), ([], 10), ([0], 1)):
        with pytest.raises(ValueError):
            synthetic.make_labelled_stream(labels, segment_frames=frames, seed=0, height=SIZE, width=SIZE)


def test_a_lead_in_is_another_motion_that_ends_where_the_video_starts():
    plain = synthetic.sample_video_spec(13, seed=2, num_frames=30, height=SIZE, width=SIZE, polarity='light')
    seen = set()
    for seed in range(12):
        spec = synthetic.sample_video_spec(13, seed=seed, num_frames=30, height=SIZE, width=SIZE, polarity='light',
                                           lead_in=10)
        m, other = spec['lead_in'], spec['lead_in_label']
        assert spec['label'] == 13 % 8 and other != spec['label'] and 0 <= m <= 10
        assert len(spec['state']['x']) == len(spec['noise']) == 30 + m
        again = synthetic.sample_video_spec(13, seed=seed, num_frames=30, height=SIZE, width=SIZE, polarity='light')
        for key in again['state']:  # the video's own frames are those of the video without a lead-in
            np.testing.assert_array_equal(spec['state'][key][m:], again['state'][key])
        if m >= 6:  # the lead-in frames show the other class (the motion detector on the shape alone)
            lead = {k: v[:m + 1] for k, v in spec['state'].items()}
            assert motion_class(shape_only({**spec, 'state': lead, 'noise': spec['noise'][:m + 1]})) == other
            seen.add(m)
    assert seen  # some lead-ins were long enough to check
    # Without a lead-in nothing changes: the same video as before lead-ins existed.
    assert plain['lead_in'] == 0 and plain['lead_in_label'] is None and len(plain['state']['x']) == 30
