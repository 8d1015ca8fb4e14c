"""Mutual Information Gap, discrete version (Chen et al. 2018, as in disentanglement_lib).

Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in Variational
Autoencoders", NeurIPS 2018, define MIG as the gap between the two codes most informative
about each factor, normalised by the factor's entropy. This module computes the variant used by
the large benchmark study (Locatello et al. 2019): mean codes of sampled points, each code
discretised into equal-width histogram bins, plug-in mutual information. Its numbers are not
comparable with :func:`untwine.metrics.mig_full.mig_full`, which follows the paper's own
full-dataset estimator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from untwine.metrics._discrete import entropy_of_factors, histogram_discretize, mutual_info_matrix
from untwine.metrics._validate import (
    check_pair,
    check_positive_int,
    check_varying_factors,
)
from untwine.registry import register_metric

if TYPE_CHECKING:
    from untwine.metrics.context import EvalContext


def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> dict[str, float | list]:
    """Discrete MIG of a representation, in [0, 1] (dimensionless).

    Each code column is cut into ``num_bins`` equal-width bins between its sample minimum and
    maximum; ``I(z_d; v_k)`` is the plug-in mutual information (nats) between bin index and
    factor index; for each factor the gap between the largest and second-largest ``I`` over
    codes is divided by the factor's empirical entropy ``H(v_k)`` (nats); MIG is the mean gap
    over factors (Chen et al. 2018, Eq. 6, discretised as in Locatello et al. 2019).

    Args:
        codes: (N, D) float codes, usually the posterior means of N sampled points; D >= 2.
        factors: (N, K) integer factor indices of the same points; each factor must vary.
        num_bins: histogram bins per code (the benchmark default is 20).

    Returns:
        ``{"mig": float, "mig_per_factor": [K], "mutual_info": [[K] * D] (nats),
        "factor_entropy": [K] (nats)}``.
    """
    codes, factors = check_pair(codes, factors, "codes", "factors", min_dims=2)
    num_bins = check_positive_int(num_bins, "num_bins")
    check_varying_factors(factors, "factors")
    mi = mutual_info_matrix(histogram_discretize(codes, num_bins), factors)
    entropy = entropy_of_factors(factors)
    top_two = np.sort(mi, axis=0)[::-1][:2]
    gaps = (top_two[0] - top_two[1]) / entropy
    return {
        "mig": float(np.mean(gaps)),
        "mig_per_factor": gaps.tolist(),
        "mutual_info": mi.tolist(),
        "factor_entropy": entropy.tolist(),
    }


@register_metric("mig")
def _mig_metric(ctx: EvalContext, *, num_points: int = 10_000, num_bins: int = 20) -> dict:
    """Driver adapter: discrete MIG on ``num_points`` sampled points (mean representation)."""
    split = ctx.train_test(num_points)
    return mig(split.train_codes, split.train_factors, num_bins=num_bins)
