import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from untwine.models import VAE, Posterior, log_normal


def test_kl_of_unit_shifted_gaussian_is_half_a_nat_per_dimension():
    # KL(N(1, 1) || N(0, 1)) = 0.5 * (1 + 1 - 1 - 0) = 0.5 nats.
    post = Posterior(torch.ones(3, 7), torch.zeros(3, 7))
    assert torch.allclose(post.kl_per_dim(), torch.full((3, 7), 0.5))


def test_kl_matches_closed_form_for_general_gaussians():
    mu, sigma = 0.3, 2.0
    post = Posterior(torch.tensor([[mu]]), torch.tensor([[math.log(sigma**2)]]))
    expected = math.log(1 / sigma) + (sigma**2 + mu**2) / 2 - 0.5
    assert post.kl_per_dim().item() == pytest.approx(expected, rel=1e-6)


def test_kl_equals_monte_carlo_of_log_ratio():
    g = torch.Generator().manual_seed(0)
    post = Posterior(torch.full((200_000, 1), -0.7), torch.full((200_000, 1), math.log(0.25)))
    z = post.rsample(g)
    mc = (post.log_prob(z) - log_normal(z, torch.zeros(1), torch.zeros(1)).sum(1)).mean()
    assert mc.item() == pytest.approx(post.kl_per_dim()[0, 0].item(), abs=0.01)


def test_reparameterised_samples_have_the_posterior_moments_and_are_seeded():
    post = Posterior(torch.full((100_000, 2), 3.0), torch.full((100_000, 2), math.log(4.0)))
    z1 = post.rsample(torch.Generator().manual_seed(1))
    z2 = post.rsample(torch.Generator().manual_seed(1))
    assert torch.equal(z1, z2)
    assert z1.mean().item() == pytest.approx(3.0, abs=0.03)
    assert z1.std().item() == pytest.approx(2.0, abs=0.03)


def test_bernoulli_nll_is_summed_binary_cross_entropy():
    model = VAE((1, 64, 64), z_dim=3)
    logits = torch.randn(4, 1, 64, 64)
    x = (torch.rand(4, 1, 64, 64) > 0.5).float()
    p = torch.sigmoid(logits)
    manual = -(x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    assert torch.allclose(model.reconstruction_nll(logits, x), manual, rtol=1e-4)


def test_gaussian_nll_closed_form():
    model = VAE((1, 64, 64), z_dim=3, likelihood="gaussian", gaussian_scale=0.5)
    params = torch.zeros(2, 1, 64, 64)  # mean = sigmoid(0) = 0.5
    x = torch.full((2, 1, 64, 64), 0.75)
    per_pixel = 0.5 * (0.25 / 0.5) ** 2 + math.log(0.5) + 0.5 * math.log(2 * math.pi)
    assert np.allclose(model.reconstruction_nll(params, x).numpy(), 4096 * per_pixel, rtol=1e-5)
    ref = -torch.distributions.Normal(0.5, 0.5).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(model.reconstruction_nll(params, x), ref, rtol=1e-5)


def test_encode_decode_shapes_and_bce_consistency():
    model = VAE((1, 64, 64), z_dim=5)
    x = torch.rand(3, 1, 64, 64)
    post = model.encode(x)
    assert post.mu.shape == post.logvar.shape == (3, 5)
    out = model.decode(post.mu)
    assert out.shape == x.shape
    bce = F.binary_cross_entropy_with_logits(out, x, reduction="none").flatten(1).sum(1)
    assert torch.allclose(model.reconstruction_nll(out, x), bce)
    assert model.sample(2, torch.Generator().manual_seed(0)).shape == (2, 1, 64, 64)
