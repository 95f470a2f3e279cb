"""What every command shares (`vtn_jax.tools.cli`): --help that loads no library, one flag vocabulary (a flag a
command does not take is refused), config names, and the defaults the Python API shares with the commands."""
import importlib
import inspect
import pathlib
import subprocess
import sys
import time

import pytest
from absl import flags

from conftest import run_command
from vtn_jax import configs
from vtn_jax import errors
from vtn_jax.tools import cli
from vtn_jax.tools import costs
from vtn_jax.tools import demo
from vtn_jax.tools import parity

TOOLS = pathlib.Path(cli.__file__).resolve().parent
# The modules of tools/ that are not commands: what the commands share, and the stages of vtn-quickstart.
NOT_COMMANDS = ('__init__', 'cli', 'quickstart_stages')
COMMANDS = sorted(p.stem for p in TOOLS.glob('*.py') if p.stem not in NOT_COMMANDS)
HEAVY = ('tensorflow', 'jax', 'openvino')

HELP_PROBE = '''
import runpy, sys, time
start = time.perf_counter()
sys.argv = ['vtn-{name}', '--help']
try:
    runpy.run_module('vtn_jax.tools.{name}', run_name='__main__', alter_sys=True)
except SystemExit as e:
    code = e.code
print('EXIT', code, 'SECONDS', round(time.perf_counter() - start, 3))
print('LOADED', ','.join(m for m in {heavy} if m in sys.modules))
'''


def test_every_console_script_is_a_command_module():
    scripts = (TOOLS.parents[1] / 'pyproject.toml').read_text()
    assert COMMANDS and all(f'vtn-{name} = "vtn_jax.tools.{name}:run"' in scripts for name in COMMANDS)
    assert scripts.count('"vtn_jax.tools.') == len(COMMANDS)  # and no console script is a helper module


@pytest.mark.parametrize('name', COMMANDS)
def test_help_loads_neither_tensorflow_nor_jax_nor_openvino(name):
    """Each command's --help in a fresh interpreter: its docstring and flags, and no heavy library in
    sys.modules (the time is printed for the record; bench/command_help.py compares it with a bare start)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, '-c', HELP_PROBE.format(name=name, heavy=HEAVY)], capture_output=True,
                          text=True, timeout=120, check=False, cwd=TOOLS.parents[1])  # this checkout's vtn_jax
    wall = time.perf_counter() - start
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0, proc.stderr
    assert lines[0].startswith(f'vtn-{name}: '), lines[:2]  # the docstring, then the flags
    assert 'flags:' in lines and lines[-2].startswith('EXIT 0 ')
    assert lines[-1] == 'LOADED ', f'vtn-{name} --help imported {lines[-1][7:]}'
    print(f'vtn-{name} --help: {wall:.2f} s in a fresh interpreter ({lines[-2].split()[-1]} s after start)')


def test_a_flag_the_command_does_not_take_is_refused_naming_it(capsys):
    assert run_command(costs, '--config', 'tiny', '--export', 'x') == \
        (1, 'error: vtn-costs takes no --export (see --help)')
    code, message = run_command(parity, '--config.train.batch_size=4')  # vtn-parity takes no config
    assert code == 1 and message.startswith('error: ') and 'config.train.batch_size' in message
    assert run_command(costs, '--config', 'tiny', '--config.train.batch_size=4', '--noalsologtostderr') == (0, '')
    assert '| resnet_tiny |' in capsys.readouterr().out  # its own, shared, config and absl flags all pass


def test_each_command_gives_the_shared_flags_its_own_meaning(capsys):
    helps = {}
    for name in COMMANDS:
        module = importlib.import_module(f'vtn_jax.tools.{name}')
        helps[name] = {line.split(':')[0].strip(): line for line in
                       cli.format_help(module, module.COMMON).splitlines() if line.startswith('  --')}
    outputs = {name: h['--output'] for name, h in helps.items() if '--output' in h}
    assert 'export folder' in outputs['export'] and 'annotated video' in outputs['demo']
    assert '.csv or .json' in outputs['timeline'] and '.npz' in outputs['embeddings']
    assert len(set(outputs.values())) == len(outputs)  # no two commands share one meaning of --output
    assert 'required' in helps['data']['--data_dir'] and 'default' not in helps['data']['--data_dir']
    assert 'required' in helps['embeddings']['--split'] and 'eval_split' in helps['train']['--split']
    assert '--seed' not in ''.join(''.join(h) for h in helps.values())  # random weights: config.train.seed
    assert run_command(demo, '--help') == (0, '')
    assert "(default: '5')" in next(line for line in capsys.readouterr().out.splitlines()
                                    if line.startswith('  --top_k'))


def test_help_texts_name_every_choice_the_library_checks():
    """train and export name their choices in the help (so that --help needs no JAX); they must stay the
    library's."""
    from vtn_jax.export import artifacts
    from vtn_jax.tools import export, train
    from vtn_jax.training import evaluation
    def help_of(holder):
        return flags.FLAGS[holder.name].help

    assert all(mode in help_of(train._EVAL_MODE) for mode in evaluation.EVAL_MODES)
    export_help = cli.format_help(export, export.COMMON)
    for choices in (artifacts.PARTS, artifacts.LAYOUTS, artifacts.COLORS):
        assert all(choice in export_help for choice in choices)
    defaults = artifacts.ExportOptions()
    assert f'(default: {defaults.layout})' in help_of(export._LAYOUT)
    assert f'(default: {defaults.color})' in help_of(export._COLOR)


