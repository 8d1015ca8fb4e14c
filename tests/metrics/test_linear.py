"""The batched solvers behind SAP, explicitness and the beta-VAE score: one optimum, however it
is reached (cold or warm-started, one thread or several), and scikit-learn's (LIBLINEAR's).

The references are the plain scikit-learn definitions the solvers stand in for:
``LogisticRegression(solver="liblinear")`` and ``LinearSVC`` (squared hinge, penalised
intercept), one problem at a time, run to a tight tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from untwine.metrics import _linear
from untwine.metrics._linear import fit_logistic, fit_svm_1d, ovr_problems


def reference_logistic(features, positive, c=1.0):
    """(w, b) of scikit-learn's liblinear logistic regression, to the optimum."""
    model = LogisticRegression(C=c, solver="liblinear", tol=1e-10, max_iter=10_000)
    model.fit(features, positive)
    return model.coef_[0], model.intercept_[0]


def reference_svm_1d(x, positive, cost_pos, cost_neg):
    """(w, b) of scikit-learn's LinearSVC on one feature with per-side costs, to the optimum."""
    model = LinearSVC(C=1.0, class_weight={True: cost_pos, False: cost_neg}, tol=1e-12,
                      max_iter=1_000_000)  # fmt: skip
    model.fit(x[:, None], positive)
    return model.coef_[0, 0], model.intercept_[0]


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
        w, b = reference_logistic(features, labels == k)
        assert theta[k, :-1] == pytest.approx(w, abs=1e-5)
        assert theta[k, -1] == pytest.approx(b, abs=1e-5)


def test_svm_1d_matches_linear_svc_per_problem():
    """Two labellings (4 and 3 classes, global ids), one-vs-rest with unequal side costs, on a
    feature with ties (a quarter of the points share one value)."""
    rng = np.random.default_rng(5)
    n = 600
    first = rng.integers(0, 4, n)
    second = 4 + rng.integers(0, 3, n)
    x = first + rng.normal(scale=0.8, size=n)
    x[rng.random(n) < 0.25] = 1.5
    point_classes = np.stack([first, second], axis=1)
    problem_class = np.arange(7)
    cost_pos = np.linspace(0.5, 2.0, 7)
    cost_neg = np.linspace(1.0, 0.3, 7)
    theta = fit_svm_1d(x, point_classes, problem_class, cost_pos, cost_neg)
    for p in range(7):
        labelling = point_classes[:, 0 if p < 4 else 1]
        w, b = reference_svm_1d(x, labelling == p, cost_pos[p], cost_neg[p])
        assert theta[p] == pytest.approx([w, b], abs=1e-6), p


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
