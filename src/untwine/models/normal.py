"""Diagonal-Gaussian maths, written once: log-densities, the KL to the standard normal, the
index-code mutual information, and the posterior q(z|x) that knows them.

Every module that needs them (the Gaussian and IBP families, the objectives, the metrics'
aggregate-posterior estimators, the likelihood estimators, the plots) calls these torch
functions; numpy callers convert to float64 tensors first. All values are in nats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def index_code_mi(mu: Tensor, logvar: Tensor, z: Tensor, block: int = 1024) -> Tensor:
    """I(x; z) under the empirical data distribution, in nats: mean_n [log q(z_n|x_n) -
    log q(z_n)], with z_n ~ q(z|x_n) one draw per point (``z``, (N, D)) and q(z) = (1/N)
    sum_m q(z|x_m) the aggregate posterior of the N points given. The index-code mutual
    information of Chen et al. (2018), eq. 2 (as :mod:`untwine.metrics.elbo`), and the
    estimate He et al. (2019) watch to end aggressive inference. Rows go ``block`` at a time.
    At most log N: the points' own codes are all it can tell apart.
    """
    own = log_normal(z, mu, logvar).sum(dim=1)
    log_qz = torch.cat(
        [
            torch.logsumexp(log_normal(zb[:, None], mu[None], logvar[None]).sum(-1), dim=1)
            for zb in z.split(block)
        ]
    ) - math.log(len(mu))
    return (own - log_qz).mean()


@dataclass
class DiagonalGaussian:
    """The posterior q(z|x) = N(mu, diag(exp(logvar))), ``mu`` and ``logvar`` both (N, D)."""

    mu: Tensor
    logvar: Tensor

    def rsample(
        self, generator: torch.Generator | None = None, sample_shape: tuple[int, ...] = ()
    ) -> Tensor:
        """Reparameterised draws z = mu + exp(logvar / 2) * eps, eps ~ N(0, I)
        (Kingma & Welling 2014, eq. 10): differentiable in ``mu`` and ``logvar``; shape
        ``sample_shape + mu.shape`` (one draw per example by default)."""
        eps = torch.randn(
            (*sample_shape, *self.mu.shape),
            generator=generator,
            device=self.mu.device,
            dtype=self.mu.dtype,
        )
        return self.mu + torch.exp(0.5 * self.logvar) * eps

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z|x) summed over dimensions, (N,), nats; ``z`` (N, D) or broadcastable."""
        return log_normal(z, self.mu, self.logvar).sum(dim=-1)

    def kl_per_dim(self) -> Tensor:
        """KL(q(z_j|x) || N(0, 1)) per example and dimension, (N, D), nats (closed form)."""
        return kl_standard_normal(self.mu, self.logvar)

    def kl(self) -> Tensor:
        """KL(q(z|x) || N(0, I)) per example, (N,), nats."""
        return self.kl_per_dim().sum(dim=1)
