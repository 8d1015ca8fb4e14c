"""Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN
Decoders"): an autoregressive network over a 2-D map in raster order.

The output at position (i, j) depends only on the input at positions before it in raster
order: rows above, and the same row to the left. Two stacks remove the blind spot of the
original masked PixelCNN (section 2.2):

- the vertical stack sees every column of the rows up to and including row i (a (k//2 + 1) x k
  convolution padded above); it reaches the horizontal stack only shifted down by one row, so
  the horizontal stack at row i gets information from rows < i;
- the horizontal stack sees the same row up to column j (a 1 x (k//2 + 1) convolution padded
  on the left); in the first layer it is shifted right by one so that position j does not see
  its own input (mask "A"); later layers may see position j, which already holds only earlier
  inputs (mask "B").

Each layer uses the gated activation tanh(W_f * x + V_f c) * sigmoid(W_g * x + V_g c) (eq. 4),
where c is an optional conditioning input: a per-position map (N, C_c, H, W) of the same size
as the input, or a global vector (N, C_c) broadcast over positions, both through one 1x1
convolution (a vector is a 1x1 map). The horizontal stack has residual connections (after the
first layer, whose residual would leak the current input) and skip connections summed into the
output head.

Receptive field: a layer whose kernel reaches n = k // 2 positions widens what the output sees
by n rows up and n columns left (and to either side, in the rows above); the first layer alone
already sees the pixel above and the one to the left. With per-layer reaches n_1..n_L the
output at (i, j) sees R = 1 + sum n_l rows above (R - 1 columns to either side of j) and R
columns to its left in row i, and nothing further.
``receptive_field=R`` restricts a network to that R (each layer takes what is left of it, up
to k // 2; later layers become 1x1) while keeping its depth: the Variational Lossy
Autoencoder's (Chen et al. 2017) local decoder, which must leave global structure to z.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _down(x: Tensor) -> Tensor:
    """Shift a map down by one row (zeros enter at the top)."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1, :]


def _right(x: Tensor) -> Tensor:
    """Shift a map right by one column (zeros enter on the left)."""
    return F.pad(x, (1, 0, 0, 0))[:, :, :, :-1]


def _gate(x: Tensor) -> Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class GatedLayer(nn.Module):
    """One gated layer of both stacks; ``first`` makes the horizontal stack exclude the
    current position."""

    def __init__(
        self, channels: int, kernel_size: int, cond_channels: int, first: bool = False
    ) -> None:
        super().__init__()
        n = kernel_size // 2
        self.n, self.first = n, first
        self.v_conv = nn.Conv2d(channels, 2 * channels, (n + 1, kernel_size))
        self.h_conv = nn.Conv2d(channels, 2 * channels, (1, n + 1))
        self.v_to_h = nn.Conv2d(2 * channels, 2 * channels, 1)
        self.h_out = nn.Conv2d(channels, channels, 1)
        self.skip = nn.Conv2d(channels, channels, 1)
        self.cond = nn.Conv2d(cond_channels, 4 * channels, 1) if cond_channels else None

    def forward(self, v: Tensor, h: Tensor, cond: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        n = self.n
        # vertical: rows i-n..i, columns j-n..j+n
        v_pre = self.v_conv(F.pad(v, (n, n, n, 0)))
        # horizontal: columns j-n..j of row i (first layer: j-n-1..j-1)
        h_in = _right(h) if self.first else h
        h_pre = self.h_conv(F.pad(h_in, (n, 0, 0, 0))) + self.v_to_h(_down(v_pre))
        if self.cond is not None and cond is not None:
            cv, ch = self.cond(cond).chunk(2, dim=1)
            v_pre, h_pre = v_pre + cv, h_pre + ch
        v_new = _gate(v_pre)
        gated = _gate(h_pre)
        skip = self.skip(gated)
        h_new = self.h_out(gated)
        if not self.first:
            h_new = h_new + h
        return v_new, h_new, skip


def layer_reaches(layers: int, kernel_size: int, receptive_field: int | None) -> list[int]:
    """How many positions each of ``layers`` layers reaches (kernel 2n + 1) so that the network
    sees ``receptive_field`` rows up and columns left: greedily up to ``kernel_size // 2`` per
    layer, then 1x1 layers. None: every layer reaches ``kernel_size // 2``."""
    n = kernel_size // 2
    if receptive_field is None:
        return [n] * layers
    if receptive_field < 1:
        raise ValueError(f"receptive_field must be >= 1 (got {receptive_field})")
    if receptive_field > 1 + layers * n:
        raise ValueError(
            f"receptive_field {receptive_field} needs more than {layers} layers of kernel "
            f"{kernel_size} (at most {1 + layers * n})"
        )
    left, out = receptive_field - 1, []
    for _ in range(layers):
        out.append(min(n, left))
        left -= out[-1]
    return out


class GatedPixelCNN(nn.Module):
    """Maps an input map (N, in_channels, H, W) to outputs (N, out_channels, H, W) whose value
    at each position depends only on earlier positions' inputs (raster order) and on ``cond``.

    ``cond_channels`` > 0 adds a conditioning input; ``receptive_field`` (R >= 1) limits how
    far back the output sees (see the module docstring; None: as far as the layers reach).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        channels: int = 64,
        layers: int = 8,
        kernel_size: int = 5,
        cond_channels: int = 0,
        receptive_field: int | None = None,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError("kernel_size must be odd")
        self.cond_channels = cond_channels
        self.inp = nn.Conv2d(in_channels, channels, 1)  # per position: causal
        reaches = layer_reaches(layers, kernel_size, receptive_field)
        self.receptive_field = 1 + sum(reaches)
        self.layers = nn.ModuleList(
            GatedLayer(channels, 2 * n + 1, cond_channels, first=(i == 0))
            for i, n in enumerate(reaches)
        )
        self.head = nn.Sequential(
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1),
            nn.ReLU(),
            nn.Conv2d(channels, out_channels, 1),
        )

    def forward(self, x: Tensor, cond: Tensor | None = None) -> Tensor:
        if cond is not None and cond.ndim == 2:
            cond = cond[:, :, None, None]  # a global vector is a 1x1 map, broadcast
        # the vertical stack may see row i itself: it reaches the output only shifted down
        v = h = self.inp(x)
        skips = 0
        for layer in self.layers:
            v, h, s = layer(v, h, cond)
            skips = skips + s
        return self.head(skips)
