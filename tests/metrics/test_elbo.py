"""ELBO decomposition (Chen et al. 2018) against closed forms for a Gaussian aggregate.

With means mu_n ~ N(0, Sigma) and posteriors N(mu_n, s^2 I), the aggregate posterior is
N(0, Sigma + s^2 I) in the limit of many points, so (Cover & Thomas, Gaussian entropies):
    MI  = 0.5 log det(Sigma + s^2 I) - 0.5 log det(s^2 I)
    TC  = -0.5 log det(corr(Sigma + s^2 I))
    dimwise KL = sum_j 0.5 (v_j - 1 - log v_j),  v_j = Sigma_jj + s^2.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from untwine.metrics import MetricInputError, elbo_decomposition
from untwine.metrics._aggregate import gaussian_log_density, log_aggregate


def gaussian_posteriors(rho: float, s: float, n: int = 5000, seed: int = 0):
    sigma = np.array([[1.0, rho], [rho, 1.0]])
    mu = np.random.default_rng(seed).multivariate_normal(np.zeros(2), sigma, size=n)
    logvar = np.full_like(mu, 2.0 * math.log(s))
    return mu, logvar, sigma


def closed_forms(sigma: np.ndarray, s: float) -> dict[str, float]:
    total = sigma + s * s * np.eye(len(sigma))
    v = np.diag(total)
    corr = total / np.sqrt(np.outer(v, v))
    return {
        "index_code_mi": 0.5 * np.linalg.slogdet(total)[1] - len(sigma) * math.log(s),
        "total_correlation": -0.5 * np.linalg.slogdet(corr)[1],
        "dimwise_kl": float(np.sum(0.5 * (v - 1.0 - np.log(v)))),
    }


@pytest.mark.parametrize("rho", [0.0, 0.8])
def test_matches_gaussian_closed_forms(rho):
    mu, logvar, sigma = gaussian_posteriors(rho, s=0.3)
    result = elbo_decomposition(mu, logvar, num_samples=5000, seed=1)
    for key, value in closed_forms(sigma, 0.3).items():
        assert result[key] == pytest.approx(value, abs=0.1), key
    if rho == 0.0:
        assert abs(result["total_correlation"]) < 0.05


def test_terms_sum_to_the_sampled_kl_exactly():
    mu, logvar, _ = gaussian_posteriors(0.5, s=0.2, n=3000)
    logvar[:, 1] += np.random.default_rng(2).normal(size=3000)  # heterogeneous variances
    result = elbo_decomposition(mu, logvar, num_samples=2000, seed=0)
    total = result["index_code_mi"] + result["total_correlation"] + result["dimwise_kl"]
    assert total == pytest.approx(result["kl_estimate"], abs=1e-9)
    assert abs(result["identity_residual"]) < 1e-9
    # The sampled KL estimates the closed-form KL.
    assert result["kl_estimate"] == pytest.approx(result["kl"], abs=0.1)


def test_closed_form_kl_of_unit_shift():
    """KL(N(1, 1) || N(0, 1)) = 0.5 per dimension."""
    mu, logvar = np.ones((100, 4)), np.zeros((100, 4))
    result = elbo_decomposition(mu, logvar, num_samples=50)
    assert result["kl"] == pytest.approx(2.0, abs=1e-12)
    assert result["kl_per_dim"] == pytest.approx([0.5] * 4, abs=1e-12)
    # All posteriors are equal: nothing about x is in z.
    assert result["index_code_mi"] == pytest.approx(0.0, abs=1e-6)


def test_same_seed_same_numbers():
    mu, logvar, _ = gaussian_posteriors(0.3, s=0.5, n=2000)
    first = elbo_decomposition(mu, logvar, num_samples=500, seed=7)
    assert elbo_decomposition(mu, logvar, num_samples=500, seed=7) == first
    assert elbo_decomposition(mu, logvar, num_samples=500, seed=8) != first
    # A Generator is the same source of randomness as the int that seeds it.
    assert elbo_decomposition(mu, logvar, 500, seed=np.random.default_rng(7)) == first


@pytest.mark.parametrize(
    ("low", "high", "tolerance"),
    [(-6.0, 1.0, 1e-4), (-25.0, 4.0, 1e-8)],  # float32 blocks; too narrow for float32
)
def test_streamed_log_density_matches_direct_logsumexp(low, high, tolerance):
    """The streaming kernel against a float64 logsumexp, including extreme variances."""
    from scipy.special import logsumexp

    rng = np.random.default_rng(0)
    n, d = 3000, 3
    mu = rng.normal(size=(n, d)) * 3
    logvar = rng.uniform(low, high, size=(n, d))
    own = rng.choice(n, size=40, replace=False)
    z = mu[own] + np.exp(0.5 * logvar[own]) * rng.normal(size=(40, d))
    own_log = gaussian_log_density(z, mu[own], logvar[own]).sum(axis=1)
    log_dims, log_joint = log_aggregate(z, mu, logvar, own_log)
    per_point = gaussian_log_density(z[:, None, :], mu[None], logvar[None])  # (S, N, D)
    expected_dims = logsumexp(per_point, axis=1) - math.log(n)
    expected_joint = logsumexp(per_point.sum(axis=2), axis=1) - math.log(n)
    assert log_dims == pytest.approx(expected_dims, abs=tolerance)
    assert log_joint == pytest.approx(expected_joint, abs=tolerance)


def test_far_samples_fall_back_to_exact_float64():
    """A code far from every posterior underflows float32 and is recomputed exactly."""
    from scipy.special import logsumexp

    rng = np.random.default_rng(1)
    mu, logvar = rng.normal(size=(200, 2)), np.full((200, 2), math.log(0.25))
    z = np.array([[0.1, -0.2], [40.0, 0.0]])  # the second is ~80 standard deviations away
    log_dims, _ = log_aggregate(z, mu, logvar)
    per_point = gaussian_log_density(z[:, None, :], mu[None], logvar[None])
    expected = logsumexp(per_point, axis=1) - math.log(200)
    assert expected[1, 0] < -1000  # far below float32's range
    assert log_dims[0] == pytest.approx(expected[0], abs=1e-5)  # float32 blocks
    assert log_dims[1] == pytest.approx(expected[1], rel=1e-12)  # recomputed in float64


def test_bad_inputs():
    mu, logvar, _ = gaussian_posteriors(0.0, s=0.5, n=100)
    with pytest.raises(MetricInputError, match="same shape"):
        elbo_decomposition(mu, logvar[:, :1])
    bad = logvar.copy()
    bad[0, 0] = np.inf
    with pytest.raises(MetricInputError, match="logvar contains NaN or inf"):
        elbo_decomposition(mu, bad)
    with pytest.raises(MetricInputError, match="num_samples"):
        elbo_decomposition(mu, logvar, num_samples=0)
