"""Label-free scores of a representation: Gaussian total and Wasserstein correlation, and the
mean mutual information between codes (the unsupervised scores of Locatello et al. 2019).

Locatello et al., "Challenging Common Assumptions in the Unsupervised Learning of Disentangled
Representations", ICML 2019, Sec. 5 and Appendix: besides the supervised metrics, the study
reports three scores that need no factor labels, all read off the mean codes of sampled points.

* Gaussian total correlation: fit a zero-mean Gaussian ``N(0, S)`` to the codes (``S`` their
  sample covariance) and take the total correlation of that Gaussian, the KL divergence from
  ``N(0, S)`` to the product of its marginals ``N(0, diag S)``; in nats. For a Gaussian this is
  ``-1/2 log det C`` with ``C`` the correlation matrix (Cover & Thomas, Sec. 8.4).
* Gaussian Wasserstein correlation: the squared 2-Wasserstein distance between the same two
  Gaussians, ``tr S + tr D - 2 tr (D^1/2 S D^1/2)^1/2`` with ``D = diag S`` (Dowson & Landau
  1982); in squared code units. Its normalised form divides by ``tr S`` (dimensionless).
* Mutual-information score: each code cut into equal-width histogram bins, the plug-in mutual
  information between every pair of codes (nats), averaged over the ``D (D - 1)`` ordered pairs
  of distinct codes.

A perfectly factorised representation scores 0 on all three.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from untwine.metrics._discrete import histogram_discretize, mutual_info_matrix
from untwine.metrics._validate import MetricInputError, check_codes, check_positive_int
from untwine.metrics.context import needs_no_labels
from untwine.registry import register_metric

if TYPE_CHECKING:
    from untwine.metrics.context import EvalContext


def unsupervised_scores(codes: np.ndarray, num_bins: int = 20) -> dict[str, float | list]:
    """The three label-free scores of ``codes`` (Locatello et al. 2019); see the module text.

    The covariance is the sample covariance of the codes (``np.cov``, ``N - 1`` in the
    denominator). A code that is constant on the sample is independent of the others and adds
    nothing to either Gaussian score; it is left out of them (its limit), where a plain
    evaluation would divide by its zero variance. Codes that are exact linear functions of one
    another give a singular correlation matrix and an infinite total correlation.

    Args:
        codes: (N, D) float codes of N sampled points (the posterior means), N >= 2, D >= 2.
        num_bins: histogram bins per code for the mutual-information score.

    Returns:
        ``{"gaussian_total_correlation": float (nats), "gaussian_wasserstein_correlation":
        float (squared code units), "gaussian_wasserstein_correlation_norm": float,
        "mutual_info_score": float (nats), "covariance": [[D] * D],
        "mutual_info": [[D] * D] (nats, diagonal: each code's entropy after binning)}``.
    """
    codes = check_codes(codes, "codes", min_dims=2)
    num_bins = check_positive_int(num_bins, "num_bins")
    if len(codes) < 2:
        raise MetricInputError(
            f"codes must have at least 2 rows for a covariance, got {len(codes)}"
        )
    cov = np.cov(codes.astype(np.float64), rowvar=False)
    num_codes = codes.shape[1]
    binned = histogram_discretize(codes, num_bins)
    mi = mutual_info_matrix(binned, binned)
    off_diagonal = mi[~np.eye(num_codes, dtype=bool)]
    wasserstein = gaussian_wasserstein_correlation(cov)
    trace = float(np.trace(cov))
    return {
        "gaussian_total_correlation": gaussian_total_correlation(cov),
        "gaussian_wasserstein_correlation": wasserstein,
        "gaussian_wasserstein_correlation_norm": wasserstein / trace if trace > 0 else 0.0,
        "mutual_info_score": float(off_diagonal.mean()),
        "covariance": cov.tolist(),
        "mutual_info": mi.tolist(),
    }


def gaussian_total_correlation(cov: np.ndarray) -> float:
    """Total correlation (nats) of ``N(0, cov)``: ``KL(N(0, cov) || N(0, diag cov))``.

    Equals ``1/2 (sum_d log cov_dd - log det cov) = -1/2 log det C`` with ``C`` the
    correlation matrix, which is what is computed (better conditioned than ``cov``).
    Dimensions of zero variance are left out; a singular ``C`` gives ``inf``.
    """
    cov = _check_covariance(cov)
    keep = np.diag(cov) > 0
    if keep.sum() < 2:
        return 0.0
    sub = cov[np.ix_(keep, keep)]
    scale = 1.0 / np.sqrt(np.diag(sub))
    sign, logdet = np.linalg.slogdet(sub * scale[:, None] * scale[None, :])
    if sign <= 0:
        return float("inf")
    return float(max(-0.5 * logdet, 0.0))


def gaussian_wasserstein_correlation(cov: np.ndarray) -> float:
    """Squared 2-Wasserstein distance between ``N(0, cov)`` and ``N(0, diag cov)``.

    ``W2^2 = 2 tr cov - 2 tr (D^1/2 cov D^1/2)^1/2`` with ``D = diag cov`` (the two traces
    agree), in squared units of the codes; 0 exactly when ``cov`` is diagonal. The matrix
    square root's trace is the sum of the square roots of the symmetric matrix's eigenvalues
    (negative rounding clipped to 0).
    """
    cov = _check_covariance(cov)
    root_d = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    inner = cov * root_d[:, None] * root_d[None, :]
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    value = 2.0 * np.trace(cov) - 2.0 * np.sum(np.sqrt(np.clip(eig, 0.0, None)))
    return float(max(value, 0.0))


def _check_covariance(cov: object) -> np.ndarray:
    arr = np.asarray(cov, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise MetricInputError(f"cov must be a square (D, D) matrix, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise MetricInputError("cov contains NaN or inf values")
    if (np.diag(arr) < 0).any():
        raise MetricInputError("cov must have a non-negative diagonal (variances)")
    return arr


@register_metric("unsupervised")
@needs_no_labels
def _unsupervised_metric(ctx: EvalContext, *, num_points: int = 10_000, num_bins: int = 20) -> dict:
    """Driver adapter: the label-free scores of ``num_points`` sampled points' mean codes
    (the same draw as MIG's train split)."""
    split = ctx.train_test(num_points)
    return unsupervised_scores(split.train_codes, num_bins=num_bins)
