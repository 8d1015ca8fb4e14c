"""Mutual Information Gap with the full-dataset estimator of Chen et al. (2018).

Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational
Autoencoders", NeurIPS 2018, Sec. 5 and their reference code (``mutual_info_metric_shapes``):
``I(z_j; v_k) = H(z_j) - H(z_j | v_k)``, both entropies estimated from *sampled* codes
``z ~ q(z | x_n)`` under the aggregate posterior of the whole dataset (for ``H(z_j)``) or of
the points sharing each value of ``v_k`` (for ``H(z_j | v_k = v)``), then normalised by
``log |V_k|`` (the entropy of a uniform factor on the full grid).

NOT comparable with :func:`untwine.metrics.mig.mig` (the benchmark library's discrete MIG
on binned mean codes): the estimator, the use of posterior noise and the normaliser differ.
Chen et al. also dropped dSprites' shape factor from their mean; this function reports every
factor with at least two values (see ``mig_per_factor`` to recombine).

Cost: (1 + number of factors) times that of :func:`untwine.metrics.elbo.elbo_decomposition`,
since every conditional entropy is a log-sum-exp over the points sharing a factor value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from untwine.metrics._aggregate import log_aggregate
from untwine.metrics._validate import (
    MetricInputError,
    Seed,
    as_generator,
    as_int_seed,
    check_codes,
    check_factors,
    check_positive_int,
)
from untwine.metrics.context import EncoderFn, EvalContext
from untwine.registry import register_metric


def mig_full(
    data: Any,
    encoder_fn: EncoderFn,
    seed: Seed = 0,
    num_points: int | None = None,
    num_samples: int = 10_000,
) -> dict[str, float | list]:
    """Chen et al.'s MIG of an encoder on a ground-truth dataset, in [0, 1].

    Encodes the whole factor grid (or ``num_points`` random cells, a stated subset for
    speed) with ``encoder_fn`` (float32 images -> ``(mu, logvar)``, each (N, D)) and calls
    :func:`mig_full_from_posteriors`. Same seed, same numbers; ``seed`` is an int or a
    ``numpy.random.Generator``.
    """
    seed = as_int_seed(seed)
    ctx = EvalContext(data, seed, encoder_fn=encoder_fn)
    mu, logvar, factors = ctx.posteriors(num_points)
    return mig_full_from_posteriors(
        mu, logvar, factors, data.factor_sizes, num_samples=num_samples, seed=seed
    )


def mig_full_from_posteriors(
    mu: np.ndarray,
    logvar: np.ndarray,
    factors: np.ndarray,
    factor_sizes: Sequence[int] | None = None,
    num_samples: int = 10_000,
    seed: Seed = 0,
) -> dict[str, float | list]:
    """MIG from posterior parameters (N, D) and factor indices (N, K) of the same points.

    One ``z`` is drawn per point. ``H(z_j)`` is the mean of ``-log q(z_j)`` over
    ``num_samples`` random draws, with ``q(z_j)`` the mixture of all N posteriors;
    ``H(z_j | v_k)`` is the frequency-weighted mean over values ``v`` of the same estimate
    within the points having ``v_k = v`` (up to ``num_samples`` draws each). MI in nats,
    clamped at 0 and divided by ``log factor_sizes[k]`` (default: the number of distinct
    values present); the score is the mean over factors with at least two values of the gap
    between the two largest normalised MIs. ``seed``: an int or a ``numpy.random.Generator``
    drawing the codes and subsets.

    Returns:
        ``{"mig_full": float, "mig_per_factor": [K] (None for constant factors),
        "mutual_info": [[K] * D] (nats), "marginal_entropy": [D] (nats),
        "conditional_entropy": [[K] * D] (nats)}``.
    """
    mu = check_codes(mu, "mu", min_dims=2).astype(np.float64)
    logvar = check_codes(logvar, "logvar", min_dims=2).astype(np.float64)
    factors = check_factors(factors, "factors")
    if mu.shape != logvar.shape or len(factors) != len(mu):
        raise MetricInputError(
            f"mu, logvar and factors must describe the same points, got shapes {mu.shape}, "
            f"{logvar.shape} and {factors.shape}"
        )
    num_samples = check_positive_int(num_samples, "num_samples")
    if factor_sizes is None:
        sizes = [int(np.unique(factors[:, k]).size) for k in range(factors.shape[1])]
    else:
        sizes = [int(s) for s in factor_sizes]
        if len(sizes) != factors.shape[1]:
            raise MetricInputError(
                f"factor_sizes has {len(sizes)} entries but factors has {factors.shape[1]} columns"
            )
    if max(sizes) < 2:
        raise MetricInputError("mig_full needs at least one factor with 2 or more values")

    rng = as_generator(seed)
    z = mu + np.exp(0.5 * logvar) * rng.standard_normal(size=mu.shape)

    def entropy(members: np.ndarray) -> np.ndarray:
        """Per-dimension entropy (D,) of the aggregate posterior of ``members``."""
        picked = members
        if len(members) > num_samples:
            picked = np.sort(rng.choice(members, size=num_samples, replace=False))
        log_q, _ = log_aggregate(z[picked], mu[members], logvar[members])
        return -log_q.mean(axis=0)

    everyone = np.arange(len(mu))
    marginal = entropy(everyone)
    num_codes, num_factors = mu.shape[1], factors.shape[1]
    conditional = np.zeros((num_codes, num_factors))
    for k in range(num_factors):
        values, counts = np.unique(factors[:, k], return_counts=True)
        for value, count in zip(values, counts, strict=True):
            members = np.flatnonzero(factors[:, k] == value)
            conditional[:, k] += count / len(mu) * entropy(members)
    mi = np.clip(marginal[:, None] - conditional, 0.0, None)
    gaps: list[float | None] = []
    for k in range(num_factors):
        if sizes[k] < 2:
            gaps.append(None)
            continue
        top_two = np.sort(mi[:, k])[::-1][:2] / math.log(sizes[k])
        gaps.append(float(top_two[0] - top_two[1]))
    return {
        "mig_full": float(np.mean([g for g in gaps if g is not None])),
        "mig_per_factor": gaps,
        "mutual_info": mi.tolist(),
        "marginal_entropy": marginal.tolist(),
        "conditional_entropy": conditional.tolist(),
    }


@register_metric("mig_full")
def _mig_full_metric(
    ctx: EvalContext, *, num_points: int | None = None, num_samples: int = 10_000
) -> dict:
    """Driver adapter: Chen et al.'s MIG over the grid (or ``num_points`` random cells)."""
    mu, logvar, factors = ctx.posteriors(num_points)
    return mig_full_from_posteriors(
        mu, logvar, factors, ctx.data.factor_sizes, num_samples=num_samples, seed=ctx.seed
    )
