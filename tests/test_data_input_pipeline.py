"""Tests for vtn_jax.data.input_pipeline: every op eagerly and inside tf.data.Dataset.map, exact frame
indices, crop bounds, normalisation, and create_split's resume, sharding, padding and masking."""
import itertools
import collections

import cv2
import ml_collections
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from vtn_jax.configs import tiny
from vtn_jax.data import frames as frames_lib
from vtn_jax.data import input_pipeline as ip
from vtn_jax.data import authors_ops
from vtn_jax.data import tfds_builders

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def run_in_map(fn, *args):
    """Runs fn(*args) inside tf.data.Dataset.map (graph mode) and returns the numpy result."""
    ds = tf.data.Dataset.from_tensors(tuple(tf.convert_to_tensor(a) for a in args)).map(fn)
    return tf.nest.map_structure(lambda t: t.numpy(), next(iter(ds)))


def both_ways(fn, *args):
    """Returns fn's result eagerly, after checking it equals the result inside Dataset.map."""
    eager = tf.nest.map_structure(lambda t: t.numpy(), fn(*[tf.convert_to_tensor(a) for a in args]))
    in_map = run_in_map(fn, *args)
    tf.nest.map_structure(np.testing.assert_array_equal, eager, in_map)
    return eager


# ---- temporal sampling ----------------------------------------------------------------------

@pytest.mark.parametrize('n, offset, expected', [
    (40, 5, [5, 7, 9, 11, 13, 15, 17, 19]),  # 25 possible starts (0..24)
    (40, 30, [5, 7, 9, 11, 13, 15, 17, 19]),  # offset wraps modulo the 25 starts
    (40, 24, [24, 26, 28, 30, 32, 34, 36, 38]),  # the last start reaches the last even frame
    (16, 3, [0, 2, 4, 6, 8, 10, 12, 14]),  # exactly one segment long: one start
    (10, 7, [0, 2, 4, 6, 8, 0, 2, 4]),  # shorter than 16: loop-padded
    (11, 0, [0, 2, 4, 6, 8, 10, 1, 3]),  # odd length: the loop continues on odd frames
])
def test_train_indices(n, offset, expected):
    got = both_ways(lambda a, b: ip.train_indices(a, 8, 2, b), n, offset)
    assert got.tolist() == expected


@pytest.mark.parametrize('n, expected', [
    (40, [12, 14, 16, 18, 20, 22, 24, 26]),
    (41, [12, 14, 16, 18, 20, 22, 24, 26]),
    (16, [0, 2, 4, 6, 8, 10, 12, 14]),
    (5, [0, 2, 4, 1, 3, 0, 2, 4]),
])
def test_central_indices(n, expected):
    assert both_ways(lambda a: ip.central_indices(a, 8, 2), n).tolist() == expected


@pytest.mark.parametrize('n, expected', [
    (48, [0, 16, 32]), (47, [0, 16]), (40, [0, 16]), (16, [0]), (15, [0]), (1, [0]),
])
def test_segment_starts(n, expected):
    assert both_ways(lambda a: ip.segment_starts(a, 8, 2), n).tolist() == expected
    assert ip.num_segments(n, 8, 2) == len(expected)


def test_paper_setting_indices():
    # 16 frames at stride 2 on a 100-frame video: segments 0, 32, 64 (frames 96..99 dropped).
    assert ip.segment_starts(100, 16, 2).numpy().tolist() == [0, 32, 64]
    assert ip.central_indices(100, 16, 2).numpy().tolist() == list(range(34, 66, 2))
    assert ip.clip_indices(100, 64, 16, 2).numpy().tolist() == list(range(64, 96, 2))
    # 20 frames: one segment, loop-padded like the reference (0..19 then 0..11, every 2nd).
    assert ip.clip_indices(20, 0, 16, 2).numpy().tolist() == list(range(0, 20, 2)) + list(range(0, 12, 2))


# ---- spatial ops ----------------------------------------------------------------------------

