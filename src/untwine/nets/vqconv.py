"""Convolutional encoder and decoder with residual stacks, as in VQ-VAE (van den Oord et al.
2017, section 4.1): two 4x4 stride-2 convolutions, a 3x3 convolution and a stack of residual
blocks (ReLU, 3x3 convolution, ReLU, 1x1 convolution) in the encoder; the decoder mirrors it
with transposed convolutions. The paper uses 256 hidden channels; the defaults here are the
smaller widths of the common re-implementations (128 hidden, 32 in the residual blocks).

Each 4x4 stride-2 layer halves the size, rounding down for odd sizes (VQ-VAE-2 on 28x28:
28 -> 14 -> 7 at the bottom, 7 -> 3 at the top), and the decoder is told the size to return
to, so 64x64 and 28x28 inputs both work.
"""

from __future__ import annotations

from torch import Tensor, nn


class ResidualStack(nn.Module):
    """``blocks`` residual blocks x + conv1x1(relu(conv3x3(relu(x)))), then a ReLU."""

    def __init__(self, channels: int, hidden: int, blocks: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.ReLU(),
                nn.Conv2d(channels, hidden, 3, padding=1),
                nn.ReLU(),
                nn.Conv2d(hidden, channels, 1),
            )
            for _ in range(blocks)
        )

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = x + block(x)
        return x.relu()


class Encoder(nn.Module):
    """(N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride); stride 2 or 4."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int = 128,
        res_hidden: int = 32,
        res_blocks: int = 2,
        stride: int = 4,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for i in range(stride.bit_length() - 1):  # log2(stride) halvings
            last = i == stride.bit_length() - 2
            c_out = hidden if last else hidden // 2
            layers += [nn.Conv2d(c, c_out, 4, stride=2, padding=1), nn.ReLU()]
            c = c_out
        layers += [
            nn.Conv2d(c, hidden, 3, padding=1),
            ResidualStack(hidden, res_hidden, res_blocks),
            nn.Conv2d(hidden, out_channels, 1),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Decoder(nn.Module):
    """(N, in_channels, h, w) -> (N, out_channels, size) with ``stride`` = 2 or 4 upsampling."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        hidden: int = 128,
        res_hidden: int = 32,
        res_blocks: int = 2,
        stride: int = 4,
    ) -> None:
        super().__init__()
        self.inp = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 3, padding=1),
            ResidualStack(hidden, res_hidden, res_blocks),
        )
        ups = stride.bit_length() - 1
        chans = [hidden] + [hidden // 2] * (ups - 1) + [out_channels]
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(chans[i], chans[i + 1], 4, stride=2, padding=1) for i in range(ups)
        )

    def forward(self, z: Tensor, size: tuple[int, int]) -> Tensor:
        h = self.inp(z)
        for i, up in enumerate(self.ups):
            left = len(self.ups) - 1 - i  # halvings between this layer's output and ``size``
            target = tuple(_halve(s, left) for s in size)
            h = up(h, output_size=target)
            if left:
                h = h.relu()
        return h


def _halve(size: int, times: int) -> int:
    for _ in range(times):
        size //= 2
    return size
