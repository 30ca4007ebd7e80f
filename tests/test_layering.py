"""The package's imports run one way: study -> analysis / evaluation -> models / datasets ->
engine / masking, and no module imports one that imports it back (read from the source, every
import statement, including those inside functions)."""
import ast
from pathlib import Path
from typing import Dict, Set

from helpers import REPO

PACKAGE = REPO / 'cmae_mm'
#: Layer of each top-level part of the package: a module imports only from lower layers or from
#: its own part. ``cmae_mm.components`` (importing it registers every part) stands outside the
#: layers, as the package itself does: a tool-facing function may import it for registration.
LAYERS = {'study': 4, 'analysis': 3, 'evaluation': 3, 'datasets': 2, 'models': 2, 'engine': 1,
          'masking': 1}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def imports_of(path: Path) -> Set[str]:
    """The ``cmae_mm`` modules that a file imports (relative imports resolved)."""
    name = module_name(path)
    package = name if path.name == '__init__.py' else name.rsplit('.', 1)[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith('cmae_mm')}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - node.level + 1]
                target = '.'.join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ''
            if target.startswith('cmae_mm'):
                # `from .x import y` may name a submodule y
                subs = {f'{target}.{a.name}' for a in node.names}
                found |= {s for s in subs if s in MODULES} or {target}
    return found


MODULES: Dict[str, Path] = {module_name(p): p for p in PACKAGE.rglob('*.py')}


def part(module: str) -> str:
    return module.split('.')[1] if module.count('.') else ''


def test_imports_only_go_down_the_layers():
    wrong = []
    for name, path in MODULES.items():
        if part(name) not in LAYERS:
            continue
        for target in imports_of(path):
            if part(target) in LAYERS and part(target) != part(name) \
                    and LAYERS[part(target)] >= LAYERS[part(name)]:
                wrong.append(f'{name} -> {target}')
    assert not wrong, wrong


def test_no_import_cycle():
    graph = {name: {t for t in imports_of(path) if t in MODULES and t != name
                    and not t.endswith('cmae_mm')}
             for name, path in MODULES.items()}
    # a package's __init__ imports its submodules by design: only module -> module edges count
    graph = {n: {t for t in ts if not n.startswith(t + '.')} for n, ts in graph.items()}
    state: Dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles
