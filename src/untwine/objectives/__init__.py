"""Training objectives, one file per method, registered by name (``@register_method``)."""

from untwine.objectives import (  # noqa: F401  (registration)
    aae,
    dipvae,
    factorvae,
    ibpvae,
    tcvae,
    vae,
)
from untwine.objectives.base import Objective, Output
from untwine.registry import METHODS, register_method

__all__ = ["METHODS", "Objective", "Output", "register_method"]
