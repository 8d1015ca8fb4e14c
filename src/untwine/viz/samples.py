"""Pictures of a VQ run's prior: images decoded from codes drawn by its PixelCNN prior."""

from __future__ import annotations

from pathlib import Path

from untwine.train.prior import prior_dir, sample_images
from untwine.viz._figure import image_grid, save_picture


def prior_samples(run: str | Path, n: int = 64, seed: int = 0, out: str | Path | None = None):
    """Write a grid of ``n`` prior samples of VQ run ``run`` to ``out`` (default
    ``<run>/prior/samples.png``) and return its path."""
    picture = image_grid(sample_images(run, n, seed))
    return save_picture(picture, Path(out) if out is not None else prior_dir(run) / "samples.png")
