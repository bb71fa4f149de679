"""The shape of the code, checked: layers import only downwards, no module-level import cycle,
every function-level (lazy) import says why, no file grows past ~400 lines."""
import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "chalicelib"
MAX_LINES = 400


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def resolve(module: str, node: ast.ImportFrom | ast.Import, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level:
        base = base[:len(base) - node.level + 1]
    prefix = ".".join(base + ([node.module] if node.module else []))
    if not node.level:
        prefix = node.module or ""
    # `from . import x` may name submodules
    return [prefix] + [f"{prefix}.{a.name}" for a in node.names]


def imports(module: str, path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    known = modules()
    found = set()
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in resolve(module, node, path.name == "__init__.py"):
                if name in known and name != module:
                    found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    return {m: imports(m, p, top_level_only=True) for m, p in modules().items()}


def test_no_import_cycle_between_modules():
    g, state, cycles = graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(g[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"
    for node in sorted(g):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else module


@pytest.mark.parametrize("module", sorted(modules()))
def test_layers_import_only_what_they_may(module):
    """domain imports no AWS and no other layer; services never reach pynamodb models; the API
    never touches storage or AWS directly."""
    path = modules()[module]
    everything = imports(module, path, top_level_only=False)
    source = path.read_text()
    kind = layer(module)
    if kind == "domain":
        assert not {m for m in everything if layer(m) != "domain"}, module
        for banned in ("boto3", "botocore", "pynamodb", "chalice"):
            assert f"import {banned}" not in source and f"from {banned}" not in source, module
    if kind == "runner":
        # staged on its own for the sandbox user (executor/staging.py): the standard library
        # and its own package only; nothing of the service, nothing installed
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1, (module, node.lineno)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
                for name in names:
                    top = name.split(".")[0]
                    assert top in sys.stdlib_module_names or top == "__future__", (module, name)
    if kind in ("services", "api", "workers", "runner", "executor", "local", "wiring"):
        assert "chalicelib.storage.models" not in everything, module
        assert "pynamodb" not in source, module
    if kind == "api":
        assert not {m for m in everything if layer(m) in ("storage", "aws", "workers")}, module


def test_every_lazy_import_says_why():
    """A function-level import is there to break a real cycle or keep cold start down: the line
    (or the one above it) says which, with `# lazy:`."""
    unexplained = []
    for module, path in modules().items():
        lines = path.read_text().splitlines()
        tree = ast.parse(path.read_text())
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    here = lines[node.lineno - 1] + lines[node.lineno - 2]
                    if "# lazy:" not in here:
                        unexplained.append(f"{module}:{node.lineno}")
    assert unexplained == []


def test_no_file_over_the_limit():
    long = {str(p.relative_to(ROOT)): n for p in list(PACKAGE.rglob("*.py")) + [ROOT / "app.py"]
            if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert long == {}
