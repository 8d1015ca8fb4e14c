"""The decoder's distribution p(x|z), one class per likelihood, registered by name.

A decoder outputs *likelihood parameters* (a tensor shaped like the images); a likelihood
turns them into log-densities and images. Every likelihood gives

- ``log_prob(x, params) -> (N,)``: log p(x|z) in nats, summed over channels and pixels;
- ``mean(params)``: the mean image in [0, 1] (what traversals and reconstructions show);
- ``sample(params, generator)``: one image drawn from p(x|z).

``ModelConfig.likelihood`` names the class (``@register_likelihood("bernoulli")``);
:func:`from_config` builds it from the model settings through its ``from_config`` classmethod,
so a likelihood with settings of its own reads them there and nowhere else.

For images with L grey levels (8-bit: L = 256; ``ModelConfig.levels``), x arrives as floats
on the grid k / (L - 1). ``logistic`` (a discretised logistic) and ``categorical`` (a softmax
over the L values) are probabilities of the discrete data; ``dequantised_gaussian`` is the
uniform-dequantisation lower bound of a Gaussian density on y = (x + u) / L.
The discretised logistic is the one to use for 8-bit
data: 2 outputs per subpixel where the categorical needs L (a 128x smaller decoder head and
logit tensor at L = 256: 100 28x28 images are 80 MB of float32 logits, times k samples for
IWAE), and it knows that neighbouring grey levels are alike, which the categorical must learn
value by value.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor

from untwine.models.normal import LOG_2PI
from untwine.registry import LIKELIHOODS, register_likelihood

if TYPE_CHECKING:
    from untwine.config import ModelConfig


class Likelihood:
    """Base class: p(x|z) given the decoder's output ``params`` (N, C, H, W)."""

    #: the registered name (set by each subclass, equal to its ``@register_likelihood`` name)
    name: str
    #: how many values per subpixel log_prob gives probabilities of (Bernoulli: 2); None for
    #: a density, whose bits/dim need dequantisation (:mod:`untwine.likelihood.bits`)
    levels: int | None = None
    #: decoder outputs per subpixel (the decoder has C * this many output channels)
    params_per_subpixel: int = 1

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
    levels = 2

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        if torch.is_grad_enabled() and params.requires_grad:
            bce = F.binary_cross_entropy_with_logits(params, x, reduction="none")
            return -bce.flatten(1).sum(dim=1)
        return _bernoulli_log_prob_no_grad(x, params)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.bernoulli(torch.sigmoid(params), generator=generator)


#: |logit| beyond which exp(-|logit|) would leave float32's normal range (e^-80 = 1.8e-35);
#: the terms it drops are below 1e-34 nats per pixel.
_TAIL_LOGIT = 80.0
#: below this, log1p(e) is taken as e: the error, under e^2 / 2, is below 5e-9 nats per pixel
_TAIL_LINEAR = 1e-4


def _bernoulli_log_prob_no_grad(x: Tensor, logits: Tensor) -> Tensor:
    """x * l - softplus(l) summed per image, for evaluation (the importance-sampled log p(x)
    calls it for every one of k samples). softplus(l) = max(l, 0) + log1p(exp(-|l|)), with the
    exponent clipped at -80 and log1p(e) taken as e below 1e-4: a trained decoder's logits
    for background pixels reach -200, where exp underflows to subnormals and log1p takes a
    slow path for tiny arguments; ``binary_cross_entropy_with_logits`` then ran 4x slower
    than on moderate logits (32.6 vs 6.7 us per 64x64 image, 2 threads). This form takes
    12.3 us on those logits and agrees with float64 to 1.4e-5 nats per image; its gradient
    at l = 0 is not sigmoid's, so training keeps the library's loss."""
    e = logits.abs().clamp_(max=_TAIL_LOGIT).neg_().exp_()
    tail = torch.where(e < _TAIL_LINEAR, e, e.add(1.0).log_())
    nll = torch.addcmul(logits.clamp(min=0).add_(tail), x, logits, value=-1)
    return nll.flatten(1).sum(dim=1).neg_()


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


