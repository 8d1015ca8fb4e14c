"""What state a run is in and how far it got: status.json, cell.json and log.jsonl.

The training loop writes status.json and appends to log.jsonl; a study driver writes
cell.json. :func:`run_state` is the one rule that turns them into a run's state, believed
only while the process that wrote it lives. Readers never fail on a missing or half-written
file: a run folder may belong to a process that died at any moment.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from untwine.files import atomic_write_json, atomic_write_text, read_json_dict
from untwine.rundir.layout import CELL, LOG, STATUS, checkpoint_step, latest_checkpoint


def owner() -> dict[str, Any]:
    """Who writes a state: this process and machine, so readers can tell whether it lives."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


# -- status.json and cell.json --------------------------------------------------------------
def read_status(run_dir: str | Path) -> dict[str, Any]:
    """status.json, or ``{}``."""
    return read_json_dict(Path(run_dir) / STATUS)


def write_status(run_dir: str | Path, state: str, step: int, error: str | None = None) -> None:
    """Record the training loop's ``state`` at ``step`` (with this process as its owner)."""
    doc = {"state": state, "step": step, **owner(), "time": time.time()}
    if error:
        doc["error"] = error
    atomic_write_json(Path(run_dir) / STATUS, doc)


def read_cell(run_dir: str | Path) -> dict[str, Any]:
    """cell.json (a study driver's record of the cell), or ``{}``."""
    return read_json_dict(Path(run_dir) / CELL)


def write_cell(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Write a study driver's record of the cell, with the driver as its owner."""
    atomic_write_json(Path(run_dir) / CELL, {**record, **owner()})


def owner_alive(doc: Mapping[str, Any]) -> bool:
    """Whether the process that wrote ``doc`` may still be running: True on another host
    (nothing here can tell), False when no owner is recorded or its pid is gone here."""
    pid, host = doc.get("pid"), doc.get("host")
    if not isinstance(pid, int):
        return False
    if host is not None and host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def run_state(status: Mapping[str, Any], cell: Mapping[str, Any]) -> str:
    """The one rule for a run's state, from its status.json and cell.json documents.

    A study driver's record (cell.json) wins when there is one: it covers the whole cell,
    training and evaluation, and knows when a worker died without updating status.json.
    Otherwise the training loop's status.json; with neither, "pending". A "running" state is
    believed only while the process that wrote it lives (:func:`owner_alive`); a dead owner
    means the run was stopped without a chance to say so: "interrupted".
    """
    doc = cell if cell.get("state") else status
    state = str(doc.get("state") or "pending")
    if state == "running" and not owner_alive(doc):
        return "interrupted"
    return state


def step(run_dir: str | Path) -> int:
    """The step a run has reached: status.json's, else cell.json's, else its newest
    checkpoint's (0 for none)."""
    for doc in (read_status(run_dir), read_cell(run_dir)):
        if isinstance(doc.get("step"), int):
            return doc["step"]
    latest = latest_checkpoint(run_dir)
    return 0 if latest is None else checkpoint_step(latest)


# -- log.jsonl -----------------------------------------------------------------------------
def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of log.jsonl, up to the first unreadable line (a torn last line, written
    by a process killed mid-write, is skipped)."""
    records = []
    try:
        lines = (Path(run_dir) / LOG).read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            break
        if not isinstance(record, dict):
            break
        records.append(record)
    return records


def truncate_log(run_dir: str | Path, last_step: int) -> None:
    """Drop the log records after ``last_step`` (the checkpoint a run resumes from) and any
    torn last line, so the resumed run's log equals an uninterrupted one's."""
    path = Path(run_dir) / LOG
    if path.exists():
        kept = [r for r in read_log(run_dir) if int(r.get("step", 0)) <= last_step]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))
