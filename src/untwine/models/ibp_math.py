"""The distributions of the Indian Buffet Process VAE, written once, in torch, in nats.

- Kumaraswamy(a, b) on (0, 1) (Kumaraswamy 1980): CDF F(v) = 1 - (1 - v^a)^b, density
  a b v^(a-1) (1 - v^a)^(b-1), sampled by its inverse CDF v = (1 - u^(1/b))^(1/a) with
  u ~ U(0, 1), which is differentiable in (a, b) (Nalisnick & Smyth 2017, section 3.1).
- KL(Kumaraswamy(a, b) || Beta(alpha, beta)) (Nalisnick & Smyth 2017, eq. 12);
  :func:`kl_kumaraswamy_beta` derives it.
- The binary Concrete (relaxed Bernoulli) of Maddison et al. (2017) and Jang et al. (2017):
  X = sigmoid((l + L) / t) with L ~ Logistic(0, 1), location logit l and temperature t.
  Its densities are computed for Y = logit(X) = (l + L) / t, where they are numerically
  stable; a KL between two Concretes is the same in Y as in X (a shared bijection).
- The IBP's stick-breaking construction pi_k = prod_{j<=k} v_j, v_j ~ Beta(alpha, 1)
  (Teh, Gorur & Ghahramani 2007), in log space.

Every sampler takes a ``torch.Generator``; every function broadcasts over its arguments.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

EULER_GAMMA = 0.5772156649015329

#: Terms kept of the series in KL(Kumaraswamy || Beta(alpha, beta)) when beta != 1 (the public
#: stick-breaking code keeps 10). The series is multiplied by (beta - 1), so it vanishes for the
#: IBP prior Beta(alpha, 1), where the KL below is exact; see :func:`kl_kumaraswamy_beta`.
KL_SERIES_TERMS = 10

# Uniform draws are kept this far from 0 and 1 so that logs and inverse CDFs stay finite in
# float32; the probability mass moved is 2e-6, below what any test here can resolve.
_U_EPS = 1e-6


def _uniform(shape: torch.Size, like: Tensor, generator: torch.Generator | None) -> Tensor:
    u = torch.rand(shape, generator=generator, device=like.device, dtype=like.dtype)
    return u.clamp(_U_EPS, 1.0 - _U_EPS)


def log1mexp(x: Tensor) -> Tensor:
    """log(1 - exp(x)) for x < 0, accurate at both ends (Maechler 2012)."""
    return torch.where(x > -math.log(2.0), torch.log(-torch.expm1(x)), torch.log1p(-torch.exp(x)))


# -- Kumaraswamy -----------------------------------------------------------------------------
def kumaraswamy_log_rsample(
    a: Tensor,
    b: Tensor,
    shape: torch.Size | tuple[int, ...] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """log v for v ~ Kumaraswamy(a, b), by the inverse CDF, differentiable in ``a`` and ``b``.

    v = (1 - u^(1/b))^(1/a), so log v = log(1 - exp(log(u) / b)) / a, kept in log space
    because the stick-breaking product sums these logs. ``shape`` defaults to the broadcast
    shape of ``a`` and ``b``.
    """
    a, b = torch.broadcast_tensors(a, b)
    u = _uniform(torch.Size(shape) if shape is not None else a.shape, a, generator)
    return log1mexp(torch.log(u) / b) / a


def kumaraswamy_rsample(
    a: Tensor,
    b: Tensor,
    shape: torch.Size | tuple[int, ...] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """v ~ Kumaraswamy(a, b) by the inverse CDF (see :func:`kumaraswamy_log_rsample`)."""
    return kumaraswamy_log_rsample(a, b, shape, generator).exp()


def kumaraswamy_log_prob(v: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """log[a b v^(a-1) (1 - v^a)^(b-1)] in nats, for v in (0, 1)."""
    log_v = torch.log(v)
    return torch.log(a) + torch.log(b) + (a - 1) * log_v + (b - 1) * log1mexp(a * log_v)


def kumaraswamy_cdf(v: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """F(v) = 1 - (1 - v^a)^b."""
    return -torch.expm1(b * log1mexp(a * torch.log(v)))


def log_beta_fn(x: Tensor, y: Tensor) -> Tensor:
    """log B(x, y) = lgamma(x) + lgamma(y) - lgamma(x + y)."""
    return torch.lgamma(x) + torch.lgamma(y) - torch.lgamma(x + y)


def kl_kumaraswamy_beta(
    a: Tensor,
    b: Tensor,
    alpha: Tensor | float,
    beta: Tensor | float = 1.0,
    terms: int = KL_SERIES_TERMS,
) -> Tensor:
    """KL(Kumaraswamy(a, b) || Beta(alpha, beta)) in nats, elementwise.

    Nalisnick & Smyth (2017), eq. 12. Derivation: w = v^a is Beta(1, b) under q, so
    E[log v] = (psi(1) - psi(1 + b)) / a = -(gamma + psi(b) + 1/b) / a =: H / a and
    E[log(1 - v^a)] = psi(b) - psi(1 + b) = -1/b. With log q = log(ab) + (a-1) log v +
    (b-1) log(1 - v^a) and log p = -log B(alpha, beta) + (alpha-1) log v + (beta-1) log(1-v):

        KL = log(ab) + log B(alpha, beta) + (a - alpha) / a * H - (b - 1) / b
             - (beta - 1) E[log(1 - v)],

    and -E[log(1 - v)] = sum_m E[v^m] / m = b sum_{m>=1} B(m/a, b) / (m + a b), from
    log(1 - v) = -sum_m v^m / m and E[v^m] = b B(1 + m/a, b).

    The series is kept to its first ``terms`` terms. It is multiplied by (beta - 1), so for
    the IBP prior Beta(alpha, 1) the KL is exact whatever ``terms`` is. Otherwise each term
    is positive, so truncation underestimates the KL for beta > 1 (overestimates for
    beta < 1); as E[v^m] = Gamma(b+1) Gamma(1+m/a) / Gamma(1+m/a+b) ~ Gamma(b+1) (a/m)^b,
    the terms fall like m^-(1+b) and the omitted tail is about |beta - 1| Gamma(b+1)
    (a/M)^b / b after M terms: small for b >~ 1 and a <~ M, slow for small b or large a,
    where ``terms`` should be raised.
    """
    alpha = torch.as_tensor(alpha, dtype=a.dtype, device=a.device)
    beta = torch.as_tensor(beta, dtype=a.dtype, device=a.device)
    h = -(EULER_GAMMA + torch.digamma(b) + 1.0 / b)
    kl = torch.log(a * b) + log_beta_fn(alpha, beta) + (a - alpha) / a * h - (b - 1.0) / b
    if terms > 0 and bool((beta != 1).any()):
        m = torch.arange(1, terms + 1, dtype=a.dtype, device=a.device)
        a_, b_ = a.unsqueeze(-1), b.unsqueeze(-1)
        series = (torch.exp(log_beta_fn(m / a_, b_)) / (m + a_ * b_)).sum(-1)
        kl = kl + (beta - 1.0) * b * series
    return kl


# -- binary Concrete -------------------------------------------------------------------------
def concrete_logit_rsample(
    logits: Tensor, temperature: float | Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """Y = (l + L) / t with L ~ Logistic(0, 1): the logit of a binary Concrete sample.

    Maddison et al. (2017), eq. 21 (binary case); sigmoid(Y) is the relaxed Bernoulli
    sample, which tends to a Bernoulli(sigmoid(l)) draw as t -> 0.
    """
    u = _uniform(logits.shape, logits, generator)
    return (logits + torch.log(u) - torch.log1p(-u)) / temperature


def concrete_logit_log_prob(y: Tensor, logits: Tensor, temperature: float | Tensor) -> Tensor:
    """log density of Y = logit(X) for X ~ BinConcrete(l, t), nats.

    L = t Y - l is standard logistic, log f(L) = -L - 2 softplus(-L), and |dL/dY| = t.
    """
    t = torch.as_tensor(temperature, dtype=y.dtype, device=y.device)
    z = t * y - logits
    return torch.log(t) - z - 2.0 * F.softplus(-z)


def concrete_log_prob(x: Tensor, logits: Tensor, temperature: float | Tensor) -> Tensor:
    """log density of X ~ BinConcrete(l, t) at x in (0, 1), nats (Maddison et al., eq. 20).

    The density of Y at logit(x) times |dY/dX| = 1 / (x (1 - x)).
    """
    y = torch.log(x) - torch.log1p(-x)
    return concrete_logit_log_prob(y, logits, temperature) - torch.log(x) - torch.log1p(-x)


def concrete_cdf(x: Tensor, logits: Tensor, temperature: float | Tensor) -> Tensor:
    """P(X <= x) = sigmoid(t logit(x) - l) for X ~ BinConcrete(l, t)."""
    return torch.sigmoid(temperature * (torch.log(x) - torch.log1p(-x)) - logits)


# -- stick breaking ----------------------------------------------------------------------------
#: log pi is kept at most this far below 0, so that logit(pi) stays finite when a v rounds to 1.
_LOG_PI_MAX = -1e-6


def stick_breaking_log_pi(log_v: Tensor) -> Tensor:
    """log pi_k = sum_{j<=k} log v_j over the last axis (the IBP's stick-breaking weights).

    pi is non-increasing in k because every v_j <= 1 (Teh et al. 2007).
    """
    return torch.cumsum(log_v, dim=-1).clamp(max=_LOG_PI_MAX)


def logit_from_log(log_p: Tensor) -> Tensor:
    """logit(p) = log p - log(1 - p) from log p < 0."""
    return log_p - log1mexp(log_p)


def ibp_prior_expected_active(alpha: float, truncation: int) -> float:
    """E[sum_k b_k] under the truncated IBP prior: sum_{k=1}^K (alpha / (1 + alpha))^k.

    E[pi_k] = prod_j E[v_j] = (alpha / (alpha + 1))^k for independent v_j ~ Beta(alpha, 1).
    """
    r = alpha / (1.0 + alpha)
    return sum(r**k for k in range(1, truncation + 1))
