"""What every command shares: absl flags, defined once here with the same name for the same thing in every
command; configs by path or by name; logging; and one-line errors.

Each command module defines only the flags that are its own (their names are unique across commands), lists the
shared ones it takes in `COMMON` (a flag, or `(flag, help)` where the command gives the flag its own meaning, as
`--output`), and has a `main(argv)`; its console entry point is `cli.run(main, common=COMMON)`. A flag that is
neither the command's own nor in its COMMON is a usage error. A config is a file (`--config configs/tiny.py`,
from any directory) or the name of a shipped one (`--config tiny`: `vtn_jax/configs/tiny.py`); fields are
overridden as `--config.train.batch_size=8`, and a misspelt field fails before anything runs.

A command imports the library inside `main`, so `--help` (the docstring and the flags) loads neither TensorFlow
nor JAX nor OpenVINO.
"""
import json
import os
import pathlib
import sys
import tempfile
import time
import traceback
from typing import Callable, Optional, Sequence

from absl import app, flags
from ml_collections import config_flags

from vtn_jax import configs
from vtn_jax import errors
from vtn_jax import logs

CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file (a path, or the name of a shipped config such as "default", "tiny", "demo"); '
    'fields can be overridden as --config.train.batch_size=8.', lock_config=True)
WORKDIR = flags.DEFINE_string('workdir', None, 'Training directory: checkpoints, TensorBoard events, outputs.')
CHECKPOINT = flags.DEFINE_string('checkpoint', '', 'Weights: a training workdir, a flat .npz, or the authors\' '
                                 '.pth/.npz; empty: random weights from config.train.seed (for trying the pipeline '
                                 'only).')
SECONDS = flags.DEFINE_float('seconds', 3.0, 'Seconds per timing measurement (0 skips timing).')
INPUT = flags.DEFINE_multi_string('input', None, 'Video file, or a camera index (0, 1, ...); vtn-demo also takes '
                                  'rtsp:// and http:// streams, and several --input.')
# What a command writes: each command that takes it says what in its COMMON (a folder, a video, a file).
OUTPUT = flags.DEFINE_string('output', '', 'What the command writes.')
CLASS_NAMES = flags.DEFINE_string('class_names', '', 'Text file, one class name per line in class order.')
SPLIT = flags.DEFINE_string('split', '', 'A TFDS split of the config\'s dataset.')
DATA_DIR = flags.DEFINE_string('data_dir', '', 'TFDS data directory.')
EXPORT = flags.DEFINE_string('export', '', 'An export folder (export.json + encoder/decoder IR) to run in OpenVINO.')
PRECISION = flags.DEFINE_enum('precision', 'auto', ['auto', 'f32', 'bf16', 'f16', 'int8'], 'OpenVINO inference '
                              'precision (auto: the CPU\'s default, bf16 where it has AVX-512-BF16 or AMX; int8: the '
                              'export\'s INT8 IRs, from vtn-export --int8).')
# The Python API's default k (Recognizer.stream / predict_video, OnlineRecognizer); tests/test_tools_cli.py
# checks that the two agree.
TOP_K = flags.DEFINE_integer('top_k', 5, 'Labels printed, drawn and written per frame.')
WARMUP = flags.DEFINE_enum('warmup', 'wait', ['wait', 'repeat'], 'The first (T-1)*stride frames: wait for a '
                           'full window, or repeat the frames seen (as the authors\' demo).')
THREADS = flags.DEFINE_integer('threads', 0, 'OpenVINO inference threads (0: all cores).')
ALLOW_UNVERIFIED = flags.DEFINE_bool('allow_unverified', False, 'Run an export folder whose verification failed or '
                                     'never ran (refused by default: its files may not compute what the model does).')

# What bad input raises: shown as one line naming the file, key or value, and exit status 1 (a misfitting
# checkpoint, weights.CheckpointMismatchError, is a ValueError; video_io.VideoReadError is added where it is
# caught, so that this module imports no library). Anything else is unexpected (a bug, or an input no check
# caught): one line naming the error and where it happened, and the traceback in a file (`report_unexpected`).
USER_ERRORS = (errors.UserError, ValueError, KeyError, FileNotFoundError, NotADirectoryError, PermissionError, OSError,
               ImportError)
