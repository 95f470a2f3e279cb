"""The clips an export is verified and calibrated on: the evaluation pipeline's central clips, as uint8."""
import numpy as np

from vtn_jax.data import input_pipeline
from vtn_jax.export import clips as clips_lib


def test_split_clips_are_the_pipelines_uint8_clips(tiny_config, tiny_data_dir):
    config = tiny_config
    config.data.data_dir = str(tiny_data_dir)
    clips, labels = clips_lib.split_clips(config.data, 'test', 5)
    assert clips.shape == (5, 8, 32, 32, 3) and clips.dtype == np.uint8 and labels.shape == (5,)
    batch = next(input_pipeline.create_split(config.data, 'test', batch_size=8, mode='clip'))
    np.testing.assert_array_equal(clips, batch['video'][:5])  # the same frames, no float round trip
    np.testing.assert_array_equal(labels, batch['label'][:5])
    everything, _ = clips_lib.split_clips(config.data, 'test', 100)
    assert len(everything) == 16  # the padding of the last batch is left out
