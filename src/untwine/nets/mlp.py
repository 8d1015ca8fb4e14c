"""The fully connected encoder/decoder Chen et al. (2018, beta-TCVAE) used for dSprites.

Encoder 4096-1200-1200-2z with ReLU; decoder z-1200-1200-1200-4096 with tanh.
"""

from __future__ import annotations

from torch import nn

from untwine.registry import register_network


@register_network("mlp")
def mlp(observation_shape, z_dim: int, out_channels: int):
    c, h, w = observation_shape
    n_in = c * h * w
    encoder = nn.Sequential(
        nn.Flatten(),
        nn.Linear(n_in, 1200),
        nn.ReLU(),
        nn.Linear(1200, 1200),
        nn.ReLU(),
        nn.Linear(1200, 2 * z_dim),
    )
    decoder = nn.Sequential(
        nn.Linear(z_dim, 1200),
        nn.Tanh(),
        nn.Linear(1200, 1200),
        nn.Tanh(),
        nn.Linear(1200, 1200),
        nn.Tanh(),
        nn.Linear(1200, out_channels * h * w),
        nn.Unflatten(1, (out_channels, h, w)),
    )
    return encoder, decoder
