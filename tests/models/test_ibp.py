"""The IBP family: shapes, the posterior's parts, the representation and feature usage."""

from __future__ import annotations

import pytest
import torch

from untwine.config import ModelConfig
from untwine.models import build
from untwine.models.ibp import IBPVAE


@pytest.fixture
def model() -> IBPVAE:
    torch.manual_seed(0)
    return build("ibp", (1, 64, 64), ModelConfig(z_dim=6))


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_build_forward_shapes_and_save_reload(model):
    x = torch.rand(4, 1, 64, 64, generator=_gen())
    post = model.encode(x)
    assert post.encoder_logits.shape == post.mu.shape == post.logvar.shape == (4, 6)
    assert post.kuma_a.shape == post.kuma_b.shape == (6,)
    sample = post.rsample(1.0, _gen())
    assert sample.z.shape == (4, 6)
    assert model.decode(sample.z).shape == (4, 1, 64, 64)
    assert model.log_prob(x, model.decode(sample.z)).shape == (4,)
    assert model.sample(3, _gen()).shape == (3, 1, 64, 64)
    again = build("ibp", (1, 64, 64), ModelConfig(z_dim=6))
    again.load_state_dict(model.state_dict())
    assert torch.equal(again.representation(x), model.representation(x))


def test_sticks_start_at_the_prior_and_learn_from_the_likelihood(model):
    model.reset_sticks(3.0)
    a, b = model.kumaraswamy()
    assert torch.allclose(a, torch.full_like(a, 3.0)) and torch.allclose(b, torch.ones_like(b))
    assert model.encode(torch.rand(2, 1, 64, 64)).kl_sticks(3.0).abs().max() < 1e-5
    x = torch.rand(8, 1, 64, 64, generator=_gen())
    post = model.encode(x)
    nll = -model.log_prob(x, model.decode(post.rsample(1.0, _gen()).z)).mean()
    nll.backward()
    assert model.kuma_a_raw.grad.abs().sum() > 0 and model.kuma_b_raw.grad.abs().sum() > 0


def test_the_mask_gates_the_gaussian_features(model):
    x = torch.rand(8, 1, 64, 64, generator=_gen())
    post = model.encode(x)
    s = post.rsample(0.01, _gen())  # near-zero temperature: the mask is nearly binary
    mask = torch.sigmoid(s.mask_logit)
    assert ((mask < 1e-3) | (mask > 1 - 1e-3)).float().mean() > 0.95
    off = mask < 1e-3
    assert s.z[off].abs().max() < 1e-2


def test_representation_is_the_rounded_mask_times_the_mean(model):
    x = torch.rand(16, 1, 64, 64, generator=_gen())
    with torch.no_grad():
        post = model.encode(x)
        on = post.mask_probability() > 0.5
        code = model.representation(x)
    assert torch.equal(code[on], post.mu[on])
    assert (code[~on] == 0).all()
    # the geometric mean of pi is non-increasing in k
    assert (post.expected_log_pi().diff() <= 0).all()


def test_usage_and_active_features(model):
    x = torch.rand(32, 1, 64, 64, generator=_gen())
    with torch.no_grad():
        model.encoder[-1].bias[:6] = torch.tensor([30.0, 30.0, -30.0, -30.0, 30.0, -30.0])
        model.encoder[-1].weight[:6] = 0
    usage = model.usage(x)
    assert usage.tolist() == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    assert sorted(model.active_features(x)) == [0, 1, 4]
