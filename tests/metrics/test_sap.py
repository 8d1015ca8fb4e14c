"""SAP: closed-form cases and agreement with LinearSVC (Kumar et al. 2018 as in the reference)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import LinearSVC

from untwine.metrics import MetricInputError, sap


def test_identity_continuous_is_one(split):
    result = sap(*split, continuous_factors=True)
    assert result["sap"] > 0.99
    scores = np.array(result["score_matrix"])
    assert np.allclose(np.diag(scores), 1.0)


def test_identity_discrete_prefers_the_right_code(split):
    scores = np.array(sap(*split)["score_matrix"])
    assert (np.argmax(scores, axis=0) == np.arange(3)).all()


@pytest.mark.parametrize("continuous", [False, True])
def test_constant_is_zero(split, continuous):
    train_codes, train_factors, test_codes, test_factors = split
    result = sap(
        np.zeros((len(train_codes), 3)),
        train_factors,
        np.zeros((len(test_codes), 3)),
        test_factors,
        continuous_factors=continuous,
    )
    assert result["sap"] == 0.0


def test_duplicated_code_is_zero(split):
    train_codes, train_factors, test_codes, test_factors = split
    doubled = sap(
        np.hstack([train_codes, train_codes]),
        train_factors,
        np.hstack([test_codes, test_codes]),
        test_factors,
        continuous_factors=True,
    )
    assert doubled["sap"] == pytest.approx(0.0, abs=1e-12)


def test_matches_linear_svc_at_its_optimum():
    """The score matrix equals one LinearSVC(C=0.01, balanced) per pair, solved tightly."""
    rng = np.random.default_rng(0)
    n_train, n_test = 1500, 700
    factors = np.stack([rng.integers(0, s, n_train + n_test) for s in (2, 4, 7)], axis=1)
    factors[: n_train // 3, 1] = 0  # unbalanced classes exercise the class weights
    codes = factors @ rng.normal(size=(3, 3)) + rng.normal(size=(n_train + n_test, 3))
    codes[:, 2] *= 50.0
    result = sap(codes[:n_train], factors[:n_train], codes[n_train:], factors[n_train:])
    expected = np.empty((3, 3))
    for d in range(3):
        for k in range(3):
            svm = LinearSVC(C=0.01, class_weight="balanced", tol=1e-12, max_iter=100_000)
            svm.fit(codes[:n_train, d : d + 1], factors[:n_train, k])
            predicted = svm.predict(codes[n_train:, d : d + 1])
            expected[d, k] = np.mean(predicted == factors[n_train:, k])
    assert np.array(result["score_matrix"]) == pytest.approx(expected, abs=1.5 / n_test)


def test_bad_inputs(split):
    train_codes, train_factors, test_codes, test_factors = split
    with pytest.raises(MetricInputError, match="test_codes and test_factors"):
        sap(train_codes, train_factors, test_codes[:5], test_factors)
    with pytest.raises(MetricInputError, match="same number of columns"):
        sap(train_codes, train_factors, test_codes[:, :2], test_factors)
    few = np.zeros((5, train_factors.shape[1]), dtype=int)
    few[:, 0], few[1] = [0, 1, 0, 1, 9], 1  # factor 0: 10 classes in 5 samples
    with pytest.raises(MetricInputError, match=r"train_factors has 5 samples, fewer than"):
        sap(train_codes[:5], few, test_codes, test_factors)
    with pytest.raises(MetricInputError, match="at least 2 column"):
        sap(train_codes[:, :1], train_factors, test_codes[:, :1], test_factors)
    with pytest.raises(MetricInputError, match=r"train_factors\[:, 2\] takes a single value"):
        constant_factor = train_factors.copy()
        constant_factor[:, 2] = 4
        sap(train_codes, constant_factor, test_codes, test_factors)
