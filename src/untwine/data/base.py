"""The ground-truth dataset protocol every dataset in untwine implements.

A ground-truth dataset is a full grid of generative factors: every combination of factor
values appears exactly once, at the flat index given by row-major order over
``factor_sizes`` (last factor varying fastest), as in disentanglement_lib and the official
dSprites / 3D shapes / MPI3D files. A dataset with nuisance variables that are discrete and
recorded (SmallNORB's object instance) lists them in ``nuisance_sizes``: they extend the grid
after the factors, so each factor combination has ``prod(nuisance_sizes)`` images, and
sampling by factors draws the nuisances uniformly.

To add a dataset, subclass :class:`GroundTruthData` (or fill an :class:`ArrayData`) and
register a loader; the loader's keyword arguments become the dataset's options::

    from untwine.data import ArrayData, register_dataset

    @register_dataset("bars")
    def load_bars(size: int = 8) -> ArrayData:
        factors = np.stack(np.unravel_index(np.arange(2 * size), (2, size)), axis=1)
        images = np.zeros((2 * size, 1, size, size), np.uint8)
        for i, (vertical, position) in enumerate(factors):
            (images[i, 0, :, position] if vertical else images[i, 0, position])[:] = 1
        return ArrayData("bars", ("direction", "position"), (2, size), images.shape[1:],
                         images, max_value=1)

``images(indices)`` is all a subclass must implement: uint8 (N, C, H, W) at flat indices.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from untwine.errors import DataError

IndexLike = Sequence[int] | np.ndarray | range | slice


def to_float(images: np.ndarray | torch.Tensor, max_value: int) -> np.ndarray | torch.Tensor:
    """Images as float32 in [0, 1]: integer (uint8) values times float32(1 / ``max_value``);
    float input is taken to be in [0, 1] already and only cast. numpy in, numpy out; a tensor
    stays on its device. The one conversion that training batches, ``Run``'s inputs and the
    metrics share, so that a model sees the same numbers wherever its images come from.
    Binary data (``max_value`` 1) skips the multiply: its values are already 0/1."""
    if isinstance(images, np.ndarray):
        out = images.astype(np.float32, copy=False)  # a new array unless already float32
        if max_value != 1 and not np.issubdtype(images.dtype, np.floating):
            out *= np.float32(1.0 / max_value)
        return out
    out = images.float()  # a new tensor unless already float32
    if max_value != 1 and not images.dtype.is_floating_point:
        out.mul_(1.0 / max_value)
    return out


def cache_dir() -> Path:
    """Directory where rendered datasets are cached: ``$UNTWINE_HOME`` or the user cache home."""
    home = os.environ.get("UNTWINE_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "untwine"


class GroundTruthData(ABC):
    """A dataset of images with known, discrete generative factors.

    Subclasses set ``name``, ``factor_names``, ``factor_sizes`` and ``observation_shape`` and
    implement :meth:`images`; everything else follows from the full-grid ordering.
    """

    name: str
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    observation_shape: tuple[int, int, int]  # (C, H, W)
    #: sizes of recorded nuisance variables, flat-indexed after the factors (fastest).
    nuisance_sizes: tuple[int, ...] = ()
    #: what an example is: ``"images"`` (C, H, W) in [0, max]; ``"codes"``, the code-index
    #: maps of a VQ run that its second-stage prior trains on (``Objective.reads``)
    holds: str = "images"
    #: False for images without factor labels (a folder with no factor table): the factors
    #: are then a stand-in index, which the supervised metrics refuse to score against
    labelled: bool = True

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes + self.nuisance_sizes, dtype=np.int64))

    # -- index <-> factors ----------------------------------------------------------------
    def index(self, factors: np.ndarray, nuisances: np.ndarray | None = None) -> np.ndarray:
        """Flat indices (N,) int64 of the images with the given factor indices (N, K) (and
        nuisance indices (N, len(nuisance_sizes)); all 0 when not given)."""
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != self.num_factors:
            raise DataError(
                f"factors must have shape (N, {self.num_factors}) for {self.name}, "
                f"got {factors.shape}"
            )
        if not np.issubdtype(factors.dtype, np.integer):
            raise DataError(f"factors must be integer indices, got dtype {factors.dtype}")
        sizes = np.asarray(self.factor_sizes)
        if factors.size and ((factors < 0).any() or (factors >= sizes).any()):
            raise DataError(f"factor indices out of range; sizes are {self.factor_sizes}")
        if self.nuisance_sizes:
            if nuisances is None:
                nuisances = np.zeros((len(factors), len(self.nuisance_sizes)), np.int64)
            factors = np.concatenate([factors, np.asarray(nuisances, np.int64)], axis=1)
        grid = self.factor_sizes + self.nuisance_sizes
        return np.ravel_multi_index(tuple(factors.T), grid).astype(np.int64)

    def factors_of(self, indices: IndexLike) -> np.ndarray:
        """Factor indices (N, K) int64 of the images at the given flat indices."""
        idx = self._as_indices(indices)
        grid = self.factor_sizes + self.nuisance_sizes
        cells = np.unravel_index(idx, grid)[: self.num_factors]
        return np.stack(cells, axis=1).astype(np.int64)

    # -- observations ---------------------------------------------------------------------
    @abstractmethod
    def images(self, indices: IndexLike) -> np.ndarray:
        """Images at the given flat indices, uint8 (N, C, H, W) in 0..255 (0/1 for binary)."""

    #: value that maps to 1.0 when converting uint8 images to float (1 for binary data).
    max_value: int = 255

    #: names of the held-out splits :meth:`split` can return ("test", ...); grids have none.
    splits: tuple[str, ...] = ()

    def split(self, name: str) -> GroundTruthData:
        """The held-out images of split ``name`` as a dataset of their own."""
        raise DataError(f"dataset {self.name!r} has no {name!r} split (it has no held-out images)")

    def training_images(self, indices: IndexLike, rng: np.random.Generator) -> np.ndarray:
        """Images of a training batch; a stochastic dataset (dynamically binarised MNIST)
        draws them with ``rng``, which the batch stream seeds from (seed, step)."""
        return self.images(indices)

    def to_float(self, images: np.ndarray) -> np.ndarray:
        """uint8 images of this dataset -> float32 in [0, 1] (:func:`to_float`)."""
        return to_float(images, self.max_value)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` factor vectors (n, K) drawn uniformly and independently per factor."""
        return np.stack(
            [rng.integers(0, size, size=n) for size in self.factor_sizes], axis=1
        ).astype(np.int64)

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Float32 images (N, C, H, W) in [0, 1] for the given factors.

        Recorded nuisances (``nuisance_sizes``) are drawn uniformly from ``rng`` (a fixed
        generator when None), as disentanglement_lib does for SmallNORB's instance.
        """
        nuisances = None
        if self.nuisance_sizes:
            rng = rng if rng is not None else np.random.default_rng(0)
            nuisances = np.stack(
                [rng.integers(0, n, size=len(factors)) for n in self.nuisance_sizes], axis=1
            )
        return self.to_float(self.images(self.index(factors, nuisances)))

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` random (factors, float images)."""
        factors = self.sample_factors(n, rng)
        return factors, self.sample_observations_from_factors(factors, rng)

    # -- helpers --------------------------------------------------------------------------
    def _as_indices(self, indices: IndexLike) -> np.ndarray:
        if isinstance(indices, slice):
            indices = range(*indices.indices(len(self)))
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise DataError(
                f"image indices must lie in [0, {len(self)}) for {self.name}, "
                f"got range [{idx.min()}, {idx.max()}]"
            )
        return idx

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{n}={s}" for n, s in zip(self.factor_names, self.factor_sizes, strict=True)
        )
        shape = self.observation_shape
        return f"<{type(self).__name__} {self.name!r}: {len(self)} images {shape}; {sizes}>"


