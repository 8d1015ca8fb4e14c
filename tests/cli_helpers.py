"""Running the ``untwine`` command line, for the CLI tests: in a subprocess (what a shell
does, and what process-level behaviour needs: signals, exit codes of a dying process, the
environment) or in this process through the same entry point (``untwine.cli.main``), which
spares the ~2 s of a fresh interpreter importing torch for commands that only read or
report."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout
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


def untwine_here(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``untwine ARGS`` run by ``untwine.cli.main`` in this process, in ``cwd``: the same
    parsing, errors and exit codes as the command, output captured as text. The process's
    working directory, argv and warning hook are restored afterwards."""
    from untwine import cli

    out, err = io.StringIO(), io.StringIO()
    saved = os.getcwd(), sys.argv, warnings.showwarning
    code = 0
    try:
        os.chdir(cwd)
        sys.argv = ["untwine", *args]
        with redirect_stdout(out), redirect_stderr(err):
            try:
                cli.main()
            except SystemExit as done:
                code = done.code if isinstance(done.code, int) else int(done.code is not None)
    finally:
        os.chdir(saved[0])
        sys.argv, warnings.showwarning = saved[1], saved[2]
    return subprocess.CompletedProcess(["untwine", *args], code, out.getvalue(), err.getvalue())
