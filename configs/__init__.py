"""The experiment configs, one file per experiment (`get_config()` returns a ConfigDict; variants import the
default and change a few fields). Installed with the package as `vtn_jax.configs`; every command takes one by
path (`--config configs/tiny.py`, from any directory) or by name (`--config tiny`); `NAME:ARG` passes ARG to
`get_config` (configs/authors_recipe.py takes an encoder name)."""
import importlib.util
import pathlib


DIRECTORY = pathlib.Path(__file__).resolve().parent


def path_of(name_or_path: str) -> pathlib.Path:
    """A config file's path: an existing path as given, else the shipped config of that name."""
    path = pathlib.Path(name_or_path)
    if path.is_file():
        return path
    shipped = DIRECTORY / f'{name_or_path}.py'
    if shipped.is_file():
        return shipped
    names = sorted(p.stem for p in DIRECTORY.glob('*.py') if p.stem != '__init__')
    raise FileNotFoundError(f'config {name_or_path!r} is neither a file nor a shipped config ({", ".join(names)})')


def load(name_or_path: str):
    """`get_config()` of a config file or of a shipped config by name; `NAME:ARG` calls `get_config(ARG)` (as
    `--config NAME:ARG` does, e.g. `authors_recipe:se_resnext101_32x4d`)."""
    name, _, arg = name_or_path.partition(':')
    path = path_of(name)
    spec = importlib.util.spec_from_file_location(f'vtn_config_{path.stem}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config(arg) if arg else module.get_config()


# Fields renamed since older runs were written (`checkpoints.full_config` reads a stored config through these):
# 'section.old name' -> 'section.new name', and 'section.field' -> {old value: new value}.
RENAMED_FIELDS = {'data.eval_preprocess': 'data.eval_crop'}
RENAMED_VALUES = {'data.eval_crop': {'reference': 'authors'}, 'data.crop_placement': {'reference': 'authors'}}
