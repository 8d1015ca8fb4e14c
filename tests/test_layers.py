"""The import layers declared in pyproject.toml hold, and the check catches an upward import."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


def lint_imports(source: Path, cache: Path) -> subprocess.CompletedProcess:
    """Run the project's contracts on the package found under ``source``."""
    env = {**os.environ, "PYTHONPATH": str(source)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--cache-dir", str(cache), str(ROOT / "pyproject.toml")],
        cwd=cache,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_contracts_hold_and_fail_on_an_upward_import(tmp_path):
    source = tmp_path / "src"
    shutil.copytree(
        ROOT / "src" / "untwine", source / "untwine", ignore=shutil.ignore_patterns("__pycache__")
    )
    cache = tmp_path / "cache"
    cache.mkdir()

    clean = lint_imports(source, cache)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "0 broken" in clean.stdout

    # A model that reaches up into the study layer.
    model = source / "untwine" / "models" / "__init__.py"
    model.write_text(model.read_text() + "\nimport untwine.study  # noqa: E402, F401\n")
    broken = lint_imports(source, cache)
    assert broken.returncode != 0
    assert "untwine.models is not allowed to import untwine.study" in broken.stdout
    assert "untwine.models -> untwine.study" in broken.stdout


def import_graph(src: Path) -> dict[str, set[str]]:
    """untwine module -> the untwine modules it imports anywhere in its text: at the top, inside
    functions and under ``if TYPE_CHECKING`` alike (a circle hidden there is still a circle)."""
    modules = {}
    for path in (src / "untwine").rglob("*.py"):
        parts = list(path.relative_to(src).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def known(name: str) -> str:
        while name not in modules:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                edges |= {known(a.name) for a in node.names if a.name.startswith("untwine")}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("untwine"):
                for a in node.names:
                    full = f"{node.module}.{a.name}"
                    edges.add(full if full in modules else known(node.module))
        graph[name] = edges - {name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles_not_even_behind_type_checking():
    assert circles(import_graph(ROOT / "src")) == []
    made_up = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(made_up) == [["a", "b", "c"]]
