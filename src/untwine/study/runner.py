"""Run one cell of a study: train (or resume) it, then evaluate the study's metrics.

:func:`run_cell` is the one function both backends execute on a worker: the local runner in
a fresh process per cell (``python -m untwine.study.runner job.json result.json``), the Ray
runner as a Ray task. It never touches the study's index; it returns a result dict that the
driver records. A job is a plain JSON-able dict (see :func:`make_job`) so it crosses process
and machine boundaries without pickling untwine objects.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from untwine import rundir

#: Environment variables that size the thread pools of the numeric libraries. Set before torch
#: is imported in a worker so that N workers x T threads never exceeds the cores.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """The environment variables that cap a worker's BLAS / OpenMP threads at ``threads``."""
    return {name: str(threads) for name in THREAD_ENV}


def make_job(
    cell_id: str,
    config: dict[str, Any],
    *,
    threads: int,
    metrics: list[str],
    metric_options: dict[str, Any],
    metric_seed: int,
    likelihood: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A JSON-able description of one cell's work for a worker; ``likelihood`` holds the
    options of its log p(x) estimate (none: not estimated)."""
    return {
        "id": cell_id,
        "config": config,
        "threads": threads,
        "metrics": list(metrics),
        "metric_options": dict(metric_options),
        "metric_seed": metric_seed,
        "likelihood": None if likelihood is None else dict(likelihood),
    }


def run_cell(job: dict[str, Any]) -> dict[str, Any]:
    """Train the job's run (resuming from its newest checkpoint), evaluate it, report.

    Returns ``{"id", "state": "done" | "failed" | "interrupted", "step", "resumed_from",
    "trained": bool, "threads": torch threads used, "wall_s", "error"?, "metrics"?}``.
    Exceptions are caught and reported as ``failed`` with a one-line error (the traceback goes
    to the run folder's ``error.txt``); only a KeyboardInterrupt propagates.
    """
    started = time.time()
    threads = int(job["threads"])
    for name, value in thread_env(threads).items():
        os.environ.setdefault(name, value)
    out = Path(job["config"]["out"])
    result: dict[str, Any] = {"id": job["id"], "pid": os.getpid(), "resumed_from": 0}
    try:
        with rundir.owned(out):  # training and evaluation: nobody else writes the folder
            _run_cell(job, out, threads, result)
        result["state"] = "done"
    except KeyboardInterrupt:
        raise
    except Exception as e:  # noqa: BLE001 - any failure of one run is recorded, not fatal
        result["state"] = "failed"
        result["error"] = one_line_error(e)
        result["step"] = rundir.step(out)
        _write_traceback(out)
    result["wall_s"] = round(time.time() - started, 3)
    return result


def _run_cell(job: dict[str, Any], out: Path, threads: int, result: dict[str, Any]) -> None:
    """Train (or resume) the job's run and evaluate its stale metrics, into ``result``."""
    import torch

    from untwine.train.runtime import configure_threads

    # Before any torch work, so the first parallel op already uses the worker's share.
    configure_threads(threads)
    result["threads"] = torch.get_num_threads()
    config = _config_for(job["config"], out)
    latest = rundir.latest_checkpoint(out) if out.exists() else None
    result["resumed_from"] = 0 if latest is None else rundir.checkpoint_step(latest)
    result["trained"] = result["resumed_from"] < config.steps
    run = _train(config, resume=latest is not None, threads=threads)
    result["step"] = run.step
    stale = stale_metrics(
        rundir.read_metrics(out), job["metrics"], job["metric_options"], job["metric_seed"]
    )
    if stale:
        from untwine.metrics import evaluate_run  # deferred: metrics are optional work

        evaluate_run(out, stale, seed=job["metric_seed"], **job["metric_options"])
    result["metrics"] = rundir.read_metrics(out)
    options = job.get("likelihood")
    if options is not None and stale_likelihood(rundir.read_likelihood(out), options):
        from untwine.likelihood import estimate_and_save  # deferred like the metrics

        estimate_and_save(out, **options)
    if options is not None:
        result["likelihood"] = rundir.read_likelihood(out)


def _config_for(raw: dict[str, Any], out: Path):
    """The cell's TrainConfig. A moved run folder (a renamed study folder) still resumes:
    ``out`` is one of the settings that may change on resume."""
    from untwine.config import validate

    return validate(raw, source=f"{out}/config.yaml")


def _train(config, *, resume: bool, threads: int):
    import untwine

    return untwine.train(config=config, resume=resume, threads=threads, progress=False)


def stale_metrics(
    recorded: dict[str, Any], names: Iterable[str], options: dict[str, Any], seed: int
) -> list[str]:
    """The metrics in ``names`` that ``recorded`` (a metrics.json document) lacks or holds
    with other settings.

    A recorded result is current when its seed matches and every option that applies to the
    metric (plain ``num_points`` or prefixed ``mig_num_points``) has the recorded value.
    """
    stale = []
    for name in names:
        result = recorded.get(name)
        if not isinstance(result, dict) or result.get("seed") != seed:
            stale.append(name)
            continue
        settings = result.get("settings") or {}
        for key, value in options.items():
            setting = key.removeprefix(f"{name}_") if key.startswith(f"{name}_") else key
            if setting in settings and settings[setting] != value:
                stale.append(name)
                break
    return stale


def stale_likelihood(recorded: dict[str, Any], options: dict[str, Any]) -> bool:
    """Whether ``recorded`` (a likelihood.json document) lacks the estimate ``options`` ask
    for (:meth:`untwine.study.spec.LikelihoodSettings.estimate_options`) or holds one made
    with other settings."""
    return recorded.get("settings") != options


def one_line_error(e: BaseException) -> str:
    """``Type: message`` on one line (the first line of a multi-line message)."""
    message = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {message}" if message else type(e).__name__


def _write_traceback(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "error.txt").write_text(traceback.format_exc())
    except OSError:
        pass  # the one-line error still reaches the driver


# -- the local runner's worker process ---------------------------------------------------------
def _die_with_parent() -> None:
    """Ask Linux to SIGTERM this worker when the driver dies, so no orphan keeps training a
    run that the next driver would start again."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    """``python -m untwine.study.runner JOB.json RESULT.json DRIVER_PID``: run one job.

    The result is written atomically to RESULT.json. SIGTERM (the driver stopping the study)
    is turned into KeyboardInterrupt so the training loop records the run as interrupted;
    no result is written then.
    """
    import signal

    from untwine.files import atomic_write_json

    job_path, result_path, driver = (argv if argv is not None else sys.argv[1:])[:3]
    _die_with_parent()
    if os.getppid() != int(driver):  # the driver died before prctl took effect
        return 1

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    job = json.loads(Path(job_path).read_text())
    try:
        result = run_cell(job)
    except KeyboardInterrupt as e:  # 128 + the signal (the loop checkpointed if it could)
        return getattr(e, "exit_code", 130)
    atomic_write_json(result_path, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
