"""The main job's pipeline end to end on the tiny config: train 2 steps, evaluate, export, verify, demo."""
import json

from vtn_jax import main_job


def test_main_job_end_to_end(tiny_config, shared, tmp_path):
    config = tiny_config
    config.train.num_train_steps = 2
    config.train.eval_every_steps = 2
    config.train.checkpoint_every_steps = 2
    config.data.data_dir = str(tmp_path / 'tfds')
    summary = main_job.run(config, tmp_path / 'job', video=str(shared / 'data' / 'videos' / 'vtest.avi'),
                           benchmark_seconds=0.2)
    job = tmp_path / 'job'
    assert summary['verification']['passed']
    assert json.loads((job / 'summary.json').read_text())['verification']['passed']
    assert 'verification PASSED' in (job / 'summary.md').read_text()
    for part in ('whole', 'encoder', 'decoder'):
        assert (job / 'export' / f'{part}.onnx').is_file() and (job / 'export' / f'{part}.xml').is_file()
    assert (job / 'train' / 'checkpoints' / '2').is_dir()
    assert 0.0 <= summary['accuracy']['video@1'] <= 1.0
    assert summary['demo']['returncode'] == 0, summary['demo']
    rows = (job / 'demo_timeline.csv').read_text().strip().splitlines()
    assert len(rows) > 100  # a header and one row per frame of vtest.avi
    assert summary['openvino'] and all(r['fps'] > 0 for r in summary['openvino'])
