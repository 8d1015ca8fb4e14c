"""Interventional Robustness Score (Suter et al. 2019), as the benchmark library computes it.

Suter, Miladinovic, Schoelkopf & Bauer, "Robustly Disentangled Causal Mechanisms: Validating
Deep Representations for Interventional Robustness", ICML 2019, Sec. 4-5: a code is robustly
disentangled when, once its parent factor is held fixed, interventions on the other (nuisance)
factors move it little. Estimated from sampled points as in disentanglement_lib (Locatello et
al. 2019), whose estimator the authors contributed:

* factors are cut into ``num_bins`` equal-width histogram bins (as the codes are for MIG;
  factors with at most ``num_bins`` values keep every value in a bin of its own);
* codes that are constant on the sample are dropped (``num_active_dims`` counts the others);
* for code ``d`` and factor ``k``, every value ``v`` of ``k`` selects the points with
  ``g_k = v``, on which only the nuisances vary; the ``diff_quantile`` quantile of
  ``|z_d - E[z_d | g_k = v]|`` over them is the code's deviation under those interventions.
  The mean over the values ``v``, divided by the code's largest deviation from its overall mean
  ``max |z_d - E z_d|``, is the normalised deviation, and ``IRS[d, k] = 1 - deviation``;
* a code's score is its best factor's, ``max_k IRS[d, k]`` (that factor is its parent); the
  headline is the mean of the codes' scores weighted by their largest deviations.

``diff_quantile = 1`` is the paper's worst case over interventions; the library's 0.99 (the
default here) ignores the most extreme 1 % of the points. Dimensionless, in [0, 1] for
``diff_quantile = 1``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from untwine.metrics._discrete import histogram_discretize
from untwine.metrics._validate import MetricInputError, check_pair, check_positive_int
from untwine.registry import register_metric

if TYPE_CHECKING:
    from untwine.metrics.context import EvalContext


def irs(
    codes: np.ndarray, factors: np.ndarray, diff_quantile: float = 0.99, num_bins: int = 20
) -> dict[str, float | int | list]:
    """Interventional Robustness Score of a representation (dimensionless); see the module text.

    Args:
        codes: (N, D) float codes of N sampled points (the posterior means).
        factors: (N, K) integer factor indices of the same points.
        diff_quantile: the quantile of the deviations within a group of fixed factor value
            that counts as its deviation, in (0, 1]; 1 takes the maximum (the paper).
        num_bins: histogram bins per factor (the benchmark discretises factors into 20).

    Returns:
        ``{"irs": float, "num_active_dims": int, "irs_per_code": [D],
        "irs_matrix": [[K] * D], "parents": [D], "max_deviations": [D]}``; the entries of a
        constant code are None (it is not scored), and with no active code ``irs`` is 0.
    """
    codes, factors = check_pair(codes, factors, "codes", "factors")
    num_bins = check_positive_int(num_bins, "num_bins")
    if isinstance(diff_quantile, bool) or not isinstance(diff_quantile, int | float | np.floating):
        raise MetricInputError(f"diff_quantile must be a number in (0, 1], got {diff_quantile!r}")
    if not 0.0 < float(diff_quantile) <= 1.0:
        raise MetricInputError(f"diff_quantile must be in (0, 1], got {diff_quantile!r}")
    num_codes, num_factors = codes.shape[1], factors.shape[1]
    z = codes.astype(np.float64)
    active = z.var(axis=0) > 0.0
    result: dict[str, float | int | list] = {
        "irs": 0.0,
        "num_active_dims": int(active.sum()),
        "irs_per_code": [None] * num_codes,
        "irs_matrix": [None] * num_codes,
        "parents": [None] * num_codes,
        "max_deviations": [None] * num_codes,
    }
    if not active.any():
        return result
    z = z[:, active]
    binned = histogram_discretize(factors, num_bins)
    max_deviation = np.max(np.abs(z - z.mean(axis=0)), axis=0)
    deviation = np.zeros((z.shape[1], num_factors))
    for k in range(num_factors):
        values = np.unique(binned[:, k])
        for v in values:
            group = z[binned[:, k] == v]
            spread = np.abs(group - group.mean(axis=0))
            deviation[:, k] += np.quantile(spread, float(diff_quantile), axis=0)
        deviation[:, k] /= len(values)
    matrix = 1.0 - deviation / max_deviation[:, None]
    per_code = matrix.max(axis=1)
    result["irs"] = float(np.average(per_code, weights=max_deviation))
    for column, d in enumerate(np.flatnonzero(active)):
        result["irs_per_code"][d] = float(per_code[column])
        result["irs_matrix"][d] = matrix[column].tolist()
        result["parents"][d] = int(matrix[column].argmax())
        result["max_deviations"][d] = float(max_deviation[column])
    return result


@register_metric("irs")
def _irs_metric(
    ctx: EvalContext, *, num_points: int = 10_000, diff_quantile: float = 0.99, num_bins: int = 20
) -> dict:
    """Driver adapter: IRS on ``num_points`` sampled points (mean representation)."""
    split = ctx.train_test(num_points)
    return irs(split.train_codes, split.train_factors, diff_quantile, num_bins)
