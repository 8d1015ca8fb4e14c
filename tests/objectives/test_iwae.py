"""The IWAE objective: L_k from per-sample log-weights, beta inside them, and DReG."""

from __future__ import annotations

import pytest
import torch

from untwine.config import ModelConfig, OptimConfig, TrainConfig
from untwine.errors import ConfigError
from untwine.likelihood.exact import LinearGaussianVAE
from untwine.models import build
from untwine.models.normal import log_normal, log_standard_normal
from untwine.objectives import METHODS


def make(name, model=None, **params):
    cls = METHODS.get(name)
    return cls(cls.Params(name=name, **params), model, 100, OptimConfig())


def small_vae():
    torch.manual_seed(0)
    return build("gaussian", (1, 8, 8), ModelConfig(z_dim=3, network="mlp"))


def ppca():
    g = torch.Generator().manual_seed(0)
    model = LinearGaussianVAE(
        torch.randn(5, 2, generator=g, dtype=torch.float64),
        torch.zeros(5, dtype=torch.float64),
        -0.3,
    )
    model.use_mean_field_posterior(widen=2.0)
    with torch.no_grad():
        model.enc.add_(0.2)  # an imperfect encoder: non-zero expected gradient
    x = torch.randn(4, 5, generator=g, dtype=torch.float64)
    return model, x


def test_k1_is_the_beta_vae_loss_with_the_sampled_kl():
    model, beta = small_vae(), 4.0
    x = (torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    iw = make("iwae", k=1, beta=beta)(model, x, 0, torch.Generator().manual_seed(5)).terms
    bv = make("betavae", beta=beta)(model, x, 0, torch.Generator().manual_seed(5)).terms
    torch.testing.assert_close(iw["recon"], bv["recon"])  # the same z from the same generator
    post = model.encode(x)
    z = post.rsample(torch.Generator().manual_seed(5))
    sampled_kl = (log_normal(z, post.mu, post.logvar) - log_standard_normal(z)).sum(1)
    want = (-model.log_prob(x, model.decode(z)) + beta * sampled_kl).mean()
    torch.testing.assert_close(iw["loss"], want)
    # and in expectation the sampled KL is the analytic one, so the losses agree on average
    xs = x[:1].expand(4000, 1, 8, 8)
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(8)
    with torch.no_grad():
        a = make("iwae", k=1, beta=beta)(model, xs, 0, g1).terms["loss"]
        b = make("betavae", beta=beta)(model, xs, 0, g2).terms["loss"]
    assert abs(a - b) < 0.05 * beta


@torch.no_grad()
def test_logged_bound_rises_with_k_and_stays_below_log_px():
    model, x = ppca()
    exact = model.log_px(x).mean().item()
    g = torch.Generator().manual_seed(0)
    bounds = []
    for k in (1, 10, 100):
        values = [make("iwae", k=k)(model, x, 0, g).terms["L_k"].item() for _ in range(200)]
        bounds.append(sum(values) / len(values))
    assert bounds[0] < bounds[1] < bounds[2] < exact + 0.01


def _grads(model, x, estimator, k, seed, beta=1.0):
    model.zero_grad()
    gen = torch.Generator().manual_seed(seed)
    terms = make("iwae", k=k, estimator=estimator, beta=beta)(model, x, 0, gen).terms
    terms["loss"].backward()
    return {n: p.grad.clone() for n, p in model.named_parameters()}, terms["loss"].item()


@pytest.mark.parametrize("beta", [1.0, 0.5])
def test_dreg_keeps_the_loss_and_decoder_gradient_and_is_unbiased_for_the_encoder(beta):
    model, x = ppca()
    k, repeats = 20, 300
    std, dreg = [], []
    for seed in range(repeats):
        gs, ls = _grads(model, x, "standard", k, seed, beta)
        gd, ld = _grads(model, x, "dreg", k, seed, beta)
        assert ls == pytest.approx(ld, abs=1e-12)  # the value is -L_k either way
        for name in ("weight", "log_sigma"):  # decoder-only parameters: gradient unchanged
            torch.testing.assert_close(gs[name], gd[name])
        std.append(gs["enc"].flatten())
        dreg.append(gd["enc"].flatten())
    std, dreg = torch.stack(std), torch.stack(dreg)
    se = (std.var(0) / repeats + dreg.var(0) / repeats).sqrt()
    assert ((std.mean(0) - dreg.mean(0)).abs() < 4 * se + 1e-6).all()  # same expectation
    assert dreg.var(0).sum() < 0.5 * std.var(0).sum()  # and far less noise


def test_settings_k_estimator_and_free_bits():
    cfg = TrainConfig.from_flat(method="iwae", k=50, estimator="dreg", steps=1, out="r")
    assert cfg.method.k == 50 and cfg.method.estimator == "dreg"
    assert METHODS.get("iwae").family == "gaussian"
    with pytest.raises(ConfigError, match="free_bits"):
        TrainConfig.from_flat(method="iwae", free_bits=0.5, steps=1, out="r")
    with pytest.raises(ConfigError, match="method.k"):
        TrainConfig.from_flat(method="iwae", k=0, steps=1, out="r")
