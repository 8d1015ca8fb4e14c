"""One run folder read into one :class:`RunRecord`: what untwine knows of a run without
loading its model, whatever state the folder is in (its config and hyperparameters, its
state and step, its scores, and marks for what is missing)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from untwine.rundir.layout import (
    CONFIG,
    METRICS,
    NOT_HYPERPARAMETERS,
    find_run_dirs,
    latest_checkpoint,
)
from untwine.rundir.scores import (
    headline_scores,
    likelihood_scores,
    read_likelihood,
    read_metrics,
)
from untwine.rundir.state import read_cell, read_status, run_state


@dataclass
class RunRecord:
    """What untwine knows of one run folder without loading its model.

    ``state`` follows :func:`untwine.rundir.state.run_state`; ``settings`` are the flat
    settings a study chose for the cell (without method and seed); ``params`` the flat
    hyperparameters of config.yaml; ``metrics`` the metrics.json document (from a study's
    index: its scalar scores only); ``marks`` say what else is missing (``no checkpoint``,
    ``not evaluated``, ...).
    """

    path: Path
    state: str
    name: str = ""
    method: str | None = None
    seed: int | None = None
    step: int | None = None
    steps: int | None = None
    error: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    config_text: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    has_checkpoint: bool = False
    updated: float | None = None
    marks: list[str] = field(default_factory=list)
    # A study driver's bookkeeping (cell.json).
    wall_s: float | None = None
    attempts: int = 0
    threads: int | None = None
    in_spec: bool = True

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.name = self.name or self.path.name

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def evaluated(self) -> bool:
        return bool(self.metrics)

    @property
    def scores(self) -> dict[str, float | None]:
        return headline_scores(self.metrics)


def read_record(
    path: str | Path, *, root: str | Path | None = None, settings: dict[str, Any] | None = None
) -> RunRecord:
    """Read a run folder into a :class:`RunRecord` (the folder need not exist).

    ``root`` names the record relative to a folder of runs; ``settings`` are a study cell's
    flat settings, used when the folder has no cell.json yet.
    """
    path = Path(path)
    name = str(path.relative_to(root)) if root is not None else path.name
    if name == ".":
        name = path.resolve().name
    config, config_text, marks = _read_config(path)
    status, cell = read_status(path), read_cell(path)
    state = run_state(status, cell)
    settings = cell.get("settings") or settings or {}
    method = config.get("method")
    method = method.get("name") if isinstance(method, dict) else method
    run_step = status.get("step", cell.get("step"))
    error = cell.get("error") or status.get("error")
    has_checkpoint = latest_checkpoint(path) is not None
    metrics = read_metrics(path)
    if not has_checkpoint:
        marks.append("no checkpoint")
    if (path / METRICS).exists() and not metrics:
        marks.append(f"unreadable {METRICS}")
    if not metrics:
        marks.append("not evaluated")
    scores = likelihood_scores(read_likelihood(path))
    if scores:  # shown beside the metrics: log p(x) against beta beside MIG against beta
        metrics = {**metrics, "likelihood": scores}
    seed = config.get("seed", settings.get("seed"))
    steps = config.get("steps", settings.get("steps"))
    return RunRecord(
        path=path,
        name=name,
        state=state,
        method=method or settings.get("method"),
        seed=seed if isinstance(seed, int) else None,
        step=run_step if isinstance(run_step, int) else None,
        steps=steps if isinstance(steps, int) else None,
        error=str(error) if error and state != "done" else None,
        settings={k: v for k, v in settings.items() if k not in ("method", "seed")},
        params=flat_params(config),
        config=config,
        config_text=config_text,
        metrics=metrics,
        has_checkpoint=has_checkpoint,
        updated=status.get("time"),
        marks=marks,
        wall_s=cell.get("wall_s"),
        attempts=len(cell.get("attempts", [])),
        threads=cell.get("threads"),
    )


def read_records(folder: str | Path) -> list[RunRecord]:
    """A :class:`RunRecord` for every run folder at or below ``folder``, named relative to it
    (a study reads its cells through its index instead: :func:`untwine.study.report_records`)."""
    folder = Path(folder)
    return [read_record(p, root=folder) for p in find_run_dirs(folder)]


def flat_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters of a raw config mapping, flat: the method's settings (``beta``),
    the model's and optimiser's (``z_dim``, ``lr``), ``steps`` and ``seed``, plus the
    ``method`` and ``dataset`` names; :data:`NOT_HYPERPARAMETERS` are left out."""
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
        if key not in {"method", "dataset", "model", "optim", *NOT_HYPERPARAMETERS}:
            out[key] = value
    return out


def _read_config(path: Path) -> tuple[dict[str, Any], str, list[str]]:
    """config.yaml as a raw mapping (a run of a plugin method not loaded here still reads),
    its text, and a mark if it is missing or unreadable."""
    try:
        text = (path / CONFIG).read_text()
    except OSError:
        return {}, "", ["no config"]
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict):
        return {}, text, [f"unreadable {CONFIG}"]
    return doc, text, []
