"""Modularity and explicitness (Ridgeway & Mozer 2018), as in disentanglement_lib.

Ridgeway & Mozer, "Learning Deep Disentangled Embeddings With the F-Statistic Loss",
NeurIPS 2018, Sec. 3: a code is *modular* when it carries information about at most one factor,
and a representation is *explicit* when every factor value can be read off it linearly.

Explicitness follows the reference as it ran for the published benchmark (scikit-learn's
``LogisticRegression()`` of 2019: LIBLINEAR, one-vs-rest, ``C = 1``, penalised intercept, on
codes standardised with the training mean and standard deviation), scored by the mean over
classes of the one-vs-rest ROC-AUC of the normalised class probabilities. The per-class
logistic regressions are solved together to the optimum by
:func:`untwine.metrics._linear.fit_logistic`; LIBLINEAR stops at a tolerance of 1e-4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import expit

from untwine.metrics._discrete import histogram_discretize, mutual_info_matrix
from untwine.metrics._linear import fit_logistic, ovr_problems
from untwine.metrics._validate import (
    check_num_factors,
    check_pair,
    check_positive_int,
    check_train_test,
    check_varying_factors,
)
from untwine.registry import register_metric

if TYPE_CHECKING:
    from untwine.metrics.context import EvalContext

LOGISTIC_C = 1.0


def modularity_explicitness(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    num_bins: int = 20,
) -> dict[str, float | list]:
    """Modularity and explicitness, each in [0, 1] (dimensionless).

    Modularity (Ridgeway & Mozer 2018, Eq. 2): with ``m[d, k]`` the plug-in mutual information
    (nats) between code ``d`` discretised into ``num_bins`` equal-width bins and factor ``k``
    on the training points, and ``theta_d = max_k m[d, k]``, each code scores
    ``1 - sum_{k != argmax} m[d, k]^2 / (theta_d^2 (K - 1))``; a code with no information
    scores 0; modularity is the mean over codes.

    Explicitness: per factor, one-vs-rest L2 logistic regression (``C = 1``) on all
    standardised codes, fit on the training points; the ROC-AUC of each class's normalised
    probability is averaged over classes (classes absent from the scored split, where the AUC
    is undefined, are skipped; the reference would raise), then over factors. A code that is
    constant on the training points is standardised with unit scale instead of dividing by 0.

    Returns:
        ``{"modularity": float, "explicitness_train": float, "explicitness_test": float,
        "modularity_per_code": [D], "explicitness_train_per_factor": [K],
        "explicitness_test_per_factor": [K], "mutual_info": [[K] * D] (nats)}``.
    """
    train = check_pair(train_codes, train_factors, "train_codes", "train_factors")
    test = check_pair(test_codes, test_factors, "test_codes", "test_factors")
    check_train_test(train, test)
    check_num_factors(train[1], "train_factors", 2)
    check_varying_factors(train[1], "train_factors")
    num_bins = check_positive_int(num_bins, "num_bins")

    mi = mutual_info_matrix(histogram_discretize(train[0], num_bins), train[1])
    per_code = modularity_from_mutual_info(mi)

    codes_train = train[0].astype(np.float64)
    mean, std = codes_train.mean(axis=0), codes_train.std(axis=0)
    std[std == 0] = 1.0
    z_train = (codes_train - mean) / std
    z_test = (test[0].astype(np.float64) - mean) / std
    # Every factor's one-vs-rest problems share the design matrix: solve them as one batch.
    classes = [np.unique(train[1][:, k]) for k in range(train[1].shape[1])]
    problems = [ovr_problems(train[1][:, k], c, None, LOGISTIC_C) for k, c in enumerate(classes)]
    thetas = np.split(
        fit_logistic(z_train, *(np.hstack(parts) for parts in zip(*problems, strict=True))),
        np.cumsum([signs.shape[1] for signs, _ in problems])[:-1],
    )
    auc_train, auc_test = [], []
    for k, (c, theta) in enumerate(zip(classes, thetas, strict=True)):
        auc_train.append(_mean_ovr_auc(_ovr_proba(z_train, theta), train[1][:, k], c))
        auc_test.append(_mean_ovr_auc(_ovr_proba(z_test, theta), test[1][:, k], c))
    return {
        "modularity": float(np.mean(per_code)),
        "explicitness_train": float(np.mean(auc_train)),
        "explicitness_test": float(np.mean(auc_test)),
        "modularity_per_code": per_code.tolist(),
        "explicitness_train_per_factor": auc_train,
        "explicitness_test_per_factor": auc_test,
        "mutual_info": mi.tolist(),
    }


def modularity_from_mutual_info(mutual_info: np.ndarray) -> np.ndarray:
    """Per-code modularity (D,) from a (D, K) mutual-information matrix (Ridgeway & Mozer)."""
    squared = np.square(mutual_info)
    top = squared.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (squared.sum(axis=1) - top) / (top * (squared.shape[1] - 1.0))
    return np.where(top == 0.0, 0.0, 1.0 - delta)


def _ovr_proba(features: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """Class probabilities as scikit-learn's one-vs-rest logistic regression reports them."""
    decision = features @ theta[:, :-1].T + theta[:, -1]
    p = expit(decision)
    if theta.shape[0] == 1:
        return np.hstack([1.0 - p, p])
    return p / p.sum(axis=1, keepdims=True)


def _mean_ovr_auc(proba: np.ndarray, labels: np.ndarray, classes: np.ndarray) -> float:
    """Macro ROC-AUC over classes; ties count one half (the Mann-Whitney form of the AUC).

    A positive's average rank among all points is read from the sorted column with two
    binary searches (the ranks ``lo + 1 .. hi`` of its tied block), the same numbers as
    ``scipy.stats.rankdata`` at a fifth of the cost.
    """
    aucs = []
    columns = np.sort(proba.T, axis=1)
    for i, (c, column) in enumerate(zip(classes, columns, strict=True)):
        scores = proba[labels == c, i]
        n_pos, n_neg = len(scores), len(labels) - len(scores)
        if n_pos == 0 or n_neg == 0:
            continue
        lo = np.searchsorted(column, scores, side="left")
        hi = np.searchsorted(column, scores, side="right")
        rank_sum = np.sum(lo + hi + 1) / 2.0
        aucs.append((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))
    if not aucs:
        return float("nan")  # the split holds a single class: no ROC curve exists
    return float(np.mean(aucs))


@register_metric("modularity")
def _modularity_metric(
    ctx: EvalContext, *, num_points: int = 10_000, num_test_points: int = 5_000, num_bins: int = 20
) -> dict:
    """Driver adapter: modularity and explicitness on sampled train/test points."""
    split = ctx.train_test(num_points, num_test_points)
    return modularity_explicitness(
        split.train_codes,
        split.train_factors,
        split.test_codes,
        split.test_factors,
        num_bins=num_bins,
    )
