"""Studies: grids of methods x hyperparameters x seeds, run locally or on a Ray cluster.

::

    from untwine import study

    summary = study.run_study("studies/beta_sweep.yaml")            # -> studies/beta_sweep/
    study.status("studies/beta_sweep")["counts"]                     # {"done": 24, ...}
    columns, rows = study.results("studies/beta_sweep", sort="mig")
    print(study.format_rows(columns, rows))

The pieces: :mod:`~untwine.study.spec` (the YAML spec and its expansion into cells with
stable ids), :mod:`~untwine.study.driver` (the study folder, planning and recording),
:mod:`~untwine.study.runner` (what a worker does for one cell), :mod:`~untwine.study.local`
and :mod:`~untwine.study.ray_runner` (the backends), :mod:`~untwine.study.index` (the SQLite
results index) and :mod:`~untwine.study.results` (status and tables).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from untwine.errors import ConfigError
from untwine.study.driver import EventFn, StudyBusyError, StudyDriver, StudySummary
from untwine.study.driver import default_study_dir as default_study_dir
from untwine.study.index import StudyIndex
from untwine.study.results import format_rows, rebuild_index, report_records, results, status
from untwine.study.spec import Cell, StudySpec, cell_id, expand, load_spec, parse_spec

__all__ = [
    "report_records",
    "write_report",
    "Cell",
    "StudyBusyError",
    "StudyIndex",
    "StudySpec",
    "StudySummary",
    "cell_id",
    "default_study_dir",
    "expand",
    "format_rows",
    "load_spec",
    "parse_spec",
    "rebuild_index",
    "results",
    "run_study",
    "status",
]


def run_study(
    spec: StudySpec | str | Path,
    out: str | Path | None = None,
    *,
    backend: Literal["local", "ray"] = "local",
    workers: int | None = None,
    address: str | None = None,
    on_event: EventFn | None = None,
) -> StudySummary:
    """Run every cell of ``spec`` that is not done yet; return what happened.

    ``spec`` is a :class:`StudySpec` or a path to its YAML; ``out`` the study folder (default:
    the spec's path without ``.yaml``). Finished cells are skipped, failed and interrupted
    ones run again (resuming from their newest checkpoint), and every finished run is
    evaluated with the spec's metrics. ``backend="local"`` uses ``workers`` processes
    (default: one per core, at most one per cell); ``backend="ray"`` one Ray task per cell on
    the cluster at ``address`` (default: a local Ray instance). ``on_event`` receives one
    line per finished cell. A failed cell does not stop the others; Ctrl-C stops the
    workers, records their cells as interrupted and re-raises KeyboardInterrupt.
    """
    if isinstance(spec, StudySpec):
        if out is None:
            raise ConfigError("run_study: give out= (the study folder) with a StudySpec")
        source = "study spec"
    else:
        source = str(spec)
        out = default_study_dir(spec) if out is None else out
        spec = load_spec(spec)
    if backend not in ("local", "ray"):
        raise ConfigError(f"backend: expected 'local' or 'ray' (got {backend!r})")
    if workers is not None and workers < 1:
        raise ConfigError(f"workers: expected a positive number (got {workers})")
    if backend == "ray":
        from untwine.study.ray_runner import import_ray

        import_ray()  # a missing Ray fails before the study folder is touched
    start = time.perf_counter()
    with StudyDriver(spec, out, source=source, on_event=on_event) as driver:
        todo = driver.to_run()
        driver.plan(todo)
        emit = on_event or (lambda message: None)
        emit(
            f"study {driver.study_dir}: {len(driver.cells)} cells, "
            f"{len(driver.cells) - len(todo)} done, {len(todo)} to run"
        )
        if todo and backend == "local":
            from untwine.study.local import plan_workers, run_local

            n, threads = plan_workers(len(todo), workers, spec.threads)
            emit(f"local: {n} workers x {threads} threads")
            run_local(driver, todo, n, threads)
        elif todo:
            from untwine.study.ray_runner import run_ray

            run_ray(driver, todo, address=address, threads=spec.threads, num_gpus=spec.num_gpus)
        states: dict[str, int] = {}
        for state in driver.outcomes.values():
            states[state] = states.get(state, 0) + 1
        summary = StudySummary(
            study_dir=driver.study_dir,
            cells=len(driver.cells),
            skipped=len(driver.cells) - len(todo),
            states=states,
            wall_s=round(time.perf_counter() - start, 3),
        )
        if spec.select is not None and summary.complete:
            from untwine.metrics.selection import select

            chosen = select(driver.study_dir, spec.select.by, spec.select.num_points)
            for group in chosen["settings"]:
                emit(f"selected by {spec.select.by}: {group['chosen']}")
        return summary


def write_report(folder: str | Path, out: str | Path | None = None, **options) -> Path:
    """Write a study folder's HTML page: its cells as the index knows them
    (:func:`report_records`), with metrics against the hyperparameters the spec varies;
    ``options`` as :func:`untwine.viz.report.write_folder_report` takes them."""
    from untwine.viz.report import write_folder_report

    return write_folder_report(folder, out, records=report_records(folder), **options)