@register_likelihood("logistic")
class DiscretisedLogistic(Likelihood):
    """One logistic per subpixel, discretised into L bins (Salimans et al. 2017, eq. 2, one
    component): P(x) = F((x + h - m) / s) - F((x - h - m) / s), F the logistic CDF, h half a
    bin, the end bins extended to -inf and +inf so the L probabilities sum to one. Parameters
    (mean, log scale) per subpixel: a probability of the discrete data, no dequantisation."""

    name = "logistic"
    params_per_subpixel = 2

    def __init__(self, levels: int = 256) -> None:
        self.levels = levels

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> DiscretisedLogistic:
        return cls(cfg.levels)

    def split(self, params: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_scale = params.chunk(2, dim=1)
        return torch.sigmoid(mean), log_scale.clamp(min=-7.0)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        mean, log_scale = self.split(params)
        half = 0.5 / (self.levels - 1)
        inv_s = torch.exp(-log_scale)
        upper = (x + half - mean) * inv_s
        lower = (x - half - mean) * inv_s
        inf = torch.tensor(float("inf"), dtype=upper.dtype, device=upper.device)
        top = x >= 1.0 - half  # the last bin extends to +inf
        bottom = x <= half  # the first to -inf
        upper = torch.where(top, inf, upper)
        lower = torch.where(bottom, -inf, lower)
        return _log_sigmoid_diff(upper, lower).flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return self.split(params)[0]  # the logistic's mode and (up to the end bins) mean

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        mean, log_scale = self.split(params)
        u = torch.rand(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        y = mean + torch.exp(log_scale) * (torch.log(u) - torch.log1p(-u))
        return torch.round(y.clamp(0, 1) * (self.levels - 1)) / (self.levels - 1)


@register_likelihood("categorical")
class Categorical(Likelihood):
    """A free softmax over the L grey levels of each subpixel; parameters (N, L*C, H, W)."""

    name = "categorical"

    def __init__(self, levels: int = 256) -> None:
        self.levels = levels
        self.params_per_subpixel = levels

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> Categorical:
        return cls(cfg.levels)

    def logits(self, params: Tensor) -> Tensor:
        n, _, h, w = params.shape
        return params.view(n, self.levels, -1, h, w)  # (N, L, C, H, W)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        index = torch.round(x * (self.levels - 1)).long().unsqueeze(1)
        logp = torch.log_softmax(self.logits(params), dim=1).gather(1, index)
        return logp.flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        values = torch.arange(self.levels, dtype=params.dtype, device=params.device)
        probs = torch.softmax(self.logits(params), dim=1)
        return torch.einsum("nlchw,l->nchw", probs, values) / (self.levels - 1)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        probs = torch.softmax(self.logits(params), dim=1).movedim(1, -1)
        draws = torch.multinomial(probs.reshape(-1, self.levels), 1, generator=generator)
        return draws.view(probs.shape[:-1]).to(params.dtype) / (self.levels - 1)


@register_likelihood("dequantised_gaussian")
class DequantisedGaussian(Likelihood):
    """A Gaussian density N(y; m, s^2) per subpixel (learned mean m and scale s) on uniformly
    dequantised data y = (x + u) / L, u ~ U[0, 1), scored as the bound it gives on the
    discrete data: log_prob = E_u[log p(y)] - D ln L <= log P(x) (Jensen; see
    :mod:`untwine.likelihood.bits`).

    The expectation over u is exact, not sampled: with c = (x + 1/2) / L the cell's centre,
    E_u[(y - m)^2] = (c - m)^2 + 1 / (12 L^2), so training and evaluation are deterministic
    and the bound has no Monte Carlo noise. Being a bound on a log-probability of the
    discrete data, its bits/dim need no further correction (``levels`` is L)."""

    name = "dequantised_gaussian"
    params_per_subpixel = 2

    def __init__(self, levels: int = 256) -> None:
        self.levels = levels

    @classmethod
    def from_config(cls, cfg: ModelConfig) -> DequantisedGaussian:
        return cls(cfg.levels)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        mean, log_scale = params.chunk(2, dim=1)
        mean, log_scale = torch.sigmoid(mean), log_scale.clamp(min=-9.0)
        big_l = self.levels
        centre = (torch.round(x * (big_l - 1)) + 0.5) / big_l
        sq = (centre - mean) ** 2 + 1.0 / (12 * big_l * big_l)
        per = -0.5 * (sq * torch.exp(-2 * log_scale) + LOG_2PI) - log_scale - math.log(big_l)
        return per.flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params.chunk(2, dim=1)[0])

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        mean, log_scale = params.chunk(2, dim=1)
        eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return torch.sigmoid(mean) + torch.exp(log_scale.clamp(min=-9.0)) * eps


def from_config(cfg: ModelConfig) -> Likelihood:
    """The likelihood ``cfg.likelihood`` names, built from the model settings ``cfg``."""
    return LIKELIHOODS.get(cfg.likelihood).from_config(cfg)


def _log_sigmoid_diff(a: Tensor, b: Tensor) -> Tensor:
    """log(sigmoid(a) - sigmoid(b)) for a > b, accurate in both tails.

    sigmoid(a) - sigmoid(b) = sigmoid(-b) - sigmoid(-a); evaluate on the side where both
    terms are small, then log(p - q) = log p + log(1 - q / p).
    """
    flip = (a + b) > 0
    hi = torch.where(flip, -b, a)
    lo = torch.where(flip, -a, b)
    lp, lq = F.logsigmoid(hi), F.logsigmoid(lo)
    return lp + torch.log(-torch.expm1(lq - lp).clamp(max=-1e-30))
