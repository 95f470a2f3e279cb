"""Pointers lead somewhere: every README "Section" (or docs/x.md "Section") named in the code or the docs is a
heading of that file, every
Markdown link (file and #anchor) in README.md and docs/ resolves, every `vtn_jax.x.y` named in a docstring, a
comment or the docs is a module or attribute, and every flag shown on a `vtn-*` or `python bench/*.py` command
line in the docs is a flag of that command. All of it is read from the files; nothing is imported."""
import ast
import io
import pathlib
import re
import tokenize

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCS = [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))]
# vtn_jax/configs is a link to configs/: read once. This file names made-up pointers as examples.
SOURCES = sorted(p for folder in ('vtn_jax', 'configs', 'bench', 'tests') for p in (REPO / folder).rglob('*.py')
                 if p.relative_to(REPO).parts[:2] != ('vtn_jax', 'configs') and p != pathlib.Path(__file__).resolve())
# Pointers in files that are being rewritten elsewhere (their fix comes with that change): file -> pointers.
LEFT_TO_THEIR_OWNERS = {
    'vtn_jax/export/clips.py': ('vtn_jax.input_pipeline',),
    'vtn_jax/inference/openvino_frames.py': ('vtn-export --raw_frames',),
}
DOTTED = re.compile(r'\bvtn_jax(?:\.[A-Za-z_]\w*)+')
SECTION_REF = re.compile(r'\b(README|docs/\w+\.md) "([^"]+)"')
LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'^\s*```')


def rel(path: pathlib.Path) -> str:
    return str(path.relative_to(REPO))


def not_left(wrong: list[str]) -> list[str]:
    """`wrong` ('file:line pointer') without the pointers LEFT_TO_THEIR_OWNERS."""
    return [w for w in wrong if not any(w.startswith(f'{file}:') and w.endswith(' ' + pointer)
                                        for file, pointers in LEFT_TO_THEIR_OWNERS.items() for pointer in pointers)]


def prose_lines(path: pathlib.Path):
    """(line number, line, inside a fenced code block) for every line of a Markdown file."""
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        yield number, line, fenced


