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
``feature_importances_`` (mean impurity decrease). Boosting fits one regression tree per class
and stage (100 stages; 113 classes in all on dSprites: 11,300 trees for 10,000 x 10 codes).
The reference fits them one after another on one core (about 4.5 minutes on a 2-core Xeon).
Here the same trees are fitted on ``n_jobs`` threads (tree building runs without the GIL):
the factors' classifiers run side by side, and within a stage the trees of the classes,
which depend only on the predictions at the start of the stage, are fitted concurrently.
Every tree gets the random state it would have had in the sequential fit, so the fitted
classifiers, importances and accuracies are bit for bit those of plain
``GradientBoostingClassifier(random_state=seed).fit`` (tested against it).
Measured on a 2-core Xeon shared with other jobs (so the wall-clock speed-up could not be
measured there): the threads add no work (CPU time of DCI on 2,000 / 1,000 points: 65.0 s on
one thread, 64.7 s on two); tree building, which runs without the GIL, is ~83 % of a
fit's time (profile of 10,000 points, 40 classes); the rest (gradients, leaf updates) holds
the GIL.

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

import copy
import inspect
import os
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy.stats import entropy
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier, _gb
from sklearn.tree import DecisionTreeRegressor

from untwine.metrics._validate import (
    MetricInputError,
    Seed,
    as_int_seed,
    check_pair,
    check_positive_int,
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
    n_jobs: int | None = None,
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
        n_jobs: threads fitting the classifiers (default: :func:`default_jobs`); the
            numbers do not depend on it.

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
    jobs = default_jobs() if n_jobs is None else check_positive_int(n_jobs, "n_jobs")
    num_codes, num_factors = train[0].shape[1], train[1].shape[1]
    importance = np.zeros((num_codes, num_factors))

    # Factors side by side on threads; the tree pool is separate so that a factor waiting
    # for its trees never holds a worker the trees need.
    with ThreadPoolExecutor(jobs) as trees, ThreadPoolExecutor(min(jobs, num_factors)) as outer:

        def one_factor(k: int) -> tuple[np.ndarray, float, float]:
            clf, weights = fit(train[0], train[1][:, k], seed, trees)
            acc_train = float(np.mean(clf.predict(train[0]) == train[1][:, k]))
            acc_test = float(np.mean(clf.predict(test[0]) == test[1][:, k]))
            return weights, acc_train, acc_test

        # Longest first (boosting costs one tree per class): the last factor to start is short.
        order = np.argsort([-len(np.unique(train[1][:, k])) for k in range(num_factors)])
        futures = {int(k): outer.submit(one_factor, int(k)) for k in order}
        results = [futures[k].result() for k in range(num_factors)]
    acc_train = [r[1] for r in results]
    acc_test = [r[2] for r in results]
    for k, r in enumerate(results):
        importance[:, k] = r[0]
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


def default_jobs() -> int:
    """Threads for the tree models: ``OMP_NUM_THREADS`` when set (a study worker's share of
    the cores), else every core this process may run on."""
    capped = os.environ.get("OMP_NUM_THREADS", "")
    if capped.isdigit() and int(capped) > 0:
        return int(capped)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _fit_gbt(x: np.ndarray, y: np.ndarray, seed: int, pool: Executor):
    model = _StagewiseGBT if _STAGEWISE_OK else GradientBoostingClassifier
    clf = model(random_state=seed)
    clf.pool = pool
    clf.fit(x, y)
    clf.pool = None  # the pool is closed after dci(); keep no handle on it
    return clf, np.abs(clf.feature_importances_)


def _fit_fast(x: np.ndarray, y: np.ndarray, seed: int, pool: Executor):
    clf = RandomForestClassifier(
        n_estimators=25, max_depth=8, max_features=None, random_state=seed, n_jobs=-1
    )
    clf.fit(x, y)
    return clf, clf.feature_importances_


#: scikit-learn's tree splitter seeds itself with ``random_state.randint(0, RAND_R_MAX)``,
#: the one draw a tree fit takes from the boosting's shared random state.
_RAND_R_MAX = 0x7FFFFFFF


class _StagewiseGBT(GradientBoostingClassifier):
    """``GradientBoostingClassifier`` whose trees of one stage are fitted concurrently.

    In a multi-class stage, the tree of class k fits the negative gradient at the start of
    the stage and its leaf update reads and writes only column k of the raw predictions, so
    the K trees are independent. The sequential fit hands the one ``RandomState`` to tree 0,
    1, ... in turn, each taking one draw; here tree k gets a copy advanced by k draws, so
    every tree, and therefore the classifier, is the sequential one. Overrides a private
    method of scikit-learn (checked by :data:`_STAGEWISE_OK`, and tested for equality with
    the plain classifier): binary and single-tree stages use the original.
    """

    pool: Executor | None = None

    def _fit_stage(self, i, X, y, raw_predictions, sample_weight, sample_mask, random_state,
                   X_csc=None, X_csr=None):  # fmt: skip
        num_trees = self.n_trees_per_iteration_
        if (
            self.pool is None
            or num_trees == 1
            or not self._loss.is_multiclass
            or X_csc is not None
            or self.subsample < 1.0
        ):
            return super()._fit_stage(
                i, X, y, raw_predictions, sample_weight, sample_mask, random_state, X_csc, X_csr
            )
        neg_gradient = -self._loss.gradient(
            y_true=y, raw_prediction=raw_predictions, sample_weight=None
        )
        states = []
        for _ in range(num_trees):
            states.append(copy.deepcopy(random_state))
            random_state.randint(0, _RAND_R_MAX)

        def fit_tree(k: int) -> DecisionTreeRegressor:
            tree = DecisionTreeRegressor(
                criterion="squared_error",
                splitter="best",
                max_depth=self.max_depth,
                min_samples_split=self.min_samples_split,
                min_samples_leaf=self.min_samples_leaf,
                min_weight_fraction_leaf=self.min_weight_fraction_leaf,
                min_impurity_decrease=self.min_impurity_decrease,
                max_features=self.max_features,
                max_leaf_nodes=self.max_leaf_nodes,
                random_state=states[k],
                ccp_alpha=self.ccp_alpha,
            )
            tree.fit(X, neg_gradient[:, k], sample_weight=sample_weight, check_input=False)
            _gb._update_terminal_regions(
                self._loss, tree.tree_, X, np.array(y == k, dtype=np.float64),
                neg_gradient[:, k], raw_predictions, sample_weight, sample_mask,
                learning_rate=self.learning_rate, k=k,
            )  # fmt: skip
            return tree

        self.estimators_[i, :] = list(self.pool.map(fit_tree, range(num_trees)))
        return raw_predictions


def _stagewise_supported() -> bool:
    """Whether this scikit-learn has the private stage fit that :class:`_StagewiseGBT`
    replaces, with the same parameters; if not, the plain classifier is used (same numbers,
    only the factors run side by side)."""
    stage = getattr(GradientBoostingClassifier, "_fit_stage", None)
    if stage is None or not hasattr(_gb, "_update_terminal_regions"):
        return False
    params = list(inspect.signature(stage).parameters)
    return params == [
        "self", "i", "X", "y", "raw_predictions", "sample_weight", "sample_mask",
        "random_state", "X_csc", "X_csr",
    ]  # fmt: skip


_STAGEWISE_OK = _stagewise_supported()


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
