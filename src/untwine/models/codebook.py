"""The codebook family: VQ-VAE (van den Oord et al. 2017) and VQ-VAE-2 (Razavi et al. 2019).

A model of this family encodes an image into one or more maps of discrete codes ("levels"),
each quantised by its own :class:`~untwine.models.quantise.VectorQuantiser`, and decodes the
quantised maps back into likelihood parameters. The posterior q(c|x) is a point mass on the
nearest codes, so with a prior p(c) over the code maps

    -log p(x) <= -log p(x | z_q(c)) - log p(c)        (nats; c = the codes of x)

which with the uniform prior is recon NLL + (number of code positions) * log K
(:meth:`CodebookModel.nll_bound`).

- :class:`VQVAE`: one level, a stride-4 encoder and decoder with residual stacks (paper,
  section 4.1): a 64x64 image becomes a 16x16 code map, a 28x28 image a 7x7 one.
- :class:`VQVAE2`: a bottom level at stride 4 and a top level at stride 2 over the bottom
  features (section 3.1, figure 2a); the top codes, decoded to the bottom size, are joined to
  the bottom features before the bottom quantiser; the decoder takes the upsampled top codes
  joined to the bottom codes.

The representation scored by the disentanglement metrics (:meth:`representation`) is the
quantised vectors z_q averaged over the positions of each level, levels concatenated: a
deterministic (N, D * levels) float code that, unlike pooled one-hot indices, keeps the
geometry of the codebook and has the same width for every codebook size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from untwine.models.base import LatentModel
from untwine.models.likelihoods import Likelihood
from untwine.models.quantise import Quantised, VectorQuantiser
from untwine.nets.vqconv import Decoder, Encoder
from untwine.registry import register_model

if TYPE_CHECKING:
    from untwine.config import ModelConfig


@dataclass
class CodePosterior:
    """The point-mass posterior of a codebook model: one :class:`Quantised` per level, top
    level first."""

    levels: list[Quantised]

    @property
    def indices(self) -> list[Tensor]:
        """The code index maps, one (N, h, w) per level."""
        return [q.indices for q in self.levels]

    @property
    def z(self) -> list[Tensor]:
        """The quantised maps with the straight-through gradient (what the decoder takes)."""
        return [q.z_q for q in self.levels]

    def commitment(self) -> Tensor:
        """||z_e - sg[e]||^2 per example (N,), summed over levels, positions and channels."""
        return sum(q.commitment() for q in self.levels)

    def codebook_loss(self) -> Tensor:
        """||sg[z_e] - e||^2 per example (N,), summed over levels, positions and channels."""
        return sum(q.codebook_loss() for q in self.levels)


class CodebookModel(LatentModel):
    """What VQ-VAE and VQ-VAE-2 share: quantisers, bound, representation and sampling.

    Subclasses build ``self.quantisers`` (top level first) in ``__init__(observation_shape,
    likelihood, settings)`` and implement :meth:`encode` and :meth:`decode`. The settings
    (``codebook_size``, ``z_dim`` = the dimension D of each code, ``codebook_ema``,
    ``codebook_decay``, ``restart_after``, ``kmeans_init``, ``hidden``, ``res_hidden``,
    ``res_blocks``) are read from :class:`~untwine.config.ModelConfig`.
    """

    quantisers: nn.ModuleList

    def __init__(
        self, observation_shape: tuple[int, int, int], likelihood: Likelihood, cfg: ModelConfig
    ) -> None:
        super().__init__()
        self.observation_shape = tuple(observation_shape)  # type: ignore[assignment]
        self.likelihood = likelihood
        self.code_dim = cfg.z_dim
        #: decoder output channels: the likelihood's parameters for each image channel
        self.out_channels = observation_shape[0] * likelihood.params_per_subpixel

    @classmethod
    def from_config(
        cls, observation_shape: tuple[int, int, int], cfg: ModelConfig, likelihood: Likelihood
    ) -> CodebookModel:
        return cls(observation_shape, likelihood, cfg)

    def encode(self, x: Tensor, generator: torch.Generator | None = None) -> CodePosterior:
        """The codes of ``x``; ``generator`` draws k-means starts (first training batch)."""
        raise NotImplementedError

    def decode(self, z: list[Tensor]) -> Tensor:
        """Likelihood parameters (N, C, H, W) from the quantised maps, top level first."""
        raise NotImplementedError

    def reconstruct(self, x: Tensor) -> Tensor:
        """Mean images decoded from the codes of ``x``."""
        return self.mean(self.decode(self.encode(x).z))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` mean images decoded from codes drawn from the uniform prior (the learnt
        PixelCNN prior is a run of its own: :mod:`untwine.train.prior`)."""
        indices = [
            torch.randint(k, (n, *s), generator=generator, device=self._device)
            for k, s in zip(self.num_codes, self.code_shapes(), strict=True)
        ]
        return self.decode_indices(indices)

    # -- codes -------------------------------------------------------------------------
    @property
    def num_codes(self) -> list[int]:
        return [q.num_codes for q in self.quantisers]

    def code_shapes(self) -> list[tuple[int, int]]:
        """The (h, w) of each level's code map for this model's image size."""
        was_training = self.training
        self.eval()  # no k-means initialisation from a dummy batch
        try:
            with torch.no_grad():
                x = torch.zeros(1, *self.observation_shape, device=self._device)
                return [tuple(i.shape[1:]) for i in self.encode(x).indices]
        finally:
            self.train(was_training)

    def decode_indices(self, indices: list[Tensor]) -> Tensor:
        """Mean images in [0, 1] for code index maps (top level first)."""
        z = [q.lookup(i) for q, i in zip(self.quantisers, indices, strict=True)]
        return self.mean(self.decode(z))

    def update_codebooks(
        self, posterior: CodePosterior, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """EMA updates and dead-code restarts of every level after a training step; returns
        each level's code usage (``perplexity``, ``codes_used``; suffixed by level index when
        there are several)."""
        out: dict[str, Tensor] = {}
        many = len(self.quantisers) > 1
        for i, (quantiser, q) in enumerate(zip(self.quantisers, posterior.levels, strict=True)):
            stats = quantiser.update(q, generator)
            out.update({f"{k}_{i}" if many else k: v for k, v in stats.items()})
        return out

    # -- what other modules use ------------------------------------------------------------
    @torch.no_grad()
    def representation(self, x: Tensor) -> Tensor:
        """Quantised vectors averaged over positions, levels concatenated: (N, D * levels)."""
        return torch.cat([z.mean(dim=(2, 3)) for z in self.encode(x).z], dim=1)

    @torch.no_grad()
    def nll_bound(self, x: Tensor, prior_nll: Tensor | None = None) -> Tensor:
        """Upper bound on -log p(x) per example (N,), nats: recon NLL + code NLL.

        ``prior_nll`` is -log p(codes) per example from a learnt prior (see
        :meth:`untwine.models.code_prior.CodeMapPrior.nll`); None uses the uniform prior,
        sum over levels of positions * log K.
        """
        post = self.encode(x)
        recon = -self.log_prob(x, self.decode(post.z))
        if prior_nll is None:
            prior_nll = sum(
                i[0].numel() * math.log(k)
                for i, k in zip(post.indices, self.num_codes, strict=True)
            )
        return recon + prior_nll

    @property
    def _device(self) -> torch.device:
        return next(self.parameters()).device


def _quantiser(cfg: ModelConfig) -> VectorQuantiser:
    return VectorQuantiser(
        cfg.codebook_size,
        cfg.z_dim,
        ema=cfg.codebook_ema,
        decay=cfg.codebook_decay,
        restart_after=cfg.restart_after,
        kmeans_init=cfg.kmeans_init,
    )


def _nets(cfg: ModelConfig) -> dict[str, int]:
    return {"hidden": cfg.hidden, "res_hidden": cfg.res_hidden, "res_blocks": cfg.res_blocks}


@register_model("codebook")
class VQVAE(CodebookModel):
    """One code map at stride 4 (van den Oord et al. 2017)."""

    family = "codebook"

    def __init__(self, observation_shape, likelihood, cfg) -> None:
        super().__init__(observation_shape, likelihood, cfg)
        c, d = observation_shape[0], cfg.z_dim
        self.encoder = Encoder(c, d, stride=4, **_nets(cfg))
        self.decoder = Decoder(d, self.out_channels, stride=4, **_nets(cfg))
        self.quantisers = nn.ModuleList([_quantiser(cfg)])

    def encode(self, x: Tensor, generator: torch.Generator | None = None) -> CodePosterior:
        return CodePosterior([self.quantisers[0](self.encoder(x), generator)])

    def decode(self, z: list[Tensor]) -> Tensor:
        return self.decoder(z[0], self.observation_shape[1:])


@register_model("codebook2")
class VQVAE2(CodebookModel):
    """Top code map at stride 8 and bottom code map at stride 4 (Razavi et al. 2019)."""

    family = "codebook2"

    def __init__(self, observation_shape, likelihood, cfg) -> None:
        super().__init__(observation_shape, likelihood, cfg)
        c, d, h = observation_shape[0], cfg.z_dim, cfg.hidden
        nets = _nets(cfg)
        self.enc_bottom = Encoder(c, h, stride=4, **nets)
        self.enc_top = Encoder(h, d, stride=2, **nets)
        self.dec_top = Decoder(d, d, stride=2, **nets)  # top codes -> bottom size
        self.pre_bottom = nn.Conv2d(h + d, d, 1)
        self.up_top = nn.ConvTranspose2d(d, d, 4, stride=2, padding=1)
        self.decoder = Decoder(2 * d, self.out_channels, stride=4, **nets)
        self.quantisers = nn.ModuleList([_quantiser(cfg), _quantiser(cfg)])

    def encode(self, x: Tensor, generator: torch.Generator | None = None) -> CodePosterior:
        feats = self.enc_bottom(x)
        top = self.quantisers[0](self.enc_top(feats), generator)
        joined = torch.cat([feats, self.dec_top(top.z_q, feats.shape[2:])], dim=1)
        bottom = self.quantisers[1](self.pre_bottom(joined), generator)
        return CodePosterior([top, bottom])

    def decode(self, z: list[Tensor]) -> Tensor:
        top, bottom = z
        up = self.up_top(top, output_size=bottom.shape[2:])
        return self.decoder(torch.cat([up, bottom], dim=1), self.observation_shape[1:])
