"""Colour-dSprites and noisy-dSprites: dSprites with a nuisance colour or a noise background.

As disentanglement_lib defines them (Locatello et al. 2019): colour-dSprites multiplies the
binary sprite by an RGB colour drawn per image from U(0.5, 1)^3 on a black background;
noisy-dSprites puts the sprite (pixels 1) on a background of uniform noise U(0, 1) per pixel
and channel. Both have dSprites' factors and flat index; the colour or noise is a nuisance,
not a factor.

disentanglement_lib draws a fresh colour or noise at every sampling. Here it is a fixed
function of (seed, image index), from a counter-based generator (SplitMix64, Steele, Lea &
Flood 2014, of the seed, index and pixel): an index always gives the same image, so training
order, resuming and metrics see one fixed dataset, and any image is made in isolation.
Images are uint8 (3, 64, 64) in 0..255.
"""

from __future__ import annotations

import os

import numpy as np

from untwine.data.base import ArrayData, GroundTruthData, IndexLike, about
from untwine.data.dsprites.spec import FACTOR_NAMES, FACTOR_SIZES
from untwine.registry import register_dataset

__all__ = ["ColorDSprites", "NoisyDSprites", "uniform"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def uniform(seed: int, counters: np.ndarray) -> np.ndarray:
    """U[0, 1) float64 values, one per counter: SplitMix64 of ``(seed, counter)``; the same
    (seed, counter) always gives the same value."""
    with np.errstate(over="ignore"):
        z = np.asarray(counters, np.uint64) * _GAMMA + np.uint64(seed) * _M2 + _GAMMA
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


class _Variant(GroundTruthData):
    observation_shape = (3, 64, 64)
    max_value = 255

    def __init__(self, base: ArrayData, seed: int) -> None:
        self.base = base
        self.seed = int(seed)
        self.factor_names = base.factor_names
        self.factor_sizes = base.factor_sizes

    def images(self, indices: IndexLike) -> np.ndarray:
        idx = self._as_indices(indices)
        return self._paint(idx, self.base.images(idx).astype(bool))


class ColorDSprites(_Variant):
    """dSprites times an RGB colour from U(0.5, 1)^3 per image, on black."""

    name = "color-dsprites"

    def colours(self, idx: np.ndarray) -> np.ndarray:
        """The colour (N, 3) in [0.5, 1) of each image index."""
        counters = idx[:, None].astype(np.uint64) * np.uint64(3) + np.arange(3, dtype=np.uint64)
        return 0.5 + 0.5 * uniform(self.seed, counters)

    def _paint(self, idx: np.ndarray, sprite: np.ndarray) -> np.ndarray:
        colour = np.round(255.0 * self.colours(idx)).astype(np.uint8)
        return sprite * colour[:, :, None, None]  # (N, 1, H, W) * (N, 3, 1, 1)


class NoisyDSprites(_Variant):
    """dSprites (pixels 1) on uniform noise U(0, 1) per pixel and channel."""

    name = "noisy-dsprites"

    def _paint(self, idx: np.ndarray, sprite: np.ndarray) -> np.ndarray:
        per_image = 3 * 64 * 64
        counters = idx[:, None].astype(np.uint64) * np.uint64(per_image) + np.arange(
            per_image, dtype=np.uint64
        )
        noise = np.floor(256.0 * uniform(self.seed, counters)).astype(np.uint8)
        noise = noise.reshape(len(idx), 3, 64, 64)
        return np.where(sprite, np.uint8(255), noise)


def _base(path, cache) -> ArrayData:
    from untwine.data.dsprites import load_dsprites

    return load_dsprites(path=path, cache=cache)


@register_dataset("color-dsprites")
@about(FACTOR_NAMES, FACTOR_SIZES, "rendered; colour U(0.5, 1)^3 per image (seed=)")
def load_color_dsprites(
    seed: int = 0, path: str | os.PathLike[str] | None = None, cache: bool = True
) -> ColorDSprites:
    """Colour-dSprites (Locatello et al. 2019): ``path``/``cache`` as for dSprites; ``seed``
    chooses the fixed colours."""
    return ColorDSprites(_base(path, cache), seed)


@register_dataset("noisy-dsprites")
@about(FACTOR_NAMES, FACTOR_SIZES, "rendered; uniform noise background (seed=)")
def load_noisy_dsprites(
    seed: int = 0, path: str | os.PathLike[str] | None = None, cache: bool = True
) -> NoisyDSprites:
    """Noisy-dSprites (Locatello et al. 2019): ``path``/``cache`` as for dSprites; ``seed``
    chooses the fixed noise."""
    return NoisyDSprites(_base(path, cache), seed)
