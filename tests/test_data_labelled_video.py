"""The video with known labels: drawn like the config's dataset, every class once, written with its labels."""
import dataclasses

import ml_collections
import numpy as np
import pytest

from vtn_jax import errors
from vtn_jax.data import labelled_video
from vtn_jax.data import synthetic
from vtn_jax.data import tfds_builders
from vtn_jax.data import two_cue
from vtn_jax.data import video_io


def data_config(builder_config):
    return ml_collections.ConfigDict({'name': 'synthetic_actions', 'builder_config': builder_config})


def test_a_synthetic_config_gets_its_generator_s_stream_at_its_frame_size():
    frames, labels = labelled_video.render(data_config('light_tiny'), segment_frames=20)
    assert frames.shape == (8 * 20, 40, 40, 3)  # light_tiny's 40x40 frames
    assert labels.tolist() == np.repeat(synthetic.STREAM_ORDER, 20).tolist()
    same, _ = synthetic.make_labelled_stream(synthetic.STREAM_ORDER, segment_frames=20, seed=labelled_video.SEED,
                                             height=40, width=40, polarity='light')
    np.testing.assert_array_equal(frames, same)  # the config's polarity: a light shape


def test_a_two_cue_config_gets_the_two_cue_stream():
    frames, labels = labelled_video.render(data_config('two_cue_tiny'), segment_frames=4)
    assert frames.shape == (12 * 4, 64, 64, 3)
    assert labels[::4].tolist() == list(two_cue.STREAM_ORDER)


def test_fewer_classes_keep_the_stream_order_of_those_classes():
    config = tfds_builders.synthetic_config(data_config('default'))
    assert labelled_video.stream_classes(config) == synthetic.STREAM_ORDER
    six = dataclasses.replace(config, num_classes=6)
    assert labelled_video.stream_classes(six) == (0, 4, 2, 1, 5, 3)


def test_write_writes_the_video_and_its_labels(tmp_path):
    names = list(synthetic.CLASS_NAMES)
    labels = labelled_video.write(tmp_path / 'k.avi', tmp_path / 'k.csv', data_config('light_tiny'), names,
                                  segment_frames=6)
    assert len(video_io.read_video(tmp_path / 'k.avi')) == len(labels) == 48
    rows = (tmp_path / 'k.csv').read_text().splitlines()
    assert rows[0] == 'frame,label,class' and len(rows) == 49
    assert rows[1] == f'0,{synthetic.STREAM_ORDER[0]},{names[synthetic.STREAM_ORDER[0]]}'
    assert rows[-1] == f'47,{synthetic.STREAM_ORDER[-1]},{names[synthetic.STREAM_ORDER[-1]]}'


@pytest.mark.parametrize('name, builder_config', [('video_folder', 'ucf101_split1'), ('synthetic_actions', 'mine')])
def test_other_data_has_no_video_with_known_labels(name, builder_config):
    config = ml_collections.ConfigDict({'name': name, 'builder_config': builder_config})
    with pytest.raises(errors.UserError, match=f'built-in synthetic_actions configs only; config.data names '
                                               f'{name}/{builder_config}'):
        labelled_video.render(config)
    with pytest.raises(errors.UserError):
        labelled_video.require_config(config)
