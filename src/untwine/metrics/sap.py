"""Separated Attribute Predictability (Kumar, Sattigeri & Balakrishnan 2018).

"Variational Inference of Disentangled Latent Concepts from Unlabeled Observations", ICLR 2018,
Sec. 3: build a (code x factor) score matrix of how well each single code predicts each factor,
then average over factors the gap between the two best codes. Settings follow the benchmark
library (disentanglement_lib): discrete factors use a linear SVM per (code, factor) with
``C = 0.01`` and balanced class weights, scored by test accuracy; continuous factors use the R^2
of a one-dimensional linear regression on the training points.

The reference fits D x K separate ``LinearSVC`` models. Here all one-vs-rest problems of one
code are solved together, to their (unique) optimum, by
:func:`untwine.metrics._linear.fit_svm_1d`. Against ``LinearSVC`` with its tolerance tightened
to 1e-12 the score matrix is identical (measured on 10,000 / 5,000 dSprites-like codes, and
checked in ``tests/metrics/test_sap.py``); at LIBLINEAR's default tolerance of 1e-4, which the
reference runs with, a few test points near a threshold flip (measured: at most 4 of 5,000 in
one score-matrix entry, i.e. 0.0008).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from untwine.metrics._linear import (
    balanced_class_weight,
    decision_to_labels,
    fit_svm_1d,
)
from untwine.metrics._validate import check_pair, check_train_test, check_varying_factors
from untwine.registry import register_metric

if TYPE_CHECKING:
    from untwine.metrics.context import EvalContext

SVM_C = 0.01


def sap(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    continuous_factors: bool = False,
) -> dict[str, float | list]:
    """SAP score in [0, 1] (dimensionless): mean over factors of the top-two score gap.

    ``score[d, k]`` is, for discrete factors, the test accuracy of a linear SVM (squared hinge,
    ``C = 0.01``, balanced class weights, one-vs-rest) trained on code ``d`` alone to predict
    factor ``k``; for ``continuous_factors=True`` it is the squared Pearson correlation of code
    ``d`` and factor index ``k`` on the training points (the R^2 of a 1-D linear regression; a
    code with variance below 1e-12 scores 0), and the test split is not used.

    Args:
        train_codes, test_codes: (N, D) and (M, D) float codes, D >= 2.
        train_factors, test_factors: (N, K) and (M, K) integer factor indices.
        continuous_factors: treat factors as continuous (R^2) instead of classes (accuracy).

    Returns:
        ``{"sap": float, "sap_per_factor": [K], "score_matrix": [[K] * D]}``.
    """
    train = check_pair(train_codes, train_factors, "train_codes", "train_factors", min_dims=2)
    test = check_pair(test_codes, test_factors, "test_codes", "test_factors", min_dims=2)
    check_train_test(train, test)
    check_varying_factors(train[1], "train_factors")
    codes = train[0].astype(np.float64)
    if continuous_factors:
        scores = _r2_matrix(codes, train[1].astype(np.float64))
    else:
        scores = _svm_accuracy_matrix(codes, train[1], test[0].astype(np.float64), test[1])
    top_two = np.sort(scores, axis=0)[::-1][:2]
    gaps = top_two[0] - top_two[1]
    return {
        "sap": float(np.mean(gaps)),
        "sap_per_factor": gaps.tolist(),
        "score_matrix": scores.tolist(),
    }


def _r2_matrix(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """cov(z_d, v_k)^2 / (var z_d var v_k), ddof=1, for all pairs at once."""
    zc = codes - codes.mean(axis=0)
    fc = factors - factors.mean(axis=0)
    n = len(codes)
    cov = zc.T @ fc / (n - 1)
    var_z = np.sum(zc * zc, axis=0) / (n - 1)
    var_f = np.sum(fc * fc, axis=0) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = cov**2 / (var_z[:, None] * var_f[None, :])
    # The reference scores a (numerically) constant code 0 rather than dividing by ~0.
    r2[var_z <= 1e-12, :] = 0.0
    return r2


def _svm_accuracy_matrix(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
) -> np.ndarray:
    num_codes, num_factors = train_codes.shape[1], train_factors.shape[1]
    # LinearSVC's one-vs-rest problems depend only on the labels: build every factor's
    # problems once (global class ids across factors) and solve them for one code at a time.
    point_classes = np.empty_like(train_factors)
    problem_class, cost_pos, cost_neg, factor_of, class_values = [], [], [], [], []
    offset = 0
    for k in range(num_factors):
        classes, dense = np.unique(train_factors[:, k], return_inverse=True)
        point_classes[:, k] = offset + dense.reshape(-1)
        weight = balanced_class_weight(train_factors[:, k], classes)
        if len(classes) == 2:
            # LIBLINEAR solves one problem for two classes: classes[1] positive, both weighted.
            problem_class.append(offset + 1)
            cost_pos.append(SVM_C * weight[1])
            cost_neg.append(SVM_C * weight[0])
        else:
            # One-vs-rest: the class weight scales the positive side only (LIBLINEAR).
            problem_class.extend(offset + np.arange(len(classes)))
            cost_pos.extend(SVM_C * weight)
            cost_neg.extend([SVM_C] * len(classes))
        factor_of.extend([k] * (1 if len(classes) == 2 else len(classes)))
        class_values.append(classes)
        offset += len(classes)
    problem_class = np.asarray(problem_class)
    cost_pos, cost_neg = np.asarray(cost_pos), np.asarray(cost_neg)
    factor_of = np.asarray(factor_of)
    scores = np.empty((num_codes, num_factors))
    for d in range(num_codes):
        theta = fit_svm_1d(train_codes[:, d], point_classes, problem_class, cost_pos, cost_neg)
        for k in range(num_factors):
            rows = factor_of == k
            decision = test_codes[:, d : d + 1] * theta[rows, 0] + theta[rows, 1]
            predicted = decision_to_labels(decision, class_values[k])
            scores[d, k] = np.mean(predicted == test_factors[:, k])
    return scores


@register_metric("sap")
def _sap_metric(
    ctx: EvalContext,
    *,
    num_points: int = 10_000,
    num_test_points: int = 5_000,
    continuous_factors: bool = False,
) -> dict:
    """Driver adapter: SAP on sampled train/test points (mean representation)."""
    split = ctx.train_test(num_points, num_test_points)
    return sap(
        split.train_codes,
        split.train_factors,
        split.test_codes,
        split.test_factors,
        continuous_factors=continuous_factors,
    )
