"""Every config file loads, builds its model, keeps data and model frame counts consistent, and normalises as
its encoder's checkpoints expect."""
import importlib.util
import pathlib

import pytest

from vtn_jax import configs
from vtn_jax.models import pretrained
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


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.stem)
def test_normalisation_matches_the_encoders_checkpoints(path):
    # Training, evaluation, streaming and the uint8 export all read data.mean / data.std: they must be what the
    # encoder's checkpoints were trained with (SE-ResNeXt-101: x / 255 only).
    config = configs.load(str(path))
    pretrained.check_normalization(config.model.encoder, config.data.mean, config.data.std)


@pytest.mark.parametrize('encoder', sorted(set(pretrained.NORMALIZATION) - {'resnet_tiny'}))
def test_authors_recipe_for_every_encoder(encoder):
    config = configs.load(f'authors_recipe:{encoder}')
    assert config.model.encoder == encoder
    assert (config.data.eval_crop, config.train.eval_mode) == ('authors', 'uniform10')
    pretrained.check_normalization(encoder, config.data.mean, config.data.std)
    if encoder == 'se_resnext101_32x4d':
        assert tuple(config.data.mean) == (0.0, 0.0, 0.0) and tuple(config.data.std) == (1.0, 1.0, 1.0)


def test_a_wrong_normalisation_is_caught():
    config = configs.load('se_resnext101')
    with pytest.raises(ValueError, match='se_resnext101_32x4d'):
        pretrained.check_normalization(config.model.encoder, pretrained.IMAGENET_MEAN, pretrained.IMAGENET_STD)


def test_the_repository_configs_are_the_packaged_ones():
    """configs/ (what `--config configs/x.py` reads in a checkout) and vtn_jax/configs/ (what `--config x` reads in
    a pip install) hold the same files, byte for byte."""
    root = pathlib.Path(__file__).resolve().parents[1]
    ours = {p.name: p.read_bytes() for p in (root / 'configs').glob('*.py')}
    packaged = {p.name: p.read_bytes() for p in (root / 'vtn_jax' / 'configs').glob('*.py')}
    assert ours and ours.keys() == packaged.keys()
    assert [name for name in ours if ours[name] != packaged[name]] == []
