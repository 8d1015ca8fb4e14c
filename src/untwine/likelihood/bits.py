"""Bits per dimension and dequantisation of discrete images.

Image data are discrete: each of the D = C*H*W subpixels takes one of L levels (256 for
8-bit images, 17 for scikit-learn's digits, 2 for binarised MNIST). A model's quality is
-log P(x) / (D ln 2) bits per dimension, with P the probability of the discrete image.

A model with a continuous density p on the unit cube (pixels scaled to [0, 1)) gives a
probability only once the data are dequantised, y = (x + u) / L with u in [0, 1)^D:

- Uniform dequantisation (Theis et al. 2016; Uria et al. 2013): u ~ U[0, 1)^D. Then
  log P(x) >= E_u[log p(y)] - D ln L  (Jensen; P(x) is p integrated over the cell of x,
  whose volume is L^-D). So bits/dim = -E_u[log p(y)] / (D ln 2) + log2 L is an upper
  bound on the model's true bits/dim (+8 for 8-bit data).
- Variational dequantisation (Ho et al. 2019, Flow++ section 3.1): u ~ q(u|x), learned;
  log P(x) >= E_q[log p(y) - log q(u|x)] - D ln L. Again a lower bound on log P(x)
  (upper bound on bits/dim); it is tight when q(u|x) is p's conditional within the cell,
  and it equals the uniform bound when q is uniform (log q = 0).

All log-probabilities are in nats.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def bits_per_dim(log_px: Tensor | float, dims: int, levels: int | None = None) -> Tensor | float:
    """-log P(x) / (D ln 2) for ``log_px`` in nats over ``dims`` dimensions.

    ``levels``: give L when ``log_px`` is a density of data on the unit cube (dequantised
    x / L); its D ln L correction is added (log2 L bits per dimension). ``None`` when
    ``log_px`` is already the probability of the discrete data (Bernoulli on binary data,
    a categorical or discretised-logistic likelihood).
    """
    bpd = -log_px / (dims * math.log(2.0))
    return bpd + math.log2(levels) if levels is not None else bpd


def uniform_dequantise(x: Tensor, levels: int, generator: torch.Generator | None = None) -> Tensor:
    """y = (x + u) / L, u ~ U[0, 1)^D, for integer-valued x in 0..L-1 (any float dtype)."""
    u = torch.rand(x.shape, generator=generator, device=x.device, dtype=torch.float32)
    return (x.float() + u) / levels


class VariationalDequantiser(nn.Module):
    """q(u|x) on [0, 1)^D: u = sigmoid(m(x) + s(x) * e), e ~ N(0, I) (a logistic-normal).

    Ho et al. (2019) use a conditional flow; this is the simplest member of that family (one
    elementwise affine layer then a sigmoid), with ``m`` and ``log s`` from a small conv net on
    the scaled image. log q(u|x) = log N(e) - log s - log sigmoid'(m + s e), by the change of
    variables; E_q[-log q] <= 0 on the unit cube, so the bound can only beat uniform
    dequantisation by matching p's shape within each cell.
    """

    def __init__(self, channels: int, hidden: int = 16) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, hidden, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(hidden, 2 * channels, 3, padding=1),
        )
        nn.init.zeros_(self.net[-1].weight)  # start uniform-like: m = 0, s = 1
        nn.init.zeros_(self.net[-1].bias)

    def forward(
        self, x: Tensor, levels: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """(y, log q(u|x)): y = (x + u) / L for integer-valued x (N, C, H, W), log q (N,)."""
        m, log_s = self.net(x.float() / (levels - 1)).chunk(2, dim=1)
        e = torch.randn(x.shape, generator=generator, device=x.device, dtype=m.dtype)
        a = m + torch.exp(log_s) * e
        u = torch.sigmoid(a)
        # log sigmoid'(a) = log sigmoid(a) + log sigmoid(-a) = -softplus(-a) - softplus(a)
        log_dsig = -F.softplus(-a) - F.softplus(a)
        log_q = -0.5 * (e**2 + math.log(2 * math.pi)) - log_s - log_dsig
        return (x.float() + u) / levels, log_q.flatten(1).sum(1)


def dequantised_log_prob(
    log_density,
    x: Tensor,
    levels: int,
    dequantiser: VariationalDequantiser | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """One-sample lower bound (N,) on log P(x) in nats for a density on the unit cube.

    ``log_density(y) -> (N,)`` is the model's log-density of dequantised images y. Uniform
    dequantisation when ``dequantiser`` is None, else variational (see the module docstring).
    """
    d = x[0].numel()
    if dequantiser is None:
        y, log_q = uniform_dequantise(x, levels, generator), 0.0
    else:
        y, log_q = dequantiser(x, levels, generator)
    return log_density(y) - log_q - d * math.log(levels)
