r"""vtn-costs: parameters and GMAC per frame of a configured VTN (the paper's cost measure).

    vtn-costs --config default
    vtn-costs --config default --all_encoders
    vtn-costs --config stacked
"""
from absl import app, flags

from vtn_jax.tools import cli

_ALL = flags.DEFINE_bool('all_encoders', False, "Also list every encoder with the config's other settings.")
_SIZE = flags.DEFINE_integer('crop_size', 0, 'Frame side for the cost (default: config.data.crop_size).')

COMMON = (cli.CONFIG,)  # the shared flags this command takes (its --help lists them)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
# The library loads after --help.
    from vtn_jax.models import costs
    from vtn_jax.models import encoders
    from vtn_jax.models import vtn as vtn_lib
    config = cli.config_or('default')
    size = _SIZE.value or config.data.crop_size
    print(f'image {size}x{size}, {config.model.num_frames} frames, {config.model.num_classes} classes')
    print('| encoder | modality | params | encoder GMAC/frame | decoder GMAC/window | GMAC/frame | paper |')
    print('|---|---|---|---|---|---|---|')
    names = sorted(set(encoders.ENCODERS) - {'resnet_tiny'}) if _ALL.value else [config.model.encoder]
    for name in names:
        model = vtn_lib.create_model({**config.model, 'encoder': name})
        print(costs.format_row(name, model, costs.compute_costs(model, size)), flush=True)


def run():
    """Console entry point `vtn-costs`."""
    cli.run(main, common=COMMON)


if __name__ == '__main__':
    run()