def test_random_crop_window_stays_inside():
    scales = (1.0, 0.875, 0.75, 0.66)
    rng = np.random.default_rng(0)
    cases = [(256, 341), (341, 256), (40, 40), (24, 33)]
    sides = collections.defaultdict(set)
    for height, width in cases:
        for u in np.concatenate([rng.uniform(size=(40, 3)), [[0, 0, 0], [0.9999, 0.9999, 0.9999]]]):
            top, left, side = both_ways(
                lambda h, w, a, b, c: ip.random_crop_window(h, w, scales, a, b, c),
                height, width, np.float32(u[0]), np.float32(u[1]), np.float32(u[2]))
            assert 0 <= top and top + side <= height and 0 <= left and left + side <= width
            sides[(height, width)].add(int(side))
    assert sides[(256, 341)] == {256, 224, 192, 168}  # 256 * s, s = 1, .875, .75, .66
    assert sides[(40, 40)] == {40, 35, 30, 26}


def test_random_crop_window_reaches_both_corners():
    first = ip.random_crop_window(256, 341, (0.75,), 0.0, 0.0, 0.0).numpy().tolist()
    last = ip.random_crop_window(256, 341, (0.75,), 0.0, 0.99999, 0.99999).numpy().tolist()
    assert first == [0, 0, 192] and last == [64, 149, 192]


def test_authors_crop_placement_is_the_13_offsets():
    # 256x340 frame, side 215 (scale 2^-1/4): quarter steps (256-215)//4 = 10 and (340-215)//4 = 31.
    windows = [tuple(both_ways(lambda u: ip.random_crop_window(256, 340, (0.84,), 0.0, u, 0.5, placement='authors'),
                               np.float32((i + 0.5) / 13)).tolist()) for i in range(13)]
    y, x = 10, 31
    assert windows == [(0, 0, 215), (0, 4 * x, 215), (4 * y, 0, 215), (4 * y, 4 * x, 215), (2 * y, 2 * x, 215),
                       (0, 2 * x, 215), (4 * y, 2 * x, 215), (2 * y, 0, 215), (2 * y, 4 * x, 215),
                       (y, x, 215), (y, 3 * x, 215), (3 * y, x, 215), (3 * y, 3 * x, 215)]
    rng = np.random.default_rng(4)
    for height, width in [(256, 341), (40, 52), (33, 24)]:
        for u in rng.uniform(size=(30, 2)):
            top, left, side = ip.random_crop_window(height, width, (1.0, 0.66), u[0], u[1], 0.0,
                                                    placement='authors').numpy()
            assert 0 <= top and top + side <= height and 0 <= left and left + side <= width
            assert top % max((height - side) // 4, 1) == 0 and left % max((width - side) // 4, 1) == 0
    with pytest.raises(ValueError, match="crop_placement must be one of .*'corners'"):
        ip.random_crop_window(40, 40, (1.0,), 0.0, 0.0, 0.0, placement='corners')


@pytest.mark.parametrize('height, width, expected', [
    (256, 341, [16, 58, 224]), (341, 256, [58, 16, 224]), (40, 40, [2, 2, 35]), (40, 60, [2, 12, 35]),
])
def test_central_crop_window(height, width, expected):
    assert both_ways(lambda h, w: ip.central_crop_window(h, w), height, width).tolist() == expected


def encode(frames):
    return tf.constant(tfds_builders.encode_frames(frames, 95))


def test_decode_crop_resize_matches_decode_then_crop():
    rng = np.random.default_rng(1)
    # Smooth content so that JPEG is nearly lossless and crops compare cleanly.
    base = cv2.resize(rng.integers(0, 256, (6, 8, 3), np.uint8), (80, 60), interpolation=cv2.INTER_CUBIC)
    frames = np.stack([np.roll(base, 3 * t, axis=1) for t in range(4)])
    jpegs = encode(frames)
    window = np.array([10, 20, 40], np.int32)
    got = both_ways(lambda j, w: ip.decode_crop_resize(j, w, 20), jpegs, window)
    assert got.shape == (4, 20, 20, 3) and got.dtype == np.uint8
    full = tf.stack([tf.io.decode_jpeg(j, channels=3) for j in jpegs])[:, 10:50, 20:60]
    expected = tf.image.resize(full, (20, 20)).numpy()
    # Partial decoding upsamples chroma differently at the crop border: small, rare differences.
    difference = np.abs(got - expected)
    assert difference.mean() < 0.6 and difference.max() <= 16
    # Without resizing (side == crop_size) the pixels are the cropped ones, up to the border.
    same = both_ways(lambda j, w: ip.decode_crop_resize(j, w, 40), jpegs, window)
    difference = np.abs(same.astype(int) - full.numpy())
    assert same.shape == (4, 40, 40, 3) and difference.mean() < 0.5
    assert difference[:, 1:-1, 1:-1].max() <= 2


def test_uint8_resize_is_within_one_level_of_the_rounded_float_resize():
    # OpenCV's bilinear on uint8 (11-bit fixed-point weights) against tf.image.resize in float, rounded: the
    # sides the training crops take (256 * 1, .75, .66 -> 224) and the tiny config's (40 * .875 -> 32).
    rng = np.random.default_rng(4)
    for side, size in ((256, 224), (192, 224), (168, 224), (35, 32)):
        frames = rng.integers(0, 256, (2, side, side, 3), np.uint8)
        got = ip._resize_flip_frames(frames, size, False)
        want = np.round(tf.image.resize(frames, (size, size)).numpy())
        assert got.dtype == np.uint8 and np.abs(got - want).max() <= 1, (side, size)
        np.testing.assert_array_equal(ip._resize_flip_frames(frames, size, True), got[:, :, ::-1])


def test_decoded_frames_are_rgb():
    red = np.zeros((2, 16, 16, 3), np.uint8)
    red[..., 0] = 250
    got = both_ways(lambda j: ip.decode_crop_resize(j, tf.constant([0, 0, 16]), 16), encode(red))
    assert got.dtype == np.uint8 and got[..., 0].min() > 240 and got[..., 1:].max() < 10


@pytest.mark.parametrize('side', [16, 24])  # the flip alone, and the flip with a resize
def test_decode_crop_resize_mirrors(side):
    frames = np.random.default_rng(5).integers(0, 256, (3, 24, 24, 3), np.uint8)
    jpegs, window = encode(frames), tf.constant([0, 0, side])
    plain = both_ways(lambda j: ip.decode_crop_resize(j, window, 16, False), jpegs)
    mirrored = both_ways(lambda j: ip.decode_crop_resize(j, window, 16, True), jpegs)
    np.testing.assert_array_equal(mirrored, plain[:, :, ::-1])


def test_normalize_known_pixel():
    pixel = np.array([[[[255, 0, 128]]]], np.uint8)
    got = both_ways(lambda v: ip.normalize(v, MEAN, STD), pixel)
    expected = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225]
    np.testing.assert_allclose(got[0, 0, 0], expected, rtol=1e-5)
    assert got.dtype == np.float32


