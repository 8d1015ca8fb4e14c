"""What density estimators (log p(x), the IWAE objective) need from a model, in one place.

They use only: the posterior q(z|x) from ``model.encode`` (its reparameterised
samples and log-density), the prior's log-density, the decoder's likelihood parameters and
their log-likelihood log p(x|z). These small functions are the only code that knows how a
model spells them, so a new latent family needs to change nothing else in them.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from untwine.models.gaussian import log_normal, log_standard_normal


def has_density(model: nn.Module) -> bool:
    """Whether the model defines log p(x) = log E_p(z)[p(x|z)] (a continuous prior)."""
    return hasattr(model, "encode") and hasattr(model, "reconstruction_nll")


def draw(posterior, k: int, generator: torch.Generator | None, eps: Tensor | None = None) -> Tensor:
    """``k`` reparameterised samples per example, (k, N, D); ``eps`` fixes the noise."""
    if eps is None:
        eps = torch.randn(
            (k, *posterior.mu.shape),
            generator=generator,
            device=posterior.mu.device,
            dtype=posterior.mu.dtype,
        )
    return posterior.mu + torch.exp(0.5 * posterior.logvar) * eps


def log_q(posterior, z: Tensor, detach_params: bool = False) -> Tensor:
    """log q(z|x) summed over latent dimensions, (k, N); ``detach_params`` stops the gradient
    through the posterior's parameters (not through z), as DReG needs."""
    mu, logvar = posterior.mu, posterior.logvar
    if detach_params:
        mu, logvar = mu.detach(), logvar.detach()
    return log_normal(z, mu, logvar).sum(-1)


def log_prior(model: nn.Module, z: Tensor) -> Tensor:
    """log p(z) summed over latent dimensions, (k, N): the standard normal."""
    return log_standard_normal(z).sum(-1)


def log_likelihood(model: nn.Module, x: Tensor, z: Tensor) -> Tensor:
    """log p(x|z) in nats summed over x's dimensions, (k, N), for z of shape (k, N, D)."""
    k, n = z.shape[:2]
    params = model.decode(z.reshape(k * n, *z.shape[2:]))
    xs = x.unsqueeze(0).expand(k, *x.shape).reshape(k * n, *x.shape[1:])
    return -model.reconstruction_nll(params, xs).view(k, n)


def posterior_mean(posterior) -> Tensor:
    """E_q[z] per example, (N, D)."""
    return posterior.mu


def kl_per_dim(posterior) -> Tensor:
    """KL(q(z_j|x) || p(z_j)) per example and dimension, (N, D), nats."""
    return posterior.kl_per_dim()


#: whether each likelihood gives probabilities of discrete data (True) or a density.
_DISCRETE = {"bernoulli": True, "gaussian": False}


def is_discrete(model: nn.Module) -> bool:
    """True if log p(x|z) is a log-probability of discrete data, False for a density."""
    return _DISCRETE.get(getattr(model, "likelihood", "bernoulli"), True)
