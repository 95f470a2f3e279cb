r"""vtn-parity: our VTN against the logits the authors' own PyTorch code computed, for every reference model.

    vtn-parity                                   # the fixtures in tests/data/parity (a source checkout)
    vtn-parity --fixtures other/folder           # any folder of fixtures in the same format

Each fixture holds the authors' logits, embeddings and decoder output for the stand-in weights and clips of
`vtn_jax.models.standin_weights` (seeds and shapes in the file). Exit status 1 when a difference exceeds 1e-4.
"""
import os
import pathlib
import sys

from absl import app, flags

from vtn_jax.tools import cli

GATE = 1e-4  # absolute, on logits, embeddings and decoder output
_FIXTURES = flags.DEFINE_string('fixtures', '', 'Folder of parity fixtures (*.npz); default $VTN_PARITY_DIR, else '
                                'tests/data/parity of the source checkout.')

COMMON = ()  # the shared flags this command takes (its --help lists them)


def default_fixture_dir() -> pathlib.Path:
    """$VTN_PARITY_DIR, else the checkout's tests/data/parity."""
    return pathlib.Path(os.environ.get('VTN_PARITY_DIR') or
                        pathlib.Path(__file__).resolve().parents[2] / 'tests' / 'data' / 'parity')


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'unexpected arguments: {argv[1:]}')
    from vtn_jax.models import standin_weights  # JAX: after --help
    folder = pathlib.Path(_FIXTURES.value) if _FIXTURES.value else default_fixture_dir()
    files = sorted(folder.glob('*.npz'))
    if not files:
        raise FileNotFoundError(f'no parity fixtures (*.npz) in {folder}; pass --fixtures')
    print('| fixture | logits | embeddings | decoder_out |\n|---|---|---|---|')
    worst = 0.0
    for path in files:
        r = standin_weights.check_fixture(path)
        worst = max(worst, *r.values())
        print(f'| {path.stem} | {r["logits"]:.2e} | {r["embeddings"]:.2e} | {r["decoder_out"]:.2e} |', flush=True)
    print(f'largest difference {worst:.2e} (gate {GATE:g})')
    sys.exit(0 if worst <= GATE else 1)


def run():
    """Console entry point `vtn-parity`."""
    cli.run(main, common=COMMON)


if __name__ == '__main__':
    run()
