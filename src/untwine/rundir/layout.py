"""Where things lie in a run folder: its file names, and finding run folders and checkpoints.

The names of every file a run folder holds are defined here once, with the settings that
say where a run is carried out rather than what it computes. Checkpoints lie in
``checkpoints/step-00001000/``; this module finds them by their names and files alone (no
tensor is read, so it needs no torch); what a checkpoint holds is
:mod:`untwine.train.checkpoint`'s.
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG = "config.yaml"
STATUS = "status.json"
CELL = "cell.json"
METRICS = "metrics.json"
LIKELIHOOD = "likelihood.json"
LOG = "log.jsonl"
#: The folder of a run that holds its checkpoints.
CHECKPOINTS = "checkpoints"
LOCK = ".lock"

#: A checkpoint's folder inside :data:`CHECKPOINTS` is this prefix and its step
#: (``step-00001000``), holding these three files.
CHECKPOINT_PREFIX = "step-"
CHECKPOINT_TENSORS = "tensors.safetensors"
CHECKPOINT_STATE = "state.json"
CHECKPOINT_CHECKSUMS = "checksums.json"

#: Files whose presence makes a folder a run folder (any one of them).
RUN_MARKERS = (CONFIG, STATUS, CELL)

#: States of a run. "running" is only believed while the process that wrote it lives.
STATES = ("done", "running", "failed", "interrupted", "pending")

#: Top-level settings of a TrainConfig that say where and how a run is carried out, not what
#: it computes: the weights at every step are the same whatever their values. They are left
#: out of a study cell's id (changing them neither retrains nor duplicates a cell; the ids of
#: existing studies depend on exactly this set), are not shown as hyperparameters in reports,
#: and may change when a run is resumed (so may ``steps``: see :data:`RESUMABLE`). ``out``
#: may change on resume because a run folder can be moved (a renamed study folder).
NOT_HYPERPARAMETERS = ("out", "log_every", "checkpoint_every", "keep_checkpoints", "device")

#: Settings that may differ from config.yaml on resume: the above plus ``steps``, which
#: extends (or ends earlier) the same trajectory without changing the weights at a step.
RESUMABLE = frozenset(NOT_HYPERPARAMETERS) | {"steps"}

#: Entries of a metric's result that are bookkeeping, not scores.
NOT_SCORES = frozenset({"seed", "seconds"})


# -- finding run folders ------------------------------------------------------------------
def is_run_dir(path: str | Path) -> bool:
    path = Path(path)
    return any((path / marker).is_file() for marker in RUN_MARKERS)


def find_run_dirs(folder: str | Path) -> list[Path]:
    """Every run folder at or below ``folder``, sorted by path. Run folders do not nest, so
    the search does not descend into one (nor into hidden folders such as a study's ``.jobs``)."""
    found = []
    for root, dirs, files in os.walk(Path(folder)):
        if any(marker in files for marker in RUN_MARKERS):
            found.append(Path(root))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found)


# -- finding checkpoints ------------------------------------------------------------------
def checkpoint_name(step: int) -> str:
    """The folder name of the checkpoint of ``step``: ``step-00001000``."""
    return f"{CHECKPOINT_PREFIX}{step:08d}"


def checkpoint_step(path: str | Path) -> int:
    """The step of a checkpoint folder, read from its name (the one place that parses it)."""
    return int(Path(path).name.removeprefix(CHECKPOINT_PREFIX))


def complete_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoint directories of a run, oldest first."""
    root = Path(run_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.is_dir()
        and p.name.startswith(CHECKPOINT_PREFIX)
        and (p / CHECKPOINT_STATE).is_file()
        and (p / CHECKPOINT_TENSORS).is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint directory of a run, or None."""
    found = complete_checkpoints(run_dir)
    return found[-1] if found else None
