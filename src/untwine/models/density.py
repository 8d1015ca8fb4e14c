"""What density estimators (log p(x), the IWAE objective) need from a model, in one place.

They use only the model contract of :mod:`untwine.models.base`: the posterior q(z|x) from
``model.encode`` (its reparameterised samples, ``log_prob`` and ``kl_per_dim``), the prior's
``prior_log_prob`` (families with a density define it) and the decoder's
``log_prob_x_given_z(x, z)`` (teacher-forced for an autoregressive decoder).
Every function takes k samples per example at once: z has shape (k, N, D).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn


def has_density(model: nn.Module) -> bool:
    """Whether the model defines log p(x) = log E_p(z)[p(x|z)] (it has a prior density)."""
    needed = ("encode", "log_prob_x_given_z", "prior_log_prob")
    return all(hasattr(model, a) for a in needed)


def draw(posterior, k: int, generator: torch.Generator | None) -> Tensor:
    """``k`` reparameterised samples per example, (k, N, D)."""
    return posterior.rsample(generator, sample_shape=(k,))


def log_q(posterior, z: Tensor, detach_params: bool = False) -> Tensor:
    """log q(z|x) summed over latent dimensions, (k, N); ``detach_params`` stops the gradient
    through the posterior's parameters (not through z), as DReG needs."""
    if detach_params:
        posterior = dataclasses.replace(
            posterior,
            **{f.name: getattr(posterior, f.name).detach() for f in dataclasses.fields(posterior)},
        )
    return posterior.log_prob(z)


def log_prior(model: nn.Module, z: Tensor) -> Tensor:
    """log p(z) summed over latent dimensions, (k, N)."""
    return model.prior_log_prob(z)


def log_likelihood(model: nn.Module, x: Tensor, z: Tensor) -> Tensor:
    """log p(x|z) in nats summed over x's dimensions, (k, N), for z of shape (k, N, D)."""
    k, n = z.shape[:2]
    xs = x.unsqueeze(0).expand(k, *x.shape).reshape(k * n, *x.shape[1:])
    return model.log_prob_x_given_z(xs, z.reshape(k * n, *z.shape[2:])).view(k, n)


def posterior_mean(posterior) -> Tensor:
    """E_q[z] per example, (N, D) (the Gaussian family's ``mu``)."""
    return posterior.mu


def kl_per_dim(posterior) -> Tensor:
    """KL(q(z_j|x) || p(z_j)) per example and dimension, (N, D), nats."""
    return posterior.kl_per_dim()


def levels(model: nn.Module) -> int | None:
    """The grey levels per subpixel whose probabilities log p(x|z) gives; None: a density."""
    return model.likelihood.levels
