"""The Gaussian family: diagonal-Gaussian maths, the posterior and the VAE model.

The functions (log-density, KL to the standard normal) are written once here: every module
that needs them (the objectives, the metrics' aggregate-posterior estimators, the plots) calls
these torch functions; numpy callers convert to float64 tensors first. All values are in nats.

:class:`DiagonalGaussian` is the posterior q(z|x); :class:`GaussianVAE` the model, registered
as the ``"gaussian"`` family (see :mod:`untwine.models.base` for the contract).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from untwine import nets
from untwine.models.base import LatentModel
from untwine.registry import register_model

if TYPE_CHECKING:
    from untwine.config import ModelConfig
    from untwine.models.likelihoods import Likelihood

LOG_2PI = math.log(2 * math.pi)


def log_normal(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """Elementwise log N(z; mu, exp(logvar)) in nats (broadcasting)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * torch.exp(-logvar))


def log_standard_normal(z: Tensor) -> Tensor:
    """Elementwise log N(z; 0, 1) in nats."""
    return -0.5 * (LOG_2PI + z * z)


def kl_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """Elementwise KL(N(mu, exp(logvar)) || N(0, 1)) in nats (Kingma & Welling 2014, app. B)."""
    return 0.5 * (mu**2 + torch.exp(logvar) - 1.0 - logvar)


@dataclass
class DiagonalGaussian:
    """The posterior q(z|x) = N(mu, diag(exp(logvar))), ``mu`` and ``logvar`` both (N, D)."""

    mu: Tensor
    logvar: Tensor

    def rsample(self, generator: torch.Generator | None = None) -> Tensor:
        """One reparameterised draw z = mu + exp(logvar / 2) * eps, eps ~ N(0, I)
        (Kingma & Welling 2014, eq. 10): differentiable in ``mu`` and ``logvar``."""
        eps = torch.randn(
            self.mu.shape, generator=generator, device=self.mu.device, dtype=self.mu.dtype
        )
        return self.mu + torch.exp(0.5 * self.logvar) * eps

    def log_prob(self, z: Tensor) -> Tensor:
        """log q(z|x) summed over dimensions, (N,), nats; ``z`` (N, D) or broadcastable."""
        return log_normal(z, self.mu, self.logvar).sum(dim=-1)

    def kl_per_dim(self) -> Tensor:
        """KL(q(z_j|x) || N(0, 1)) per example and dimension, (N, D), nats (closed form)."""
        return kl_standard_normal(self.mu, self.logvar)

    def kl(self) -> Tensor:
        """KL(q(z|x) || N(0, I)) per example, (N,), nats."""
        return self.kl_per_dim().sum(dim=1)


@register_model("gaussian")
class GaussianVAE(LatentModel):
    """The VAE (Kingma & Welling 2014): an encoder network giving the mean and log-variance of
    a diagonal-Gaussian posterior, a standard-normal prior N(0, I), and a decoder network giving
    the parameters of ``likelihood``. Every method of the VAE family trains this model.

    ``network`` names an encoder/decoder pair (:mod:`untwine.nets`); its encoder outputs
    (N, 2 * z_dim): the means, then the log-variances.
    """

    family = "gaussian"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        likelihood: Likelihood,
        z_dim: int = 10,
        network: str = "conv64",
    ) -> None:
        super().__init__()
        self.observation_shape = tuple(observation_shape)  # type: ignore[assignment]
        self.z_dim = z_dim
        self.likelihood = likelihood
        self.encoder, self.decoder = nets.build(
            network, self.observation_shape, z_dim, observation_shape[0]
        )

    @classmethod
    def from_config(
        cls, observation_shape: tuple[int, int, int], cfg: ModelConfig, likelihood: Likelihood
    ) -> GaussianVAE:
        return cls(observation_shape, likelihood, z_dim=cfg.z_dim, network=cfg.network)

    def encode(self, x: Tensor) -> DiagonalGaussian:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return DiagonalGaussian(mu, logvar)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def representation(self, x: Tensor) -> Tensor:
        """The posterior means (N, z_dim): the codes disentanglement metrics score."""
        return self.encode(x).mu

    def reconstruct(self, x: Tensor) -> Tensor:
        """Mean images decoded from the posterior means."""
        return self.mean(self.decode(self.encode(x).mu))

    def prior_log_prob(self, z: Tensor) -> Tensor:
        """log N(z; 0, I) summed over dimensions, (N,), nats."""
        return log_standard_normal(z).sum(dim=-1)

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` mean images decoded from z ~ N(0, I)."""
        device = next(self.parameters()).device
        z = torch.randn((n, self.z_dim), generator=generator, device=device)
        return self.mean(self.decode(z))
