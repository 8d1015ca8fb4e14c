"""The Gaussian family: the VAE model, registered as ``"gaussian"``.

:class:`GaussianVAE` has a diagonal-Gaussian posterior (:class:`untwine.models.normal.
DiagonalGaussian`, whose maths lives in :mod:`untwine.models.normal`), a standard-normal prior
and the network's decoder (``ModelConfig.decoder = "conv"``); see :mod:`untwine.models.base`
for the contract. ``decoder = "pixelcnn"`` builds :class:`untwine.models.pixelcnn_vae.
PixelCNNGaussianVAE` instead, the same model with an autoregressive decoder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor, nn

from untwine import nets
from untwine.models.base import LatentModel
from untwine.models.normal import DiagonalGaussian, log_standard_normal
from untwine.registry import register_model

if TYPE_CHECKING:
    from untwine.config import ModelConfig
    from untwine.models.likelihoods import Likelihood


@register_model("gaussian")
class GaussianVAE(LatentModel):
    """The VAE (Kingma & Welling 2014): an encoder network giving the mean and log-variance of
    a diagonal-Gaussian posterior, a standard-normal prior N(0, I), and a decoder network giving
    the parameters of ``likelihood``. Every method of the VAE family trains this model.

    ``network`` names an encoder/decoder pair (:mod:`untwine.nets`); its encoder outputs
    (N, 2 * z_dim): the means, then the log-variances.
    """

    family = "gaussian"

    #: ``ModelConfig.decoder`` -> the class whose model has that decoder (see from_config);
    #: a subclass with another decoder registers itself here
    decoders: ClassVar[dict[str, type[GaussianVAE]]] = {}

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        likelihood: Likelihood,
        z_dim: int = 10,
        network: str = nets.AUTO,
    ) -> None:
        super().__init__()
        self.observation_shape = tuple(observation_shape)  # type: ignore[assignment]
        self.z_dim = z_dim
        self.likelihood = likelihood
        self.encoder, self.decoder = self.build_networks(network)

    def build_networks(self, network: str) -> tuple[nn.Module, nn.Module]:
        """The (encoder, decoder) pair: ``network``'s, its decoder giving the likelihood's
        parameters. A subclass with another decoder overrides this alone."""
        out_channels = self.observation_shape[0] * self.likelihood.params_per_subpixel
        return nets.build(network, self.observation_shape, self.z_dim, out_channels)

    @classmethod
    def from_config(
        cls, observation_shape: tuple[int, int, int], cfg: ModelConfig, likelihood: Likelihood
    ) -> GaussianVAE:
        """The model with the decoder ``cfg.decoder`` names (a class in :attr:`decoders`)."""
        return cls.decoders[cfg.decoder].build(observation_shape, cfg, likelihood)

    @classmethod
    def build(
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


GaussianVAE.decoders["conv"] = GaussianVAE
