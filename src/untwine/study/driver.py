"""The study driver: lays out the study folder, decides what to run, records every outcome.

A study folder::

    <study>/study.yaml          the spec as run, and every cell's id and settings
    <study>/index.sqlite        the results index (untwine.study.index), written only here
    <study>/runs/<id>/          one run folder per cell (config.yaml, log.jsonl, checkpoints/,
                                metrics.json) plus cell.json, the driver's record of the cell
    <study>/.lock               held by the driver while it runs, so two never share a study

The backends (:mod:`untwine.study.local`, :mod:`untwine.study.ray_runner`) call
:meth:`StudyDriver.started` and :meth:`StudyDriver.finished`; each writes ``cell.json``
atomically first (the folder is the source of truth) and then updates the index from it.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from untwine import rundir
from untwine.errors import ConfigError, UntwineError
from untwine.files import atomic_write_text
from untwine.study.index import STUDY_FILE, StudyIndex
from untwine.study.runner import make_job, stale_likelihood, stale_metrics
from untwine.study.spec import Cell, StudySpec, expand, run_dir, varying_keys

LOCK_FILE = ".lock"

EventFn = Callable[[str], None]


class StudyBusyError(UntwineError):
    """Another driver is running this study."""


@dataclass
class StudySummary:
    """What one ``run`` did: counts by final state and the cells it skipped as done."""

    study_dir: Path
    cells: int
    skipped: int
    states: dict[str, int] = field(default_factory=dict)
    wall_s: float = 0.0

    @property
    def complete(self) -> bool:
        return self.states.get("done", 0) + self.skipped == self.cells


class StudyDriver:
    """Holds the study's lock and index for one ``run``; use as a context manager."""

    def __init__(
        self,
        spec: StudySpec,
        study_dir: str | Path,
        *,
        source: str = "study spec",
        on_event: EventFn | None = None,
    ) -> None:
        # Absolute paths: workers may run in another directory (Ray) and resume must find
        # the same ``out`` that the run's config.yaml holds.
        self.study_dir = Path(study_dir).resolve()
        self.spec = spec
        self.cells = expand(spec, source=source)  # validates every cell before anything runs
        self.by_id = {c.id: c for c in self.cells}
        self.axes = varying_keys(self.cells)
        self.on_event = on_event or (lambda message: None)
        self._lock_fd: int | None = None
        self.index: StudyIndex | None = None
        self.outcomes: dict[str, str] = {}
        self._planned = 0

    # -- set-up ------------------------------------------------------------------------------
    def __enter__(self) -> StudyDriver:
        self.study_dir.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            self._write_study_file()
            self.index = StudyIndex.open(self.study_dir)
            # Refresh every current cell from its folder: the folders may have changed while
            # no driver ran (a rebuild is cheap, but this keeps other runs' rows as they are).
            self.index.put(
                rundir.read_record(run_dir(self.study_dir, c.id), settings=c.settings)
                for c in self.cells
            )
            self.index.set_in_spec(self.by_id)
        except BaseException:
            self._unlock()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.index is not None:
            self.index.close()
        self._unlock()

    def _lock(self) -> None:
        path = self.study_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise StudyBusyError(
                f"{self.study_dir}: the study is being run by another process (pid {holder})"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing releases the flock
            self._lock_fd = None

    def _write_study_file(self) -> None:
        doc = {
            "spec": self.spec.to_yaml_dict(),
            "cells": [{"id": c.id, "settings": c.settings} for c in self.cells],
        }
        atomic_write_text(self.study_dir / STUDY_FILE, yaml.safe_dump(doc, sort_keys=False))

    # -- planning ----------------------------------------------------------------------------
    def to_run(self) -> list[Cell]:
        """Cells not yet done (or done but lacking a metric the spec asks for), in order."""
        todo = []
        for cell in self.cells:
            folder = run_dir(self.study_dir, cell.id)
            record = rundir.read_cell(folder)
            stale = stale_metrics(
                rundir.read_metrics(folder),
                self.spec.metrics,
                self.spec.metric_options,
                self.spec.metric_seed,
            )
            wanted = self.likelihood_options
            if wanted is not None and stale_likelihood(rundir.read_likelihood(folder), wanted):
                stale.append("likelihood")
            if record.get("state") != "done" or stale:
                todo.append(cell)
        return todo

    def job(self, cell: Cell, threads: int) -> dict[str, Any]:
        """The worker's job for ``cell`` (JSON-able)."""
        return make_job(
            cell.id,
            cell.with_out(self.study_dir).model_dump(mode="json"),
            threads=threads,
            metrics=self.spec.metrics,
            metric_options=self.spec.metric_options,
            metric_seed=self.spec.metric_seed,
            likelihood=self.likelihood_options,
        )

    @property
    def likelihood_options(self) -> dict[str, Any] | None:
        """The options of every cell's log p(x) estimate, or None when the spec asks none."""
        wanted = self.spec.likelihood
        return None if wanted is None else wanted.estimate_options()

    def label(self, cell: Cell) -> str:
        """``betavae beta=4 seed=1`` — the cell by its axes."""
        params = cell.params()
        shown = " ".join(f"{k}={params[k]}" for k in self.axes if k in params)
        return " ".join(filter(None, [cell.method, shown, f"seed={cell.seed}"]))

    # -- recording ---------------------------------------------------------------------------
    def started(self, cell: Cell, backend: str, threads: int) -> None:
        """Record that ``cell`` was handed to a worker."""
        folder = run_dir(self.study_dir, cell.id)
        record = rundir.read_cell(folder)
        record.update(
            id=cell.id,
            settings=cell.settings,
            state="running",
            threads=threads,
            backend=backend,
        )
        record.pop("error", None)
        record.setdefault("attempts", []).append({"started": time.time(), "backend": backend})
        self._write(folder, record)

    def finished(self, cell: Cell, result: dict[str, Any]) -> None:
        """Record a worker's result (or the driver's account of a worker that died)."""
        folder = run_dir(self.study_dir, cell.id)
        if result.get("metrics") and not rundir.read_metrics(folder):
            # A worker on another machine without a shared filesystem: keep its scores here.
            rundir.merge_metrics(folder, result["metrics"])
        if result.get("likelihood") and not rundir.read_likelihood(folder):
            rundir.write_likelihood(folder, result["likelihood"])
        record = rundir.read_cell(folder)
        state = result.get("state", "failed")
        attempt = record.setdefault("attempts", [{}])[-1]
        attempt.update(
            {k: result[k] for k in ("resumed_from", "trained", "step", "pid") if k in result},
            state=state,
            wall_s=result.get("wall_s"),
            error=result.get("error"),
        )
        record.update(state=state, step=result.get("step", record.get("step", 0)))
        if result.get("threads") is not None:
            record["threads"] = result["threads"]
        if result.get("error"):
            record["error"] = result["error"]
        else:
            record.pop("error", None)
        record["wall_s"] = round(
            sum(a.get("wall_s") or 0.0 for a in record["attempts"] if isinstance(a, dict)), 3
        )
        self._write(folder, record)
        self.outcomes[cell.id] = state
        self.on_event(self._describe(cell, state, result))

    def _write(self, folder: Path, record: dict[str, Any]) -> None:
        rundir.write_cell(folder, record)
        assert self.index is not None
        self.index.put([rundir.read_record(folder)])

    def _describe(self, cell: Cell, state: str, result: dict[str, Any]) -> str:
        done = len(self.outcomes)
        parts = [f"[{done}/{self._planned}] {state:<11} {cell.id}  {self.label(cell)}"]
        if result.get("wall_s") is not None:
            parts.append(f"{result['wall_s']:.1f}s")
        if result.get("resumed_from"):
            parts.append(f"resumed from step {result['resumed_from']}")
        scores = result.get("metrics") or {}
        for name in self.spec.metrics:
            value = (scores.get(name) or {}).get(name)
            if isinstance(value, int | float):
                parts.append(f"{name}={value:.3f}")
        log_px = (result.get("likelihood") or {}).get("log_px")
        if isinstance(log_px, int | float):
            parts.append(f"log p(x)={log_px:.2f}")
        if result.get("error"):
            parts.append(result["error"])
        return "  ".join(parts)

    def plan(self, cells: list[Cell]) -> None:
        """Remember how many cells this run will attempt (for progress messages)."""
        self._planned = len(cells)
        self.outcomes = {}


def default_study_dir(spec_path: str | Path) -> Path:
    """``studies/beta_sweep.yaml`` -> ``studies/beta_sweep``."""
    path = Path(spec_path)
    if path.suffix not in (".yaml", ".yml"):
        raise ConfigError(f"{path}: give --out for a study spec not named *.yaml")
    return path.with_suffix("")


def driver_running(study_dir: str | Path) -> bool:
    """Whether a driver currently holds the study's lock."""
    path = Path(study_dir) / LOCK_FILE
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
