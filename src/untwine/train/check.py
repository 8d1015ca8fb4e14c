"""Checking a run folder: what is wrong with it, and what is in it (``untwine check``)."""

from __future__ import annotations

import json
from pathlib import Path

from untwine import rundir
from untwine.config import TrainConfig
from untwine.errors import CheckpointError, UntwineError
from untwine.rundir import CHECKPOINTS, CONFIG, LOG, STATUS
from untwine.train import checkpoint


def check(run_dir: str | Path) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` about a run folder: config.yaml valid, status.json readable,
    log.jsonl parsed line by line with increasing steps, every checkpoint verified against
    its checksums. Takes no lock: it may run beside training."""
    path = Path(run_dir)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such run directory")
    problems: list[str] = []
    notes: list[str] = []
    try:
        config = TrainConfig.load(path / CONFIG)
        notes.append(f"{CONFIG}: valid ({config.method.name}, {config.steps} steps)")
    except UntwineError as e:
        problems.append(str(e))
    if (path / STATUS).exists() and not rundir.read_status(path):
        problems.append(f"{path / STATUS}: unreadable")
    record = rundir.read_record(path)
    notes.append(f"state: {record.state}" + (f" at step {record.step}" if record.step else ""))
    holder = rundir.lock_holder(path)
    if holder:
        notes.append(f"being trained by pid {holder['pid']} on {holder.get('host')}")
    _check_log(path, problems, notes)
    found = rundir.complete_checkpoints(path)
    if not found:
        notes.append("no checkpoint")
    for cp in found:
        try:
            checkpoint.verify(cp)
            notes.append(f"{CHECKPOINTS}/{cp.name}: checksums match")
        except CheckpointError as e:
            problems.append(str(e))
    root = path / CHECKPOINTS
    if root.is_dir():
        aside = sorted(p.name for p in root.glob(checkpoint.SET_ASIDE + "*"))
        partial = sorted(p.name for p in root.glob(".tmp-*"))
        if aside:
            notes.append(f"set aside as corrupt earlier: {', '.join(aside)}")
        if partial:
            notes.append(f"partial checkpoint left by a killed process: {', '.join(partial)}")
    return problems, notes


def _check_log(path: Path, problems: list[str], notes: list[str]) -> None:
    try:
        lines = (path / LOG).read_text().splitlines()
    except OSError:
        notes.append(f"no {LOG}")
        return
    last = 0
    for i, line in enumerate(lines, 1):
        try:
            step = json.loads(line)["step"]
        except (ValueError, KeyError, TypeError):
            if i == len(lines):  # a kill mid-write; resume drops it
                notes.append(f"{LOG}: torn last line {i} (dropped on resume)")
            else:
                problems.append(f"{path / LOG}: line {i} is not a log record")
            return
        if not isinstance(step, int) or step <= last:
            problems.append(f"{path / LOG}: line {i}: step {step!r} does not follow {last}")
            return
        last = step
    notes.append(f"{LOG}: {len(lines)} records, last at step {last}")