# Raised with a message no person wrote: a ValueError of a parser, or KeyError('name') of a dict lookup. Reported
# as unexpected (with the place), since the message alone does not say which file or key is at fault.
_BARE_ERRORS = (json.JSONDecodeError, UnicodeError)
_PACKAGE_ROOT = pathlib.Path(__file__).resolve().parents[2]


def resolve_config_names(argv: Sequence[str]) -> list[str]:
    """`--config NAME[:ARG]` / `--config=NAME[:ARG]` -> the file's path[:ARG] (`configs.path_of`: a path as
    given, else the shipped config of that name; neither: FileNotFoundError listing the shipped ones)."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg.startswith('--config='):
            index, value, prefix = i, arg[len('--config='):], '--config='
        elif arg == '--config' and i + 1 < len(out):
            index, value, prefix = i + 1, out[i + 1], ''
        else:
            continue
        name, colon, arg = value.partition(':')  # NAME:ARG passes ARG to get_config
        out[index] = prefix + str(configs.path_of(name)) + colon + arg
    return out


def config_or(default_name: str):
    """The --config given, else the shipped config `default_name` (its fields at their defaults)."""
    return CONFIG.value if CONFIG.value is not None else configs.load(default_name)


def require(holder, what: str):
    """The flag's value; a usage error naming the flag when it is missing."""
    if holder.value in (None, '', []):
        raise app.UsageError(f'--{holder.name} is required: {what}')
    return holder.value


def require_one(holder, what: str):
    """The single value of a repeatable flag; a usage error when it is missing or given more than once."""
    values = require(holder, what)
    if len(values) > 1:
        raise app.UsageError(f'--{holder.name} takes one value here ({what}), got {len(values)}')
    return values[0]


def parse(argv: Sequence[str]) -> list[str]:
    """Parses argv into the global flags (config names resolved); returns the positional arguments.

    Flags not given take their defaults again, so a process can parse several command lines (tests do); the
    --config.* override flags a previous parse registered are dropped first (each parse registers its own).
    """
    argv = resolve_config_names(argv)
    flags.FLAGS.unparse_flags()
    for name in [n for n in flags.FLAGS if n.startswith(f'{CONFIG.name}.')]:
        delattr(flags.FLAGS, name)
    saved, sys.argv = sys.argv, list(argv)  # config_flags reads the --config.* overrides from sys.argv
    try:
        return flags.FLAGS(argv)
    finally:
        sys.argv = saved


HELP_FLAGS = ('-h', '--help', '--helpshort', '-?')


def shared_flags(common: Sequence) -> list[tuple]:
    """COMMON as [(flag holder, help text)]: an entry is a holder, or (holder, the command's own help)."""
    return [entry if isinstance(entry, tuple) else (entry, flags.FLAGS[entry.name].help) for entry in common]


def command_name(module) -> str:
    """'vtn-costs' for vtn_jax.tools.costs (also when it runs as `python -m`, i.e. as __main__)."""
    spec = getattr(module, '__spec__', None)
    return 'vtn-' + (spec.name if spec is not None else module.__name__).rsplit('.', 1)[-1]


def format_help(module, common: Sequence) -> str:
    """The command's docstring, then its own flags and the shared flags it uses, with defaults."""
    lines = [(module.__doc__ or '').strip(), '', 'flags:']
    own = [(f, f.help) for f in flags.FLAGS.get_flags_for_module(module.__name__)]
    for flag, text in own + [(flags.FLAGS[h.name], text) for h, text in shared_flags(common)]:
        default = f' (default: {flag.default_as_str})' if flag.default not in (None, '', []) else ''
        lines.append(f'  --{flag.name}: {text}{default}')
    lines += ['', 'Config fields: --config.<section>.<field>=value. Logging: -v 0 shows every library message.']
    return '\n'.join(lines)


