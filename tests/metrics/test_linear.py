"""The batched Newton solver behind explicitness and the beta-VAE score: one optimum, however
it is reached (cold or warm-started, one thread or several), and LIBLINEAR's."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from untwine.metrics import _linear
from untwine.metrics._linear import fit_logistic, ovr_problems


@pytest.fixture(scope="module")
def many_classes():
    """24 classes on 3 noisy features, enough rows for the warm start and problems for threads."""
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 24, 3000)
    features = np.stack([labels / 24.0, np.sin(labels), np.cos(3 * labels)], axis=1)
    features = features + 0.3 * rng.normal(size=features.shape)
    assert len(labels) >= _linear.WARM_START_MIN_ROWS
    signs, costs = ovr_problems(labels, np.arange(24), None, 1.0)
    return features, labels, signs, costs


def test_threads_and_warm_start_reach_the_cold_single_thread_optimum(many_classes, monkeypatch):
    features, _, signs, costs = many_classes
    # From zero, on all rows, in one call:
    cold = _linear._fit_logistic(_linear._Design.of(features), signs, costs)
    monkeypatch.setattr(_linear, "solver_threads", lambda: 1)
    single = fit_logistic(features, signs, costs)
    monkeypatch.setattr(_linear, "solver_threads", lambda: 2)
    assert 24 // _linear.MIN_PROBLEMS_PER_THREAD >= 2  # so the problems are split in two
    threaded = fit_logistic(features, signs, costs)
    np.testing.assert_allclose(single, cold, rtol=0, atol=1e-8)
    np.testing.assert_allclose(threaded, cold, rtol=0, atol=1e-8)


def test_matches_liblinear_per_class(many_classes):
    features, labels, signs, costs = many_classes
    theta = fit_logistic(features, signs, costs)
    for k in (0, 11, 23):
        reference = LogisticRegression(solver="liblinear", tol=1e-10, max_iter=10_000)
        reference.fit(features, labels == k)
        assert theta[k, :-1] == pytest.approx(reference.coef_[0], abs=1e-5)
        assert theta[k, -1] == pytest.approx(reference.intercept_[0], abs=1e-5)


def test_log_sigmoid_and_sigmoid_are_stable_at_the_extremes():
    m = np.array([-800.0, -40.0, -1.0, 0.0, 1.0, 40.0, 800.0])
    assert _linear.log_sigmoid(m) == pytest.approx(
        [
            -800.0,
            -40.0,
            -1.3132616875182228,
            -np.log(2),
            -0.31326168751822286,
            -4.248354255291589e-18,
            0.0,
        ],
        rel=1e-12,
        abs=1e-300,
    )
    assert _linear.sigmoid_of_negative(m) == pytest.approx(
        [1.0, 1.0, 0.7310585786300049, 0.5, 0.2689414213699951, 4.248354255291589e-18, 0.0],
        rel=1e-12,
        abs=1e-300,
    )
