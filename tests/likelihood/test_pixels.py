"""8-bit likelihoods are probabilities of the discrete data; bits/dim and dequantisation."""

from __future__ import annotations

import math

import pytest
import torch

from untwine.likelihood.bits import (
    VariationalDequantiser,
    bits_per_dim,
    dequantised_log_prob,
    uniform_dequantise,
)
from untwine.models.likelihoods import Categorical, DequantisedGaussian, DiscretisedLogistic


def all_values(levels: int) -> torch.Tensor:
    """Every grey level as one subpixel of its own image: (L, 1, 1, 1) in [0, 1]."""
    return (torch.arange(levels, dtype=torch.float64) / (levels - 1)).view(-1, 1, 1, 1)


@pytest.mark.parametrize("levels", [2, 17, 256])
@pytest.mark.parametrize("mean,log_scale", [(0.0, -3.0), (2.5, -6.0), (-4.0, 1.0), (0.3, -8.0)])
def test_discretised_logistic_sums_to_one(levels, mean, log_scale):
    lik = DiscretisedLogistic(levels)
    params = torch.tensor([mean, log_scale], dtype=torch.float64).view(1, 2, 1, 1)
    logp = lik.log_prob(all_values(levels), params.expand(levels, 2, 1, 1))
    assert torch.isfinite(logp).all()
    assert torch.logsumexp(logp, 0).item() == pytest.approx(0.0, abs=1e-9)


def test_discretised_logistic_is_accurate_in_the_tails():
    lik = DiscretisedLogistic(256)
    params = torch.tensor([-30.0, -7.0], dtype=torch.float32).view(1, 2, 1, 1)  # mean ~ 0
    x = torch.full((1, 1, 1, 1), 200 / 255)  # far in the right tail: tiny but finite
    got = lik.log_prob(x, params).item()
    m, s, h = 1 / (1 + math.exp(30.0)), math.exp(-7), 0.5 / 255
    # log(sigmoid(a) - sigmoid(b)) with both ~1: use the left tails of -x, in float64
    a, b = (200 / 255 + h - m) / s, (200 / 255 - h - m) / s
    want = -b + math.log1p(-math.exp(-(a - b)))  # sigmoid(-t) = exp(-t) this far out
    assert got == pytest.approx(want, rel=1e-4)


def test_categorical_sums_to_one_and_uniform_is_8_bits_per_dim():
    lik = Categorical(256)
    params = torch.randn(1, 256, 1, 1, dtype=torch.float64).expand(256, 256, 1, 1)
    assert torch.logsumexp(lik.log_prob(all_values(256), params), 0).item() == pytest.approx(0.0)
    x = torch.randint(0, 256, (3, 3, 4, 4)).double() / 255
    uniform = torch.zeros(3, 256 * 3, 4, 4, dtype=torch.float64)
    bpd = bits_per_dim(lik.log_prob(x, uniform), 3 * 4 * 4)
    torch.testing.assert_close(bpd, torch.full((3,), 8.0, dtype=torch.float64), rtol=0, atol=1e-12)


def test_uniform_density_dequantised_is_8_bits_per_dim():
    # the uniform density on [0, 1)^D has log p = 0: the bound is -D ln 256, i.e. 8 bits/dim
    x = torch.randint(0, 256, (5, 1, 4, 4))
    lp = dequantised_log_prob(lambda y: torch.zeros(y.shape[0]), x, 256)
    assert bits_per_dim(lp, 16).tolist() == pytest.approx([8.0] * 5, abs=1e-12)
    assert bits_per_dim(torch.zeros(5), 16, levels=256).tolist() == [8.0] * 5
    assert bits_per_dim(torch.zeros(5), 16, levels=17).tolist() == pytest.approx(
        [math.log2(17)] * 5
    )


def _gaussian_cells(levels, mean, sd):
    """x (N, 1, 1, 1) integer levels, their exact log P(x) under N(mean, sd) integrated over
    each cell [x / L, (x + 1) / L), and the density's log p(y)."""
    normal = torch.distributions.Normal(mean, sd)
    x = torch.tensor([1] * 64 + [2] * 64).view(-1, 1, 1, 1)
    edges = x.double() / levels
    exact = torch.log(normal.cdf(edges + 1 / levels) - normal.cdf(edges)).view(-1).float()
    return x, exact, lambda y: normal.log_prob(y).flatten(1).sum(1)


def test_dequantised_bounds_lie_below_the_exact_discrete_probability():
    """Both dequantisations give lower bounds on log P(x), and a trained q(u|x) beats
    uniform noise."""
    torch.manual_seed(0)
    levels = 4
    x, exact, log_density = _gaussian_cells(levels, 0.45, 0.08)
    uniform = dequantised_log_prob(log_density, x, levels)
    assert uniform.mean() < exact.mean()
    deq = VariationalDequantiser(1, hidden=4)
    opt = torch.optim.Adam(deq.parameters(), lr=0.1)
    for _ in range(60):
        loss = -dequantised_log_prob(log_density, x, levels, deq).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        variational = torch.stack(
            [dequantised_log_prob(log_density, x, levels, deq) for _ in range(20)]
        ).mean(0)
    assert uniform.mean() < variational.mean() <= exact.mean() + 0.01


def test_dequantised_gaussian_is_the_exact_expectation_over_uniform_noise():
    levels, mean, sd = 4, 0.45, 0.08
    x, exact, log_density = _gaussian_cells(levels, mean, sd)
    lik = DequantisedGaussian(levels)
    params = torch.tensor([math.log(mean / (1 - mean)), math.log(sd)]).view(1, 2, 1, 1)
    closed = lik.log_prob(x.float() / (levels - 1), params.expand(len(x), 2, 1, 1))
    g = torch.Generator().manual_seed(0)
    sampled = torch.stack(
        [dequantised_log_prob(log_density, x, levels, generator=g) for _ in range(1000)]
    ).mean(0)
    for level in (1, 2):  # the same cell: compare the Monte Carlo mean over its 64 copies
        cell = x.view(-1) == level
        assert closed[cell].std() < 1e-6
        assert closed[cell][0].item() == pytest.approx(sampled[cell].mean().item(), abs=0.02)
    assert (closed <= exact + 1e-6).all()


def test_uniform_dequantise_stays_in_the_cell():
    x = torch.randint(0, 17, (1000,))
    y = uniform_dequantise(x, 17, torch.Generator().manual_seed(0))
    assert ((y * 17 >= x) & (y * 17 < x + 1)).all()