def headings(path: pathlib.Path) -> list[str]:
    return [line.lstrip('#').strip() for _, line, fenced in prose_lines(path)
            if not fenced and re.match(r'#{1,6} ', line)]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation other than - and _ dropped, spaces to hyphens."""
    return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def comments_and_docstrings(path: pathlib.Path) -> list[tuple[int, str]]:
    """(line number, line) of every comment and docstring line of a Python file."""
    source = path.read_text()
    found = [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
             if tok.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                found += [(node.body[0].lineno + i, line) for i, line in enumerate(doc.splitlines())]
    return found


def module_names(path: pathlib.Path, chain: list[str]) -> bool:
    """Whether `chain` (attribute, then its attributes) is defined in the module file: a top-level def, class,
    assignment or import (or in `__all__`), then a member of that class."""
    scope = ast.parse(path.read_text()).body
    for name in chain:
        defined = {}
        for node in scope:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined[node.name] = node
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    for n in ast.walk(target):
                        if isinstance(n, ast.Name):
                            defined[n.id] = node
                            if n.id == '__all__' and isinstance(node.value, (ast.List, ast.Tuple)):
                                defined.update({e.value: None for e in node.value.elts
                                                if isinstance(e, ast.Constant)})
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                defined[node.target.id] = node
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                defined.update({(a.asname or a.name).split('.')[0]: None for a in node.names})
        if name not in defined:
            return False
        node = defined[name]
        if not isinstance(node, ast.ClassDef):
            return True  # an attribute of a function or a value: not followed further
        scope = node.body
    return True


def resolves(dotted: str) -> bool:
    """`vtn_jax.a.b.c`: a package or module path under vtn_jax/, then names defined in that module."""
    parts = dotted.split('.')
    path, i = REPO / 'vtn_jax', 1
    while i < len(parts) and ((path / parts[i]).is_dir() or (path / f'{parts[i]}.py').is_file()):
        path = path / parts[i] if (path / parts[i]).is_dir() else path / f'{parts[i]}.py'
        i += 1
    if i == len(parts):
        return True
    module = path / '__init__.py' if path.is_dir() else path
    return module.is_file() and module_names(module, parts[i:])


def test_the_name_resolver_has_teeth():
    assert resolves('vtn_jax.inference.api.Recognizer.from_export') and resolves('vtn_jax.data.frames')
    assert resolves('vtn_jax.Recognizer') and resolves('vtn_jax.configs.tiny.get_config')
    assert not resolves('vtn_jax.input_pipeline') and not resolves('vtn_jax.synthetic')
    assert not resolves('vtn_jax.inference.api.Recognizer.from_exports')
    assert slug("Against the authors' export") == 'against-the-authors-export'
    assert slug('synthetic_actions/two_cue: appearance x motion') == 'synthetic_actionstwo_cue-appearance-x-motion'


def test_sections_named_anywhere_exist():
    sections = {}

    def missing(where, text):
        out = []
        for name, section in SECTION_REF.findall(text):
            file = REPO / ('README.md' if name == 'README' else name)
            if file not in sections:
                sections[file] = set(headings(file)) if file.is_file() else set()
            if section not in sections[file]:
                out.append(f'{where} {name} "{section}"')
        return out

    wrong = []
    for path in SOURCES:
        wrong += [w for n, text in comments_and_docstrings(path) for w in missing(f'{rel(path)}:{n}', text)]
    for path in DOCS:
        wrong += [w for n, line, _ in prose_lines(path) for w in missing(f'{rel(path)}:{n}', line)]
    assert not wrong, f'sections that do not exist (README has {sorted(headings(REPO / "README.md"))}): {wrong}'


def test_markdown_links_resolve():
    wrong = []
    for path in DOCS:
        for number, line, fenced in prose_lines(path):
            for target in [] if fenced else LINK.findall(line):
                if re.match(r'[a-z]+:', target):  # http:, mailto:
                    continue
                file, _, anchor = target.partition('#')
                linked = (path.parent / file).resolve() if file else path
                if not linked.exists() or REPO not in linked.parents:
                    wrong.append(f'{rel(path)}:{number} {target}: no such file in the repository')
                elif anchor and anchor not in {slug(h) for h in headings(linked)}:
                    wrong.append(f'{rel(path)}:{number} {target}: no heading #{anchor} in {rel(linked)}')
    assert not wrong, wrong


def test_dotted_vtn_jax_names_exist():
    wrong = []
    for path in SOURCES:
        wrong += [f'{rel(path)}:{n} {m}' for n, text in comments_and_docstrings(path)
                  for m in DOTTED.findall(text) if not resolves(m)]
    for path in DOCS:
        wrong += [f'{rel(path)}:{n} {m}' for n, line, _ in prose_lines(path)
                  for m in DOTTED.findall(line) if not resolves(m)]
    wrong = not_left(wrong)
    assert not wrong, f'names of modules or attributes that do not exist: {wrong}'


SCRIPTS = {'train.py': 'vtn-train', 'export.py': 'vtn-export'}  # the top-level scripts run those commands


def command_lines(lines):
    """(line number, command, its --flags) for each `vtn-*` or `python bench/*.py` command line among `lines`,
    (number, text, whether it is code): a code line is read whole, prose only in its `inline code`; a trailing
    backslash continues the line."""
    pending, start = '', 0
    for number, line, code in lines:
        pieces = [line] if code else re.findall(r'`([^`]+)`', line)
        for piece in pieces:
            text = (pending + ' ' + piece.strip()) if pending else piece
            start = start if pending else number
            if text.rstrip().endswith('\\'):
                pending = text.rstrip()[:-1]
                continue
            pending = ''
            for match in re.finditer(r'(?:^|[\s;(`])(vtn-[a-z]+|python (?:bench/\w+|train|export)\.py)'
                                     r'((?:\s+[^|#;`]*)?)', text):
                flags = re.findall(r'(?<![\w-])--([a-z_][\w.]*)', match.group(2))
                command = match.group(1).replace('python ', '')
                yield start, SCRIPTS.get(command, command), flags


def markdown_lines(path: pathlib.Path):
    """(number, line, whether it is code: a fenced or an indented block) of a Markdown file."""
    return ((n, line, fenced or line.startswith('    ')) for n, line, fenced in prose_lines(path))


def flags_of_script(path: pathlib.Path) -> set[str]:
    text = path.read_text()
    return set(re.findall(r"DEFINE_\w+\(\s*'(\w+)'", text)) | set(re.findall(r"add_argument\('--(\w+)'", text))


def command_flags() -> dict[str, set[str]]:
    """{'vtn-costs': its flags, 'bench/x.py': its flags}, read from the sources."""
    cli = (REPO / 'vtn_jax' / 'tools' / 'cli.py').read_text()
    shared = dict(re.findall(r"^(\w+) = (?:flags|config_flags)\.DEFINE_\w+\(\s*'(\w+)'", cli, re.M))
    out = {}
    for path in (REPO / 'vtn_jax' / 'tools').glob('*.py'):
        if path.stem in ('__init__', 'cli'):
            continue
        text = path.read_text()
        common = text.split('COMMON = ', 1)[1].split('\n\n', 1)[0] if 'COMMON = ' in text else ''
        out[f'vtn-{path.stem}'] = flags_of_script(path) | {shared[n] for n in re.findall(r'cli\.([A-Z_]+)', common)
                                                           if n in shared}
    for path in (REPO / 'bench').glob('*.py'):
        out[f'bench/{path.name}'] = flags_of_script(path)
    return out


ABSL = {'helpshort', 'help', 'helpfull', 'verbosity', 'logtostderr', 'alsologtostderr', 'log_dir'}
THEIRS = {'test'}  # flags of the authors' scripts that the docs name


def test_the_flag_reader_has_teeth():
    known = command_flags()
    assert {'all_encoders', 'crop_size', 'config'} <= known['vtn-costs'] and 'export' not in known['vtn-costs']
    assert 'workdir' in known['bench/ablation.py']
    lines = list(command_lines(markdown_lines(REPO / 'README.md')))
    assert any(command == 'vtn-train' and 'config' in flags for _, command, flags in lines)


def wrong_flags(path, lines, known) -> list[str]:
    wrong = []
    for number, command, flags in command_lines(lines):
        if command not in known:
            wrong.append(f'{rel(path)}:{number} {command}: no such command')
            continue
        wrong += [f'{rel(path)}:{number} {command} --{flag}' for flag in flags
                  if flag.split('.')[0] not in known[command] | ABSL and not flag.startswith('no')]
    return wrong


@pytest.mark.parametrize('path', DOCS, ids=lambda p: p.name)
def test_flags_shown_in_the_docs_exist(path):
    wrong = wrong_flags(path, markdown_lines(path), command_flags())
    assert not wrong, f'flags the command does not take: {wrong}'


@pytest.mark.parametrize('path', DOCS, ids=lambda p: p.name)
def test_flags_named_in_prose_are_flags_of_some_command(path):
    known = set().union(*command_flags().values()) | ABSL | THEIRS
    wrong = [f'{rel(path)}:{n} --{flag}' for n, line, code in markdown_lines(path) if not code
             for inline in re.findall(r'`([^`]+)`', line) for flag in re.findall(r'^--([a-z_][\w.]*)', inline)
             if flag.split('.')[0] not in known and not flag.startswith('no')]
    assert not wrong, f'flags no command takes: {wrong}'


def test_flags_shown_in_docstrings_and_comments_exist():
    known = command_flags()
    wrong = []
    for path in SOURCES:
        wrong += wrong_flags(path, ((n, line, True) for n, line in sorted(comments_and_docstrings(path))), known)
    wrong = not_left(wrong)
    assert not wrong, f'flags the command does not take: {wrong}'