def test_preprocess_train_is_deterministic_in_its_key():
    frames = np.random.default_rng(2).integers(0, 256, (30, 40, 50, 3), np.uint8)
    jpegs = encode(frames)
    kwargs = dict(num_frames=8, stride=2, crop_size=32, train_scales=(1.0, 0.66), horizontal_flip=True)
    def fn(j, k):
        return ip.preprocess_train(j, 3, 7, k, **kwargs)
    a = both_ways(fn, jpegs, tf.constant([5, 1], tf.int64))
    b = both_ways(fn, jpegs, tf.constant([5, 2], tf.int64))
    assert (a['video'].shape == (8, 32, 32, 3) and a['video'].dtype == np.uint8 and a['label'] == 3
            and a['video_id'] == 7 and a['mask'])
    assert not np.array_equal(a['video'], b['video'])


def test_flipped_clips_take_the_mirrored_label():
    frames = np.random.default_rng(3).integers(0, 256, (20, 36, 36, 3), np.uint8)
    jpegs = encode(frames)
    kwargs = dict(num_frames=4, stride=2, crop_size=24, train_scales=(0.75,))
    mirror = tf.constant([1, 0, 2, 3, 4, 5, 7, 6])
    flipped_seen = kept_seen = False
    for k in range(8):
        key = tf.constant([9, k], tf.int64)
        plain = ip.preprocess_train(jpegs, 6, 0, key, horizontal_flip=False, **kwargs)
        aug = both_ways(lambda j, kk: ip.preprocess_train(j, 6, 0, kk, horizontal_flip=True,
                                                          mirror_labels=mirror, **kwargs), jpegs, key)
        if aug['label'] == 7:  # rotate_clockwise mirrored is rotate_anticlockwise
            np.testing.assert_array_equal(aug['video'], plain['video'].numpy()[:, :, ::-1])
            flipped_seen = True
        else:
            assert aug['label'] == 6
            np.testing.assert_array_equal(aug['video'], plain['video'].numpy())
            kept_seen = True
    assert flipped_seen and kept_seen


