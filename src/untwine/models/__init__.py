"""Probabilistic wrappers around the networks."""

from untwine.models.vae import VAE, Posterior, log_normal

__all__ = ["VAE", "Posterior", "log_normal"]
