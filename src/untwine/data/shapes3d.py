"""3D Shapes (Burgess & Kim 2018), read from the official ``3dshapes.h5``.

Burgess and Kim (2018), *3D Shapes Dataset*, https://github.com/deepmind/3d-shapes:
480,000 RGB 64x64 images, ``images`` (480000, 64, 64, 3) uint8 and ``labels`` (480000, 6)
float64, every combination of floor hue 10, wall hue 10, object hue 10, scale 8, shape 4 and
orientation 15 exactly once in row-major order (orientation fastest), the factor order and
sizes disentanglement_lib uses as well.

Images are streamed from the file, never loaded whole: an uncompressed (contiguous) dataset
is read with one positioned read per image (:class:`~untwine.data.filestore.OffsetImages`);
a chunked or compressed one through h5py, a batch at a time, with h5py's chunk cache (1 MB by
default). Either way the resident size is a batch of images plus the 23 MB of labels read
once to check the order, never the 5.9 GB of images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from untwine.data.base import GroundTruthData, IndexLike, about
from untwine.data.filestore import OffsetImages, expect_file
from untwine.errors import DataError
from untwine.registry import register_dataset

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
IMAGE_SHAPE = (64, 64, 3)
FILE = "3dshapes.h5"
SOURCE = "https://github.com/deepmind/3d-shapes (gs://3d-shapes/3dshapes.h5)"
SIZE_TEXT = "480,000 images (480000, 64, 64, 3) uint8 and labels (480000, 6) float64"


class H5Images(GroundTruthData):
    """Images of a chunked or compressed HDF5 dataset (N, H, W, C), read a batch at a time."""

    def __init__(self, path: Path, factor_sizes: Sequence[int]) -> None:
        self.name = "shapes3d"
        self.path = path
        self.factor_names = FACTOR_NAMES
        self.factor_sizes = tuple(factor_sizes)
        self.observation_shape = (3, 64, 64)
        self._file = None

    def images(self, indices: IndexLike) -> np.ndarray:
        import h5py

        idx = self._as_indices(indices)
        if self._file is None:
            self._file = h5py.File(self.path, "r")
        # h5py reads a point selection only in increasing order without repeats.
        unique, inverse = np.unique(idx, return_inverse=True)
        rows = self._file["images"][unique] if len(unique) else np.empty((0, *IMAGE_SHAPE))
        return np.asarray(rows, np.uint8)[inverse].transpose(0, 3, 1, 2)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_file": None}


@register_dataset("shapes3d")
@about(FACTOR_NAMES, FACTOR_SIZES, f"path= {FILE} (h5py, streamed)")
def load_shapes3d(
    path: str | os.PathLike[str] = FILE, factor_sizes: Sequence[int] | None = None
) -> GroundTruthData:
    """3D Shapes (Burgess & Kim 2018) from ``3dshapes.h5``, streamed from the file.

    ``factor_sizes`` reads a smaller grid in the same layout (a subset written in the
    official format); by default the official (10, 10, 10, 8, 4, 15). ``labels`` must list
    the grid in row-major order: each column's distinct values, ranked, give the factor
    indices, and these must run through the grid in order.
    """
    import h5py

    path = expect_file(path, f"the 3D Shapes file {FILE}", SOURCE, SIZE_TEXT)
    sizes = tuple(FACTOR_SIZES if factor_sizes is None else (int(s) for s in factor_sizes))
    n = int(np.prod(sizes))
    try:
        with h5py.File(path, "r") as f:
            for key in ("images", "labels"):
                if key not in f:
                    found = ", ".join(sorted(f.keys())) or "none"
                    raise DataError(
                        f"{path}: missing dataset {key!r} (found: {found}); expected the "
                        f"official {FILE} with 'images' and 'labels'"
                    )
            images, labels = f["images"], f["labels"]
            if images.shape != (n, *IMAGE_SHAPE) or images.dtype != np.uint8:
                raise DataError(
                    f"{path}: 'images' is {images.dtype} {images.shape}; expected uint8 "
                    f"{(n, *IMAGE_SHAPE)}"
                )
            if labels.shape != (n, 6):
                raise DataError(f"{path}: 'labels' has shape {labels.shape}; expected {(n, 6)}")
            _check_order(path, np.asarray(labels[:], np.float64), sizes)
            contiguous = images.chunks is None and images.compression is None
            offset = images.id.get_offset() if contiguous else None
    except OSError as err:  # h5py's word for a damaged or truncated file
        raise DataError(f"{path}: not a readable HDF5 file ({err})") from None
    if offset is not None:
        return OffsetImages("shapes3d", path, offset, FACTOR_NAMES, sizes, IMAGE_SHAPE)
    return H5Images(path, sizes)


def _check_order(path: Path, labels: np.ndarray, sizes: tuple[int, ...]) -> None:
    """The labels' ranked values must be the row-major grid of ``sizes``."""
    for k, (name, size) in enumerate(zip(FACTOR_NAMES, sizes, strict=True)):
        values, ranks = np.unique(labels[:, k], return_inverse=True)
        if len(values) != size:
            raise DataError(
                f"{path}: 'labels' column {k} ({name}) has {len(values)} distinct values; "
                f"expected {size}"
            )
        expected = (np.arange(len(labels)) // int(np.prod(sizes[k + 1 :]))) % size
        if not np.array_equal(ranks.reshape(-1), expected):
            raise DataError(
                f"{path}: 'labels' column {k} ({name}) is not in row-major grid order "
                f"(factors {FACTOR_NAMES}, last fastest)"
            )
