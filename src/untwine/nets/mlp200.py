"""The IWAE paper's one-stochastic-layer MNIST network (Burda et al. 2015, section 5).

Encoder 784-200-200-2z and decoder z-200-200-784, tanh hidden units (z = 50 in the paper);
for any (C, H, W) input the 784 becomes C*H*W.
"""

from __future__ import annotations

from torch import nn

from untwine.registry import register_network


@register_network("mlp200")
def mlp200(observation_shape, z_dim: int, out_channels: int):
    c, h, w = observation_shape
    encoder = nn.Sequential(
        nn.Flatten(),
        nn.Linear(c * h * w, 200),
        nn.Tanh(),
        nn.Linear(200, 200),
        nn.Tanh(),
        nn.Linear(200, 2 * z_dim),
    )
    decoder = nn.Sequential(
        nn.Linear(z_dim, 200),
        nn.Tanh(),
        nn.Linear(200, 200),
        nn.Tanh(),
        nn.Linear(200, out_channels * h * w),
        nn.Unflatten(1, (out_channels, h, w)),
    )
    return encoder, decoder
