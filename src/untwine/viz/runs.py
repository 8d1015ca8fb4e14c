"""Reading run directories for display, whatever state they are in.

A report must render a folder where some runs finished, some crashed half-way, some were
never evaluated and some are still pending. Each run folder is read by
:func:`untwine.rundir.read_record`, which never needs the model and never fails on
a missing or half-written file; this module adds what a page of many runs needs: a study's
cells (from its results index) and the hyperparameters that vary between runs.
"""

from __future__ import annotations

import json
from pathlib import Path

from untwine.rundir import RunRecord, find_run_dirs, headline_scores
from untwine.rundir import read_record as _read_record
from untwine.rundir import read_records as read_runs

__all__ = [
    "RunRecord",
    "find_run_dirs",
    "headline_scores",
    "read_run",
    "read_runs",
    "varying_params",
]


def read_run(path: str | Path, root: str | Path | None = None) -> RunRecord:
    """Read a run directory into a :class:`RunRecord` without loading the model."""
    return _read_record(path, root=root)


def varying_params(records: list[RunRecord]) -> list[str]:
    """Hyperparameters whose values differ between runs, or that only some runs set
    (``beta`` for beta-VAE runs beside FactorVAE runs); ``method`` and ``seed`` first."""
    seen: dict[str, set[str]] = {}
    for r in records:
        for k, v in r.params.items():
            seen.setdefault(k, set()).add(json.dumps(v, sort_keys=True, default=str))
    keys = [
        k for k in seen if len(seen[k]) > 1 or not all(k in r.params for r in records if r.params)
    ]
    first = [k for k in ("method", "seed") if k in keys]
    return first + [k for k in keys if k not in first]
