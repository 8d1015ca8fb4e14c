"""An autoregressive prior over maps of code indices: a gated PixelCNN with a K-way softmax.

p(c) = prod_{positions in raster order} p(c_ij | c_<ij [, condition]) over an index map
c in {0..K-1}^{H x W}. Trained by cross-entropy on the code maps of a trained VQ-VAE (van den
Oord et al. 2017, section 3.3); sampled exactly, one position at a time in raster order. The
optional condition is another code map (VQ-VAE-2's bottom prior is conditioned on the top map,
Razavi et al. 2019, section 3.2), embedded, resized to this map's size (nearest) and passed
through a 3x3 convolution; it is not masked, since it is given, not generated.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from untwine.nets.pixelcnn import GatedPixelCNN
from untwine.registry import register_model

if TYPE_CHECKING:
    from untwine.config import ModelConfig


class CodePrior(nn.Module):
    """Prior over (N, H, W) maps of indices into ``num_codes`` codes.

    ``cond_codes`` > 0: conditioned on a second index map with that many codes.
    """

    def __init__(
        self,
        num_codes: int,
        channels: int = 64,
        layers: int = 8,
        kernel_size: int = 5,
        cond_codes: int = 0,
    ) -> None:
        super().__init__()
        self.num_codes = num_codes
        self.embed = nn.Embedding(num_codes, channels)
        self.cond_embed = None
        if cond_codes:
            self.cond_embed = nn.Sequential(
                nn.Embedding(cond_codes, channels),
                _ChannelsFirst(),
                nn.Conv2d(channels, channels, 3, padding=1),
            )
        self.net = GatedPixelCNN(
            channels,
            num_codes,
            channels=channels,
            layers=layers,
            kernel_size=kernel_size,
            cond_channels=channels if cond_codes else 0,
        )

    def _condition(self, cond: Tensor | None, size: tuple[int, int]) -> Tensor | None:
        if self.cond_embed is None or cond is None:
            return None
        c = self.cond_embed(cond)
        return F.interpolate(c, size=size, mode="nearest")

    def logits(self, codes: Tensor, cond: Tensor | None = None) -> Tensor:
        """(N, K, H, W) logits of p(c_ij | c_<ij, cond) for an index map (N, H, W)."""
        x = self.embed(codes).movedim(-1, 1)
        return self.net(x, self._condition(cond, codes.shape[1:]))

    def log_prob(self, codes: Tensor, cond: Tensor | None = None) -> Tensor:
        """log p(codes [| cond]) per map, (N,), nats summed over positions."""
        nll = F.cross_entropy(self.logits(codes, cond), codes, reduction="none")
        return -nll.flatten(1).sum(dim=1)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        size: tuple[int, int],
        cond: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """``n`` index maps (n, H, W) drawn exactly in raster order (H * W network passes)."""
        device = self.embed.weight.device
        codes = torch.zeros((n, *size), dtype=torch.long, device=device)
        c = self._condition(cond, size)
        for i in range(size[0]):
            for j in range(size[1]):
                x = self.embed(codes).movedim(-1, 1)
                probs = self.net(x, c)[:, :, i, j].float().softmax(dim=1)
                codes[:, i, j] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        return codes

    @staticmethod
    def uniform_nll(positions: int, num_codes: int) -> float:
        """-log p(codes) under the uniform prior: positions * log K nats."""
        return positions * math.log(num_codes)


class _ChannelsFirst(nn.Module):
    def forward(self, x: Tensor) -> Tensor:  # (N, H, W, C) -> (N, C, H, W)
        return x.movedim(-1, 1)


@register_model("codeprior")
class CodeMapPrior(nn.Module):
    """The prior over all code levels of a codebook model, top level first:
    p(c_1, ..., c_L) = p(c_1) prod_{l>1} p(c_l | c_{l-1}) (VQ-VAE: one level; VQ-VAE-2: the
    top prior and the bottom prior conditioned on the top map, Razavi et al. 2019).

    A second-stage model, not a latent family: it is registered with the models so that a
    prior run is built, checkpointed and resumed by the one training loop, from a dataset of
    code maps stored as (L, H, W) canvases (:func:`from_config`, :mod:`untwine.train.prior`).
    """

    family = "codeprior"

    def __init__(
        self,
        num_codes: list[int],
        shapes: list[tuple[int, int]],
        channels: int = 64,
        layers: int = 8,
        kernel_size: int = 5,
    ) -> None:
        super().__init__()
        self.shapes = [tuple(s) for s in shapes]
        self.levels = nn.ModuleList(
            CodePrior(k, channels, layers, kernel_size, cond_codes=num_codes[i - 1] if i else 0)
            for i, k in enumerate(num_codes)
        )

    @classmethod
    def from_config(cls, observation_shape, cfg: ModelConfig, likelihood=None) -> CodeMapPrior:
        """The prior for code canvases of ``observation_shape`` = (L, H, W): level l's map sits
        in the top-left corner of channel l, the last level fills (H, W) and each level above
        it is half the size of the one below (rounded down), as in VQ-VAE-2; ``codebook_size``
        codes per level. ``likelihood`` is unused (the codes' softmax is the likelihood)."""
        levels, h, w = observation_shape
        shapes = [(h >> (levels - 1 - i), w >> (levels - 1 - i)) for i in range(levels)]
        return cls(
            [cfg.codebook_size] * levels,
            shapes,
            channels=cfg.prior_channels,
            layers=cfg.prior_layers,
            kernel_size=cfg.prior_kernel,
        )

    def split(self, canvas: Tensor) -> list[Tensor]:
        """A batch of code canvases (N, L, H, W), any dtype, as L index maps (N, h_l, w_l)."""
        return [canvas[:, i, :h, :w].long() for i, (h, w) in enumerate(self.shapes)]

    def nll(self, codes: list[Tensor]) -> Tensor:
        """-log p(codes) per example, (N,), nats summed over levels and positions."""
        total = 0
        for i, (prior, c) in enumerate(zip(self.levels, codes, strict=True)):
            total = total - prior.log_prob(c, codes[i - 1] if i else None)
        return total

    def positions(self) -> int:
        return sum(h * w for h, w in self.shapes)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> list[Tensor]:
        """``n`` code maps per level, each level drawn given the one above it."""
        out: list[Tensor] = []
        for prior, shape in zip(self.levels, self.shapes, strict=True):
            out.append(prior.sample(n, shape, out[-1] if out else None, generator))
        return out
