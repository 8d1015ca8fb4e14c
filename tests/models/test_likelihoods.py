"""p(x|z): each likelihood against its closed form, its mean, and its samples."""

import math

import pytest
import torch
import torch.nn.functional as F

from untwine.config import ModelConfig
from untwine.models import LIKELIHOODS
from untwine.models.likelihoods import Bernoulli, Gaussian, from_config


def test_bernoulli_log_prob_is_minus_the_summed_binary_cross_entropy():
    logits = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    x = (torch.rand(4, 1, 8, 8, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    p = torch.sigmoid(logits)
    manual = (x * p.log() + (1 - x) * (1 - p).log()).flatten(1).sum(1)
    assert torch.allclose(Bernoulli().log_prob(x, logits), manual, rtol=1e-5)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    assert torch.equal(Bernoulli().log_prob(x, logits), -bce)


def test_bernoulli_at_zero_logits_is_log_half_per_pixel():
    x = torch.zeros(2, 3, 4, 4)
    value = Bernoulli().log_prob(x, torch.zeros_like(x))
    assert torch.allclose(value, torch.full((2,), 48 * math.log(0.5)))


def test_gaussian_log_prob_closed_form():
    lik = Gaussian(scale=0.5)
    params = torch.zeros(2, 1, 64, 64)  # mean = sigmoid(0) = 0.5
    x = torch.full((2, 1, 64, 64), 0.75)
    per_pixel = -(0.5 * (0.25 / 0.5) ** 2 + math.log(0.5) + 0.5 * math.log(2 * math.pi))
    assert torch.allclose(lik.log_prob(x, params), torch.full((2,), 4096 * per_pixel))
    ref = torch.distributions.Normal(0.5, 0.5).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(lik.log_prob(x, params), ref, rtol=1e-5)


@pytest.mark.parametrize("lik", [Bernoulli(), Gaussian(0.1)])
def test_samples_are_seeded_and_average_to_the_mean(lik):
    params = torch.tensor([-2.0, 0.0, 1.5]).repeat(20_000, 1).reshape(20_000, 1, 1, 3)
    a = lik.sample(params, torch.Generator().manual_seed(0))
    b = lik.sample(params, torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == params.shape
    assert torch.allclose(a.mean(0), lik.mean(params)[0], atol=0.01)


def test_the_model_settings_select_and_configure_the_likelihood():
    assert {"bernoulli", "gaussian"} <= set(LIKELIHOODS.names())
    assert isinstance(from_config(ModelConfig()), Bernoulli)
    lik = from_config(ModelConfig(likelihood="gaussian", gaussian_scale=0.25))
    assert isinstance(lik, Gaussian) and lik.scale == 0.25
