"""Diagonal-Gaussian maths, written once: log-density and KL to the standard normal.

Every module that needs a Gaussian log-density or the closed-form KL (the objectives, the
metrics' aggregate-posterior estimators, the plots) calls these torch functions; numpy callers
convert to float64 tensors first. All values are in nats.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2 * math.pi)


def log_normal(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Elementwise log N(z; mu, exp(logvar)) in nats (broadcasting)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar))


def log_standard_normal(z: Tensor) -> Tensor:
    """Elementwise log N(z; 0, 1) in nats."""
    return -0.5 * (LOG_2PI + z * z)


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """Elementwise KL(N(mu, exp(logvar)) || N(0, 1)) in nats (Kingma & Welling 2014, app. B)."""
    return 0.5 * (mu**2 + torch.exp(logvar) - 1.0 - logvar)
