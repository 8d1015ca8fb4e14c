"""The Gaussian family: the posterior's maths in closed form and the model's contract."""

import math

import pytest
import torch

from untwine.config import ModelConfig
from untwine.errors import ConfigError
from untwine.models import MODELS, DiagonalGaussian, GaussianVAE, LatentModel, build
from untwine.models.likelihoods import Bernoulli, Gaussian
from untwine.models.normal import log_normal

SHAPE = (1, 64, 64)


def test_kl_of_unit_shifted_gaussian_is_half_a_nat_per_dimension():
    # KL(N(1, 1) || N(0, 1)) = 0.5 * (1 + 1 - 1 - 0) = 0.5 nats.
    post = DiagonalGaussian(torch.ones(3, 7), torch.zeros(3, 7))
    assert torch.allclose(post.kl_per_dim(), torch.full((3, 7), 0.5))
    assert torch.allclose(post.kl(), torch.full((3,), 3.5))


def test_kl_matches_closed_form_for_general_gaussians():
    mu, sigma = 0.3, 2.0
    post = DiagonalGaussian(torch.tensor([[mu]]), torch.tensor([[math.log(sigma**2)]]))
    expected = math.log(1 / sigma) + (sigma**2 + mu**2) / 2 - 0.5
    assert post.kl_per_dim().item() == pytest.approx(expected, rel=1e-6)


def test_kl_equals_monte_carlo_of_the_posterior_and_prior_log_densities():
    model = build("gaussian", SHAPE, ModelConfig(z_dim=1, network="mlp"))
    g = torch.Generator().manual_seed(0)
    post = DiagonalGaussian(
        torch.full((200_000, 1), -0.7), torch.full((200_000, 1), math.log(0.25))
    )
    z = post.rsample(g)
    mc = (post.log_prob(z) - model.prior_log_prob(z)).mean()
    assert mc.item() == pytest.approx(post.kl()[0].item(), abs=0.01)


def test_log_densities_at_known_points():
    post = DiagonalGaussian(torch.zeros(1, 3), torch.zeros(1, 3))
    model = build("gaussian", SHAPE, ModelConfig(z_dim=3, network="mlp"))
    z = torch.zeros(1, 3)
    assert post.log_prob(z).item() == pytest.approx(-1.5 * math.log(2 * math.pi), rel=1e-6)
    assert torch.equal(model.prior_log_prob(z), post.log_prob(z))
    # log N(2; 1, 4) = -0.5 (log 2 pi + log 4 + 1/4)
    value = log_normal(torch.tensor(2.0), torch.tensor(1.0), torch.tensor(math.log(4.0)))
    assert value.item() == pytest.approx(-0.5 * (math.log(2 * math.pi) + math.log(4) + 0.25))


def test_reparameterised_samples_have_the_posterior_moments_and_are_seeded():
    post = DiagonalGaussian(torch.full((100_000, 2), 3.0), torch.full((100_000, 2), math.log(4.0)))
    z1 = post.rsample(torch.Generator().manual_seed(1))
    z2 = post.rsample(torch.Generator().manual_seed(1))
    assert torch.equal(z1, z2)
    assert z1.mean().item() == pytest.approx(3.0, abs=0.03)
    assert z1.std().item() == pytest.approx(2.0, abs=0.03)


def test_build_gives_the_registered_family_with_the_configured_likelihood():
    model = build(
        "gaussian", SHAPE, ModelConfig(z_dim=5, likelihood="gaussian", gaussian_scale=0.5)
    )
    assert isinstance(model, GaussianVAE) and isinstance(model, LatentModel)
    assert MODELS.get("gaussian") is GaussianVAE and model.family == "gaussian"
    assert isinstance(model.likelihood, Gaussian) and model.likelihood.scale == 0.5
    assert isinstance(build("gaussian", SHAPE, ModelConfig()).likelihood, Bernoulli)
    with pytest.raises(ConfigError, match="unknown model 'nope'.*gaussian"):
        build("nope", SHAPE, ModelConfig())


def test_the_weights_are_the_networks_only_whatever_the_likelihood():
    # checkpoint keys: the likelihood holds no parameters, so both models load each other's
    a = build("gaussian", SHAPE, ModelConfig(z_dim=3))
    b = build("gaussian", SHAPE, ModelConfig(z_dim=3, likelihood="gaussian"))
    keys = list(a.state_dict())
    assert keys == list(b.state_dict())
    assert all(k.startswith(("encoder.", "decoder.")) for k in keys)


def test_forward_contract_shapes_and_consistency():
    torch.manual_seed(0)
    model = build("gaussian", SHAPE, ModelConfig(z_dim=5))
    x = torch.rand(3, *SHAPE)
    post = model.encode(x)
    assert post.mu.shape == post.logvar.shape == (3, 5)
    assert torch.equal(model.representation(x), post.mu)
    params = model.decode(post.mu)
    assert params.shape == x.shape
    assert torch.equal(model.reconstruct(x), torch.sigmoid(params))
    assert torch.equal(model.mean(params), model.likelihood.mean(params))
    assert torch.equal(model.log_prob(x, params), model.likelihood.log_prob(x, params))
    assert model.log_prob(x, params).shape == (3,)
    s1 = model.sample(2, torch.Generator().manual_seed(0))
    s2 = model.sample(2, torch.Generator().manual_seed(0))
    assert s1.shape == (2, *SHAPE) and torch.equal(s1, s2)
    assert 0 <= s1.min() and s1.max() <= 1


def test_save_and_reload_gives_the_same_codes_and_images():
    torch.manual_seed(0)
    cfg = ModelConfig(z_dim=4)
    model = build("gaussian", SHAPE, cfg)
    x = torch.rand(4, *SHAPE)
    with torch.no_grad():
        model.encoder[0].weight.add_(0.1)  # not the initialisation a fresh build would repeat
    torch.manual_seed(1)
    again = build("gaussian", SHAPE, cfg)
    assert not torch.equal(again.representation(x), model.representation(x))
    again.load_state_dict(model.state_dict())
    assert torch.equal(again.representation(x), model.representation(x))
    assert torch.equal(again.reconstruct(x), model.reconstruct(x))