def test_top_k_is_the_python_apis_default():
    from vtn_jax.inference import api, recognizer
    library = {inspect.signature(f).parameters['k'].default for f in
               (api.Recognizer.predict_video, recognizer.OnlineRecognizer.__init__)}
    # Recognizer.stream / stream_many / online and demo_run.run_demo pass k on to OnlineRecognizer (its default).
    assert library == {cli.TOP_K.default} == {recognizer.DEFAULT_TOP_K}


def test_config_names_resolve_through_configs_path_of(tmp_path):
    own = tmp_path / 'mine.py'
    own.write_text('from vtn_jax.configs import tiny\nget_config = tiny.get_config\n')
    assert cli.resolve_config_names(['x', '--config', 'tiny', '--config=authors_recipe:resnet34', '--config',
                                     str(own), '--other', 'tiny']) == \
        ['x', '--config', str(configs.path_of('tiny')), f'--config={configs.path_of("authors_recipe")}:resnet34',
         '--config', str(own), '--other', 'tiny']
    with pytest.raises(FileNotFoundError, match="config 'tinny' is neither a file nor a shipped config"):
        cli.resolve_config_names(['x', '--config', 'tinny'])
    code, message = run_command(costs, '--config', 'tinny')
    assert code == 1 and 'tiny' in message and '\n' not in message


def failing_main(argv):
    """A command whose main fails as the library does on bad input."""
    raise {'user': errors.UserError('config key x.y: bad\n  use x.z'), 'video': _video_error()}[argv[1]]


def _video_error():
    from vtn_jax.data import video_io
    return video_io.VideoReadError('v.avi', 'not a video')


def test_bad_input_is_one_line_and_exit_status_1(monkeypatch):
    for kind, expected in (('user', 'error: config key x.y: bad; use x.z'),
                           ('video', 'error: cannot read video v.avi: not a video')):
        with pytest.raises(SystemExit) as exited:
            cli.run(failing_main, ['vtn-test', kind])
        assert exited.value.code == expected
    monkeypatch.setenv('VTN_TRACEBACK', '1')  # the whole traceback instead
    with pytest.raises(errors.UserError):
        cli.run(failing_main, ['vtn-test', 'user'])


def test_finish_whole_runs_the_work_once_and_keeps_a_stop_that_came_during_it():
    import os
    import signal
    calls = []

    def work():
        calls.append(1)
        os.kill(os.getpid(), signal.SIGINT)  # held back until the work is done
        return 'done'

    result, stop = errors.finish_whole(work)
    assert result == 'done' and len(calls) == 1 and type(stop) is KeyboardInterrupt
    assert errors.finish_whole(lambda: 'quiet') == ('quiet', None)


def test_finish_whole_starts_the_work_when_a_stop_landed_before_the_hold(monkeypatch):
    import contextlib
    real, entered, calls = errors.deferred_stops, [], []

    @contextlib.contextmanager
    def stop_lands_on_the_way_in():
        entered.append(1)
        if len(entered) == 1:
            raise KeyboardInterrupt  # a pending handler run by a call before the hold is set
        with real():
            yield

    monkeypatch.setattr(errors, 'deferred_stops', stop_lands_on_the_way_in)
    result, stop = errors.finish_whole(lambda: calls.append(1) or 'done')
    assert result == 'done' and calls == [1] and type(stop) is KeyboardInterrupt


def test_a_stop_pending_while_the_hold_is_set_up_is_held_too(monkeypatch):
    import signal
    real, calls, ran = signal.signal, [], []
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)

    def pending_stop_runs_first(*args):
        calls.append(args)
        if len(calls) == 1:
            raise KeyboardInterrupt  # as a pending signal's old handler does inside signal.signal
        return real(*args)

    monkeypatch.setattr(signal, 'signal', pending_stop_runs_first)
    with pytest.raises(KeyboardInterrupt):
        with errors.deferred_stops():
            ran.append(1)  # the block runs whole, the stop comes after it
    assert ran == [1] and (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_a_stop_raised_where_python_can_only_report_it_is_sent_again():
    class Swallows:
        def __del__(self):
            raise errors.Terminated()  # as SIGTERM's handler does when it runs inside a gc callback or a __del__

    with pytest.raises(errors.Terminated):
        with errors.stop_on_sigterm():
            Swallows()  # its exception is only reported (sys.unraisablehook), so the signal is sent again
            time.sleep(0.5)  # and lands here
