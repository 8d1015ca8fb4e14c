"""Exact-likelihood models: the Gaussian mixture's sum over z and its maximum-likelihood fit."""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import multivariate_normal

from untwine.likelihood.exact import GaussianMixture, LinearGaussianVAE


def _mixture() -> GaussianMixture:
    means = np.array([[-6.0, 0.0], [6.0, 0.0], [0.0, 8.0]])
    covs = np.stack([np.eye(2), [[2.0, 0.8], [0.8, 1.0]], 0.5 * np.eye(2)])
    return GaussianMixture(np.array([0.5, 0.3, 0.2]), means, covs)


def test_exact_log_likelihood_matches_brute_force_sum():
    gm = _mixture()
    x = np.random.default_rng(0).normal(scale=5, size=(50, 2))
    brute = np.log(
        sum(
            w * multivariate_normal(m, s).pdf(x)
            for w, m, s in zip(gm.weights, gm.means, gm.covariances, strict=True)
        )
    )
    np.testing.assert_allclose(gm.log_prob(x), brute, rtol=1e-10)
    np.testing.assert_allclose(gm.posterior(x).sum(1), 1.0)


def test_maximum_likelihood_recovers_well_separated_means():
    truth = _mixture()
    x, _ = truth.sample(3000, np.random.default_rng(1))
    fitted, history = GaussianMixture.fit(x, 3, np.random.default_rng(2))
    assert all(b >= a - 1e-9 for a, b in zip(history, history[1:], strict=False))  # EM ascent
    order = np.argsort(fitted.means[:, 0] + 0.01 * fitted.means[:, 1])
    want = truth.means[np.argsort(truth.means[:, 0] + 0.01 * truth.means[:, 1])]
    np.testing.assert_allclose(fitted.means[order], want, atol=0.15)
    # the fitted likelihood is at least the true model's on its own data
    assert fitted.log_prob(x).mean() >= truth.log_prob(x).mean() - 1e-6


def test_ppca_closed_form_matches_sum_of_gaussian_identities():
    g = torch.Generator().manual_seed(0)
    model = LinearGaussianVAE(
        torch.randn(4, 2, generator=g, dtype=torch.float64),
        torch.zeros(4, dtype=torch.float64),
        0.0,
    )
    x = torch.randn(5, 4, generator=g, dtype=torch.float64)
    # log p(x) = log p(x|z) + log p(z) - log p(z|x) for any z, with the exact posterior
    s2 = 1.0
    m = model.weight.T @ model.weight + s2 * torch.eye(2, dtype=torch.float64)
    mean = (torch.linalg.solve(m, model.weight.T @ x.T)).T
    cov = s2 * torch.linalg.inv(m)
    z = mean + 0.3
    post = torch.distributions.MultivariateNormal(mean, cov).log_prob(z)
    prior = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    lik = model.log_prob(x, model.decode(z))
    torch.testing.assert_close(lik + prior - post, model.log_px(x).detach())
