"""Reading a study back: its status and its results table, from the index.

The table has one row per run: ``id, status, method, <axes>, seed, step, <scores>, wall_s``.
Axes are the hyperparameters that differ between runs; scores are, for each metric, the
entry named like the metric (``mig``, ``sap``, ``factor_vae_score``) or, for metrics with
several headline numbers, each of them (``dci.disentanglement``, ``dci.completeness`` ...).
``aggregate="median"`` (or ``"mean"``) folds the seeds together: one row per method and
hyperparameters, with ``n`` the number of finished runs it summarises.
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from untwine import rundir
from untwine.errors import ConfigError
from untwine.rundir import NOT_HYPERPARAMETERS, NOT_SCORES, STATES, RunRecord
from untwine.study.driver import driver_running
from untwine.study.index import StudyIndex, read_study_file
from untwine.text import format_cell, text_table

Row = dict[str, Any]


def _study_index(study_dir: str | Path, rebuild: bool = False) -> StudyIndex:
    study_dir = Path(study_dir)
    if not study_dir.is_dir():
        raise ConfigError(f"{study_dir}: no such study folder")
    if (
        not rebuild
        and not (study_dir / "index.sqlite").exists()
        and not (study_dir / "study.yaml").exists()
    ):
        raise ConfigError(f"{study_dir}: not a study folder (no study.yaml or index.sqlite)")
    return StudyIndex.open(study_dir, rebuild=rebuild)


def rebuild_index(study_dir: str | Path) -> int:
    """Rebuild ``index.sqlite`` from the run folders; returns the number of runs indexed."""
    with _study_index(study_dir, rebuild=True) as index:
        return len(index.records(in_spec_only=False))


def status(study_dir: str | Path) -> dict[str, Any]:
    """``{"counts": {state: n}, "runs": [{id, status, step, steps, error}], "driver": bool}``.

    Runs the index holds as running are read again from their folders: their state by
    :func:`untwine.rundir.run_state` (a run whose driver died is interrupted) and
    the step they have reached.
    """
    study_dir = Path(study_dir)
    alive = driver_running(study_dir)
    with _study_index(study_dir) as index:
        records = index.records()
    runs = []
    for r in records:
        if r.state == "running":
            live = rundir.read_record(r.path)
            r.state, r.step = live.state, live.step if live.step is not None else r.step
        runs.append(
            {"id": r.id, "status": r.state, "step": r.step, "steps": r.steps, "error": r.error}
        )
    counts = {s: 0 for s in STATES}
    for run in runs:
        counts[run["status"]] = counts.get(run["status"], 0) + 1
    return {"counts": counts, "runs": runs, "driver": alive}


def results(
    study_dir: str | Path,
    *,
    sort: str | None = None,
    ascending: bool | None = None,
    aggregate: Literal["median", "mean"] | None = None,
    include_all: bool = False,
) -> tuple[list[str], list[Row]]:
    """``(columns, rows)`` of the study's results table (see the module docstring).

    ``sort`` names a column, or a metric whose first score column is meant (``dci``);
    scores sort best (highest) first unless ``ascending``, other columns lowest first.
    Missing values sort last. ``include_all`` adds runs of earlier specs kept in the folder.
    """
    study_dir = Path(study_dir)
    with _study_index(study_dir) as index:
        records = index.records(in_spec_only=not include_all)
    metrics = list(read_study_file(study_dir).get("spec", {}).get("metrics", []))
    for r in records:  # metrics in runs but not in the spec (computed by hand) still show
        metrics += [m for m in r.metrics if m not in metrics]
    score_columns = _score_columns(metrics, records)
    axes = _axes([r.settings for r in records])
    rows = []
    for r in records:
        row: Row = {"id": r.id, "status": r.state, "method": r.method}
        row.update({k: r.settings.get(k) for k in axes})
        row.update(seed=r.seed, step=r.step)
        for column, (metric, key) in score_columns.items():
            row[column] = r.metrics.get(metric, {}).get(key)
        row.update(wall_s=r.wall_s, error=r.error)
        rows.append(row)
    columns = ["id", "status", "method", *axes, "seed", "step", *score_columns, "wall_s", "error"]
    if aggregate:
        columns, rows = _aggregate(rows, axes, list(score_columns), aggregate)
    if sort:
        rows = _sorted(rows, columns, list(score_columns), sort, ascending)
    return columns, rows


def _score_columns(metrics: list[str], records) -> dict[str, tuple[str, str]]:
    """Column name -> (metric, key) for each metric's headline score(s)."""
    keys: dict[str, list[str]] = {m: [] for m in metrics}
    for r in records:
        for metric, scores in r.metrics.items():
            for key in scores:
                if metric in keys and key not in NOT_SCORES and key not in keys[metric]:
                    keys[metric].append(key)
    columns = {}
    for metric in metrics:
        if metric in keys[metric] or not keys[metric]:
            columns[metric] = (metric, metric)
        else:
            for key in keys[metric]:
                columns[f"{metric}.{key}"] = (metric, key)
    return columns


