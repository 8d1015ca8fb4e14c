"""DCI (Eastwood & Williams 2018): importance-matrix closed forms and model behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest

from untwine.metrics import MetricInputError, dci, dci_from_importance

ONE_MINUS_LN2_LN10 = 1.0 - math.log(2) / math.log(10)


def test_diagonal_importance_is_perfect():
    result = dci_from_importance(np.diag([5.0, 1.0, 3.0, 2.0, 4.0]))
    assert result["disentanglement"] == pytest.approx(1.0, abs=1e-9)
    assert result["completeness"] == pytest.approx(1.0, abs=1e-9)


def test_stacked_rows_halve_completeness():
    """Each factor captured equally by two of 10 codes: completeness 1 - ln2/ln10."""
    diag = np.diag(5.0 * np.ones(5))
    result = dci_from_importance(np.vstack([diag, diag]))
    assert result["completeness"] == pytest.approx(ONE_MINUS_LN2_LN10, abs=1e-9)
    assert result["disentanglement"] == pytest.approx(1.0, abs=1e-9)


def test_stacked_columns_halve_disentanglement():
    """Each code informative about two of 10 factors: disentanglement 1 - ln2/ln10."""
    diag = np.diag(5.0 * np.ones(5))
    result = dci_from_importance(np.hstack([diag, diag]))
    assert result["disentanglement"] == pytest.approx(ONE_MINUS_LN2_LN10, abs=1e-9)
    assert result["completeness"] == pytest.approx(1.0, abs=1e-9)


def test_uniform_importance_is_zero():
    result = dci_from_importance(np.ones((4, 3)))
    assert result["disentanglement"] == pytest.approx(0.0, abs=1e-9)
    assert result["completeness"] == pytest.approx(0.0, abs=1e-9)


def test_importance_matrix_validation():
    with pytest.raises(MetricInputError, match="2-D"):
        dci_from_importance(np.ones(3))
    with pytest.raises(MetricInputError, match="at least 2 codes and 2 factors"):
        dci_from_importance(np.ones((1, 3)))
    with pytest.raises(MetricInputError, match="non-negative"):
        dci_from_importance(-np.eye(3))


@pytest.mark.parametrize("model", ["gbt", "fast"])
def test_identity_is_near_one(split, model):
    train_codes, train_factors, test_codes, test_factors = split
    n = 1500 if model == "gbt" else len(train_codes)  # the reference model is slow
    result = dci(train_codes[:n], train_factors[:n], test_codes, test_factors, model=model)
    assert result["disentanglement"] > 0.95
    assert result["completeness"] > 0.95
    assert result["informativeness_train"] > 0.99
    assert result["informativeness_test"] > 0.99


@pytest.mark.parametrize("model", ["gbt", "fast"])
def test_duplicated_code_completeness(grid, reps, model):
    """[x, x] for 5 factors (10 codes): importance shared by the copies, C = 1 - ln2/ln10."""
    data = grid((4,) * 5)
    codes, factors = reps.sample(data, 600, 0)
    test_codes, test_factors = reps.sample(data, 200, 1)
    result = dci(
        np.hstack([codes, codes]),
        factors,
        np.hstack([test_codes, test_codes]),
        test_factors,
        model=model,
    )
    assert result["completeness"] == pytest.approx(ONE_MINUS_LN2_LN10, abs=0.05)
    assert result["disentanglement"] > 0.95


def test_constant_codes_score_zero(split):
    train_codes, train_factors, test_codes, test_factors = split
    result = dci(
        np.zeros((len(train_codes), 3)),
        train_factors,
        np.zeros((len(test_codes), 3)),
        test_factors,
        model="fast",
    )
    assert result["disentanglement"] == pytest.approx(0.0, abs=1e-6)
    assert result["completeness"] == pytest.approx(0.0, abs=1e-6)


def test_same_seed_same_numbers(split):
    first = dci(*split, model="fast", seed=3)
    second = dci(*split, model="fast", seed=3)
    assert first == second


def test_bad_inputs(split):
    train_codes, train_factors, test_codes, test_factors = split
    with pytest.raises(MetricInputError, match="model must be one of"):
        dci(*split, model="forest")
    with pytest.raises(MetricInputError, match="at least 2 factors"):
        dci(train_codes, train_factors[:, :1], test_codes, test_factors[:, :1])
    with pytest.raises(MetricInputError, match="train_factors must hold integer"):
        dci(train_codes, train_factors.astype(np.float32), test_codes, test_factors)


def _tied_codes(num_points: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Factors of sizes (3, 5, 4, 2) and noisy codes with an exact duplicate column, so that
    the trees' random tie-breaking between the copies decides the importances."""
    rng = np.random.default_rng(seed)
    factors = np.stack([rng.integers(s, size=num_points) for s in (3, 5, 4, 2)], axis=1)
    codes = factors + 0.7 * rng.standard_normal(factors.shape)
    return np.hstack([codes, codes[:, :1]]), factors


def test_parallel_gbt_is_the_sequential_reference():
    """Threads across factors and within stages give exactly the plain per-factor fit."""
    from sklearn.ensemble import GradientBoostingClassifier

    codes, factors = _tied_codes(300, 0)
    test_codes, test_factors = _tied_codes(150, 1)
    importance, acc_train, acc_test = [], [], []
    for k in range(factors.shape[1]):  # disentanglement_lib's loop, one factor at a time
        clf = GradientBoostingClassifier(random_state=5).fit(codes, factors[:, k])
        importance.append(np.abs(clf.feature_importances_))
        acc_train.append(float(np.mean(clf.predict(codes) == factors[:, k])))
        acc_test.append(float(np.mean(clf.predict(test_codes) == test_factors[:, k])))
    importance = np.stack(importance, axis=1)
    assert importance[0].sum() > 0 and importance[-1].sum() > 0  # both copies are used
    for jobs in (1, 3):
        result = dci(codes, factors, test_codes, test_factors, model="gbt", seed=5, n_jobs=jobs)
        assert np.array_equal(np.array(result["importance_matrix"]), importance)
        assert result["informativeness_train_per_factor"] == acc_train
        assert result["informativeness_test_per_factor"] == acc_test


def test_stagewise_trees_equal_the_sequential_trees():
    """Each tree of the stage-parallel classifier is the sequential one (same random state)."""
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.ensemble import GradientBoostingClassifier

    from untwine.metrics.dci import _STAGEWISE_OK, _StagewiseGBT

    assert _STAGEWISE_OK  # the installed scikit-learn has the stage fit it replaces
    codes, factors = _tied_codes(200, 2)
    plain = GradientBoostingClassifier(n_estimators=20, random_state=1).fit(codes, factors[:, 1])
    staged = _StagewiseGBT(n_estimators=20, random_state=1)
    with ThreadPoolExecutor(4) as pool:
        staged.pool = pool
        staged.fit(codes, factors[:, 1])
    for a, b in zip(plain.estimators_.ravel(), staged.estimators_.ravel(), strict=True):
        assert np.array_equal(a.tree_.feature, b.tree_.feature)
        assert np.array_equal(a.tree_.threshold, b.tree_.threshold)
        assert np.array_equal(a.tree_.value, b.tree_.value)
    assert np.array_equal(plain.train_score_, staged.train_score_)
