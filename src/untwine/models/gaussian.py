"""The Gaussian family: diagonal-Gaussian maths, the posterior and the VAE model.

The functions (log-density, KL to the standard normal) are written once here: every module
that needs them (the objectives, the metrics' aggregate-posterior estimators, the plots) calls
these torch functions; numpy callers convert to float64 tensors first. All values are in nats.

:class:`DiagonalGaussian` is the posterior q(z|x); :class:`GaussianVAE` the model, registered
as the ``"gaussian"`` family (see :mod:`untwine.models.base` for the contract), with the
network's decoder (``ModelConfig.decoder = "conv"``) or, as :class:`PixelCNNGaussianVAE`, a
gated PixelCNN over the image conditioned on z (``"pixelcnn"``): the strong autoregressive
decoder under which a VAE's posterior collapses (Chen et al. 2017; Gulrajani et al. 2017).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import torch
from torch import Tensor, nn

from untwine import nets
from untwine.errors import ConfigError
from untwine.models.base import LatentModel
from untwine.nets.pixelcnn import GatedPixelCNN
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


def index_code_mi(mu: Tensor, logvar: Tensor, z: Tensor, block: int = 1024) -> Tensor:
    """I(x; z) under the empirical data distribution, in nats: mean_n [log q(z_n|x_n) -
    log q(z_n)], with z_n ~ q(z|x_n) one draw per point (``z``, (N, D)) and q(z) = (1/N)
    sum_m q(z|x_m) the aggregate posterior of the N points given. The index-code mutual
    information of Chen et al. (2018), eq. 2 (as :mod:`untwine.metrics.elbo`), and the
    estimate He et al. (2019) watch to end aggressive inference. Rows go ``block`` at a time.
    At most log N: the points' own codes are all it can tell apart.
    """
    own = log_normal(z, mu, logvar).sum(dim=1)
    log_qz = torch.cat(
        [
            torch.logsumexp(log_normal(zb[:, None], mu[None], logvar[None]).sum(-1), dim=1)
            for zb in z.split(block)
        ]
    ) - math.log(len(mu))
    return (own - log_qz).mean()


@dataclass
class DiagonalGaussian:
    """The posterior q(z|x) = N(mu, diag(exp(logvar))), ``mu`` and ``logvar`` both (N, D)."""

    mu: Tensor
    logvar: Tensor

    def rsample(
        self, generator: torch.Generator | None = None, sample_shape: tuple[int, ...] = ()
    ) -> Tensor:
        """Reparameterised draws z = mu + exp(logvar / 2) * eps, eps ~ N(0, I)
        (Kingma & Welling 2014, eq. 10): differentiable in ``mu`` and ``logvar``; shape
        ``sample_shape + mu.shape`` (one draw per example by default)."""
        eps = torch.randn(
            (*sample_shape, *self.mu.shape),
            generator=generator,
            device=self.mu.device,
            dtype=self.mu.dtype,
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

    #: ``ModelConfig.decoder`` -> the class whose model has that decoder (see from_config)
    decoders: ClassVar[dict[str, type[GaussianVAE]]] = {}

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
            network,
            self.observation_shape,
            z_dim,
            observation_shape[0] * likelihood.params_per_subpixel,
        )

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


class PixelCNNDecoder(nn.Module):
    """p(x|z) = prod_i p(x_i | x_<i, z) in raster order: ``cond`` maps z to what conditions a
    gated PixelCNN (van den Oord et al. 2016) over the image, which gives every pixel's
    likelihood parameters in one pass. The conditioning is either a map (N, ``cond_channels``,
    H, W) made by the network's decoder (PixelVAE's arrangement, Gulrajani et al. 2017: even
    a decoder with a small receptive field knows where in the image it is), or z itself, a
    vector that each gated layer projects and adds at every position (the conditional
    PixelCNN's global conditioning, van den Oord et al. 2016): z then says nothing about
    where, so the decoder draws less from it.

    ``dropout`` hides that share of the input pixels while training (each replaced by 0 and
    flagged in an extra input channel): the image analogue of Bowman et al.'s (2016) word
    dropout, which makes the decoder lean on z for what it cannot see.
    """

    def __init__(
        self,
        cond: nn.Module,
        image_channels: int,
        out_channels: int,
        cond_channels: int,
        channels: int,
        layers: int,
        kernel_size: int,
        receptive_field: int | None,
        dropout: float,
    ) -> None:
        super().__init__()
        self.cond = cond
        self.dropout = dropout
        self.pixelcnn = GatedPixelCNN(
            image_channels + (1 if dropout > 0 else 0),
            out_channels,
            channels=channels,
            layers=layers,
            kernel_size=kernel_size,
            cond_channels=cond_channels,
            receptive_field=receptive_field,
        )

    def forward(self, z: Tensor, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Likelihood parameters (N, out_channels, H, W) of every pixel given the pixels
        before it in ``x`` and ``z``; ``generator`` draws the dropout mask."""
        if self.dropout > 0:
            keep = torch.ones_like(x[:, :1])
            if self.training:
                u = torch.rand(keep.shape, generator=generator, device=x.device, dtype=x.dtype)
                keep = (u >= self.dropout).to(x.dtype)
            x = torch.cat([x * keep, keep], dim=1)
        return self.pixelcnn(x, self.cond(z))


class PixelCNNGaussianVAE(GaussianVAE):
    """The VAE with an autoregressive decoder (``ModelConfig.decoder = "pixelcnn"``): the
    Gaussian encoder and prior of :class:`GaussianVAE`, and :class:`PixelCNNDecoder` as
    ``self.decoder``. log p(x|z) is exact and takes one teacher-forced pass; images are
    drawn pixel by pixel in raster order (H * W passes).

    ``decode(z)`` (what traversals and ``Run.decode`` call) has no x to condition on: it draws
    an image in raster order and returns the parameters of p(x_i | x_<i, z) along that draw,
    so its ``mean`` shows each pixel's probability in the drawn image's context.
    """

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        likelihood: Likelihood,
        z_dim: int = 10,
        network: str = "conv64",
        channels: int = 32,
        layers: int = 5,
        kernel_size: int = 5,
        receptive_field: int | None = None,
        dropout: float = 0.0,
        cond_channels: int = 4,
        conditioning: str = "map",
    ) -> None:
        LatentModel.__init__(self)
        self.observation_shape = tuple(observation_shape)  # type: ignore[assignment]
        self.z_dim = z_dim
        self.likelihood = likelihood
        c = observation_shape[0]
        self.encoder, cond = nets.build(network, self.observation_shape, z_dim, cond_channels)
        if conditioning == "vector":  # the network's decoder is not used
            cond, cond_channels = nn.Identity(), z_dim
        elif conditioning != "map":
            raise ConfigError(
                f"decoder_conditioning: expected map or vector (got {conditioning!r})"
            )
        self.decoder = PixelCNNDecoder(
            cond,
            c,
            c * likelihood.params_per_subpixel,
            cond_channels,
            channels,
            layers,
            kernel_size,
            receptive_field,
            dropout,
        )

    @classmethod
    def build(
        cls, observation_shape: tuple[int, int, int], cfg: ModelConfig, likelihood: Likelihood
    ) -> PixelCNNGaussianVAE:
        return cls(
            observation_shape,
            likelihood,
            z_dim=cfg.z_dim,
            network=cfg.network,
            channels=cfg.decoder_channels,
            layers=cfg.decoder_layers,
            kernel_size=cfg.decoder_kernel,
            receptive_field=cfg.decoder_receptive_field,
            dropout=cfg.decoder_dropout,
            cond_channels=cfg.decoder_cond_channels,
            conditioning=cfg.decoder_conditioning,
        )

    def log_prob_x_given_z(
        self, x: Tensor, z: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """Exact log p(x|z) = sum_i log p(x_i | x_<i, z), nats, (N,): one teacher-forced
        pass (the PixelCNN is causal, so pixel i's parameters see only x_<i)."""
        return self.log_prob(x, self.decoder(z, x, generator))

    @torch.no_grad()
    def draw(self, z: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """An image x ~ p(x|z) per latent, drawn in raster order, and the parameters of
        p(x_i | x_<i, z) along it: ((N, C, H, W), (N, C * params, H, W))."""
        c, h, w = self.observation_shape
        x = torch.zeros((len(z), c, h, w), device=z.device)
        for i in range(h):
            for j in range(w):
                params = self.decoder(z, x)
                x[:, :, i, j] = self.likelihood.sample(params, generator)[:, :, i, j]
        return x, self.decoder(z, x)

    def decode(self, z: Tensor) -> Tensor:
        """Parameters of p(x_i | x_<i, z) along one raster-order draw (see the class)."""
        return self.draw(z)[1]

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` images drawn in raster order from p(x|z), z ~ N(0, I)."""
        device = next(self.parameters()).device
        z = torch.randn((n, self.z_dim), generator=generator, device=device)
        return self.draw(z, generator)[0]


GaussianVAE.decoders.update(conv=GaussianVAE, pixelcnn=PixelCNNGaussianVAE)
