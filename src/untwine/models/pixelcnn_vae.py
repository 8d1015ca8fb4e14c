"""The Gaussian family with an autoregressive decoder (``ModelConfig.decoder = "pixelcnn"``).

A gated PixelCNN over the image conditioned on z: the strong decoder under which a VAE's
posterior collapses (Chen et al. 2017, "Variational Lossy Autoencoder"; Gulrajani et al. 2017,
"PixelVAE"). The encoder, prior and everything else are :class:`untwine.models.gaussian.
GaussianVAE`'s; only the decoder and what depends on it (log p(x|z), drawing) differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from untwine import nets
from untwine.errors import ConfigError
from untwine.models.gaussian import GaussianVAE
from untwine.nets.pixelcnn import GatedPixelCNN

if TYPE_CHECKING:
    from untwine.config import ModelConfig
    from untwine.models.likelihoods import Likelihood


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
        network: str = nets.AUTO,
        channels: int = 32,
        layers: int = 5,
        kernel_size: int = 5,
        receptive_field: int | None = None,
        dropout: float = 0.0,
        cond_channels: int = 4,
        conditioning: str = "map",
    ) -> None:
        if conditioning not in ("map", "vector"):
            raise ConfigError(
                f"decoder_conditioning: expected map or vector (got {conditioning!r})"
            )
        # read by build_networks, which GaussianVAE.__init__ calls (plain values may be set on
        # a Module before its __init__)
        self.settings = dict(
            channels=channels,
            layers=layers,
            kernel_size=kernel_size,
            receptive_field=receptive_field,
            dropout=dropout,
            cond_channels=cond_channels,
            conditioning=conditioning,
        )
        super().__init__(observation_shape, likelihood, z_dim, network)

    def build_networks(self, network: str) -> tuple[nn.Module, nn.Module]:
        """The network's encoder, and :class:`PixelCNNDecoder` conditioned on the network's
        decoder (a map) or on z itself (a vector)."""
        s, c = self.settings, self.observation_shape[0]
        cond_channels = s["cond_channels"]
        encoder, cond = nets.build(network, self.observation_shape, self.z_dim, cond_channels)
        if s["conditioning"] == "vector":  # the network's decoder is not used
            cond, cond_channels = nn.Identity(), self.z_dim
        decoder = PixelCNNDecoder(
            cond,
            c,
            c * self.likelihood.params_per_subpixel,
            cond_channels,
            s["channels"],
            s["layers"],
            s["kernel_size"],
            s["receptive_field"],
            s["dropout"],
        )
        return encoder, decoder

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


GaussianVAE.decoders["pixelcnn"] = PixelCNNGaussianVAE
