"""Encoder/decoder networks, registered by name (``@register_network``).

A network factory takes ``(observation_shape, z_dim, out_channels)`` and returns
``(encoder, decoder)``: the encoder maps (N, C, H, W) to (N, 2 * z_dim) (posterior means then
log-variances); the decoder maps (N, z_dim) to (N, out_channels, H, W) likelihood parameters.
The network registry imports the built-in modules (``conv64``, ``mlp``) on first lookup.
"""

from untwine.registry import NETWORKS, register_network

__all__ = ["NETWORKS", "build", "register_network"]


def build(name: str, observation_shape: tuple[int, int, int], z_dim: int, out_channels: int):
    """Build the (encoder, decoder) pair registered as ``name``."""
    return NETWORKS.get(name)(observation_shape, z_dim, out_channels)