class ArrayData(GroundTruthData):
    """A ground-truth dataset held as a uint8 array (N, C, H, W), optionally bit-packed.

    ``packed`` images are stored as ``np.packbits`` of each flattened image (binary data,
    8 pixels a byte), which keeps the 737,280 dSprites images in 377 MB instead of 3 GB.
    """

    def __init__(
        self,
        name: str,
        factor_names: Sequence[str],
        factor_sizes: Sequence[int],
        observation_shape: tuple[int, int, int],
        store: np.ndarray,
        *,
        packed: bool = False,
        max_value: int = 255,
        nuisance_sizes: Sequence[int] = (),
    ) -> None:
        self.name = name
        self.factor_names = tuple(factor_names)
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        self.observation_shape = tuple(int(s) for s in observation_shape)  # type: ignore[assignment]
        self.nuisance_sizes = tuple(int(s) for s in nuisance_sizes)
        self.packed = packed
        self.max_value = max_value
        self._store = store
        if len(store) != len(self):
            raise DataError(
                f"{name}: {len(store)} images but the grid "
                f"{self.factor_sizes + self.nuisance_sizes} has {len(self)} cells"
            )

    def images(self, indices: IndexLike) -> np.ndarray:
        idx = self._as_indices(indices)
        rows = self._store[idx]
        if self.packed:
            n_pix = int(np.prod(self.observation_shape))
            rows = np.unpackbits(rows, axis=1, count=n_pix)
        return rows.reshape((len(idx), *self.observation_shape))

    @property
    def nbytes(self) -> int:
        return int(self._store.nbytes)


@dataclass(frozen=True)
class About:
    """What ``untwine datasets`` says of a loader before loading anything."""

    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    reads: str

    def line(self) -> str:
        factors = ", ".join(
            f"{n} {s}" for n, s in zip(self.factor_names, self.factor_sizes, strict=True)
        )
        return f"{factors}; {self.reads}"


def about(factor_names: Sequence[str], factor_sizes: Sequence[int], reads: str):
    """Decorator attaching an :class:`About` to a dataset loader (optional for user loaders)."""

    def decorate(loader):
        loader.about = About(tuple(factor_names), tuple(int(s) for s in factor_sizes), reads)
        return loader

    return decorate
