"""The standard convolutional encoder/decoder for 64x64 images.

Architecture of Higgins et al. (2017, beta-VAE, appendix table 1) and Burgess et al. (2018):
four 4x4 stride-2 convolutions (32, 32, 64, 64 channels), FC 256, FC 2z, ReLU; the decoder
mirrors it with transposed convolutions. ``conv64-dlib`` is the variant released with
disentanglement_lib (Locatello et al. 2019), whose encoder layers 3-4 use 2x2 kernels.
"""

from __future__ import annotations

from torch import nn

from untwine.registry import register_network

# The ReLUs work in place: each follows a layer whose backward needs only that layer's input,
# and sparing the activation's copy made the bf16 decoder ~5 % faster per call (300 rows).


def _encoder(channels: int, z_dim: int, kernels: tuple[int, int, int, int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    size, c_in = 64, channels
    for c_out, k in zip((32, 32, 64, 64), kernels, strict=True):
        # "same"-style padding for 4x4/2 (64 -> 32 ...); 2x2/2 needs none.
        pad = 1 if k == 4 else 0
        layers += [nn.Conv2d(c_in, c_out, k, stride=2, padding=pad), nn.ReLU(inplace=True)]
        size, c_in = size // 2, c_out
    layers += [
        nn.Flatten(),
        nn.Linear(64 * size * size, 256),
        nn.ReLU(inplace=True),
        nn.Linear(256, 2 * z_dim),
    ]
    return nn.Sequential(*layers)


def _decoder(z_dim: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(z_dim, 256),
        nn.ReLU(inplace=True),
        nn.Linear(256, 64 * 4 * 4),
        nn.ReLU(inplace=True),
        nn.Unflatten(1, (64, 4, 4)),
        nn.ConvTranspose2d(64, 64, 4, stride=2, padding=1),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1),
        nn.ReLU(inplace=True),
        nn.ConvTranspose2d(32, out_channels, 4, stride=2, padding=1),
    )


@register_network("conv64")
def conv64(observation_shape, z_dim: int, out_channels: int):
    """Paper version: 4x4 kernels in all four encoder convolutions."""
    return _encoder(observation_shape[0], z_dim, (4, 4, 4, 4)), _decoder(z_dim, out_channels)


@register_network("conv64-dlib")
def conv64_dlib(observation_shape, z_dim: int, out_channels: int):
    """disentanglement_lib's released variant: 2x2 kernels in encoder layers 3 and 4."""
    return _encoder(observation_shape[0], z_dim, (4, 4, 2, 2)), _decoder(z_dim, out_channels)


# the size checked by untwine.nets.build before a factory is called
conv64.image_size = conv64_dlib.image_size = (64, 64)
