"""Disentanglement, completeness and informativeness (Eastwood & Williams 2018).

Eastwood & Williams, "A Framework for the Quantitative Evaluation of Disentangled
Representations", ICLR 2018: regress each factor on all codes, collect the relative
importance of code ``d`` for factor ``k`` in a (D x K) matrix ``R``, and read off

* disentanglement: each code should matter for one factor only,
  ``D_d = 1 - H_K(P_d.)`` with ``P_dk = R_dk / sum_k R_dk`` and the entropy in base K;
  weighted by the relative code importance ``rho_d = sum_k R_dk / sum R``;
* completeness: each factor should be captured by one code, ``C_k = 1 - H_D(P~_.k)`` with
  ``P~_dk = R_dk / sum_d R_dk`` and base D, weighted by relative factor importance;
* informativeness: the accuracy of the predictors (here train and test accuracy, as in the
  benchmark library, which uses classifiers on factor indices).

Models (``model=``):

``"gbt"`` (the reference, disentanglement_lib): one scikit-learn
``GradientBoostingClassifier()`` with default settings per factor, importances from
``feature_importances_`` (mean impurity decrease). On dSprites-sized inputs (10,000 x 10 codes,
113 classes) this takes about 10 minutes on two CPU cores.

``"fast"``: one scikit-learn ``RandomForestClassifier(n_estimators=25, max_depth=8,
max_features=None)`` per factor (bagged depth-8 CART trees; ``random_state=seed``),
importances from ``feature_importances_`` (mean impurity decrease, like the reference's),
accuracies of the forest. 50-100x faster than ``"gbt"`` on dSprites-sized inputs. It is not a
drop-in replacement: compare "fast" numbers only with "fast" numbers. Measured against
``"gbt"`` on four synthetic 10-D representations of dSprites' factor grid (10,000 / 5,000
points: well disentangled plus five noise codes, a random rotation of it, partially mixed,
VAE-like), fast - gbt was:

    ==============  ===============  ============  =================  ================
    representation  disentanglement  completeness  informativeness    informativeness
                                                   (train)            (test)
    ==============  ===============  ============  =================  ================
    disentangled    -0.040           -0.037        -0.127             +0.011
    rotated         -0.012           -0.012        -0.158             -0.003
    partial mix     -0.072           -0.066        -0.135             +0.008
    VAE-like        -0.046           -0.052        -0.096             +0.011
    ==============  ===============  ============  =================  ================

so D and C come out lower by up to ~0.07, test accuracy moves by ~0.01, and train accuracy is
0.1-0.16 lower (the reference's boosted trees fit the training points more closely). Among
the scikit-learn models tried (histogram gradient boosting with split-gain importances,
random forests of depths 6-10 with and without feature subsampling, extra trees of depths
7-12) this was the closest at this speed; histogram boosting grows one tree per class and
round, like the reference, and was no faster on 113 classes. Unlike extra trees, the bagged
trees choose the best split among all codes, so a perfect code keeps D and C near 1, and
exact duplicates share importance (random tie-breaking), as with the reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.stats import entropy
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier

from untwine.metrics._validate import (
    MetricInputError,
    Seed,
    as_int_seed,
    check_pair,
    check_train_test,
    check_varying_factors,
)
from untwine.registry import register_metric

if TYPE_CHECKING:
    from untwine.metrics.context import EvalContext

DciModel = Literal["gbt", "fast"]


def dci(
    train_codes: np.ndarray,
    train_factors: np.ndarray,
    test_codes: np.ndarray,
    test_factors: np.ndarray,
    model: DciModel = "gbt",
    seed: Seed = 0,
) -> dict[str, float | list]:
    """DCI scores of a representation (Eastwood & Williams 2018), each in [0, 1].

    Per factor, a classifier of the factor index from all codes is trained on the train split
    (``model="gbt"``: the reference gradient-boosted trees; ``"fast"``: bagged depth-8 trees,
    see the module docstring for its measured deviation). Its importances form
    column ``k`` of the (D, K) matrix passed to :func:`dci_from_importance`;
    ``informativeness_train`` / ``_test`` are the mean over factors of its accuracy.

    Args:
        train_codes, test_codes: (N, D) and (M, D) float codes, D >= 2.
        train_factors, test_factors: (N, K) and (M, K) integer factor indices, K >= 2.
        model: ``"gbt"`` or ``"fast"``.
        seed: ``random_state`` of the tree models (they break ties between equally good
            splits at random, e.g. between duplicated codes); an int, or a
            ``numpy.random.Generator`` whose next integer is used.

    Returns:
        ``{"disentanglement", "completeness", "informativeness_train",
        "informativeness_test", "importance_matrix": [[K] * D], "model": str}`` plus the
        per-code / per-factor entries of :func:`dci_from_importance`.
    """
    train = check_pair(train_codes, train_factors, "train_codes", "train_factors", min_dims=2)
    test = check_pair(test_codes, test_factors, "test_codes", "test_factors", min_dims=2)
    check_train_test(train, test)
    if train[1].shape[1] < 2:
        raise MetricInputError("DCI needs at least 2 factors (train_factors has 1 column)")
    check_varying_factors(train[1], "train_factors")
    if model not in _MODELS:
        raise MetricInputError(f"model must be one of {sorted(_MODELS)}, got {model!r}")
    fit = _MODELS[model]
    seed = as_int_seed(seed)
    num_codes, num_factors = train[0].shape[1], train[1].shape[1]
    importance = np.zeros((num_codes, num_factors))
    acc_train, acc_test = [], []
    for k in range(num_factors):
        clf, importance[:, k] = fit(train[0], train[1][:, k], seed)
        acc_train.append(float(np.mean(clf.predict(train[0]) == train[1][:, k])))
        acc_test.append(float(np.mean(clf.predict(test[0]) == test[1][:, k])))
    out: dict[str, float | list] = dict(dci_from_importance(importance))
    out.update(
        informativeness_train=float(np.mean(acc_train)),
        informativeness_test=float(np.mean(acc_test)),
        informativeness_train_per_factor=acc_train,
        informativeness_test_per_factor=acc_test,
        importance_matrix=importance.tolist(),
        model=model,
    )
    return out


def dci_from_importance(importance_matrix: np.ndarray) -> dict[str, float | list]:
    """Disentanglement and completeness of a (D codes x K factors) importance matrix.

    Entropies in base K (disentanglement of a code) and base D (completeness of a factor),
    with 1e-11 added to every entry as the reference does so that zero rows are defined;
    weights are the relative importance of each code / factor (uniform if ``R`` is all zero).
    A diagonal matrix scores 1 and 1; two identical stacked copies of a diagonal (2K x K)
    give completeness ``1 - ln 2 / ln(2K)``; side by side (K x 2K), disentanglement
    ``1 - ln 2 / ln(2K)``.

    Returns:
        ``{"disentanglement", "completeness", "disentanglement_per_code": [D],
        "completeness_per_factor": [K], "code_importance": [D], "factor_importance": [K]}``.
    """
    r = np.asarray(importance_matrix, dtype=np.float64)
    if r.ndim != 2:
        raise MetricInputError(f"importance_matrix must be 2-D (D, K), got shape {r.shape}")
    if r.shape[0] < 2 or r.shape[1] < 2:
        raise MetricInputError(
            f"importance_matrix needs at least 2 codes and 2 factors, got shape {r.shape}"
        )
    if not np.isfinite(r).all() or (r < 0).any():
        raise MetricInputError("importance_matrix must be finite and non-negative")
    num_codes, num_factors = r.shape
    per_code = 1.0 - entropy(r.T + 1e-11, base=num_factors)
    per_factor = 1.0 - entropy(r + 1e-11, base=num_codes)
    weights = r if r.sum() > 0 else np.ones_like(r)
    code_importance = weights.sum(axis=1) / weights.sum()
    factor_importance = weights.sum(axis=0) / weights.sum()
    return {
        "disentanglement": float(np.sum(per_code * code_importance)),
        "completeness": float(np.sum(per_factor * factor_importance)),
        "disentanglement_per_code": per_code.tolist(),
        "completeness_per_factor": per_factor.tolist(),
        "code_importance": code_importance.tolist(),
        "factor_importance": factor_importance.tolist(),
    }


def _fit_gbt(x: np.ndarray, y: np.ndarray, seed: int):
    clf = GradientBoostingClassifier(random_state=seed).fit(x, y)
    return clf, np.abs(clf.feature_importances_)


def _fit_fast(x: np.ndarray, y: np.ndarray, seed: int):
    clf = RandomForestClassifier(
        n_estimators=25, max_depth=8, max_features=None, random_state=seed, n_jobs=-1
    )
    clf.fit(x, y)
    return clf, clf.feature_importances_


_MODELS = {"gbt": _fit_gbt, "fast": _fit_fast}


@register_metric("dci")
def _dci_metric(
    ctx: EvalContext,
    *,
    num_points: int = 10_000,
    num_test_points: int = 5_000,
    model: DciModel = "gbt",
) -> dict:
    """Driver adapter: DCI on sampled train/test points; ``dci_model="fast"`` to speed up."""
    split = ctx.train_test(num_points, num_test_points)
    return dci(
        split.train_codes,
        split.train_factors,
        split.test_codes,
        split.test_factors,
        model=model,
        seed=ctx.seed,
    )
