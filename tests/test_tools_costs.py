"""The vtn-costs command: the cost table of the configured model at the crop size given or configured."""
from conftest import run_command
from vtn_jax.configs import tiny
from vtn_jax.models import costs as costs_lib
from vtn_jax.models import vtn as vtn_lib
from vtn_jax.tools import costs


def test_prints_the_configured_models_row(capsys):
    assert run_command(costs, '--config', 'tiny', '--crop_size', 48) == (0, '')
    out = capsys.readouterr().out.splitlines()
    config = tiny.get_config()
    model = vtn_lib.create_model(config.model)
    assert out[0] == f'image 48x48, {config.model.num_frames} frames, {config.model.num_classes} classes'
    assert out[1].startswith('| encoder | modality | params |') and out[3:] == [
        costs_lib.format_row('resnet_tiny', model, costs_lib.compute_costs(model, 48))]
    assert run_command(costs, '--config', 'tiny') == (0, '')  # default: the config's crop size
    assert capsys.readouterr().out.startswith(f'image {config.data.crop_size}x{config.data.crop_size},')
    assert run_command(costs, '--config', 'tiny', 'extra') == \
        (1, "error: unexpected arguments: ['extra'] (see --help)")
