"""README's commands, run one by one as a newcomer copies them.

Every ```sh and ```python block of README.md runs in order, in one folder holding a copy of
the repository's ``studies/``: shell lines as commands (``untwine`` is the installed one),
Python blocks as one script. What is cut so that they run in seconds, and nothing else:
- the install lines (``python3 -m venv``, ``pip install``), which ``make test`` ran to get here;
- step counts: ``--steps N`` and ``steps=N`` become 2; a study spec trains 2 steps of batch
  16, its first seed and the first value of each grid axis only, and scores 500 points;
- ``--k N`` of a likelihood estimate becomes 2.
A command that exits with an error fails the test, which shows the command and its output.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from cli_helpers import untwine_here

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ("python3 -m venv", "pip install")


def blocks(markdown: str) -> list[tuple[str, str]]:
    """(language, text) of every fenced block tagged sh or python, in order."""
    return [
        (lang, text)
        for lang, text in re.findall(r"^```(\w*)\n(.*?)^```", markdown, re.M | re.S)
        if lang in ("sh", "python")
    ]


def shell_commands(text: str) -> list[str]:
    """The command lines of a shell block, comments and install steps left out."""
    commands = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(INSTALL):
            commands.append(line)
    return commands


def shrink(command: str) -> str:
    command = re.sub(r"--steps \d+", "--steps 2", command)
    command = re.sub(r"\bsteps=\d+", "steps=2", command)
    return re.sub(r"--k \d+", "--k 2", command)


def shrink_studies(folder: Path) -> None:
    for path in folder.glob("*.yaml"):
        spec = yaml.safe_load(path.read_text())
        spec.update(steps=2, seeds=spec.get("seeds", [0])[:1], checkpoint_every=2, log_every=1)
        spec.update(batch_size=16, metric_options={"num_points": 500})
        for entry in spec.get("grid", []):  # each axis at its first value
            entry.update({k: v[:1] for k, v in entry.items() if isinstance(v, list)})
        path.write_text(yaml.safe_dump(spec, sort_keys=False))


def test_the_readme_blocks_are_found():
    found = blocks((ROOT / "README.md").read_text())
    langs = [lang for lang, _ in found]
    assert langs.count("python") >= 1 and langs.count("sh") >= 2
    commands = [c for lang, text in found if lang == "sh" for c in shell_commands(text)]
    assert any(c.startswith("untwine train") for c in commands)
    assert shrink("untwine train --steps 300 --k 50") == "untwine train --steps 2 --k 2"


@pytest.mark.slow  # trains, scores and reports a few 2-step runs, and a 2-cell study
def test_every_readme_command_runs(tmp_path, data, monkeypatch):
    # ``data``: the session's rendered dSprites (UNTWINE_HOME), so nothing renders twice.
    # The Python blocks run in a fresh interpreter, as a newcomer's script would; the
    # ``untwine`` lines through the command's entry point in this process (the same parsing
    # and exit codes, without a fresh interpreter's ~2 s of imports each).
    shutil.copytree(ROOT / "studies", tmp_path / "studies")
    shrink_studies(tmp_path / "studies")
    for lang, text in blocks((ROOT / "README.md").read_text()):
        if lang == "python":
            done = subprocess.run(
                [sys.executable, "-c", shrink(text)],
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=600,
            )
            _check(done, text)
            continue
        for command in shell_commands(text):
            argv = shlex.split(shrink(command))
            assert argv[0] == "untwine", f"README runs only untwine commands: {command}"
            _check(untwine_here(*argv[1:], cwd=tmp_path), command)
    assert (tmp_path / "runs" / "f35" / "report.html").is_file()
    assert (tmp_path / "runs" / "iw5" / "likelihood.json").is_file()


def _check(done: subprocess.CompletedProcess, shown: str) -> None:
    output = (done.stdout + done.stderr)[-3000:]
    assert done.returncode == 0, f"README command failed: {shown}\n{output}"
