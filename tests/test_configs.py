"""Every config file loads, builds its model, and keeps data and model frame counts consistent."""
import importlib.util
import pathlib

import pytest

from vtn_jax.models import vtn as model_lib

CONFIGS = sorted(p for p in (pathlib.Path(__file__).resolve().parents[1] / 'configs').glob('*.py')
                 if p.name != '__init__.py')


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_config_builds_its_model(path):
    spec = importlib.util.spec_from_file_location(f'cfg_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    model = model_lib.create_model(config.model)
    assert model.num_frames == config.data.num_frames
    assert config.train.batch_size > 0 and config.optim.learning_rate > 0
    assert 'python train.py --config configs/' in module.__doc__ or path.stem in ('default',)
