"""Shared picture plumbing: image mosaics, panel grids, atomic PNG writes, data URIs.

Every figure in :mod:`untwine.viz` is drawn with matplotlib's Agg backend (files only, no
display needed) and written with :func:`save_figure`, which renders into memory and then
renames into place, so a reader (or the HTML report) never sees half a PNG.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from untwine.files import atomic_write_bytes  # noqa: E402

#: MIME types of the files the report embeds, by suffix.
MIME = {".png": "image/png", ".gif": "image/gif"}


def save_figure(fig: Figure, path: str | Path, dpi: int = 100) -> Path:
    """Render ``fig`` to PNG bytes, close it, and write them atomically to ``path``.

    The ``Software`` text chunk matplotlib adds by default is dropped: it carries a URL and
    a version string, neither of which belongs in a picture of a model.
    """
    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def save_message(path: str | Path, message: str, size: tuple[float, float] = (6.4, 2.0)) -> Path:
    """Write a PNG that only says ``message``: drawn where a plot has nothing to show, so a
    report keeps its layout and says why."""
    fig, ax = plt.subplots(figsize=size)
    ax.text(0.5, 0.5, message, ha="center", va="center")
    ax.set_axis_off()
    return save_figure(fig, path)


def panel_grid(
    n: int, width: float, height: float, max_columns: int = 3, **options
) -> tuple[Figure, np.ndarray]:
    """A figure of ``n`` panels of ``width`` x ``height`` inches, in rows of at most
    ``max_columns``; the unused cells of the last row are hidden. Returns ``(fig, axes)``
    with ``axes`` 2-D (rows, columns); ``options`` go to ``plt.subplots`` (``sharex``...)."""
    columns = min(n, max_columns)
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(width * columns, height * rows), squeeze=False, **options
    )
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    return fig, axes


def mosaic(grid: np.ndarray, pad: int = 2, fill: float = 1.0) -> np.ndarray:
    """(R, K, C, H, W) images in [0, 1] -> one (R*(H+pad), K*(W+pad), C) picture.

    Each image gets ``pad`` pixels of ``fill`` (white) below and to its right, so tiles of
    binary images stay distinguishable where their borders are black.
    """
    r, k, c, h, w = grid.shape
    out = np.full((r, h + pad, k, w + pad, c), fill, np.float32)
    out[:, :h, :, :w, :] = grid.transpose(0, 3, 1, 4, 2)
    return out.reshape(r * (h + pad), k * (w + pad), c)


def image_grid(images: np.ndarray, pad: int = 2) -> np.ndarray:
    """(N, C, H, W) images in [0, 1] -> an (H', W', C) picture of them in rows of
    ceil(sqrt(N)), the unused tiles of the last row left white; see :func:`mosaic`."""
    n, c, h, w = images.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    tiles = np.ones((rows * cols, c, h, w), np.float32)
    tiles[:n] = images
    return mosaic(tiles.reshape(rows, cols, c, h, w), pad=pad)


def save_picture(picture: np.ndarray, path: str | Path) -> Path:
    """Write an (H, W, C) picture in [0, 1] as a PNG, pixel for pixel (grey when C == 1),
    atomically."""
    from PIL import Image

    pixels = (np.clip(picture, 0, 1) * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buf, format="PNG")
    path = Path(path)
    atomic_write_bytes(path, buf.getvalue())
    return path


def show_picture(ax: Axes, picture: np.ndarray) -> None:
    """Draw an (H, W, C) picture in [0, 1] pixel for pixel (grayscale when C == 1)."""
    if picture.shape[-1] == 1:
        ax.imshow(picture[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.clip(picture, 0, 1), interpolation="nearest")


def picture_axes(picture: np.ndarray, scale: float = 1.0):
    """A figure whose axes show ``picture`` (H, W, C) at ``scale`` PNG pixels per image pixel
    (at the 100 dpi of :func:`save_figure`): the axes fill the figure and the labels around
    them (titles too) are added by ``bbox_inches="tight"``, so tiles are never resampled to
    odd sizes. Returns ``(fig, ax)``."""
    h, w = picture.shape[:2]
    fig = plt.figure(figsize=(w * scale / 100.0, h * scale / 100.0))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    show_picture(ax, picture)
    return fig, ax


def data_uri(path: str | Path) -> str:
    """``data:<mime>;base64,...`` for a PNG or GIF file, to embed it in a self-contained page."""
    path = Path(path)
    mime = MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"
