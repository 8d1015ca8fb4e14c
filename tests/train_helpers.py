"""Small training runs shared by the method tests: every method and family trains on the test
squares with the same settings, resumes from the middle checkpoint, and compares logs."""

from __future__ import annotations

import json
from pathlib import Path

import untwine

COMMON = dict(batch_size=8, seed=0, lr=1e-3, log_every=4, progress=False, threads=1)
STEPS = 16


def train_small(out: Path, steps: int, resume: bool = False, **settings):
    """``steps`` of training on the test squares, a checkpoint every ``STEPS // 2``."""
    return untwine.train(
        "test-squares",
        steps=steps,
        out=out,
        checkpoint_every=STEPS // 2,
        resume=resume,
        **COMMON,
        **settings,
    )


def log_records(run_dir: Path) -> list[dict]:
    """The run's log lines without their timing (which differs between runs)."""
    return [
        {k: v for k, v in json.loads(x).items() if k != "images_per_s"}
        for x in (Path(run_dir) / "log.jsonl").read_text().splitlines()
    ]
