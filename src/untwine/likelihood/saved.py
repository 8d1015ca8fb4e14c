"""Estimates kept in run folders: estimate-and-save over a run or a folder of runs, and
reading the saved estimates (``likelihood.json``) back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from untwine import rundir
from untwine.errors import ConfigError, UntwineError
from untwine.likelihood.estimator import DEFAULT_PRECISION, LIKELIHOOD_PRECISIONS, estimate
from untwine.nets.precision import check_precision

RESULT_FILE = rundir.LIKELIHOOD


def run_dirs(path: str | Path) -> list[Path]:
    """``path`` if it is a run directory, else every run directory below it, sorted, as
    :func:`untwine.train.rundir.find_run_dirs` finds them (run folders do not nest, so a VQ
    run's ``prior/`` run is part of it; hidden folders such as a study's ``.jobs`` are not
    searched)."""
    found = rundir.find_run_dirs(path)
    if not found:
        raise ConfigError(f"{path}: not a run directory and no run directories below it")
    return found


def estimate_and_save(run_dir: str | Path, **options: Any) -> dict[str, Any]:
    """:func:`estimate`, then ``likelihood.json`` in the run directory (written atomically,
    so a failed estimate never replaces a good one)."""
    result = estimate(run_dir, **options)
    rundir.write_likelihood(run_dir, result)
    return result


def _each_run(path: str | Path, fn: Any) -> list[dict[str, Any]]:
    """``fn(run)`` for the run directory ``path``, or for every run below the folder ``path``:
    there, a run for which it raises gives a row ``{"run": ..., "error": ...}`` and the
    others go on; a single run raises."""
    dirs = run_dirs(path)
    if dirs == [Path(path)]:
        return [fn(Path(path))]
    results = []
    for run in dirs:
        try:
            results.append(fn(run))
        except UntwineError as e:
            results.append({"run": str(run), "error": str(e)})
    return results


def estimate_path(path: str | Path, **options: Any) -> list[dict[str, Any]]:
    """:func:`estimate_and_save` for a run directory, or for every run below a folder (a run
    that cannot be estimated there, with no density, no test split or no checkpoint, is a
    row of its own; see :func:`_each_run`)."""
    check_precision(options.get("precision", DEFAULT_PRECISION), LIKELIHOOD_PRECISIONS)
    return _each_run(path, lambda run: estimate_and_save(run, **options))


def read_saved(run: str | Path) -> dict[str, Any]:
    """The estimate saved in ``run``'s likelihood.json, as :func:`estimate` returned it (its
    ``run`` the directory as given now); a one-line ConfigError where there is none."""
    saved = rundir.read_likelihood(run)
    if "log_px" not in saved:
        path = Path(run) / RESULT_FILE
        raise ConfigError(f"{path}: no saved estimate (run 'untwine likelihood {run}')")
    return {**saved, "run": str(run)}


def saved_path(path: str | Path) -> list[dict[str, Any]]:
    """:func:`read_saved` for a run directory, or for every run below a folder (one without
    an estimate is a row of its own there): :func:`estimate_path`'s rows, estimating nothing."""
    return _each_run(path, read_saved)
