"""beta-VAE score (Higgins et al. 2017) on a dataset whose observations are its factors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from untwine.metrics import MetricInputError, beta_vae_score
from untwine.metrics._linear import fit_logistic, ovr_problems

SMALL = {"num_votes": 1000, "num_eval_votes": 500}


def test_identity_is_one(cube, reps):
    assert beta_vae_score(cube, reps.identity, **SMALL)["beta_vae_score"] == 1.0


def test_constant_is_chance(cube, reps):
    """No information: the classifier predicts one factor, right for a third of the examples."""
    result = beta_vae_score(cube, reps.constant, **SMALL)
    assert result["beta_vae_score"] == pytest.approx(1 / 3, abs=0.05)


def test_classifier_is_liblinear_one_vs_rest():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 800)
    x = np.abs(rng.normal(size=(800, 5))) + 0.5 * np.eye(5)[y]
    signs, costs = ovr_problems(y, np.arange(4), None, 1.0)
    theta = fit_logistic(x, signs, costs)
    reference = OneVsRestClassifier(LogisticRegression(solver="liblinear", tol=1e-10)).fit(x, y)
    for k, estimator in enumerate(reference.estimators_):
        assert theta[k, :-1] == pytest.approx(estimator.coef_[0], abs=1e-5)
        assert theta[k, -1] == pytest.approx(estimator.intercept_[0], abs=1e-5)


def test_same_seed_same_numbers(cube, reps):
    def blurred(images):
        return reps.identity(images) @ reps.rotation(3, seed=1)

    first = beta_vae_score(cube, blurred, seed=2, **SMALL)
    assert beta_vae_score(cube, blurred, seed=2, **SMALL) == first


def test_bad_settings(cube, reps):
    with pytest.raises(MetricInputError, match="num_votes"):
        beta_vae_score(cube, reps.identity, num_votes=0)
