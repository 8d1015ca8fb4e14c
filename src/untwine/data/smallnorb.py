"""SmallNORB (LeCun, Huang & Bottou 2004), read from the official binary ``.mat`` files.

LeCun, Huang and Bottou (2004), *Learning Methods for Generic Object Recognition with
Invariance to Pose and Lighting*, https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/. Each of
the training and testing sets is three files in the NORB binary matrix format (not MATLAB's,
despite the name): an int32 magic number (0x1E3D4C55 for uint8 data, 0x1E3D4C54 for int32),
an int32 number of dimensions, then the dimensions as int32 (at least three are written;
unused ones are 1), then the data, all little-endian:

* ``-dat.mat``: (24300, 2, 96, 96) uint8, stereo pairs;
* ``-cat.mat``: (24300,) int32, category 0..4;
* ``-info.mat``: (24300, 4) int32: instance 0..9, elevation 0..8, azimuth 0, 2, .., 34,
  lighting 0..5.

untwine joins both sets (48,600 pairs), keeps the left image of each pair, resized to 64x64
(Lanczos), and arranges them as the grid category 5 x elevation 9 x azimuth 18 x lighting 6,
with the object instance (10 per category over both sets) a recorded nuisance after the
factors: each factor combination has 10 images, and sampling by factors draws the instance,
as disentanglement_lib does. The files list the pairs in their own order; each must appear
exactly once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from untwine.data.base import ArrayData, about
from untwine.data.filestore import expect_file, resize_images
from untwine.errors import DataError
from untwine.registry import register_dataset

FACTOR_NAMES = ("category", "elevation", "azimuth", "lighting")
FACTOR_SIZES = (5, 9, 18, 6)
INSTANCES = 10
SETS = ("smallnorb-5x46789x9x18x6x2x96x96-training", "smallnorb-5x01235x9x18x6x2x96x96-testing")
SOURCE = "https://cs.nyu.edu/~ylclab/data/norb-v1.0-small/ (gunzip the .mat.gz files)"
MAGIC = {0x1E3D4C55: np.dtype("<u1"), 0x1E3D4C54: np.dtype("<i4")}
PAIRS = 24_300
_CHUNK = 1024  # pairs per read: 19 MB


def _sizes_text(kind: str, pairs: int) -> str:
    dims = {"dat": (pairs, 2, 96, 96), "cat": (pairs,), "info": (pairs, 4)}[kind]
    item = 1 if kind == "dat" else 4
    header = 8 + 4 * max(3, len(dims))
    return f"{header + item * int(np.prod(dims)):,} bytes: {dims}"


def read_header(path: Path, kind: str, dims: tuple[int, ...]) -> tuple[np.dtype, int]:
    """Check the NORB header of ``path`` against ``dims``; return the dtype and data offset."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise DataError(f"{path}: truncated header; expected a NORB {kind} matrix {dims}")
        magic, ndim = np.frombuffer(head, "<i4")
        if int(magic) not in MAGIC:
            raise DataError(
                f"{path}: magic number {int(magic):#x}; expected 0x1E3D4C55 (uint8) or "
                f"0x1E3D4C54 (int32) of the NORB binary matrix format"
            )
        raw = f.read(4 * max(3, int(ndim)))
    got = tuple(int(d) for d in np.frombuffer(raw, "<i4")[: int(ndim)]) if ndim > 0 else ()
    dtype = MAGIC[int(magic)]
    want_dtype = np.dtype("<u1") if kind == "dat" else np.dtype("<i4")
    if got != dims or dtype != want_dtype:
        raise DataError(f"{path}: {kind} matrix is {dtype} {got}; expected {want_dtype} {dims}")
    offset = 8 + 4 * max(3, int(ndim))
    need = offset + dtype.itemsize * int(np.prod(dims))
    if path.stat().st_size < need:
        raise DataError(
            f"{path}: truncated; expected {need:,} bytes, found {path.stat().st_size:,}"
        )
    return dtype, offset


def _read_matrix(path: Path, kind: str, dims: tuple[int, ...]) -> np.ndarray:
    dtype, offset = read_header(path, kind, dims)
    return np.fromfile(path, dtype, count=int(np.prod(dims)), offset=offset).reshape(dims)


def _left_images(path: Path, pairs: int) -> np.ndarray:
    """The left image of every pair, (pairs, 96, 96) uint8, read a chunk at a time."""
    _, offset = read_header(path, "dat", (pairs, 2, 96, 96))
    out = np.empty((pairs, 96, 96), np.uint8)
    with open(path, "rb") as f:
        f.seek(offset)
        for first in range(0, pairs, _CHUNK):
            count = min(_CHUNK, pairs - first)
            block = np.frombuffer(f.read(count * 2 * 96 * 96), np.uint8)
            out[first : first + count] = block.reshape(count, 2, 96, 96)[:, 0]
    return out


@register_dataset("smallnorb")
@about(
    FACTOR_NAMES, FACTOR_SIZES, "path= folder of the six smallnorb-*.mat files; instance a nuisance"
)
def load_smallnorb(
    path: str | os.PathLike[str] = "smallnorb",
    factor_sizes: Sequence[int] | None = None,
    instances: int = INSTANCES,
) -> ArrayData:
    """SmallNORB (LeCun et al. 2004) from the folder ``path`` holding the six ``.mat`` files.

    Factors (category, elevation, azimuth, lighting), sizes (5, 9, 18, 6); instance a
    nuisance of size 10. Images uint8 (1, 64, 64), held in memory (199 MB).
    ``factor_sizes`` and ``instances`` read a smaller grid in the same format (each set then
    holds half the pairs).
    """
    folder = Path(path).expanduser()
    sizes = tuple(FACTOR_SIZES if factor_sizes is None else (int(s) for s in factor_sizes))
    total = int(np.prod(sizes)) * instances
    pairs = total // len(SETS)
    store = np.zeros((total, 1, 64, 64), np.uint8)
    seen = np.zeros(total, np.int64)
    grid = (*sizes, instances)
    for prefix in SETS:
        files = {
            kind: expect_file(
                folder / f"{prefix}-{kind}.mat",
                f"the SmallNORB {kind} file {prefix}-{kind}.mat",
                SOURCE,
                _sizes_text(kind, pairs),
            )
            for kind in ("dat", "cat", "info")
        }
        category = _read_matrix(files["cat"], "cat", (pairs,))
        info = _read_matrix(files["info"], "info", (pairs, 4))
        cells = np.stack([category, info[:, 1], info[:, 2] // 2, info[:, 3], info[:, 0]], 1)
        bad = ((cells < 0) | (cells >= np.array(grid))).any(axis=1) | (info[:, 2] % 2 == 1)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{files['info']}: pair {row} has info (instance, elevation, azimuth, "
                f"lighting) = {tuple(int(v) for v in info[row])} and category "
                f"{int(category[row])}; expected category, elevation, lighting below "
                f"{(sizes[0], sizes[1], sizes[3])}, an even azimuth below {2 * sizes[2]} and "
                f"instance below {instances}"
            )
        flat = np.ravel_multi_index(tuple(cells.T), grid)
        seen += np.bincount(flat, minlength=total)
        store[flat, 0] = resize_images(_left_images(files["dat"], pairs), (64, 64))[:, 0]
    if (seen != 1).any():
        raise DataError(
            f"{folder}: the SmallNORB files do not list every (category, elevation, azimuth, "
            f"lighting, instance) exactly once"
        )
    return ArrayData(
        "smallnorb", FACTOR_NAMES, sizes, (1, 64, 64), store, nuisance_sizes=(instances,)
    )
