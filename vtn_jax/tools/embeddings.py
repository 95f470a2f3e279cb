r"""vtn-embeddings: encode a split once with a frozen encoder, then train the decoder and classifier alone.

    vtn-embeddings cache --config demo --checkpoint runs/demo/train --split train --output runs/cache/train.npz
    vtn-embeddings cache --config demo --checkpoint runs/demo/train --split test --output runs/cache/test.npz
    vtn-embeddings train --config demo --checkpoint runs/demo/train \
        --train_cache runs/cache/train.npz --eval_cache runs/cache/test.npz --steps 500 --output runs/decoder.npz

Clips are taken as the evaluation pipeline gives them (central crop, every non-overlapping segment), so
evaluating the decoder on a cache equals evaluating the full model with that frozen encoder.
"""
from absl import app, flags

from vtn_jax.tools import cli

COMMANDS = ('cache', 'train')
_TRAIN_CACHE = flags.DEFINE_string('train_cache', '', 'train: the cache of the training split.')
_EVAL_CACHE = flags.DEFINE_string('eval_cache', '', 'train: the cache of the evaluation split.')
_STEPS = flags.DEFINE_integer('steps', 500, 'train: decoder steps.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 64, 'train: clips per step.')

COMMON = (cli.CONFIG, (cli.CHECKPOINT, 'The frozen encoder: a training workdir, a flat .npz, or the authors\' '
                                     '.pth/.npz (required).'),
          (cli.SPLIT, 'cache: the TFDS split to encode (required).'),
          (cli.OUTPUT, 'cache: the cache file to write (.npz, required); train: the trained variables (.npz).'),
          (cli.DATA_DIR, "TFDS data directory (default: the config's data.data_dir).")
          )  # the shared flags this command takes (its --help lists them)


def main(argv):
    if len(argv) != 2 or argv[1] not in COMMANDS:
        raise app.UsageError(f'usage: vtn-embeddings {{{",".join(COMMANDS)}}} --config C --checkpoint W [flags]')
# The library loads after --help.
    from vtn_jax import checkpoints
    from vtn_jax.models import vtn as vtn_lib
    from vtn_jax.training import decoder_only
    config = cli.require(cli.CONFIG, 'the config the encoder was trained with')
    if cli.DATA_DIR.value:
        with config.unlocked():
            config.data.data_dir = cli.DATA_DIR.value
    model = vtn_lib.create_model(config.model)
    variables, _ = checkpoints.load_variables(cli.require(cli.CHECKPOINT, 'the frozen encoder'), model,
                                              image_size=config.data.crop_size)
    if argv[1] == 'cache':
        decoder_only.cache_split(config, variables, cli.require(cli.SPLIT, 'the TFDS split to encode'),
                                 cli.require(cli.OUTPUT, 'the cache file (.npz)'))
        return
    train_cache = decoder_only.read_cache(cli.require(_TRAIN_CACHE, 'the training cache'))
    eval_cache = decoder_only.read_cache(cli.require(_EVAL_CACHE, 'the evaluation cache'))
    print('before:', decoder_only.evaluate_cache(model, variables, eval_cache), flush=True)
    variables = decoder_only.train_decoder(config, variables, train_cache, steps=_STEPS.value,
                                           batch_size=_BATCH_SIZE.value)
    print('after:', decoder_only.evaluate_cache(model, variables, eval_cache), flush=True)
    if cli.OUTPUT.value:
        checkpoints.save_flat_npz(variables, cli.OUTPUT.value)


def run():
    """Console entry point `vtn-embeddings`."""
    cli.run(main, common=COMMON)


if __name__ == '__main__':
    run()
