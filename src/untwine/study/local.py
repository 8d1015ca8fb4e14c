"""The local backend: a supervised pool of worker processes, one fresh process per cell.

Each cell runs in its own ``python -m untwine.study.runner`` process, so one run that crashes,
runs out of memory or is killed (SIGKILL included) ends only that process: the driver sees
its exit code, records the cell as failed and starts the next one. (A
``concurrent.futures.ProcessPoolExecutor`` would instead mark the whole pool broken.) A
fresh process per cell also means every worker starts with its thread settings in its
environment, before torch is imported, and frees all its memory when it ends.

Threads: with W workers on a machine of C cores each run gets ``max(1, C // W)`` torch
threads (OMP/MKL/OpenBLAS capped the same), so the pool never oversubscribes the cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from untwine import rundir
from untwine.files import read_json_dict
from untwine.study.driver import StudyDriver
from untwine.study.runner import thread_env
from untwine.study.spec import Cell, run_dir
from untwine.train.runtime import available_cores

#: Seconds a worker gets to record its run as interrupted after SIGTERM before SIGKILL.
TERMINATE_GRACE_S = 20.0
#: The worker's program (``-c`` rather than ``-m untwine.study.runner``, which runpy warns
#: about because the package imports that module first).
_WORKER = "import sys; from untwine.study.runner import main; sys.exit(main())"
#: How often the driver looks at its workers.
POLL_S = 0.05


def plan_workers(
    cells: int, workers: int | None = None, threads: int | None = None, cores: int | None = None
) -> tuple[int, int]:
    """``(workers, threads per worker)``: by default as many workers as cells or cores,
    whichever is fewer, and the cores divided evenly among them."""
    cores = cores or available_cores()
    workers = max(1, workers if workers else min(max(cells, 1), cores))
    return workers, threads or max(1, cores // workers)


@dataclass
class _Worker:
    cell: Cell
    folder: Path
    proc: subprocess.Popen
    job_path: Path
    result_path: Path
    log: IO[bytes]
    started: float


def run_local(driver: StudyDriver, cells: list[Cell], workers: int, threads: int) -> None:
    """Run ``cells`` with at most ``workers`` processes of ``threads`` threads each.

    Records every outcome through ``driver``. On KeyboardInterrupt the workers are stopped
    (SIGTERM, then SIGKILL after :data:`TERMINATE_GRACE_S`), their cells are recorded as
    interrupted (they resume from their checkpoints next time) and the interrupt propagates.
    """
    queue = deque(cells)
    running: list[_Worker] = []
    jobs_dir = driver.study_dir / ".jobs"
    jobs_dir.mkdir(exist_ok=True)
    env = {**os.environ, **thread_env(threads)}
    try:
        while queue or running:
            while queue and len(running) < workers:
                running.append(_start(driver, queue.popleft(), jobs_dir, env, threads))
            for worker in [w for w in running if w.proc.poll() is not None]:
                running.remove(worker)
                driver.finished(worker.cell, _collect(worker))
            time.sleep(POLL_S)
    except KeyboardInterrupt:
        _stop(running)
        for worker in running:
            result = _collect(worker)
            if result.get("state") != "done":
                result.update(state="interrupted", error=None)
            driver.finished(worker.cell, result)
        raise


def _start(
    driver: StudyDriver, cell: Cell, jobs_dir: Path, env: dict[str, str], threads: int
) -> _Worker:
    folder = run_dir(driver.study_dir, cell.id)
    folder.mkdir(parents=True, exist_ok=True)
    job_path = jobs_dir / f"{cell.id}.job.json"
    result_path = jobs_dir / f"{cell.id}.result.json"
    result_path.unlink(missing_ok=True)
    job_path.write_text(json.dumps(driver.job(cell, threads)))
    driver.started(cell, "local", threads)
    log = open(folder / "worker.log", "ab")  # noqa: SIM115 - closed in _collect
    proc = subprocess.Popen(
        [sys.executable, "-c", _WORKER, str(job_path), str(result_path), str(os.getpid())],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    return _Worker(cell, folder, proc, job_path, result_path, log, time.time())


def _collect(worker: _Worker) -> dict[str, Any]:
    """The worker's result, or the driver's account of why there is none."""
    worker.log.close()
    code = worker.proc.wait()
    result = read_json_dict(worker.result_path)
    worker.result_path.unlink(missing_ok=True)
    worker.job_path.unlink(missing_ok=True)
    if result:
        return result
    step = rundir.step(worker.folder)
    if code in (128 + signal.SIGTERM, 128 + signal.SIGINT):  # stopped with a checkpoint
        return {
            "id": worker.cell.id,
            "pid": worker.proc.pid,
            "state": "interrupted",
            "step": step,
            "wall_s": round(time.time() - worker.started, 3),
        }
    if code < 0:
        cause = f"worker killed by {signal.Signals(-code).name}"
    else:
        cause = f"worker exited with code {code}" + _last_line(worker.folder / "worker.log")
    return {
        "id": worker.cell.id,
        "pid": worker.proc.pid,
        "state": "failed",
        "error": f"{cause}; last checkpoint at step {step}",
        "step": step,
        "wall_s": round(time.time() - worker.started, 3),
    }


def _stop(running: list[_Worker]) -> None:
    for worker in running:
        if worker.proc.poll() is None:
            worker.proc.send_signal(signal.SIGTERM)
    deadline = time.time() + TERMINATE_GRACE_S
    for worker in running:
        try:
            worker.proc.wait(timeout=max(0.0, deadline - time.time()))
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            worker.proc.wait()


def _last_line(path: Path) -> str:
    """``: <last line of the worker's output>`` (usually the exception), or nothing."""
    try:
        lines = [x for x in path.read_text(errors="replace").splitlines() if x.strip()]
    except OSError:
        return ""
    return f": {lines[-1].strip()[:300]}" if lines else ""
