"""MPI3D toy / realistic / real (Gondal et al. 2019), read from the official ``.npz`` files.

Gondal, Wüthrich, Miladinović, Locatello, Breidt, Volchkov, Akpo, Bachem, Schölkopf and
Bauer (2019), *On the Transfer of Inductive Bias from Simulation to the Real World: a New
Disentanglement Dataset*, https://github.com/rr-learning/disentanglement_dataset.
``mpi3d_{toy,realistic,real}.npz`` hold one array ``images`` (1036800, 64, 64, 3) uint8,
every combination of object colour 6, object shape 6, object size 2, camera height 3,
background colour 3, first DOF (horizontal axis) 40 and second DOF (vertical axis) 40 in
row-major order (last fastest). Earlier releases had 4 colours and 4 shapes (460,800
images); a file of that length is read with those sizes.

The images are never loaded whole. ``np.load(mmap_mode=...)`` cannot map an array inside a
zip, so: when the member is stored uncompressed (what ``np.savez`` writes), its data's byte
offset is read from the zip's local header and images are read in place with positioned
reads. A compressed member (``np.savez_compressed``) cannot be read at random, so it is
decompressed once, streamed, into ``cache_dir()`` as a ``.npy`` named after the file's size
and modification time, and read from there (12.7 GB of disk for a full-size file).
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

import numpy as np

from untwine.data.base import about, cache_dir
from untwine.data.filestore import OffsetImages, expect_file, npz_member
from untwine.errors import DataError
from untwine.files import atomic_write_parts
from untwine.registry import register_dataset

FACTOR_NAMES = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "horizontal_axis",
    "vertical_axis",
)
FACTOR_SIZES = (6, 6, 2, 3, 3, 40, 40)
OLD_FACTOR_SIZES = (4, 4, 2, 3, 3, 40, 40)
IMAGE_SHAPE = (64, 64, 3)
VARIANTS = ("toy", "realistic", "real")
SOURCE = "https://github.com/rr-learning/disentanglement_dataset"
SIZE_TEXT = "'images' (1036800, 64, 64, 3) uint8, 12.7 GB uncompressed"
_CHUNK = 4096  # images per step when decompressing into the cache: 50 MB


@register_dataset("mpi3d")
@about(FACTOR_NAMES, FACTOR_SIZES, "path= mpi3d_{toy,realistic,real}.npz (variant=), read in place")
def load_mpi3d(
    variant: str = "toy",
    path: str | os.PathLike[str] | None = None,
    factor_sizes: Sequence[int] | None = None,
) -> OffsetImages:
    """MPI3D (Gondal et al. 2019) ``variant`` from ``path`` (default ``mpi3d_{variant}.npz``).

    ``factor_sizes`` reads a smaller grid in the same layout; by default the sizes follow
    from the file's length (1,036,800 images: (6, 6, 2, 3, 3, 40, 40); 460,800: the earlier
    release's (4, 4, 2, 3, 3, 40, 40)).
    """
    if variant not in VARIANTS:
        raise DataError(f"mpi3d variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    file = f"mpi3d_{variant}.npz"
    path = expect_file(path or file, f"the MPI3D-{variant} file {file}", SOURCE, SIZE_TEXT)
    info, offset, shape, dtype = npz_member(path, "images")
    if factor_sizes is not None:
        sizes = tuple(int(s) for s in factor_sizes)
    else:
        sizes = OLD_FACTOR_SIZES if shape[:1] == (460_800,) else FACTOR_SIZES
    n = int(np.prod(sizes))
    if shape != (n, *IMAGE_SHAPE) or dtype != np.uint8:
        raise DataError(f"{path}: 'images' is {dtype} {shape}; expected uint8 {(n, *IMAGE_SHAPE)}")
    if info.compress_type != zipfile.ZIP_STORED:
        path = _decompressed(path, n)
        offset = _npy_data_offset(path)
    return OffsetImages("mpi3d", path, offset, FACTOR_NAMES, sizes, IMAGE_SHAPE)


def _decompressed(path: Path, n: int) -> Path:
    """The compressed ``images`` of ``path`` as a ``.npy`` in the cache, written once."""
    stat = path.stat()
    target = cache_dir() / f"{path.stem}-{stat.st_size}-{stat.st_mtime_ns}.npy"
    image_bytes = int(np.prod(IMAGE_SHAPE))
    if target.is_file() and target.stat().st_size >= n * image_bytes:
        return target
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        head, {"descr": "|u1", "fortran_order": False, "shape": (n, *IMAGE_SHAPE)}
    )

    def parts() -> Iterator[bytes]:
        yield head.getvalue()
        total, done = n * image_bytes, 0
        with zipfile.ZipFile(path) as archive, archive.open("images.npy") as f:
            _read_npy_header(f)
            while done < total:
                block = f.read(min(_CHUNK * image_bytes, total - done))
                if not block:
                    raise DataError(f"{path}: 'images' is truncated at image {done // image_bytes}")
                done += len(block)
                yield block

    try:
        atomic_write_parts(target, parts())
    except (zipfile.BadZipFile, zlib.error, EOFError) as err:
        raise DataError(f"{path}: damaged archive member 'images' ({err})") from None
    return target


def _read_npy_header(f: IO[bytes]) -> None:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        np.lib.format.read_array_header_1_0(f)
    else:
        np.lib.format.read_array_header_2_0(f)


def _npy_data_offset(path: Path) -> int:
    with open(path, "rb") as f:
        _read_npy_header(f)
        return f.tell()
