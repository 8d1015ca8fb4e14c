"""The VAE: a diagonal-Gaussian posterior q(z|x), a standard-normal prior and a likelihood.

Kingma & Welling (2014): z = mu + sigma * eps (the reparameterisation trick, eq. 10);
the KL of a diagonal Gaussian to N(0, I) in closed form (appendix B).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from untwine import nets
from untwine.models.gaussian import LOG_2PI, kl_standard_normal, log_normal


@dataclass
class Posterior:
    """Diagonal Gaussian q(z|x) with mean ``mu`` and log-variance ``logvar``, both (N, D)."""

    mu: Tensor
    logvar: Tensor

    def rsample(self, generator: torch.Generator | None = None) -> Tensor:
        """One reparameterised sample z = mu + exp(logvar / 2) * eps, eps ~ N(0, I)."""
        eps = torch.randn(
            self.mu.shape, generator=generator, device=self.mu.device, dtype=self.mu.dtype
        )
        return self.mu + torch.exp(0.5 * self.logvar) * eps

    def kl_per_dim(self) -> Tensor:
        """KL(q(z_j|x) || N(0, 1)) per example and dimension, (N, D), nats."""
        return kl_standard_normal(self.mu, self.logvar)

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z|x) summed over dimensions, (N,)."""
        return log_normal(z, self.mu, self.logvar).sum(dim=1)


class VAE(nn.Module):
    """Encoder + decoder + likelihood.

    ``likelihood`` is ``"bernoulli"`` (decoder outputs logits; the standard choice for binary
    and [0, 1] images) or ``"gaussian"`` (decoder output passed through a sigmoid is the mean,
    with a fixed standard deviation ``gaussian_scale``).
    """

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        z_dim: int = 10,
        network: str = "conv64",
        likelihood: str = "bernoulli",
        gaussian_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.observation_shape = tuple(observation_shape)
        self.z_dim = z_dim
        self.likelihood = likelihood
        self.gaussian_scale = gaussian_scale
        self.encoder, self.decoder = nets.build(
            network, self.observation_shape, z_dim, observation_shape[0]
        )

    def encode(self, x: Tensor) -> Posterior:
        h = self.encoder(x)
        mu, logvar = h.chunk(2, dim=1)
        return Posterior(mu, logvar)

    def decode(self, z: Tensor) -> Tensor:
        """Likelihood parameters (logits for Bernoulli, pre-sigmoid mean for Gaussian)."""
        return self.decoder(z)

    def mean(self, params: Tensor) -> Tensor:
        """The likelihood's mean image in [0, 1] from decoder output."""
        return torch.sigmoid(params)

    def reconstruction_nll(self, params: Tensor, x: Tensor) -> Tensor:
        """-log p(x|z) summed over pixels, per example (N,), nats."""
        if self.likelihood == "bernoulli":
            nll = F.binary_cross_entropy_with_logits(params, x, reduction="none")
        else:
            s = self.gaussian_scale
            nll = 0.5 * ((x - torch.sigmoid(params)) / s) ** 2 + math.log(s) + 0.5 * LOG_2PI
        return nll.flatten(1).sum(dim=1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` mean images decoded from z ~ N(0, I)."""
        device = next(self.parameters()).device
        z = torch.randn((n, self.z_dim), generator=generator, device=device)
        return self.mean(self.decode(z))
