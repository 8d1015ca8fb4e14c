"""The IBP distributions: KL against Monte Carlo, samplers against CDFs, the prior."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from untwine.models import ibp_math as m

F64 = torch.float64


def _t(x: float) -> torch.Tensor:
    return torch.tensor(x, dtype=F64)


def _gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


@pytest.mark.parametrize(
    ("a", "b", "alpha"),
    [(1.0, 1.0, 1.0), (0.5, 2.0, 5.0), (3.0, 0.7, 10.0), (10.0, 1.0, 10.0), (2.0, 5.0, 0.3)],
)
def test_kl_to_beta_alpha_1_matches_monte_carlo(a, b, alpha):
    """E_q[log q(v) - log Beta(v; alpha, 1)] , 1e6 inverse-CDF draws, within 4 SE."""
    a_, b_ = _t(a), _t(b)
    v = m.kumaraswamy_rsample(a_, b_, (1_000_000,), _gen(0))
    log_ratio = m.kumaraswamy_log_prob(v, a_, b_) - torch.from_numpy(
        stats.beta(alpha, 1.0).logpdf(v.numpy())
    )
    mc, se = log_ratio.mean().item(), log_ratio.std().item() / 1000.0
    closed = m.kl_kumaraswamy_beta(a_, b_, alpha).item()
    assert abs(closed - mc) < 4 * se + 1e-9, (closed, mc, se)


def test_kl_to_general_beta_with_enough_series_terms_matches_monte_carlo():
    """With beta != 1 the series matters: 10 terms fall short, 2000 reach the MC estimate."""
    a, b, alpha, beta = _t(2.0), _t(3.0), 2.0, 3.0
    v = m.kumaraswamy_rsample(a, b, (1_000_000,), _gen(1))
    log_ratio = m.kumaraswamy_log_prob(v, a, b) - torch.from_numpy(
        stats.beta(alpha, beta).logpdf(v.numpy())
    )
    mc, se = log_ratio.mean().item(), log_ratio.std().item() / 1000.0
    full = m.kl_kumaraswamy_beta(a, b, alpha, beta, terms=2000).item()
    short = m.kl_kumaraswamy_beta(a, b, alpha, beta, terms=1).item()
    assert abs(full - mc) < 4 * se
    assert short < full - 10 * se  # truncation underestimates for beta > 1, as documented


def test_kl_is_zero_when_kumaraswamy_equals_the_prior():
    """Kumaraswamy(alpha, 1) has CDF v^alpha: it is Beta(alpha, 1), so the KL is 0."""
    for alpha in (0.3, 1.0, 5.0, 10.0):
        assert abs(m.kl_kumaraswamy_beta(_t(alpha), _t(1.0), alpha).item()) < 1e-12


def test_kl_gradients_are_finite_in_float32():
    a = torch.tensor([0.05, 1.0, 20.0], requires_grad=True)
    b = torch.tensor([0.05, 1.0, 20.0], requires_grad=True)
    m.kl_kumaraswamy_beta(a, b, 10.0).sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(b.grad).all()


@pytest.mark.parametrize(("a", "b"), [(0.5, 0.5), (2.0, 5.0), (10.0, 1.0)])
def test_kumaraswamy_samples_follow_its_cdf(a, b):
    v = m.kumaraswamy_rsample(_t(a), _t(b), (20_000,), _gen(2)).numpy()
    cdf = lambda x: m.kumaraswamy_cdf(torch.from_numpy(np.asarray(x)), _t(a), _t(b)).numpy()  # noqa: E731
    assert stats.kstest(v, cdf).pvalue > 0.01


def test_kumaraswamy_density_integrates_to_one_and_is_the_cdf_derivative():
    a, b = _t(2.5), _t(0.8)
    pdf = lambda x: m.kumaraswamy_log_prob(_t(x), a, b).exp().item()  # noqa: E731
    total, _ = integrate.quad(pdf, 0, 1)
    assert total == pytest.approx(1.0, abs=1e-6)
    x, h = 0.4, 1e-6
    slope = (m.kumaraswamy_cdf(_t(x + h), a, b) - m.kumaraswamy_cdf(_t(x - h), a, b)) / (2 * h)
    assert slope.item() == pytest.approx(pdf(x), rel=1e-6)


def test_kumaraswamy_sampler_is_seeded():
    a, b = _t(2.0), _t(3.0)
    one = m.kumaraswamy_rsample(a, b, (5,), _gen(7))
    assert torch.equal(one, m.kumaraswamy_rsample(a, b, (5,), _gen(7)))
    assert not torch.equal(one, m.kumaraswamy_rsample(a, b, (5,), _gen(8)))


@pytest.mark.parametrize(("logit", "temp"), [(0.0, 1.0), (1.5, 0.5), (-2.0, 2.0)])
def test_binary_concrete_samples_follow_its_cdf_and_density_integrates(logit, temp):
    l = _t(logit)  # noqa: E741
    x = torch.sigmoid(m.concrete_logit_rsample(l.expand(20_000), temp, _gen(3))).numpy()
    cdf = lambda s: m.concrete_cdf(torch.from_numpy(np.asarray(s)), l, temp).numpy()  # noqa: E731
    assert stats.kstest(x, cdf).pvalue > 0.01
    pdf = lambda s: m.concrete_log_prob(_t(s), l, temp).exp().item()  # noqa: E731
    total, _ = integrate.quad(pdf, 0, 1, limit=200)
    assert total == pytest.approx(1.0, abs=1e-5)
    # the logit-space density is the same distribution seen through logit(x)
    ypdf = lambda y: m.concrete_logit_log_prob(_t(y), l, temp).exp().item()  # noqa: E731
    assert integrate.quad(ypdf, -np.inf, np.inf)[0] == pytest.approx(1.0, abs=1e-6)


def test_concrete_tends_to_bernoulli_as_temperature_falls():
    x = torch.sigmoid(m.concrete_logit_rsample(_t(0.8).expand(50_000), 0.005, _gen(4)))
    assert ((x < 1e-3) | (x > 1 - 1e-3)).double().mean().item() > 0.95
    assert (x > 0.5).double().mean().item() == pytest.approx(1 / (1 + math.exp(-0.8)), abs=0.01)


def test_stick_breaking_pi_is_non_increasing_and_in_unit_interval():
    v = m.kumaraswamy_log_rsample(_t(3.0), _t(1.0), (1000, 20), _gen(5))
    log_pi = m.stick_breaking_log_pi(v)
    assert (log_pi <= 0).all()
    assert (log_pi.diff(dim=-1) <= 0).all()
    logit = m.logit_from_log(log_pi)
    assert torch.allclose(torch.sigmoid(logit), log_pi.exp(), atol=1e-12)


def test_small_alpha_turns_fewer_features_on_as_the_prior_says():
    """Under v ~ Beta(alpha, 1) (= Kumaraswamy(alpha, 1)), E[sum b] = sum_k (alpha/(1+alpha))^k."""
    k, n = 20, 200_000
    counts = {}
    for alpha in (0.5, 2.0, 10.0):
        log_v = m.kumaraswamy_log_rsample(_t(alpha), _t(1.0), (n, k), _gen(6))
        pi = m.stick_breaking_log_pi(log_v).exp()
        b = torch.rand(pi.shape, generator=_gen(7), dtype=F64) < pi
        per_image = b.sum(dim=1).double()
        counts[alpha] = per_image.mean().item()
        se = per_image.std().item() / math.sqrt(n)
        assert counts[alpha] == pytest.approx(m.ibp_prior_expected_active(alpha, k), abs=4 * se)
    assert counts[0.5] < counts[2.0] < counts[10.0]
