"""Label-free scores (Locatello et al. 2019): closed forms for known covariances, and the
disentangled / rotated / noise cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from untwine.metrics import MetricInputError, evaluate, unsupervised_scores
from untwine.metrics.unsupervised import (
    gaussian_total_correlation,
    gaussian_wasserstein_correlation,
)

GAUSSIAN_KEYS = ("gaussian_total_correlation", "gaussian_wasserstein_correlation")


def kl_to_product_of_marginals(cov: np.ndarray) -> float:
    """KL(N(0, S) || N(0, diag S)) from the general Gaussian KL formula."""
    diag = np.diag(np.diag(cov))
    inv = np.linalg.inv(diag)
    k = len(cov)
    return 0.5 * (np.trace(inv @ cov) - k + np.log(np.linalg.det(diag) / np.linalg.det(cov)))


@pytest.fixture
def factors() -> np.ndarray:
    """3,000 points of four independent factors with different numbers of values."""
    rng = np.random.default_rng(0)
    return np.stack([rng.integers(0, s, 3000) for s in (3, 6, 10, 15)], axis=1)


def test_total_correlation_of_a_known_covariance():
    cov = np.array([[4.0, 1.2, 0.0], [1.2, 1.0, 0.3], [0.0, 0.3, 2.0]])
    scale = 1 / np.sqrt(np.diag(cov))
    corr = cov * scale[:, None] * scale[None, :]
    expected = -0.5 * np.log(np.linalg.det(corr))
    assert gaussian_total_correlation(cov) == pytest.approx(expected, rel=1e-12)
    assert gaussian_total_correlation(cov) == pytest.approx(kl_to_product_of_marginals(cov))
    # two codes with correlation rho: -1/2 log(1 - rho^2)
    two = np.array([[4.0, 1.2], [1.2, 1.0]])
    assert gaussian_total_correlation(two) == pytest.approx(-0.5 * np.log(1 - 0.6**2))


def test_wasserstein_correlation_of_a_known_covariance():
    a, b, c = 4.0, 1.0, 1.2
    cov = np.array([[a, c], [c, b]])
    # tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)) for a 2x2 PSD M = D^1/2 S D^1/2
    tr_root = np.sqrt(a * a + b * b + 2 * np.sqrt(a * a * b * b - a * b * c * c))
    expected = 2 * (a + b) - 2 * tr_root
    assert gaussian_wasserstein_correlation(cov) == pytest.approx(expected, rel=1e-10)


def test_independent_codes_score_zero_in_closed_form():
    cov = np.diag([0.5, 2.0, 7.0])
    assert gaussian_total_correlation(cov) == pytest.approx(0.0, abs=1e-12)
    assert gaussian_wasserstein_correlation(cov) == pytest.approx(0.0, abs=1e-12)


def test_disentangled_codes_score_near_zero(factors):
    codes = factors + 0.01 * np.random.default_rng(1).normal(size=factors.shape)
    result = unsupervised_scores(codes)
    assert result["gaussian_total_correlation"] < 0.01
    assert result["gaussian_wasserstein_correlation_norm"] < 0.01
    assert result["mutual_info_score"] < 0.05
    assert np.array(result["covariance"]).shape == (4, 4)
    json.dumps(result)


def test_rotated_codes_are_correlated(factors, reps):
    codes = factors + 0.01 * np.random.default_rng(1).normal(size=factors.shape)
    rotated = (factors - factors.mean(axis=0)) @ reps.rotation(4, seed=2)
    plain, mixed = unsupervised_scores(codes), unsupervised_scores(rotated)
    assert mixed["gaussian_total_correlation"] > 0.2
    assert mixed["gaussian_wasserstein_correlation_norm"] > 0.05
    assert mixed["mutual_info_score"] > 3 * plain["mutual_info_score"]


def test_rotation_of_whitened_codes_keeps_the_gaussian_scores_at_zero(factors, reps):
    """Uncorrelated codes stay uncorrelated under rotation: the Gaussian scores see only
    covariance, the mutual-information score sees the dependence."""
    white = (factors - factors.mean(axis=0)) / factors.std(axis=0)
    result = unsupervised_scores(white @ reps.rotation(4, seed=2))
    assert result["gaussian_total_correlation"] < 0.01
    assert result["mutual_info_score"] > 0.1


def test_noise_scores_near_zero():
    result = unsupervised_scores(np.random.default_rng(3).normal(size=(3000, 5)))
    assert result["gaussian_total_correlation"] < 0.01
    assert result["gaussian_wasserstein_correlation_norm"] < 0.01
    assert result["mutual_info_score"] < 0.1  # the plug-in estimate's bias on 20 x 20 bins


def test_constant_code_is_left_out_of_the_gaussian_scores(factors):
    codes = factors + 0.01 * np.random.default_rng(1).normal(size=factors.shape)
    with_constant = np.hstack([codes, np.full((len(codes), 1), 3.0)])
    a, b = unsupervised_scores(codes), unsupervised_scores(with_constant)
    for key in GAUSSIAN_KEYS:
        assert b[key] == pytest.approx(a[key], abs=1e-12)


def test_duplicated_code_has_infinite_total_correlation(factors):
    codes = factors.astype(float)
    result = unsupervised_scores(np.hstack([codes, codes[:, :1]]))
    assert result["gaussian_total_correlation"] == float("inf")


def test_registered_adapter_matches_the_array_function(cube, reps):
    result = evaluate(reps.identity, cube, ["unsupervised"], seed=4, num_points=500)
    factors = cube.sample_factors(500, np.random.default_rng(4))
    direct = unsupervised_scores(reps.identity(cube.sample_observations_from_factors(factors)))
    for key in (*GAUSSIAN_KEYS, "mutual_info_score"):
        assert result["unsupervised"][key] == pytest.approx(direct[key], abs=1e-12)
    assert result["unsupervised"]["settings"] == {"num_points": 500, "num_bins": 20}


def test_bad_inputs_name_the_argument():
    codes = np.random.default_rng(0).normal(size=(50, 3))
    with pytest.raises(MetricInputError, match="codes must be a 2-D"):
        unsupervised_scores(codes[:, 0])
    with pytest.raises(MetricInputError, match="at least 2 column"):
        unsupervised_scores(codes[:, :1])
    with pytest.raises(MetricInputError, match="at least 2 rows"):
        unsupervised_scores(codes[:1])
    with pytest.raises(MetricInputError, match="num_bins"):
        unsupervised_scores(codes, num_bins=0)
    with pytest.raises(MetricInputError, match="cov must be a square"):
        gaussian_total_correlation(np.ones((2, 3)))
    with pytest.raises(MetricInputError, match="non-negative diagonal"):
        gaussian_wasserstein_correlation(-np.eye(2))
