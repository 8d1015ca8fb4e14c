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
    with_grad = logits.clone().requires_grad_()
    assert torch.equal(Bernoulli().log_prob(x, with_grad), -bce)  # training: the library's loss


def test_bernoulli_log_prob_without_gradients_matches_float64_at_extreme_logits():
    """The evaluation form (clipped exponent, linear tail) against float64 on the logits a
    trained decoder produces: background pixels at -200, where exp(-|l|) is subnormal or 0,
    and moderate ones around 0, including l = 0 exactly."""
    g = torch.Generator().manual_seed(2)
    logits = torch.cat(
        [torch.randn(4, 1, 16, 16, generator=g) * s for s in (0.5, 5.0, 30.0, 120.0)]
    )
    logits[0, 0, 0, :4] = torch.tensor([0.0, -88.0, -100.0, -215.0])
    x = (torch.rand(logits.shape, generator=g) < torch.sigmoid(logits)).float()
    x[-1] = 1 - x[-1]  # confidently wrong pixels: terms of -120 nats
    exact = -F.binary_cross_entropy_with_logits(logits.double(), x.double(), reduction="none")
    value = Bernoulli().log_prob(x, logits)
    assert value.dtype == torch.float32
    torch.testing.assert_close(value.double(), exact.flatten(1).sum(1), rtol=1e-6, atol=1e-4)
    grey = torch.rand(logits.shape, generator=g)  # a cross-entropy for grey levels too
    exact = -F.binary_cross_entropy_with_logits(logits.double(), grey.double(), reduction="none")
    torch.testing.assert_close(
        Bernoulli().log_prob(grey, logits).double(), exact.flatten(1).sum(1), rtol=1e-6, atol=1e-4
    )


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
