r"""How long `vtn-<command> --help` takes in a fresh interpreter, against a bare interpreter start in the same run,
and which heavy libraries it loads (none should: a command imports the library inside `main`).

    python bench/command_help.py                     # this checkout
    PYTHONPATH=<other checkout> python bench/command_help.py     # another one, for a before/after

Each row is the best of --rounds runs; the CPU model is printed with the table.
"""
import os
import re
import pathlib
import platform
import subprocess
import sys
import time

from absl import app, flags

REPO = pathlib.Path(__file__).resolve().parents[1]
HEAVY = ('tensorflow', 'jax', 'openvino', 'cv2')
PROBE = '''
import runpy, sys
sys.argv = ['vtn-{name}', '--help']
try:
    runpy.run_module('vtn_jax.tools.{name}', run_name='__main__', alter_sys=True)
except SystemExit:
    pass
sys.stderr.write('LOADED ' + ','.join(m for m in {heavy} if m in sys.modules) + '\\n')
'''

_ROUNDS = flags.DEFINE_integer('rounds', 3, 'Runs per command (the best counts).')


def cpu_model() -> str:
    for line in (pathlib.Path('/proc/cpuinfo').read_text().splitlines()
                 if pathlib.Path('/proc/cpuinfo').exists() else []):
        if line.startswith('model name'):
            return line.split(':', 1)[1].strip()
    return platform.processor() or 'unknown CPU'


def best_of(rounds: int, argv: list, env: dict, cwd: pathlib.Path) -> tuple[float, str]:
    times, err = [], ''
    for _ in range(rounds):
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=600, check=False)
        times.append(time.perf_counter() - start)
        err = proc.stderr
    return min(times), err


def main(argv):
    del argv
    root = pathlib.Path(os.environ.get('PYTHONPATH', '').split(os.pathsep)[0] or REPO)
    env = {**os.environ, 'PYTHONPATH': str(root)}
    scripts = (root / 'pyproject.toml').read_text()  # the console scripts of [project.scripts]
    commands = sorted(re.findall(r'^vtn-\w+ = "vtn_jax\.tools\.(\w+):run"', scripts, re.MULTILINE))
    bare, _ = best_of(_ROUNDS.value, [sys.executable, '-c', 'pass'], env, root)
    print(f'{cpu_model()}, {os.cpu_count()} cores; vtn_jax from {root}; best of {_ROUNDS.value}')
    print(f'bare interpreter start: {bare:.2f} s\n')
    print('| command | --help s | x bare start | heavy modules loaded |\n|---|---|---|---|')
    for name in commands:
        seconds, err = best_of(_ROUNDS.value, [sys.executable, '-c', PROBE.format(name=name, heavy=HEAVY)], env,
                               root)  # run from the checkout: `python -c` puts the working directory first
        loaded = next((line[7:] for line in err.splitlines() if line.startswith('LOADED ')), '?')
        print(f'| vtn-{name} | {seconds:.2f} | {seconds / bare:.1f} | {loaded or "none"} |', flush=True)


if __name__ == '__main__':
    app.run(main)