# ---- create_split ---------------------------------------------------------------------------

@pytest.fixture(scope='session')
def data_config(tiny_data_dir):
    """configs/tiny.py's data section on synthetic_actions/tiny (48 train, 16 test; conftest.tiny_data_dir)."""
    config = tiny.get_config().data
    config.update(data_dir=str(tiny_data_dir), mean=MEAN, std=STD, shuffle_buffer=16)
    return config


def take(iterator, count):
    return [next(iterator) for _ in range(count)]


def test_train_batches(data_config):
    batch = next(ip.create_split(data_config, 'train', batch_size=8, mode='train'))
    assert batch['video'].shape == (8, 8, 32, 32, 3) and batch['video'].dtype == np.uint8
    assert batch['label'].dtype == np.int32 and batch['mask'].all() and (batch['segment'] == 0).all()
    assert 20 < batch['video'].mean() < 235 and batch['video'].std() > 5
    assert ip.num_examples(data_config, 'train') == 48
    assert ip.class_names(data_config)[:2] == ['move_right', 'move_left']


def test_train_clips_are_the_stored_frames(data_config):
    # Whole-frame crops (scale 1, 40x40 frames, crop 40), no flip: every training clip must be some start's
    # frames, decoded, as uint8 (normalisation happens on the device).
    config = ml_collections.ConfigDict({**data_config.to_dict(), 'crop_size': 40, 'train_scales': (1.0,),
                                        'horizontal_flip': False})
    batch = next(ip.create_split(config, 'train', batch_size=8, mode='train', seed=2))
    assert batch['video'].dtype == np.uint8
    builder = tfds_builders.build('synthetic_actions', config.data_dir, 'tiny')
    stored = {int(ex['video_id']): ex['video'].numpy() for ex in builder.as_dataset(split='train')}
    for clip, video_id in zip(batch['video'], batch['video_id']):
        frames = stored[int(video_id)]
        n = len(frames)
        candidates = [frames[ip.clip_indices(n, s, 8, 2).numpy()] for s in range(max(n - 16, 0) + 1)]
        assert min(np.abs(clip.astype(np.int32) - c).max() for c in candidates) == 0


def test_train_resumes_exactly_at_start_step(data_config):
    # 48 videos / 8 = 6 batches per epoch: step 4 is inside epoch 0, step 7 inside epoch 1.
    # Seed 0 included on purpose: TF treats an all-zero shuffle seed as "pick one at random".
    reference = take(ip.create_split(data_config, 'train', batch_size=8, mode='train', seed=0), 10)
    for start in (0, 4, 7):
        resumed = take(ip.create_split(data_config, 'train', batch_size=8, mode='train', seed=0,
                                       start_step=start), 10 - start)
        for want, got in zip(reference[start:], resumed):
            for key in want:
                np.testing.assert_array_equal(want[key], got[key])
    other_seed = next(ip.create_split(data_config, 'train', batch_size=8, mode='train', seed=1))
    assert not np.array_equal(other_seed['video_id'], reference[0]['video_id'])


def test_train_epochs_are_permutations(data_config):
    batches = list(ip.create_split(data_config, 'train', batch_size=8, mode='train', seed=0, num_epochs=2))
    assert len(batches) == 12
    epoch0 = np.concatenate([b['video_id'] for b in batches[:6]])
    epoch1 = np.concatenate([b['video_id'] for b in batches[6:]])
    assert sorted(epoch0) == sorted(epoch1) == list(range(48))
    assert not np.array_equal(epoch0, epoch1)  # reshuffled every epoch


