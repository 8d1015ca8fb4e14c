"""The Ray backend: one Ray task per cell, results sent back to the driver.

``address`` is passed to ``ray.init``: ``"auto"`` joins the cluster this machine belongs to,
``"ray://host:10001"`` a remote one, ``None`` starts a local instance (shut down afterwards).
If Ray is already initialised in this process (a notebook, a test), that instance is used
and left running.

Every task declares what it needs, ``num_cpus=threads`` and ``num_gpus`` from the spec, so
Ray packs runs onto nodes without oversubscribing them, and gets ``max_retries=0``: a run
that fails is recorded, not silently retried (the next ``study run`` resumes it from its
checkpoint). Workers import plugins (``UNTWINE_PLUGINS``) and find modules on the driver's
``PYTHONPATH`` through the task's ``runtime_env``. On a cluster of several machines the study
folder must be on a filesystem every node mounts at the same path: workers write run folders
there and the driver reads them; scores also travel back in each task's result.
"""

from __future__ import annotations

import os
import time
from typing import Any

from untwine.errors import ConfigError
from untwine.study.driver import StudyDriver
from untwine.study.runner import one_line_error, run_cell, thread_env
from untwine.study.spec import Cell

#: Environment the workers inherit from the driver: plugins, import path, dataset cache.
FORWARDED_ENV = ("UNTWINE_PLUGINS", "PYTHONPATH", "UNTWINE_HOME", "XDG_CACHE_HOME")

#: How often the driver wakes while waiting, so Ctrl-C is handled promptly.
WAIT_S = 0.5


def import_ray():
    """``ray``, or a one-line ConfigError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "the ray backend needs Ray: pip install 'untwine[ray]' (or pip install ray)"
        ) from None
    return ray


def worker_env(threads: int) -> dict[str, str]:
    """Environment variables for Ray workers: the forwarded ones plus thread caps."""
    env = {k: os.environ[k] for k in FORWARDED_ENV if os.environ.get(k)}
    env.update(thread_env(threads))
    return env


def run_ray(
    driver: StudyDriver,
    cells: list[Cell],
    *,
    address: str | None = None,
    threads: int | None = None,
    num_gpus: float = 0.0,
) -> None:
    """Run ``cells`` as Ray tasks and record each result through ``driver`` as it arrives."""
    ray = import_ray()
    started_here = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        started_here = True
    try:
        if threads is None:
            cpus = int(ray.cluster_resources().get("CPU", 1))
            threads = max(1, cpus // max(1, min(len(cells), cpus)))
        task = ray.remote(run_cell).options(
            num_cpus=threads,
            num_gpus=num_gpus,
            max_retries=0,
            runtime_env={"env_vars": worker_env(threads)},
        )
        pending: dict[Any, tuple[Cell, float]] = {}
        for cell in cells:
            driver.started(cell, "ray", threads)
            pending[task.remote(driver.job(cell, threads))] = (cell, time.time())
        try:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_S)
                for ref in ready:
                    cell, submitted = pending.pop(ref)
                    driver.finished(cell, _result(ray, ref, cell, submitted))
        except KeyboardInterrupt:
            for ref, (cell, submitted) in pending.items():
                ray.cancel(ref, force=True)
                driver.finished(
                    cell,
                    {"id": cell.id, "state": "interrupted", "wall_s": time.time() - submitted},
                )
            raise
    finally:
        if started_here:
            ray.shutdown()


def _result(ray, ref, cell: Cell, submitted: float) -> dict[str, Any]:
    """The task's result dict, or a failed one when the task itself died (worker crash,
    out of memory, node lost)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as e:
        return {
            "id": cell.id,
            "state": "failed",
            "error": f"ray task failed: {one_line_error(e)}",
            "wall_s": round(time.time() - submitted, 3),
        }
