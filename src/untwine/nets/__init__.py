"""Encoder/decoder networks, registered by name (``@register_network``).

A network factory takes ``(observation_shape, z_dim, out_channels)`` and returns
``(encoder, decoder)``: the encoder maps (N, C, H, W) to (N, 2 * z_dim) (posterior means then
log-variances); the decoder maps (N, z_dim) to (N, out_channels, H, W) likelihood parameters.
A factory that takes one image size only says so in its ``image_size`` attribute ((H, W));
one without it takes any size. The network registry imports the built-in modules
(``conv64``, ``mlp``, ``mlp200``) on first lookup.

``network: auto`` (the default) is resolved by :func:`choose` from a method's list of its
papers' networks (``Objective.networks``), before a run starts, and config.yaml records the
network chosen.
"""

from __future__ import annotations

from collections.abc import Sequence

from untwine.errors import ConfigError
from untwine.registry import NETWORKS, register_network

__all__ = ["AUTO", "DEFAULT", "NETWORKS", "build", "choose", "fits", "register_network"]

#: the setting that asks for the method's own choice
AUTO = "auto"
#: the networks of the papers behind the Gaussian-family methods, in order of preference: the
#: convolutional net of Higgins et al. (2017) and Burgess et al. (2018) for 64x64 images, the
#: one-stochastic-layer MLP of the VAE and IWAE papers' MNIST experiments (Burda et al. 2016,
#: 28x28) for any other size
DEFAULT = ("conv64", "mlp200")


def fits(name: str, observation_shape: Sequence[int]) -> bool:
    """Whether network ``name`` takes images of shape (C, H, W)."""
    size = getattr(NETWORKS.get(name), "image_size", None)
    return size is None or tuple(observation_shape[1:]) == tuple(size)


def choose(preferred: Sequence[str], observation_shape: Sequence[int]) -> str:
    """The first of ``preferred`` that takes images of ``observation_shape``."""
    for name in preferred:
        if fits(name, observation_shape):
            return name
    raise ConfigError(
        f"none of the networks {', '.join(preferred)} takes images of shape "
        f"{tuple(observation_shape)}; name one with --network ({', '.join(NETWORKS)})"
    )


def build(name: str, observation_shape: tuple[int, int, int], z_dim: int, out_channels: int):
    """Build the (encoder, decoder) pair registered as ``name`` (``auto``: :data:`DEFAULT`'s
    choice for the shape)."""
    if name == AUTO:
        name = choose(DEFAULT, observation_shape)
    if not fits(name, observation_shape):
        size = "x".join(map(str, NETWORKS.get(name).image_size))
        raise ConfigError(
            f"network {name!r} needs {size} images, the dataset has {tuple(observation_shape)}"
        )
    return NETWORKS.get(name)(observation_shape, z_dim, out_channels)
