"""Decomposition of the ELBO's KL term (Chen et al. 2018), full-dataset estimator.

Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational
Autoencoders", NeurIPS 2018, Eq. 2: averaged over the data,

    E_x KL(q(z|x) || p(z)) = I_q(x; z)                    index-code mutual information
                           + KL(q(z) || prod_j q(z_j))     total correlation
                           + sum_j KL(q(z_j) || p(z_j))    dimension-wise KL

with q(z) = (1/N) sum_n q(z | x_n) the aggregate posterior and p(z) = N(0, I).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from untwine.metrics._aggregate import log_aggregate
from untwine.metrics._validate import (
    MetricInputError,
    Seed,
    as_generator,
    check_codes,
    check_positive_int,
)
from untwine.metrics.context import needs_no_labels
from untwine.models.normal import kl_standard_normal, log_normal, log_standard_normal
from untwine.registry import register_metric

if TYPE_CHECKING:
    from untwine.metrics.context import EvalContext


def elbo_decomposition(
    mu: np.ndarray, logvar: np.ndarray, num_samples: int = 10_000, seed: Seed = 0
) -> dict[str, float | list]:
    """KL decomposition of a diagonal-Gaussian encoder over a dataset, in nats.

    Full-dataset estimator of Chen et al. (2018), Sec. 3 and their reference code: draw one
    ``z ~ q(z | x_n)`` per point, keep ``num_samples`` of them at random (all if N is
    smaller), and for each compute ``log q(z) = logsumexp_n log q(z | x_n) - log N`` over all
    N posteriors, and ``log q(z_j)`` likewise per dimension. Then, averaged over the samples,

    * ``index_code_mi = E[log q(z|x) - log q(z)]``
    * ``total_correlation = E[log q(z) - sum_j log q(z_j)]``
    * ``dimwise_kl = E[sum_j log q(z_j) - log p(z_j)]`` (``dimwise_kl_per_dim`` per j)
    * ``kl_estimate = E[log q(z|x) - log p(z)]``, which equals the sum of the three above
      exactly (the terms telescope; ``identity_residual`` reports the rounding);
    * ``kl``: the closed-form ``mean_n KL(q(z|x_n) || N(0, I))``, with no sampling error;
      ``kl_estimate`` is its Monte Carlo estimate on the kept samples;
    * ``log_qz = E[log q(z)]``, the aggregate posterior's log-density the terms rest on (what
      a minibatch estimator such as beta-TCVAE's approximates).

    The Gaussian densities and KL are :mod:`untwine.models.normal`'s (in float64).

    The two log-sum-exps stream over N in float32 cache-sized blocks with float64
    accumulation (:mod:`untwine.metrics._aggregate`): N = 737,280, D = 10 and 10,000 samples
    take on the order of a minute on two CPU cores and a few hundred MB.

    Args:
        mu, logvar: (N, D) posterior means and log-variances of every data point.
        num_samples: number of sampled codes to average over.
        seed: an int or a ``numpy.random.Generator``; draws the choice of samples and z
            (same seed, same numbers).
    """
    mu = check_codes(mu, "mu").astype(np.float64)
    logvar = check_codes(logvar, "logvar").astype(np.float64)
    if mu.shape != logvar.shape:
        raise MetricInputError(
            f"mu and logvar must have the same shape, got {mu.shape} and {logvar.shape}"
        )
    num_samples = check_positive_int(num_samples, "num_samples")
    rng = as_generator(seed)
    n = len(mu)
    keep = np.sort(rng.choice(n, size=min(num_samples, n), replace=False))
    std = np.exp(0.5 * logvar[keep])
    z = mu[keep] + std * rng.standard_normal(size=std.shape)

    t = torch.from_numpy  # float64 arrays -> float64 tensors sharing memory
    log_qz_given_x = log_normal(t(z), t(mu[keep]), t(logvar[keep])).sum(dim=1).numpy()
    log_pz_dims = log_standard_normal(t(z)).numpy()
    log_qz_dims, log_qz = log_aggregate(z, mu, logvar, own_log_density=log_qz_given_x)

    mi = log_qz_given_x - log_qz
    tc = log_qz - log_qz_dims.sum(axis=1)
    dimwise = log_qz_dims - log_pz_dims
    kl_sampled = log_qz_given_x - log_pz_dims.sum(axis=1)
    kl_closed = kl_standard_normal(t(mu), t(logvar)).numpy()
    terms = float(mi.mean() + tc.mean() + dimwise.sum(axis=1).mean())
    return {
        "index_code_mi": float(mi.mean()),
        "total_correlation": float(tc.mean()),
        "dimwise_kl": float(dimwise.sum(axis=1).mean()),
        "kl": float(kl_closed.sum(axis=1).mean()),
        "kl_estimate": float(kl_sampled.mean()),
        "identity_residual": terms - float(kl_sampled.mean()),
        "dimwise_kl_per_dim": dimwise.mean(axis=0).tolist(),
        "kl_per_dim": kl_closed.mean(axis=0).tolist(),
        "log_qz": float(log_qz.mean()),
        "num_points": n,
        "num_samples": len(keep),
    }


@register_metric("elbo")
@needs_no_labels
def _elbo_metric(
    ctx: EvalContext, *, num_points: int | None = None, num_samples: int = 10_000
) -> dict:
    """Driver adapter: the decomposition over the whole grid (or ``num_points`` random cells)."""
    mu, logvar, _ = ctx.posteriors(num_points)
    return elbo_decomposition(mu, logvar, num_samples=num_samples, seed=ctx.seed)