def test_train_processes_read_disjoint_shares(data_config):
    ids = [np.concatenate([b['video_id'] for b in ip.create_split(
        data_config, 'train', batch_size=8, mode='train', process_index=p, process_count=2, num_epochs=1)])
        for p in range(2)]
    assert len(ids[0]) == len(ids[1]) == 24
    assert sorted(np.concatenate(ids)) == list(range(48))


def eval_entries(data_config, mode, batch_size, process_count):
    """Runs every process's evaluation pass; returns per-process batch counts and real entries."""
    counts, entries = [], []
    for p in range(process_count):
        batches = list(ip.create_split(data_config, 'test', batch_size=batch_size, mode=mode,
                                       process_index=p, process_count=process_count))
        counts.append(len(batches))
        for b in batches:
            assert b['video'].shape == (batch_size, 8, 32, 32, 3)
            padded = ~b['mask']
            assert b['video'].dtype == np.uint8
            assert (b['video_id'][padded] == -1).all() and (b['video'][padded] == 0).all()
            entries += [(int(v), int(s), int(label)) for v, s, label in
                        zip(b['video_id'][b['mask']], b['segment'][b['mask']], b['label'][b['mask']])]
    return counts, entries


@pytest.mark.parametrize('process_count', [1, 2])
def test_segments_count_every_video_once(data_config, process_count):
    lengths = tfds_builders.build('synthetic_actions', data_config.data_dir, 'tiny').info.metadata['num_frames']['test']
    expected = sorted((v, s) for v, n in enumerate(lengths) for s in range(ip.num_segments(n, 8, 2)))
    assert len(expected) > 16  # some videos have several segments
    counts, entries = eval_entries(data_config, 'segments', 5, process_count)
    assert sorted((v, s) for v, s, _ in entries) == expected  # each segment exactly once
    assert len(set(counts)) == 1  # every process yields the same number of batches
    assert counts[0] == ip.num_eval_batches(data_config, 'test', batch_size=5, mode='segments',
                                            process_count=process_count)
    labels = {v: label for v, _, label in entries}
    assert sorted(labels) == list(range(16)) and np.bincount(list(labels.values())).tolist() == [2] * 8


@pytest.mark.parametrize('process_count', [1, 2])
def test_clip_mode_pads_and_masks_the_last_batch(data_config, process_count):
    counts, entries = eval_entries(data_config, 'clip', 6, process_count)
    assert sorted(v for v, _, _ in entries) == list(range(16))
    assert all(s == 0 for _, s, _ in entries)
    # 16 clips in batches of 6: 3 batches, 2 padded entries (1 process); 8 each -> 2 batches (2).
    assert counts == {1: [3], 2: [2, 2]}[process_count]
    last = list(ip.create_split(data_config, 'test', batch_size=6, mode='clip'))[-1]
    assert last['mask'].tolist() == [True] * 4 + [False] * 2


def test_eval_clip_content_is_the_central_crop(data_config):
    builder = tfds_builders.build('synthetic_actions', data_config.data_dir, 'tiny')
    example = next(iter(builder.as_dataset(split='test[:1]')))
    frames = example['video'].numpy()
    indices = ip.central_indices(len(frames), 8, 2).numpy()
    expected = tf.image.resize(frames[indices][:, 2:37, 2:37], (32, 32)).numpy()  # 35 = 0.875 * 40
    batch = next(ip.create_split(data_config, 'test', batch_size=4, mode='clip'))
    assert batch['video_id'][0] == 0 and batch['video'].dtype == np.uint8
    assert np.abs(batch['video'][0] - expected).max() <= 2  # decode and uint8 rounding only


