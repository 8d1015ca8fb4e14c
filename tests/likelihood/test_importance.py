"""The importance-sampling estimators against probabilistic PCA, whose log p(x) is exact."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from untwine.errors import ConfigError
from untwine.likelihood import active_units, bound, estimate_model, log_mean_exp, log_weights
from untwine.likelihood.exact import LinearGaussianVAE


@pytest.fixture(scope="module")
def ppca():
    g = torch.Generator().manual_seed(0)
    d, q = 8, 3
    weight = torch.randn(d, q, generator=g, dtype=torch.float64)  # correlated posterior
    model = LinearGaussianVAE(weight, torch.randn(d, generator=g, dtype=torch.float64), -0.5)
    model.use_mean_field_posterior(widen=2.0)
    x = model.decode(torch.randn(20, q, generator=g, dtype=torch.float64))
    x = x + torch.exp(model.log_sigma) * torch.randn(x.shape, generator=g, dtype=torch.float64)
    return model, x.detach()


@torch.no_grad()
def test_k5000_matches_closed_form_and_bounds_are_ordered(ppca):
    model, x = ppca
    g = torch.Generator().manual_seed(1)
    lw = log_weights(model, x, 5000, generator=g, chunk=700)
    exact = model.log_px(x)
    l5000 = bound(lw)
    assert (l5000 - exact).abs().mean() < 0.05
    assert (l5000 - exact).abs().max() < 0.2
    elbo = model.elbo(x)
    ls = {k: bound(lw, k).mean().item() for k in (1, 5, 50, 5000)}
    # the exact ELBO and the Monte Carlo L_1 (5,000 samples per example) agree
    assert abs(ls[1] - elbo.mean().item()) < 0.02
    assert ls[1] < ls[5] < ls[50] < ls[5000] <= exact.mean().item() + 0.01
    # the proposal is imperfect, so there is a real gap to close
    assert exact.mean().item() - elbo.mean().item() > 0.2


@torch.no_grad()
def test_chunked_equals_unchunked_on_the_same_samples(ppca):
    model, x = ppca
    k = 60
    z = model.encode(x).rsample(torch.Generator().manual_seed(3), sample_shape=(k,))
    whole = log_weights(model, x, k, chunk=k, z=z)
    for chunk in (1, 7, 25):
        parts = log_weights(model, x, k, chunk=chunk, z=z)
        torch.testing.assert_close(parts, whole, rtol=0, atol=1e-10)
        torch.testing.assert_close(bound(parts), bound(whole), rtol=0, atol=1e-10)


@torch.no_grad()
def test_averaging_chunk_log_sum_exps_gives_l_chunk_not_l_k(ppca):
    model, x = ppca
    k, chunk = 1000, 2
    lw = log_weights(model, x, k, generator=torch.Generator().manual_seed(2), chunk=chunk)
    per_chunk = torch.stack([log_mean_exp(c, dim=1) for c in lw.split(chunk, dim=1)], 1).mean(1)
    torch.testing.assert_close(per_chunk, bound(lw, chunk))  # the mean of chunk LSEs is L_2
    gap = (bound(lw) - per_chunk).mean().item()
    assert gap > 0.05  # and L_2 is visibly looser than L_1000
    assert bound(lw).mean() <= model.log_px(x).mean() + 0.01


def test_log_mean_exp_is_stable():
    a = torch.tensor([[1000.0, 1000.0], [-1000.0, -1000.0]])
    torch.testing.assert_close(log_mean_exp(a, 1), torch.tensor([1000.0, -1000.0]))


def test_active_units_counts_varying_means():
    rng = np.random.default_rng(0)
    means = np.concatenate([rng.normal(size=(500, 2)), 0.05 * rng.normal(size=(500, 3))], 1)
    assert active_units(means) == 2


def test_bad_k_and_models_without_a_density_are_one_line_errors(ppca):
    model, x = ppca
    with pytest.raises(ConfigError, match="k: expected an integer >= 1"):
        estimate_model(model, x, k=0)
    with pytest.raises(ConfigError, match="has no density"):
        estimate_model(torch.nn.Linear(2, 2), x, k=5)


def test_bound_rejects_k_not_dividing():
    with pytest.raises(ValueError):
        bound(torch.zeros(2, 10), 3)
    assert math.isclose(bound(torch.zeros(2, 10), 5)[0].item(), 0.0)


def test_mc_variance_predicts_the_spread_of_repeated_estimates():
    from untwine.likelihood import mc_variance

    g = torch.Generator().manual_seed(0)
    log_w = 0.8 * torch.randn(4000, 500, generator=g, dtype=torch.float64) - 90.0
    spread = log_mean_exp(log_w, dim=1).var().item()  # 4,000 independent L_500 estimates
    predicted = mc_variance(log_w).mean().item()
    assert predicted == pytest.approx(spread, rel=0.1)
    assert torch.all(mc_variance(torch.zeros(3, 10)) == 0)  # equal weights: no noise
