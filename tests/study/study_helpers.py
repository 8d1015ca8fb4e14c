"""Helpers shared by the study tests (a module, not conftest, so tests can import it)."""

from __future__ import annotations

from pathlib import Path

import yaml

#: A tiny study on the 128-image test dataset: each run takes well under a second to train.
TINY = {
    "dataset": "test-squares",
    "steps": 10,
    "batch_size": 8,
    "checkpoint_every": 2,
    "log_every": 2,
    "metrics": ["mig"],
    "metric_options": {"num_points": 64},
}


def write_spec(path: Path, **spec) -> Path:
    path.write_text(yaml.safe_dump({**TINY, **spec}, sort_keys=False))
    return path
