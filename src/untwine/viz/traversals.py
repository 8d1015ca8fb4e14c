"""Latent traversals and reconstructions (Higgins et al. 2017, fig. 7 style).

A traversal varies one latent dimension at a time over a range while the others stay at a
seed image's posterior mean, and decodes each point; one row per dimension, rows ordered by
the dimension's average KL (the informative dimensions first, collapsed ones last).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from untwine.files import atomic_write_bytes  # noqa: E402


def kl_per_dimension(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Average KL(q(z_j|x) || N(0, 1)) per dimension over the given posteriors, (D,), nats."""
    return (0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)).mean(axis=0)


def traversal_grid(
    run, seed_image: np.ndarray, values: np.ndarray, order: np.ndarray
) -> np.ndarray:
    """Decoded images (len(order), len(values), C, H, W): row r varies dimension order[r]."""
    mu, _ = run.encode(seed_image[None])
    d = len(order)
    z = np.repeat(mu, d * len(values), axis=0).reshape(d, len(values), -1)
    for r, dim in enumerate(order):
        z[r, :, dim] = values
    images = run.decode(z.reshape(d * len(values), -1))
    return images.reshape(d, len(values), *images.shape[1:])


def mosaic(grid: np.ndarray, pad: int = 2) -> np.ndarray:
    """(R, K, C, H, W) images in [0, 1] -> one (R*(H+pad), K*(W+pad), C) picture."""
    r, k, c, h, w = grid.shape
    out = np.ones((r, h + pad, k, w + pad, c), np.float32)
    out[:, :h, :, :w, :] = grid.transpose(0, 3, 1, 4, 2)
    return out.reshape(r * (h + pad), k * (w + pad), c)


def _save(fig, path: Path) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _show(ax, picture: np.ndarray) -> None:
    if picture.shape[-1] == 1:
        ax.imshow(picture[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.clip(picture, 0, 1), interpolation="nearest")


def plot_traversals(
    run,
    path: str | Path,
    *,
    images: np.ndarray | None = None,
    seed_index: int = 0,
    num_values: int = 9,
    limit: float = 2.0,
    num_kl_images: int = 1024,
    seed: int = 0,
) -> Path:
    """Write a traversal grid PNG for ``run``: one row per latent dimension, ordered by KL.

    Each row varies one dimension over ``linspace(-limit, limit, num_values)`` (in prior
    standard deviations) with the others at the seed image's posterior mean. ``images``
    (uint8 or float, N x C x H x W) supply the seed image and the KL estimate; by default
    ``num_kl_images`` random images of the run's dataset.
    """
    if images is None:
        data = run.dataset()
        idx = np.random.default_rng(seed).choice(
            len(data), size=min(num_kl_images, len(data)), replace=False
        )
        images = data.images(np.sort(idx))
    mu, logvar = run.encode(images)
    kl = kl_per_dimension(mu, logvar)
    order = np.argsort(-kl)
    values = np.linspace(-limit, limit, num_values, dtype=np.float32)
    grid = traversal_grid(run, images[seed_index], values, order)
    picture = mosaic(grid)

    h = grid.shape[3] + 2
    fig, ax = plt.subplots(figsize=(num_values * 0.9 + 1.6, len(order) * 0.9 + 0.6))
    _show(ax, picture)
    ax.set_yticks([r * h + h / 2 for r in range(len(order))])
    ax.set_yticklabels([f"z{d}  KL {kl[d]:.2f}" for d in order], fontsize=8)
    w = grid.shape[4] + 2
    ax.set_xticks([c * w + w / 2 for c in range(num_values)])
    ax.set_xticklabels([f"{v:+.1f}" for v in values], fontsize=7)
    ax.set_title(f"latent traversals ({run.config.method.name}, step {run.step})", fontsize=9)
    ax.tick_params(length=0)
    return _save(fig, Path(path))


def plot_reconstructions(
    run, path: str | Path, images: np.ndarray | None = None, n: int = 12, seed: int = 0
) -> Path:
    """Write a PNG with originals (top row) above their reconstructions (bottom row)."""
    if images is None:
        data = run.dataset()
        idx = np.random.default_rng(seed).choice(len(data), size=n, replace=False)
        images = data.images(np.sort(idx))
    originals = run._as_float(images).numpy()
    recons = run.reconstruct(images)
    picture = mosaic(np.stack([originals, recons]))
    fig, ax = plt.subplots(figsize=(len(originals) * 0.9, 2.2))
    _show(ax, picture)
    h = originals.shape[2] + 2
    ax.set_yticks([h / 2, h * 1.5])
    ax.set_yticklabels(["original", "reconstruction"], fontsize=8)
    ax.set_xticks([])
    ax.tick_params(length=0)
    return _save(fig, Path(path))