def test_device_normalisation_equals_the_host_normalisation(data_config):
    """An evaluation batch (uint8) normalised inside jit, as the steps do, equals the float batch the pipeline
    shipped before (the float crop through input_pipeline.normalize on the host) to float32 rounding. The crop is
    the paper's kind, no resize: the tiny set's 40-pixel frames, central 35 crop (256 -> 224 for real data)."""
    jax = pytest.importorskip('jax')
    from vtn_jax.data import frames as frames_lib
    config = ml_collections.ConfigDict({**data_config.to_dict(), 'crop_size': 35})
    batch = next(ip.create_split(config, 'test', batch_size=4, mode='clip'))
    on_device = np.asarray(jax.jit(lambda v: frames_lib.model_input(v, MEAN, STD))(batch['video']))
    builder = tfds_builders.build('synthetic_actions', data_config.data_dir, 'tiny')
    examples = builder.as_dataset(split='test[:4]', decoders={'video': tfds.decode.SkipDecoding()})
    for row, example in enumerate(examples):
        jpegs = tf.gather(example['video'], ip.central_indices(tf.shape(example['video'])[0], 8, 2))
        crop = tf.constant([2, 2, 35, 35])  # central_crop_window(40, 40)
        float_crop = tf.cast(tf.stack([tf.io.decode_and_crop_jpeg(j, crop, channels=3) for j in jpegs]), tf.float32)
        host = ip.normalize(float_crop, MEAN, STD).numpy()
        assert on_device.dtype == host.dtype == np.float32
        np.testing.assert_allclose(on_device[row], host, rtol=0, atol=2e-6)


@pytest.mark.parametrize('process_count', [1, 2])
def test_uniform10_counts_every_clip_once(data_config, process_count):
    lengths = tfds_builders.build('synthetic_actions', data_config.data_dir, 'tiny').info.metadata['num_frames']['test']
    expected = sorted((v, i) for v, n in enumerate(lengths) for i in range(authors_ops.num_uniform_clips(n)))
    counts, entries = eval_entries(data_config, 'uniform10', 7, process_count)
    assert sorted((v, i) for v, i, _ in entries) == expected
    assert len(set(counts)) == 1 and counts[0] == ip.num_eval_batches(data_config, 'test', batch_size=7,
                                                                      mode='uniform10', process_count=process_count)


def test_uniform10_authors_clip_content(data_config):
    # Clip i of video 0: the authors' frames (stride then pad) with the authors' crop, normalised.
    config = ml_collections.ConfigDict({**data_config.to_dict(), 'eval_crop': 'authors'})
    builder = tfds_builders.build('synthetic_actions', config.data_dir, 'tiny')
    example = next(iter(builder.as_dataset(split='test[:1]')))
    frames = example['video'].numpy()
    batch = next(ip.create_split(config, 'test', batch_size=10, mode='uniform10'))
    starts = authors_ops.uniform_clip_starts(len(frames), 8, 2).numpy()
    for i, start in enumerate(starts):
        indices = authors_ops.looped_clip_indices(len(frames), start, 8, 2).numpy()
        crops = frames_lib.authors_eval_crops(frames[indices], 32)
        assert batch['video_id'][i] == 0 and batch['segment'][i] == i and batch['video'].dtype == np.uint8
        # the same decode up to JPEG rounding
        assert np.abs(batch['video'][i].astype(np.int32) - crops.astype(np.int32)).max() <= 3


def test_rejects_unknown_mode_and_too_large_batch(data_config):
    with pytest.raises(ValueError, match='mode'):
        ip.create_split(data_config, 'test', batch_size=4, mode='video')
    with pytest.raises(ValueError, match='fewer than the global batch'):
        ip.create_split(data_config, 'train', batch_size=64, mode='train')


def test_many_processes_assemble_the_single_process_global_batch(data_config):
    # Process p's batch k holds rows [4p, 4p + 4) of the single-process global batch k (same clips, same crops).
    single = list(itertools.islice(ip.create_split(data_config, 'train', batch_size=8, mode='train', seed=3), 3))
    shards = [list(itertools.islice(ip.create_split(data_config, 'train', batch_size=4, mode='train', seed=3,
                                                    process_index=p, process_count=2), 3)) for p in range(2)]
    for k in range(3):
        for p in range(2):
            np.testing.assert_array_equal(shards[p][k]['video_id'], single[k]['video_id'][4 * p:4 * p + 4])
            np.testing.assert_array_equal(shards[p][k]['video'], single[k]['video'][4 * p:4 * p + 4])
