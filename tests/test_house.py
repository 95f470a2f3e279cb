"""The layout's rules hold: imports flow one way (no cycle inside vtn_jax, imports inside functions included),
inference runs without TensorFlow or the training stack, and no module outgrows about 500 lines."""
import ast
import pathlib
import re
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'vtn_jax'
MAX_LINES = 500
# Who may import whom: a room imports only the rooms below it (tools and the top-level scripts sit above
# everything). The top-level modules logs, metrics, plots and distributed are utilities the rooms above may use;
# checkpoints sits above models and data.
ALLOWED = {
    'tools': {'export', 'training', 'inference', 'checkpoints', 'models', 'data', 'configs', 'logs', 'metrics',
              'distributed', 'plots', 'tools', 'errors'},
    'export': {'export', 'inference', 'checkpoints', 'models', 'data', 'logs', 'distributed', 'errors'},
    'training': {'training', 'inference', 'checkpoints', 'models', 'data', 'logs', 'metrics', 'distributed', 'plots',
                 'errors'},
    'inference': {'inference', 'checkpoints', 'models', 'data', 'configs', 'logs', 'plots', 'errors'},
    'checkpoints': {'models', 'data', 'distributed', 'errors'},
    'models': {'models', 'errors'},
    'data': {'data', 'logs', 'errors'},
    # The utilities every room may use import nothing of the package.
    'logs': set(), 'metrics': set(), 'plots': set(), 'distributed': set(), 'errors': set(),
}


def module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix('')
    parts = rel.parts[:-1] if rel.name == '__init__' else rel.parts
    return '.'.join(parts)


def internal_imports() -> dict[str, set[str]]:
    """{module: the vtn_jax modules it imports}, from every import statement (also inside functions)."""
    modules = {module_name(p): p for p in PACKAGE.rglob('*.py') if 'configs' not in p.relative_to(PACKAGE).parts}
    graph = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f'{node.module}.{a.name}' for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition('.')[0]
                if target and target != name and target != 'vtn_jax':
                    graph[name].add(target)
    return graph


def find_cycle(graph):
    """A list of modules forming a cycle, or None."""
    state = {}

    def visit(node, path):
        state[node] = 'open'
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 'open':
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = 'done'
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def room(module: str) -> str:
    return module.split('.')[1] if module.count('.') else 'vtn_jax'


def test_no_import_cycle_inside_the_package():
    assert find_cycle(internal_imports()) is None, f'import cycle: {" -> ".join(find_cycle(internal_imports()))}'


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None


def test_imports_flow_downward():
    wrong = []
    for module, targets in internal_imports().items():
        here = room(module)
        for target in targets:
            if here in ALLOWED and room(target) not in ALLOWED[here] | {'vtn_jax'}:
                wrong.append(f'{module} -> {target}')
    assert not wrong, f'imports against the layout: {wrong}'


def test_no_module_over_the_size_limit():
    sizes = {module_name(p): len(p.read_text().splitlines()) for p in PACKAGE.rglob('*.py')}
    assert all(n <= MAX_LINES for n in sizes.values()), {m: n for m, n in sizes.items() if n > MAX_LINES}


def test_inference_imports_neither_tensorflow_nor_training_nor_export():
    code = ('import sys\n'
            'import vtn_jax.inference.api, vtn_jax.inference.recognizer, vtn_jax.inference.whole_video\n'
            'import vtn_jax.inference.openvino_backend, vtn_jax.inference.timeline, vtn_jax.inference.annotate\n'
            'from vtn_jax import Recognizer\n'
            'bad = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tensorflow_datasets", "jax",'
            ' "flax", "optax", "orbax") or m.startswith(("vtn_jax.training", "vtn_jax.export")))\n'
            'print(",".join(bad))\n')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout.strip() == '', f'importing inference loaded {proc.stdout.strip()}'


def test_every_module_has_its_test_file_or_the_readme_names_the_one_that_covers_it():
    """tests/test_<package>_<module>.py per module; the README's Layout section lists the exceptions as
    "- `package/module.py`, ...: `tests/test_x.py`"."""
    repo = PACKAGE.parent
    covered = {}
    for line in (repo / 'README.md').read_text().splitlines():
        match = re.fullmatch(r'- (`[\w/]+\.py`(?:, `[\w/]+\.py`)*): `(tests/test_\w+\.py)`', line.strip())
        if match:
            covered.update({m: match.group(2) for m in re.findall(r'`([\w/]+\.py)`', match.group(1))})
    assert covered and all((repo / t).is_file() for t in covered.values()), covered
    assert all((PACKAGE / m).is_file() for m in covered), sorted(m for m in covered if not (PACKAGE / m).is_file())
    missing = []
    for path in sorted(PACKAGE.rglob('*.py')):
        rel = path.relative_to(PACKAGE)
        if path.name == '__init__.py' or rel.parts[0] == 'configs':
            continue
        own = repo / 'tests' / f'test_{"_".join(rel.with_suffix("").parts)}.py'
        if not own.is_file() and str(rel) not in covered:
            missing.append(f'{rel} (no {own.relative_to(repo)}, and the README names no file covering it)')
    assert not missing, missing


def test_the_linter_finds_nothing():
    """`ruff check .` with the project's rules (pyproject.toml [tool.ruff]): pyflakes, pycodestyle, no broad
    except without a reason."""
    proc = subprocess.run([sys.executable, '-m', 'ruff', 'check', '--no-cache', '--output-format', 'concise', '.'],
                          cwd=PACKAGE.parent, capture_output=True, text=True, check=False)
    assert 'No module named ruff' not in proc.stderr, 'ruff is not installed: pip install -r requirements.txt'
    assert proc.returncode == 0, proc.stdout + proc.stderr
