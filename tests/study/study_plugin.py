"""Test methods and a metric for the study tests, importable as a plugin by worker processes.

``UNTWINE_PLUGINS=squares_plugin,study_plugin`` with ``tests/`` and ``tests/study/`` on
``PYTHONPATH`` makes them available in local workers and (through ``runtime_env``) Ray
workers:

- ``test-raise``: beta-VAE that raises at step ``fail_at``;
- ``test-sigkill``: beta-VAE whose process SIGKILLs itself at step ``kill_at`` the first
  time only (the first attempt creates ``kill_marker``; later attempts see it and train on);
- metric ``test_threads``: the torch and OpenMP thread settings seen inside the worker.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Literal

import squares_plugin  # noqa: F401  (registers test-squares for the workers too)
import torch
from pydantic import Field

from untwine.metrics.context import EvalContext
from untwine.objectives import register_method
from untwine.objectives.vae import BetaVAE, BetaVAEParams
from untwine.registry import register_metric


class RaiseParams(BetaVAEParams):
    name: Literal["test-raise"] = "test-raise"
    fail_at: int = Field(3, ge=0)


@register_method("test-raise", overwrite=True)
class RaiseAt(BetaVAE):
    Params = RaiseParams

    def forward(self, model, x, step, generator=None):
        if step == self.params.fail_at:
            raise RuntimeError(f"injected failure at step {step}")
        return super().forward(model, x, step, generator)


class SigkillParams(BetaVAEParams):
    name: Literal["test-sigkill"] = "test-sigkill"
    kill_at: int = Field(6, ge=0)
    kill_marker: str = ""


@register_method("test-sigkill", overwrite=True)
class SigkillAt(BetaVAE):
    Params = SigkillParams

    def forward(self, model, x, step, generator=None):
        marker = Path(self.params.kill_marker)
        if step == self.params.kill_at and self.params.kill_marker and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().forward(model, x, step, generator)


@register_metric("test_threads")
def _threads_metric(ctx: EvalContext) -> dict:
    """Not a disentanglement metric: what the worker process was allowed to use."""
    return {
        "test_threads": float(torch.get_num_threads()),
        "omp_num_threads": float(os.environ.get("OMP_NUM_THREADS", "0")),
    }
