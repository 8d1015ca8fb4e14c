"""Likelihoods p(x|z) for images with L grey levels per subpixel (8-bit: L = 256).

Each takes decoder parameters of shape (N, P*C, H, W), P parameters per subpixel, and images
x as floats in [0, 1] on the grid k / (L - 1) (how the batch stream delivers them), and
returns log p(x|z) summed over subpixels, (N,) nats.

- :class:`DiscretisedLogistic` (Salimans et al. 2017, PixelCNN++, eq. 2, one component):
  P(x) = F((x + h - m) / s) - F((x - h - m) / s), F the logistic CDF, h half a bin, with the
  end bins extended to -inf and +inf so that the L probabilities sum to one. Two parameters
  per subpixel.
- :class:`Categorical`: a free softmax over the L values; L parameters per subpixel.
- :class:`DequantisedGaussian`: a Gaussian density (learned mean and scale per subpixel) on
  uniformly dequantised images y = (x + u) / L; its log-density bounds log P(x) + D ln L from
  below (see :mod:`untwine.likelihood.bits`). ``discrete = False``: bits/dim add log2 L.

Why the discretised logistic is the default for 8-bit data: it is a proper probability of the
discrete data (no dequantisation bound), needs 2 outputs per subpixel where the categorical
needs 256 (a 128x smaller decoder head and logit tensor: 100 28x28 images x 256 logits is
80 MB of float32 per batch, times k samples for IWAE), and it knows that neighbouring grey
levels are alike, which the categorical must learn value by value.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


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


class DiscretisedLogistic:
    """One logistic per subpixel, discretised into L bins; parameters (mean, log scale)."""

    discrete = True
    params_per_subpixel = 2

    def __init__(self, levels: int = 256) -> None:
        self.levels = levels

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
        return self.split(params)[0]


class Categorical:
    """A softmax over the L grey levels of each subpixel; parameters (N, L*C, H, W)."""

    discrete = True

    def __init__(self, levels: int = 256) -> None:
        self.levels = levels
        self.params_per_subpixel = levels

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


class DequantisedGaussian:
    """N(y; mean, exp(log_scale)^2) per subpixel for dequantised y = (x + u) / L in [0, 1)."""

    discrete = False
    params_per_subpixel = 2

    def __init__(self, levels: int = 256) -> None:
        self.levels = levels

    def log_prob(self, y: Tensor, params: Tensor) -> Tensor:
        mean, log_scale = params.chunk(2, dim=1)
        mean, log_scale = torch.sigmoid(mean), log_scale.clamp(min=-9.0)
        z = (y - mean) * torch.exp(-log_scale)
        return (-0.5 * (z * z + math.log(2 * math.pi)) - log_scale).flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(params.chunk(2, dim=1)[0])
