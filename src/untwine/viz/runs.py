"""Reading run directories for display, whatever state they are in.

A report must render a folder where some runs finished, some crashed half-way, some were
never evaluated and some are still pending, so everything here reads files defensively and
never needs the model: ``config.yaml`` as plain YAML (a run of a plugin method still shows),
``status.json`` (the training loop's own state), ``cell.json`` (a study driver's record of the
run, which knows when a worker died without updating ``status.json``), ``metrics.json`` and
the presence of a checkpoint.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from untwine.train import checkpoint

#: Files whose presence makes a directory a run directory (any one of them).
RUN_MARKERS = ("config.yaml", "status.json", "cell.json")
#: Entries of a metric result that are bookkeeping, not scores.
NOT_SCORES = {"seed", "seconds"}
#: Settings that are not hyperparameters of the model (where a run writes, how often it logs).
NOT_PARAMS = {"out", "checkpoint_every", "log_every", "keep_checkpoints", "device"}


def find_run_dirs(folder: str | Path) -> list[Path]:
    """Every run directory at or below ``folder`` (a directory holding config.yaml,
    status.json or cell.json), sorted by path. Run directories do not nest, so the search
    does not descend into one (nor into hidden directories such as a study's ``.jobs``)."""
    folder = Path(folder)
    found = []
    for root, dirs, files in os.walk(folder):
        if any(marker in files for marker in RUN_MARKERS):
            found.append(Path(root))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def headline_scores(metrics: dict[str, Any]) -> dict[str, float | None]:
    """Headline numbers of a metrics.json: ``{metric: value}`` where the result has an entry
    named like the metric (``mig``, ``sap`` ...), else ``{metric.key: value}`` for each of its
    scalar entries (``dci.disentanglement``, ``elbo.total_correlation`` ...) — the columns a
    study's results table uses. Non-finite values (undefined scores) are None."""
    out: dict[str, float | None] = {}
    for name, result in metrics.items():
        if not isinstance(result, dict):
            continue
        if name in result and _scalar(result[name]):
            out[name] = _finite(result[name])
            continue
        for key, value in result.items():
            if key not in NOT_SCORES and _scalar(value):
                out[f"{name}.{key}"] = _finite(value)
    return out


def _scalar(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def _finite(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def flat_params(config: dict[str, Any]) -> dict[str, Any]:
    """The hyperparameters of a raw config mapping, flat: the method's settings (``beta``),
    the model's and optimiser's (``z_dim``, ``lr``), ``steps`` and ``seed``; plus ``method``
    and ``dataset`` names."""
    out: dict[str, Any] = {}
    method = config.get("method")
    if isinstance(method, dict):
        out["method"] = method.get("name")
        out.update({k: v for k, v in method.items() if k != "name"})
    elif isinstance(method, str):
        out["method"] = method
    dataset = config.get("dataset")
    if isinstance(dataset, dict):
        out["dataset"] = dataset.get("name")
    for section in ("model", "optim"):
        values = config.get(section)
        if isinstance(values, dict):
            out.update(values)
    for key, value in config.items():
        if key not in {"method", "dataset", "model", "optim"} | NOT_PARAMS:
            out[key] = value
    return out


@dataclass
class RunRecord:
    """What a report shows of one run directory.

    ``state`` is ``done``, ``running``, ``failed``, ``interrupted``, ``pending`` or
    ``unknown`` (no status recorded); ``marks`` add what else is wrong (``no checkpoint``,
    ``not evaluated``, ``no config``, ``unreadable metrics.json``).
    """

    path: Path
    name: str
    state: str
    step: int | None = None
    steps: int | None = None
    error: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    config_text: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float | None] = field(default_factory=dict)
    has_checkpoint: bool = False
    updated: float | None = None
    marks: list[str] = field(default_factory=list)

    @property
    def evaluated(self) -> bool:
        return bool(self.metrics)

    @property
    def method(self) -> str | None:
        value = self.params.get("method")
        return None if value is None else str(value)


def read_run(path: str | Path, root: str | Path | None = None) -> RunRecord:
    """Read a run directory into a :class:`RunRecord` without loading the model."""
    path = Path(path)
    name = str(path.relative_to(root)) if root is not None else path.name
    if name == ".":
        name = path.resolve().name
    config: dict[str, Any] = {}
    config_text = ""
    marks = []
    try:
        config_text = (path / "config.yaml").read_text()
        loaded = yaml.safe_load(config_text)
        if isinstance(loaded, dict):
            config = loaded
        else:
            marks.append("unreadable config.yaml")
    except OSError:
        marks.append("no config")
    except yaml.YAMLError:
        marks.append("unreadable config.yaml")

    status = _read_json(path / "status.json")
    cell = _read_json(path / "cell.json")
    state = str(status.get("state")) if status and status.get("state") else None
    cell_state = str(cell.get("state")) if cell and cell.get("state") else None
    # The driver records a worker that died; the loop's own status still says "running".
    if cell_state and (state is None or (state == "running" and cell_state != "running")):
        state = cell_state
    state = state or "unknown"
    error = (status or {}).get("error") or (cell or {}).get("error")
    step = (status or {}).get("step", (cell or {}).get("step"))

    has_checkpoint = checkpoint.latest(path) is not None
    if not has_checkpoint:
        marks.append("no checkpoint")
    metrics: dict[str, Any] = {}
    if (path / "metrics.json").exists():
        metrics = _read_json(path / "metrics.json") or {}
        if not metrics:
            marks.append("unreadable metrics.json")
    if not metrics:
        marks.append("not evaluated")
    steps = config.get("steps")
    return RunRecord(
        path=path,
        name=name,
        state=state,
        step=step if isinstance(step, int) else None,
        steps=steps if isinstance(steps, int) else None,
        error=str(error) if error else None,
        config=config,
        config_text=config_text,
        params=flat_params(config),
        metrics=metrics,
        scores=headline_scores(metrics),
        has_checkpoint=has_checkpoint,
        updated=(status or {}).get("time"),
        marks=marks,
    )


def read_runs(folder: str | Path) -> list[RunRecord]:
    """A :class:`RunRecord` for every run directory below ``folder``.

    A study folder (one with ``study.yaml``) is read through its results index instead, as
    ``untwine study status`` reads it: every cell of the current spec, in the index's state
    (a run whose driver died is ``interrupted``), including cells that have no folder yet
    (``pending``); runs of cells no longer in the spec are left out. Where the index cannot
    be read, the folders alone are shown.
    """
    folder = Path(folder)
    records = [read_run(p, folder) for p in find_run_dirs(folder)]
    if (folder / "study.yaml").is_file():
        records = _study_cells(folder, records)
    return records


def _study_cells(folder: Path, records: list[RunRecord]) -> list[RunRecord]:
    from untwine.study import status
    from untwine.study.index import StudyIndex

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
            params = {"method": cell.method, "seed": cell.seed, **cell.params}
            record = RunRecord(
                path=folder / "runs" / cell.id,
                name=f"runs/{cell.id}",
                state="pending",
                params={k: v for k, v in params.items() if k not in NOT_PARAMS},
                marks=["not started"],
            )
        record.state = str(live.get("status", cell.status))
        record.error = live.get("error", cell.error) if record.state != "done" else None
        out.append(record)
    return out


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
