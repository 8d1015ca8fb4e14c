"""The import layers declared in pyproject.toml hold, and the check catches an upward import."""

from __future__ import annotations

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
