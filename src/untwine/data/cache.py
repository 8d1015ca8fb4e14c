"""A cache of rendered datasets: one ``.npy`` per dataset and renderer version.

Rendering is deterministic, so a cache only saves time: a file that is missing, damaged, of
the wrong shape or type, or that disagrees with the renderer's spot check is rendered again
(with a warning), and a cache that cannot be written is skipped (with a warning). Files are
written atomically, so a reader sees the old file or the complete new one.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from untwine.data.base import cache_dir
from untwine.files import WriteError, atomic_write_parts

__all__ = ["cached_array", "read_npy", "write_npy"]


def cached_array(
    name: str,
    render: Callable[[], np.ndarray],
    shape: tuple[int, ...],
    dtype: np.dtype | type,
    check: Callable[[np.ndarray], bool] = lambda array: True,
) -> np.ndarray:
    """``cache_dir() / name`` if it holds an intact array, else ``render()``, cached.

    ``check`` spot-checks a loaded array against the renderer (a cache written by another
    renderer version under the same name, or damaged in place, must not be reused).
    """
    path = cache_dir() / name
    if path.exists():
        array = read_npy(path, shape, dtype)
        if array is not None and check(array):
            return array
        warnings.warn(f"{path}: damaged cache of a rendered dataset; rendering again", stacklevel=3)
    array = render()
    try:
        write_npy(path, array)
    except (OSError, WriteError) as err:  # a read-only cache must not stop anyone using the data
        warnings.warn(f"{path}: could not write the cache ({err})", stacklevel=3)
    return array


def read_npy(path: Path, shape: tuple[int, ...], dtype: np.dtype | type) -> np.ndarray | None:
    """The array in ``path``, or None when it is unreadable, truncated, or not of ``shape``
    and ``dtype``."""
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if array.shape != tuple(shape) or array.dtype != np.dtype(dtype):
        return None
    return array


def write_npy(path: Path, array: np.ndarray) -> None:
    """Write ``array`` as ``.npy`` atomically, without a second copy of its bytes."""
    array = np.ascontiguousarray(array)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, np.lib.format.header_data_from_array_1_0(array))
    atomic_write_parts(path, [header.getvalue(), memoryview(array).cast("B")])
