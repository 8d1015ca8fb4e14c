"""The decoder's distribution p(x|z), one class per likelihood, registered by name.

A decoder outputs *likelihood parameters* (a tensor shaped like the images); a likelihood
turns them into log-densities and images. Every likelihood gives

- ``log_prob(x, params) -> (N,)``: log p(x|z) in nats, summed over channels and pixels;
- ``mean(params)``: the mean image in [0, 1] (what traversals and reconstructions show);
- ``sample(params, generator)``: one image drawn from p(x|z).

``ModelConfig.likelihood`` names the class (``@register_likelihood("bernoulli")``);
:func:`from_config` builds it from the model settings through its ``from_config`` classmethod,
so a likelihood with settings of its own reads them there and nowhere else.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from untwine.models.gaussian import LOG_2PI
from untwine.registry import LIKELIHOODS, register_likelihood

if TYPE_CHECKING:
    from untwine.config import ModelConfig


class Likelihood:
    """Base class: p(x|z) given the decoder's output ``params`` (N, C, H, W)."""

    #: the registered name (set by each subclass, equal to its ``@register_likelihood`` name)
    name: str

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> Likelihood:
        """The likelihood for the model settings ``cfg`` (override to read settings)."""
        return cls()

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """log p(x|z) summed over every dimension of an image, (N,), nats."""
        raise NotImplementedError

    def mean(self, params: Tensor) -> Tensor:
        """E[x|z], images in [0, 1], shaped like ``params``."""
        raise NotImplementedError

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One draw x ~ p(x|z) per row of ``params``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


@register_likelihood("bernoulli")
class Bernoulli(Likelihood):
    """Independent Bernoulli pixels with logits ``params``: the standard choice for binary
    images and, as a cross-entropy, for grey levels in [0, 1] (Kingma & Welling 2014, app. C.1).
    For non-binary x it is not a normalised density over [0, 1]; its values are still the
    summed binary cross-entropy the field reports."""

    name = "bernoulli"

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        bce = F.binary_cross_entropy_with_logits(params, x, reduction="none")
        return -bce.flatten(1).sum(dim=1)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.bernoulli(torch.sigmoid(params), generator=generator)


@register_likelihood("gaussian")
class Gaussian(Likelihood):
    """Independent Gaussian pixels with mean sigmoid(``params``) and a fixed standard deviation
    ``scale`` (``ModelConfig.gaussian_scale``): -log p = ((x - m) / s)^2 / 2 + log s + log(2 pi) / 2
    per pixel. A density over the real line, so its values are comparable across models only
    at the same scale."""

    name = "gaussian"

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = float(scale)

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> Gaussian:
        return cls(cfg.gaussian_scale)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        s = self.scale
        nll = 0.5 * ((x - torch.sigmoid(params)) / s) ** 2 + math.log(s) + 0.5 * LOG_2PI
        return -nll.flatten(1).sum(dim=1)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        mean = torch.sigmoid(params)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + self.scale * eps

    def __repr__(self) -> str:
        return f"Gaussian(scale={self.scale})"


def from_config(cfg: ModelConfig) -> Likelihood:
    """The likelihood ``cfg.likelihood`` names, built from the model settings ``cfg``."""
    return LIKELIHOODS.get(cfg.likelihood).from_config(cfg)