def check_flags_given(module, common: Sequence) -> None:
    """A usage error for a flag given on the command line that is neither the command's own nor in its COMMON
    (every command's flags live in one process, so absl alone would accept them and they would do nothing).
    absl's own flags (-v, --logtostderr, ...) are always accepted; --config.* overrides where --config is."""
    allowed = ({f.name for f in flags.FLAGS.get_flags_for_module(module.__name__)} |
               {holder.name for holder, _ in shared_flags(common)})
    wrong = []
    for owner, defined in flags.FLAGS.flags_by_module_dict().items():
        for flag in defined:
            if not flag.present or flag.name in allowed:
                continue
            if flag.name.startswith('config.'):
                if 'config' not in allowed:
                    wrong.append(flag.name)
            elif not owner.startswith('absl.'):
                wrong.append(flag.name)
    if wrong:
        names = ', '.join(f'--{name}' for name in sorted(set(wrong)))
        raise app.UsageError(f'{command_name(module)} takes no {names}')


def _video_read_error():
    from vtn_jax.data import video_io  # OpenCV: not for --help
    return video_io.VideoReadError


def run(main: Callable[[list[str]], Optional[int]], argv: Optional[Sequence[str]] = None, *,
        common: Sequence = ()) -> None:
    """A command's entry point: parse the flags, set up logging, run `main`; bad input ends with one line.

    Args:
        main: the command's `main(positional_args)`.
        argv: the command line (default sys.argv).
        common: the shared flags (`cli.CONFIG`, or `(cli.OUTPUT, 'its help here')`) the command takes: its
            --help lists them, and any other shared flag given is a usage error.

    `--help` prints the command's docstring and flags and exits 0. Bad input (`USER_ERRORS`) ends with
    `error: <one line>` and exit status 1; any other error with one line naming its type and place and the file
    holding its traceback (`report_unexpected`), status 1; Ctrl-C and SIGTERM stop the command through its clean-up
    (`errors.stop_on_sigterm`) with `error: stopped by ...` and status 130 / 143. VTN_TRACEBACK=1 shows the whole
    traceback of an error instead of its one line.
    """
    argv = list(argv if argv is not None else sys.argv)
    module = sys.modules[main.__module__]
    if any(a in HELP_FLAGS for a in argv[1:]):
        print(format_help(module, common))
        sys.exit(0)

    def guarded(positional):
        logs.configure_cli_logging(verbose=flags.FLAGS['verbosity'].present)
        try:
            with errors.stop_on_sigterm():
                return main(positional)
        except app.UsageError as e:
            sys.exit(f'error: {e} (see --help)')
        except KeyboardInterrupt as e:  # Ctrl-C (SIGINT) or SIGTERM: clean-up has run on the way here
            if os.environ.get('VTN_TRACEBACK'):
                raise
            name = 'SIGTERM' if isinstance(e, errors.Terminated) else 'SIGINT (Ctrl-C)'
            print(f'error: stopped by {name}', file=sys.stderr, flush=True)
            sys.exit(errors.exit_status(e))
        except BrokenPipeError:  # stdout closed early (`vtn-demo ... | head`): not an error of the command
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        except Exception as e:  # noqa: BLE001  (MemoryError and RecursionError included)
            if os.environ.get('VTN_TRACEBACK'):
                raise
            if isinstance(e, (*USER_ERRORS, _video_read_error())) and not _is_bare(e):
                sys.exit(f'error: {one_line(e)}')
            sys.exit(report_unexpected(e, argv))

    try:
        positional = parse(argv)
    except (flags.Error, AttributeError, KeyError, FileNotFoundError) as e:  # a misspelt flag, config field or
        sys.exit(f'error: bad flag or config field: {one_line(e)} (see --help)')  # config name: before anything runs
    except KeyboardInterrupt as e:
        sys.exit(errors.exit_status(e))
    try:
        check_flags_given(module, common)
    except app.UsageError as e:
        sys.exit(f'error: {e} (see --help)')
    app.run(guarded, argv=argv, flags_parser=lambda _: positional)


