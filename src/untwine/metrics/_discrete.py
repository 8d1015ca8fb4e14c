"""Histogram discretisation and plug-in mutual information, shared by MIG and modularity.

The definitions follow the common benchmark library (disentanglement_lib): each code is cut
into equal-width bins between its sample minimum and maximum (``np.histogram`` edges, then
``np.digitize`` against all but the last edge), and mutual information is the plug-in
estimate of :func:`sklearn.metrics.mutual_info_score`, in nats. The reference evaluates one
``mutual_info_score`` per (code, factor) pair; here one ``np.bincount`` per factor builds the
contingency tables of all codes at once, which gives the same numbers (to rounding).
"""

from __future__ import annotations

import numpy as np


def histogram_discretize(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """Bin index (N, D) int64 in ``0 .. num_bins - 1`` of each code value.

    Bins are equal-width between each column's minimum and maximum; the maximum falls in the
    last bin. A constant column falls into a single bin (``np.histogram`` widens its range by
    0.5 on each side). The edges are computed in the codes' own dtype, as the reference does.
    """
    out = np.empty(codes.shape, dtype=np.int64)
    for d in range(codes.shape[1]):
        column = codes[:, d]
        edges = np.histogram_bin_edges(column, bins=num_bins)
        # digitize against the left edges gives 1..num_bins; shift to start at 0.
        out[:, d] = np.digitize(column, edges[:-1]) - 1
    return out


def _dense_labels(labels: np.ndarray) -> tuple[np.ndarray, int]:
    """Map arbitrary non-negative labels to 0..n_distinct-1 (keeps contingency tables small)."""
    uniques, inverse = np.unique(labels, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), int(uniques.size)


def mutual_info_matrix(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """Plug-in mutual information (D, K) in nats between each discrete code and each factor.

    Equal to ``sklearn.metrics.mutual_info_score(factors[:, k], discrete_codes[:, d])`` for
    every pair, computed from one joint histogram per factor.
    """
    n, num_codes = discrete_codes.shape
    codes_dense = np.empty_like(discrete_codes)
    code_sizes = np.empty(num_codes, dtype=np.int64)
    for d in range(num_codes):
        codes_dense[:, d], code_sizes[d] = _dense_labels(discrete_codes[:, d])
    width = int(code_sizes.max())
    mi = np.zeros((num_codes, factors.shape[1]))
    log_n = np.log(n)
    for k in range(factors.shape[1]):
        y, size_y = _dense_labels(factors[:, k])
        # One bincount over all codes: cell (d, code bin, factor value) gets its own slot.
        flat = (np.arange(num_codes) * width)[None, :] + codes_dense
        flat = flat * size_y + y[:, None]
        counts = np.bincount(flat.ravel(), minlength=num_codes * width * size_y)
        counts = counts.reshape(num_codes, width, size_y).astype(np.float64)
        row = counts.sum(axis=2, keepdims=True)
        col = counts.sum(axis=1, keepdims=True)
        nz = counts > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = counts * (np.log(counts) + log_n - np.log(row) - np.log(col))
        mi[:, k] = np.where(nz, terms, 0.0).sum(axis=(1, 2)) / n
    # mutual_info_score clips tiny negative rounding to zero; so do we.
    return np.clip(mi, 0.0, None)


def entropy_of_factors(factors: np.ndarray) -> np.ndarray:
    """Empirical entropy (K,) in nats of each factor column (``mutual_info_score(y, y)``)."""
    out = np.empty(factors.shape[1])
    for k in range(factors.shape[1]):
        y, _ = _dense_labels(factors[:, k])
        p = np.bincount(y) / len(y)
        out[k] = -np.sum(p * np.log(p))
    return out
