"""The shape of the code base (issue 15): what a newcomer relies on when reading the tree.

These are static checks over the source (``ast``), so they are fast and exact: a module
that grows past the limits, a private name imported across modules or an import cycle
fails here with the place to look at.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "streamer"
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
#: the packages of the tree, each with one line on its role in the README's code map
PACKAGES = (
    "cli", "settings", "daemon", "pipeline", "source", "stages", "rules", "sinks",
    "checkpoint", "observability", "report", "audit", "simulator",
)  # fmt: skip


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported (not under TYPE_CHECKING, not in functions)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import | ast.ImportFrom):
                found.append(node)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(node.orelse)

    visit(tree.body)
    return found


def _deps(name: str, path: Path) -> set[str]:
    deps: set[str] = set()
    for node in _top_level_imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            deps |= {a.name for a in node.names if a.name in MODULES}
        elif node.module and node.level == 0:
            subs = {f"{node.module}.{a.name}" for a in node.names} & MODULES.keys()
            deps |= subs
            if node.module in MODULES and len(subs) < len(node.names):
                deps.add(node.module)
    deps.discard(name)
    return deps


def test_no_module_is_over_the_size_limit() -> None:
    """Every module stays under ~300 lines, so each one reads in one sitting."""
    big = {
        str(p.relative_to(ROOT.parent)): n
        for p in MODULES.values()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert big == {}


def test_no_function_is_over_the_size_limit() -> None:
    """Every function stays under 60 lines (split into named steps instead)."""
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    where = f"{path.relative_to(ROOT.parent)}:{node.lineno}"
                    long.append(f"{where} {node.name} {lines}")
    assert long == []


def test_no_module_imports_another_modules_private_name() -> None:
    """``from streamer.x import _name`` across modules is a hidden contract: make it public."""
    found = []
    for name, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.module and node.level == 0):
                continue
            if not node.module.startswith("streamer"):
                continue
            is_package = node.module in MODULES and MODULES[node.module].name == "__init__.py"
            package = node.module if is_package else None
            for alias in node.names:
                private = alias.name.startswith("_") and alias.name != "__version__"
                # a package's own private submodule (stages/_paths.py) is fine inside it
                inside = package is not None and name.startswith(package + ".")
                if private and not inside:
                    found.append(f"{name} imports {node.module}.{alias.name}")
    assert found == []


def test_no_import_cycles() -> None:
    """Module-level imports form no cycle, so any module can be imported alone."""
    graph = {name: _deps(name, path) for name, path in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def strongconnect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while (w := stack.pop()) != v:
                comp.append(w)
            if comp:
                cycles.append(sorted([v, *comp]))

    for v in graph:
        if v not in index:
            strongconnect(v)
    assert cycles == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_is_on_the_readme_code_map(package: str) -> None:
    """The README's code map names every package with its role."""
    readme = (ROOT.parent / "README.md").read_text()
    code_map = readme[readme.index("## Layout of the code") :]
    assert f"{package}/" in code_map
    assert (ROOT / package / "__init__.py").exists()
    assert ast.get_docstring(ast.parse((ROOT / package / "__init__.py").read_text()))


def test_every_command_is_a_module_with_arguments_and_main() -> None:
    """Each sub-command in the CLI table is a module with ``add_arguments`` and ``main``."""
    from streamer.cli.main import COMMANDS

    for name, module, _help in COMMANDS:
        tree = ast.parse(MODULES[module].read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assert {"add_arguments", "main"} <= defined, name
