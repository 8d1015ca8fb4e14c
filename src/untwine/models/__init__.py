"""Latent-variable models, one module per family of latent, and the likelihoods p(x|z).

How the pieces fit, and how to add a family, is in :mod:`untwine.models.base`. In short:
``build(family, observation_shape, model_config)`` makes the model an objective asks for
(``Objective.family``) from the ``MODELS`` registry, with the likelihood ``model_config``
names (``LIKELIHOODS``). Families: ``"gaussian"`` (:mod:`untwine.models.gaussian`);
``"codebook"`` and ``"codebook2"`` (VQ-VAE and VQ-VAE-2, :mod:`untwine.models.codebook`);
``"ibp"`` (IBP-VAE, :mod:`untwine.models.ibp`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from untwine.models import gaussian, ibp, likelihoods, pixelcnn_vae  # noqa: F401  (registration)
from untwine.models.base import LatentModel
from untwine.models.gaussian import GaussianVAE
from untwine.models.likelihoods import Likelihood
from untwine.models.normal import DiagonalGaussian
from untwine.registry import LIKELIHOODS, MODELS, register_likelihood, register_model

if TYPE_CHECKING:
    from untwine.config import ModelConfig


def build(family: str, observation_shape: tuple[int, int, int], cfg: ModelConfig) -> LatentModel:
    """The untrained model of ``family`` for images of shape (C, H, W), with the settings and
    likelihood of ``cfg``."""
    likelihood = likelihoods.from_config(cfg)
    return MODELS.get(family).from_config(tuple(observation_shape), cfg, likelihood)


__all__ = [
    "LIKELIHOODS",
    "MODELS",
    "DiagonalGaussian",
    "GaussianVAE",
    "LatentModel",
    "Likelihood",
    "build",
    "register_likelihood",
    "register_model",
]