def _axes(params: list[dict[str, Any]]) -> list[str]:
    """Hyperparameters whose values differ between runs (or that only some runs set)."""
    seen: dict[str, set[str]] = {}
    for p in params:
        for k, v in p.items():
            if k not in NOT_HYPERPARAMETERS:
                seen.setdefault(k, set()).add(json.dumps(v, sort_keys=True))
    return [k for k in seen if len(seen[k]) > 1 or not all(k in p for p in params)]


def _aggregate(
    rows: list[Row], axes: list[str], scores: list[str], how: str
) -> tuple[list[str], list[Row]]:
    """One row per (method, axes): the median (or mean) of each score over finished seeds."""
    fold = statistics.median if how == "median" else statistics.fmean
    groups: dict[str, list[Row]] = {}
    for row in rows:
        key = json.dumps([row["method"], *(row.get(k) for k in axes)], sort_keys=True)
        groups.setdefault(key, []).append(row)
    out = []
    for members in groups.values():
        done = [m for m in members if m["status"] == "done"]
        first = members[0]
        row: Row = {"method": first["method"], **{k: first.get(k) for k in axes}}
        row["n"] = len(done)
        row["runs"] = len(members)
        for column in scores:
            values = [m[column] for m in done if m.get(column) is not None]
            row[column] = fold(values) if values else None
        out.append(row)
    out.sort(key=lambda r: [_sort_key(r[k]) for k in ("method", *axes)])  # beta 1, 4, 6, 10
    return ["method", *axes, "n", "runs", *scores], out


def _sorted(
    rows: list[Row], columns: list[str], scores: list[str], sort: str, ascending: bool | None
) -> list[Row]:
    column = sort
    if column not in columns:
        prefixed = [c for c in columns if c.startswith(sort + ".")]
        if not prefixed:
            raise ConfigError(f"--sort: no column {sort!r}; columns: {', '.join(columns)}")
        column = prefixed[0]
    if ascending is None:
        ascending = column not in scores
    present = [r for r in rows if r.get(column) is not None]
    missing = [r for r in rows if r.get(column) is None]
    present.sort(key=lambda r: _sort_key(r[column]), reverse=not ascending)
    return present + missing


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, int | float) else (1, str(value))


# -- formatting ------------------------------------------------------------------------------
def format_rows(
    columns: Sequence[str], rows: Sequence[Row], fmt: Literal["table", "csv", "json"] = "table"
) -> str:
    """The rows as an aligned text table, CSV or a JSON list of objects."""
    if fmt == "json":
        return json.dumps([{c: r.get(c) for c in columns} for r in rows], indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({c: "" if r.get(c) is None else r.get(c) for c in columns})
        return buffer.getvalue()
    if fmt != "table":
        raise ConfigError(f"--format: expected table, csv or json (got {fmt!r})")
    shown = [c for c in columns if c != "error" or any(r.get("error") for r in rows)]
    return text_table([shown, *([format_cell(r.get(c)) for c in shown] for r in rows)])


def report_records(folder: str | Path) -> list[RunRecord]:
    """The rows of a study folder's report: every cell of the current spec, in the index's
    state (a run whose driver died is ``interrupted``), including cells that have no folder
    yet (``pending``); runs of cells no longer in the spec are left out. Where the index
    cannot be read, the run folders alone are shown."""
    folder = Path(folder)
    records = rundir.read_records(folder)

    try:
        states = {run["id"]: run for run in status(folder)["runs"]}
        with StudyIndex.open(folder) as index:
            cells = index.records()
    except Exception:  # noqa: BLE001 - a broken index must not stop the page
        return records
    by_id = {r.path.name: r for r in records if r.path.parent == folder / "runs"}
    out = []
    for cell in cells:
        live = states.get(cell.id, {})
        record = by_id.get(cell.id)
        if record is None:
            params = {"method": cell.method, "seed": cell.seed, **cell.settings}
            record = RunRecord(
                path=folder / "runs" / cell.id,
                name=f"runs/{cell.id}",
                state="pending",
                params={k: v for k, v in params.items() if k not in NOT_HYPERPARAMETERS},
                marks=["not started"],
            )
        record.state = str(live.get("status", cell.state))
        record.error = live.get("error", cell.error) if record.state != "done" else None
        out.append(record)
    return out
