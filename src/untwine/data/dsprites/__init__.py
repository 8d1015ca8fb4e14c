"""dSprites (Matthey et al. 2017): rendered procedurally, or read from the official file.

Matthey, Higgins, Hassabis and Lerchner (2017), *dSprites: Disentanglement testing Sprites
dataset*, https://github.com/deepmind/dsprites-dataset. 737,280 binary 64x64 images of a
square, an ellipse or a heart at 6 scales, 40 orientations and 32 x 32 positions: every
combination exactly once, in row-major order (shape, scale, orientation, posX, posY; posY
fastest). The official colour factor has a single value and is dropped here.

``spec`` holds the factor grid, ``render`` draws images from factors, ``official`` reads the
authors' file; the rendered set is cached through :mod:`untwine.data.cache`. Colour and noisy
variants live in ``variants``.
"""

from __future__ import annotations

import os

import numpy as np

from untwine.data.base import ArrayData, about
from untwine.data.cache import cached_array
from untwine.data.dsprites.official import OFFICIAL_FILE, read_official
from untwine.data.dsprites.render import HEART, Heart, render, render_all, render_packed
from untwine.data.dsprites.spec import (
    FACTOR_NAMES,
    FACTOR_SIZES,
    NUM_IMAGES,
    OBSERVATION_SHAPE,
    ORIENTATIONS,
    PACKED_BYTES,
    POSITIONS,
    SCALES,
    SHAPES,
)
from untwine.registry import register_dataset

__all__ = [
    "CACHE_NAME",
    "FACTOR_NAMES",
    "FACTOR_SIZES",
    "HEART",
    "NUM_IMAGES",
    "OFFICIAL_FILE",
    "ORIENTATIONS",
    "POSITIONS",
    "SCALES",
    "SHAPES",
    "Heart",
    "load_dsprites",
    "read_official",
    "render",
    "render_all",
    "render_packed",
]

#: Bump whenever rendered pixels change, so that a stale cache is never reused.
RENDER_VERSION = 1
CACHE_NAME = f"dsprites-v{RENDER_VERSION}.npy"


@register_dataset("dsprites")
@about(FACTOR_NAMES, FACTOR_SIZES, "rendered (cached), or path= the official " + OFFICIAL_FILE)
def load_dsprites(path: str | os.PathLike[str] | None = None, cache: bool = True) -> ArrayData:
    """dSprites (Matthey et al. 2017) as a bit-packed :class:`ArrayData` of 737,280 images.

    Factors (shape, scale, orientation, posX, posY) with sizes (3, 6, 40, 32, 32); images
    uint8 (1, 64, 64) in {0, 1}; flat index = official order with colour dropped. With
    ``path``, reads the official ``.npz`` (see :func:`read_official`); without, renders the
    set (:func:`render_all`), reusing or writing ``cache_dir() / CACHE_NAME`` when ``cache``.
    Either way it holds 377 MB (512 bytes an image).
    """
    if path is not None:
        store = read_official(path)
    elif cache:
        store = cached_array(
            CACHE_NAME,
            lambda: render_all(),  # looked up at call time, so that tests can replace it
            (NUM_IMAGES, PACKED_BYTES),
            np.uint8,
            check=_agrees_with_renderer,
        )
    else:
        store = render_all()
    return ArrayData(
        "dsprites", FACTOR_NAMES, FACTOR_SIZES, OBSERVATION_SHAPE, store, packed=True, max_value=1
    )


def _agrees_with_renderer(store: np.ndarray) -> bool:
    # A handful of images spread over the file, the last included, catch a cache written by
    # another renderer under the same name or damaged in place.
    probe = np.linspace(0, NUM_IMAGES - 1, 61).astype(np.int64)
    factors = np.stack(np.unravel_index(probe, FACTOR_SIZES), axis=1)
    return bool(np.array_equal(store[probe], render_packed(factors)))
