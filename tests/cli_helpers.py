"""Running the ``untwine`` command line in a subprocess, for the CLI tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def untwine(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    """``python -m untwine ARGS`` in ``cwd`` with ``env``; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "untwine", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
