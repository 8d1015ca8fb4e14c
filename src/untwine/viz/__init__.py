"""Pictures of a trained model: latent traversals, reconstructions, plots."""

from untwine.viz.traversals import kl_per_dimension, plot_reconstructions, plot_traversals

__all__ = ["kl_per_dimension", "plot_reconstructions", "plot_traversals"]
