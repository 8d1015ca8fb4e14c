"""The official dSprites file (Matthey et al. 2017) read into bit-packed images.

``dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`` as published at
https://github.com/deepmind/dsprites-dataset: ``imgs`` (737280, 64, 64) uint8 in {0, 1},
``latents_classes`` (737280, 6) int64 with the single-valued colour first, ``latents_values``
and a pickled ``metadata`` that is never read.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from untwine.data.dsprites.spec import FACTOR_SIZES, NUM_IMAGES, PACKED_BYTES, SIZE
from untwine.errors import DataError

__all__ = ["OFFICIAL_FILE", "read_official"]

#: The official file, and the flat-index strides of its ``latents_classes`` after colour.
OFFICIAL_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
STRIDES = np.array([245_760, 40_960, 1_024, 32, 1], dtype=np.int64)

_CHUNK = 8192  # images per read while packing the official file: 32 MB unpacked


def read_official(path: str | os.PathLike[str]) -> np.ndarray:
    """Bit-packed images (737280, 512) uint8 from the official dSprites ``.npz``
    (Matthey et al. 2017), in the official order with colour dropped.

    Reads only ``imgs`` and ``latents_classes`` and never unpickles anything (``metadata``
    holds a pickle). ``imgs`` (3 GB unpacked) is streamed out of the archive in chunks and
    packed as it goes, so memory stays near the 377 MB result. ``latents_classes`` must
    cover the factor grid exactly once; rows in another order are put in the official one.

    Raises :class:`DataError` naming the file and array when anything is off.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file (expected the official dSprites {OFFICIAL_FILE})")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{path}: not a readable .npz archive ({err})") from None
    with archive:
        members = set(archive.namelist())
        for key in ("imgs", "latents_classes"):
            if f"{key}.npy" not in members:
                found = ", ".join(sorted(m.removesuffix(".npy") for m in members)) or "none"
                raise DataError(
                    f"{path}: missing array {key!r} (found: {found}); "
                    f"expected the official dSprites {OFFICIAL_FILE}"
                )
        try:
            order = _read_order(path, archive)
            with archive.open("imgs.npy") as f:
                return _read_images(path, f, order)
        except (zipfile.BadZipFile, zlib.error, EOFError) as err:
            raise DataError(f"{path}: damaged archive member ({err})") from None


def _read_header(path: Path, key: str, f: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            return np.lib.format.read_array_header_1_0(f)
        if version == (2, 0):
            return np.lib.format.read_array_header_2_0(f)
    except ValueError as err:
        raise DataError(f"{path}: array {key!r} is not a valid .npy ({err})") from None
    raise DataError(f"{path}: array {key!r} has .npy format {version}; expected 1.0 or 2.0")


def _read_order(path: Path, archive: zipfile.ZipFile) -> np.ndarray:
    """Flat grid index (737280,) int64 of each row of ``latents_classes`` (``arange`` for
    the official order)."""
    expected = (NUM_IMAGES, 1 + len(FACTOR_SIZES))
    with archive.open("latents_classes.npy") as f:
        shape, fortran, dtype = _read_header(path, "latents_classes", f)
        if shape != expected:
            raise DataError(f"{path}: 'latents_classes' has shape {shape}; expected {expected}")
        if dtype.kind not in "iu":
            raise DataError(f"{path}: 'latents_classes' has dtype {dtype}; expected int64")
        raw = f.read()
    classes = np.frombuffer(raw, dtype=dtype)
    if classes.size != NUM_IMAGES * expected[1]:
        raise DataError(f"{path}: 'latents_classes' is truncated; expected shape {expected}")
    classes = classes.reshape(expected[::-1]).T if fortran else classes.reshape(expected)
    if (classes[:, 0] != 0).any():
        raise DataError(f"{path}: 'latents_classes' column 0 (color) must be all 0")
    factors = classes[:, 1:].astype(np.int64)
    if (factors < 0).any() or (factors >= np.array(FACTOR_SIZES)).any():
        raise DataError(
            f"{path}: 'latents_classes' columns 1-5 out of range; expected indices below "
            f"{FACTOR_SIZES} (shape, scale, orientation, posX, posY)"
        )
    flat = factors @ STRIDES
    if (np.bincount(flat, minlength=NUM_IMAGES) != 1).any():
        raise DataError(
            f"{path}: 'latents_classes' does not list every factor combination exactly once"
        )
    return flat


def _read_exactly(f: IO[bytes], size: int) -> bytes:
    parts, got = [], 0
    while got < size:
        part = f.read(size - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts) if len(parts) != 1 else parts[0]


def _read_images(path: Path, f: IO[bytes], order: np.ndarray) -> np.ndarray:
    """Stream ``imgs`` from ``f`` (positioned at its .npy header) into packed rows, row ``i``
    of the file landing at flat index ``order[i]``."""
    expected = (NUM_IMAGES, SIZE, SIZE)
    shape, fortran, dtype = _read_header(path, "imgs", f)
    if shape != expected:
        raise DataError(f"{path}: 'imgs' has shape {shape}; expected {expected}")
    if dtype != np.uint8:
        raise DataError(f"{path}: 'imgs' has dtype {dtype}; expected uint8 with values 0/1")
    if fortran:
        raise DataError(f"{path}: 'imgs' is stored in Fortran order; expected C order")
    out = np.empty((NUM_IMAGES, PACKED_BYTES), dtype=np.uint8)
    pixels = SIZE * SIZE
    for first in range(0, NUM_IMAGES, _CHUNK):
        count = min(_CHUNK, NUM_IMAGES - first)
        raw = _read_exactly(f, count * pixels)
        if len(raw) != count * pixels:
            raise DataError(f"{path}: 'imgs' is truncated at image {first}; expected {shape}")
        chunk = np.frombuffer(raw, dtype=np.uint8).reshape(count, pixels)
        if chunk.max() > 1:
            bad = first + int(np.flatnonzero(chunk.max(axis=1) > 1)[0])
            raise DataError(
                f"{path}: 'imgs' image {bad} has value {int(chunk[bad - first].max())}; "
                "expected binary values 0/1"
            )
        out[order[first : first + count]] = np.packbits(chunk, axis=1)
    return out
