"""Reading images out of large files without loading them: the pieces the loaders share.

:class:`OffsetImages` reads uint8 images stored contiguously, image after image (N, H, W, C),
from a byte offset in a file (an uncompressed HDF5 dataset, a stored ``.npz`` member, a
``.npy``) with one positioned read per image. Nothing is memory-mapped: mapped pages would
count towards the process's resident size as training touches them, while positioned reads
go through the page cache, which the kernel can always reclaim. Resident memory is therefore
one batch, whatever the size of the file.
"""

from __future__ import annotations

import os
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from untwine.data.base import GroundTruthData, IndexLike
from untwine.errors import DataError

__all__ = ["OffsetImages", "expect_file", "npz_member"]


def expect_file(path: str | os.PathLike[str], what: str, source: str, size: str) -> Path:
    """``path`` (user home expanded) if it is a file, else a one-line :class:`DataError`
    naming the file expected, where it is published and its size; nothing is downloaded."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(
            f"{path}: no such file; expected {what} ({size}), published at {source} "
            "(untwine does not download it)"
        )
    return path


class OffsetImages(GroundTruthData):
    """A full factor grid of uint8 images (N, H, W, C) at byte ``offset`` of ``path``.

    ``images`` returns them channels-first (N, C, H, W). The file is opened on first use and
    reopened after pickling (worker processes), so the object itself holds no descriptor.
    """

    def __init__(
        self,
        name: str,
        path: Path,
        offset: int,
        factor_names: Sequence[str],
        factor_sizes: Sequence[int],
        image_shape: tuple[int, int, int],
    ) -> None:
        self.name = name
        self.path = Path(path)
        self.offset = int(offset)
        self.factor_names = tuple(factor_names)
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        h, w, c = image_shape
        self.observation_shape = (c, h, w)
        self._image_shape = (h, w, c)
        self._image_bytes = h * w * c
        self._fd: int | None = None
        need = self.offset + len(self) * self._image_bytes
        have = self.path.stat().st_size
        if have < need:
            raise DataError(
                f"{self.path}: truncated; {len(self)} images of {image_shape} need "
                f"{need:,} bytes, the file has {have:,}"
            )

    def images(self, indices: IndexLike) -> np.ndarray:
        idx = self._as_indices(indices)
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY)
        out = np.empty((len(idx), *self._image_shape), np.uint8)
        step = self._image_bytes
        for row, i in zip(out, idx.tolist(), strict=True):
            # preadv fills the output row in place: no intermediate bytes object.
            if os.preadv(self._fd, [row.data], self.offset + i * step) != step:
                raise DataError(f"{self.path}: short read at image {i}; the file changed?")
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None}

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)


def npz_member(path: Path, key: str) -> tuple[zipfile.ZipInfo, int, tuple[int, ...], np.dtype]:
    """Where array ``key`` of the ``.npz`` at ``path`` lives: its zip entry, the byte offset
    of its data in the file (meaningful only for an uncompressed member), shape and dtype.

    Raises a one-line :class:`DataError` for a file that is not a zip, lacks ``key``, or
    holds a Fortran-ordered or malformed array.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"{path}: not a readable .npz archive ({err})") from None
    with archive:
        names = archive.namelist()
        if f"{key}.npy" not in names:
            found = ", ".join(sorted(n.removesuffix(".npy") for n in names)) or "none"
            raise DataError(f"{path}: missing array {key!r} (found: {found})")
        info = archive.getinfo(f"{key}.npy")
        with archive.open(info) as f:
            try:
                version = np.lib.format.read_magic(f)
                read = {(1, 0): np.lib.format.read_array_header_1_0}.get(
                    version, np.lib.format.read_array_header_2_0
                )
                shape, fortran, dtype = read(f)
            except ValueError as err:
                raise DataError(f"{path}: array {key!r} is not a valid .npy ({err})") from None
            header_size = f.tell() if info.compress_type == zipfile.ZIP_STORED else 0
    if fortran:
        raise DataError(f"{path}: array {key!r} is stored in Fortran order; expected C order")
    # The member's data start after its local header: 30 fixed bytes, then the name and
    # the extra field, whose lengths the local header itself gives (the central directory's
    # copies may differ).
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
    if len(local) != 30 or local[:4] != b"PK\x03\x04":
        raise DataError(f"{path}: damaged zip entry for {key!r}")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    offset = info.header_offset + 30 + name_len + extra_len + header_size
    return info, offset, tuple(shape), np.dtype(dtype)


def resize_images(
    images: np.ndarray, size: tuple[int, int], path: Path | None = None
) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H, W, C) resized to ``size`` = (height, width) with
    Lanczos filtering (Pillow), returned channels-first (N, C, height, width)."""
    from PIL import Image

    if images.ndim == 3:
        images = images[..., None]
    n, h, w, c = images.shape
    if (h, w) == tuple(size):
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    out = np.empty((n, size[0], size[1], c), np.uint8)
    for i in range(n):
        picture = Image.fromarray(images[i, ..., 0] if c == 1 else images[i])
        resized = np.asarray(picture.resize((size[1], size[0]), Image.Resampling.LANCZOS))
        out[i] = resized.reshape(size[0], size[1], c)
    return out.transpose(0, 3, 1, 2).copy()