def _is_bare(error: BaseException) -> bool:
    """An error whose message names no file or key by itself (see `_BARE_ERRORS`)."""
    if isinstance(error, _BARE_ERRORS):
        return True
    return (type(error) is KeyError and len(error.args) == 1
            and not (isinstance(error.args[0], str) and ' ' in error.args[0]))


def _where(error: BaseException) -> str:
    """'vtn_jax/inference/api.py:183 (stream)': the innermost frame of the traceback in this project's code (else
    the innermost one)."""
    frames = traceback.extract_tb(error.__traceback__)
    if not frames:
        return 'unknown place'
    ours = [f for f in frames if pathlib.Path(f.filename).resolve().is_relative_to(_PACKAGE_ROOT / 'vtn_jax')]
    frame = (ours or frames)[-1]
    path = pathlib.Path(frame.filename).resolve()
    shown = path.relative_to(_PACKAGE_ROOT) if path.is_relative_to(_PACKAGE_ROOT) else path
    return f'{shown}:{frame.lineno} ({frame.name})'


def report_unexpected(error: BaseException, argv: Sequence[str]) -> str:
    """The one line for an error no check anticipated: its type, message and place, and the file the whole
    traceback was written to (in the temporary directory; printed here instead when it cannot be written)."""
    name = pathlib.Path(argv[0]).stem  # vtn-demo, or demo for `python -m vtn_jax.tools.demo`
    name = name if name.startswith('vtn') else f'vtn-{name}'
    text = ''.join(traceback.format_exception(error))
    try:
        fd, path = tempfile.mkstemp(prefix=f'{name}-{time.strftime("%Y%m%d-%H%M%S")}-', suffix='.traceback.txt')
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            f.write(f'{" ".join(map(str, argv))}\n\n{text}')
        saved = f'the full traceback is in {path}'
    except (OSError, MemoryError):
        print(text, file=sys.stderr)
        saved = 'the traceback is above'
    message = one_line(error)
    if len(message) > 300:
        message = message[:300] + '...'
    return (f'error: {type(error).__name__} in {_where(error)}: {message} ({saved}; VTN_TRACEBACK=1 shows it '
            'here)')


def one_line(error: BaseException) -> str:
    """An exception's message on one line (a list of problems joined by '; ')."""
    text = str(error)
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        text = error.args[0]  # str(KeyError) adds quotes
    out = ''
    for line in (line.strip() for line in text.splitlines() if line.strip()):
        out += (' ' if not out or out.endswith(':') else '; ') + line
    return out.strip() or type(error).__name__


def create_recognizer():
    """The recognizer the flags describe: --export (OpenVINO, configured by its export.json), else the model of
    --config (default: the config a --checkpoint workdir was trained with, else `default`) with --checkpoint.
    Class names: --class_names, else a workdir's class_names.txt, else the export's (a file that does not fit the
    model is named)."""
# The library loads after --help.
    from vtn_jax.data import class_names as class_names_lib
    from vtn_jax.inference import api
    names_file = CLASS_NAMES.value
    if names_file:
        class_names_lib.read_class_names(names_file)  # a missing or unreadable file fails before the model loads
    if EXPORT.value:
        if CHECKPOINT.value:
            raise ValueError('give either --export or --checkpoint, not both')
        precision = None if PRECISION.value == 'auto' else PRECISION.value
        recognizer = api.Recognizer.from_export(EXPORT.value, precision=precision, threads=THREADS.value,
                                                allow_unverified=ALLOW_UNVERIFIED.value)
    else:
        config = CONFIG.value
        if CHECKPOINT.value and os.path.isdir(CHECKPOINT.value):  # a training workdir knows its config and classes
            if config is None:
                from vtn_jax import checkpoints  # (JAX: not in a deploy install)
                config = checkpoints.read_run_config(CHECKPOINT.value)
            run_names = os.path.join(CHECKPOINT.value, 'class_names.txt')
            names_file = names_file or (run_names if os.path.isfile(run_names) else '')
        recognizer = api.Recognizer.from_checkpoint(config or configs.load('default'), CHECKPOINT.value)
    if names_file:
        recognizer.class_names = class_names_lib.read_class_names(names_file, len(recognizer.class_names))
    return recognizer
