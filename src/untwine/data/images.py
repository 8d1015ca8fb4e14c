"""A user's own images: a folder of PNG/JPEG files and a CSV of their factors (or none).

The CSV has a header row, a column ``file`` (each image's path relative to the folder) and
one column per factor holding integer indices 0, 1, ..; a factor's size is its largest index
plus one. Images of any size are converted to grey or RGB and resized (Lanczos) to one
shape, then held in memory as uint8.

The grid need not be complete (a renderer that skipped combinations, or a table of real
photographs): ``len`` is the number of images, flat index ``i`` is the CSV's row ``i``,
sampling factors draws existing rows uniformly, and :meth:`FolderData.index` names the
combinations that have no image. Each combination may appear at most once.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from untwine.data.base import GroundTruthData, IndexLike, about
from untwine.data.filestore import resize_images
from untwine.errors import DataError
from untwine.registry import register_dataset

__all__ = ["FolderData", "load_folder"]


class FolderData(GroundTruthData):
    """Images (N, C, H, W) uint8 with factor rows (N, K), possibly an incomplete grid."""

    def __init__(
        self, name: str, factor_names: Sequence[str], table: np.ndarray, store: np.ndarray
    ) -> None:
        self.name = name
        self.factor_names = tuple(factor_names)
        self.factor_sizes = tuple(int(m) + 1 for m in table.max(axis=0))
        self.observation_shape = tuple(store.shape[1:])  # type: ignore[assignment]
        self._table = table
        self._store = store
        self._row = np.full(int(np.prod(self.factor_sizes)), -1, np.int64)
        self._row[np.ravel_multi_index(tuple(table.T), self.factor_sizes)] = np.arange(len(table))

    def __len__(self) -> int:
        return len(self._table)

    @property
    def complete(self) -> bool:
        return bool((self._row >= 0).all())

    def index(self, factors: np.ndarray, nuisances: np.ndarray | None = None) -> np.ndarray:
        """Rows (N,) of the images with the given factors; a :class:`DataError` names the
        combinations that have no image."""
        cells = super().index(factors)  # validates shape, type and range
        rows = self._row[cells]
        if (rows < 0).any():
            missing = np.asarray(factors)[rows < 0]
            shown = ", ".join(str(tuple(int(v) for v in m)) for m in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise DataError(
                f"{self.name}: no image for factor combination(s) {shown}{more} of "
                f"{self.factor_names}; the folder's grid is incomplete"
            )
        return rows

    def factors_of(self, indices: IndexLike) -> np.ndarray:
        return self._table[self._as_indices(indices)].copy()

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Factors of ``n`` images drawn uniformly; independent across factors only when the
        grid is complete."""
        if self.complete:
            return super().sample_factors(n, rng)
        return self._table[rng.integers(0, len(self), size=n)].copy()

    def images(self, indices: IndexLike) -> np.ndarray:
        return self._store[self._as_indices(indices)]


@register_dataset("folder")
@about(
    (),
    (),
    "factors from the table; path= folder of PNG/JPEG + factors= CSV (file, one integer "
    "column per factor)",
)
def load_folder(
    path: str | os.PathLike[str],
    factors: str | os.PathLike[str] | None = None,
    shape: Sequence[int] = (3, 64, 64),
    name: str = "folder",
) -> FolderData:
    """The images of folder ``path`` with the factors in CSV ``factors`` (default
    ``path/factors.csv``), converted and resized to ``shape`` = (C, H, W), C 1 or 3. With no
    table at all, the folder's PNG and JPEG files in name order, unlabelled: one pseudo-factor
    ``image`` (the file's index) and ``labelled`` False, so models train on them and the
    unsupervised scores and UDR rank them, while a supervised metric refuses them."""
    folder = Path(path).expanduser()
    table_path = Path(factors).expanduser() if factors else folder / "factors.csv"
    c, h, w = (int(s) for s in shape)
    if c not in (1, 3):
        raise DataError(f"folder shape {tuple(shape)}: expected 1 or 3 channels")
    if factors is None and not table_path.is_file():  # images without factor labels
        files = sorted(p.name for p in folder.glob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(
                f"{folder}: no PNG or JPEG images, and no factors.csv (file, then one column "
                "per factor)"
            )
        store = _read(folder, files, (c, h, w))
        data = FolderData(name, ("image",), np.arange(len(files))[:, None], store)
        data.labelled = False
        return data
    if not table_path.is_file():
        raise DataError(
            f"{table_path}: no such factor table (a CSV: file, then one column per factor)"
        )
    with open(table_path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or "file" not in rows[0] or len(rows[0]) < 2:
        raise DataError(
            f"{table_path}: header {rows[0] if rows else []}; expected a column 'file' and "
            "one column per factor"
        )
    header = [col.strip() for col in rows[0]]
    file_col = header.index("file")
    names = [col for k, col in enumerate(header) if k != file_col]
    if len(rows) < 2:
        raise DataError(f"{table_path}: no rows; expected one row per image")
    table = np.zeros((len(rows) - 1, len(names)), np.int64)
    files = []
    for r, row in enumerate(rows[1:]):
        line = r + 2
        if len(row) != len(header):
            raise DataError(
                f"{table_path}: line {line} has {len(row)} fields; expected {len(header)}"
            )
        files.append(row[file_col].strip())
        values = [v.strip() for k, v in enumerate(row) if k != file_col]
        for k, value in enumerate(values):
            try:
                table[r, k] = int(value)
            except ValueError:
                raise DataError(
                    f"{table_path}: line {line}, column {names[k]!r}: {value!r} is not an "
                    "integer factor index"
                ) from None
            if table[r, k] < 0:
                raise DataError(
                    f"{table_path}: line {line}, column {names[k]!r}: {value}; "
                    "expected an index >= 0"
                )
    sizes = tuple(int(m) + 1 for m in table.max(axis=0))
    flat = np.ravel_multi_index(tuple(table.T), sizes)
    counts = np.bincount(flat, minlength=int(np.prod(sizes)))
    if (counts > 1).any():
        dup = int(np.flatnonzero(counts[flat] > 1)[1])
        raise DataError(
            f"{table_path}: line {dup + 2} repeats the factor combination "
            f"{tuple(int(v) for v in table[dup])}; each combination may appear once"
        )
    for r, file in enumerate(files):
        if not (folder / file).is_file():
            raise DataError(
                f"{table_path}: line {r + 2} names {folder / file}, which does not exist"
            )
    return FolderData(name, names, table, _read(folder, files, (c, h, w)))


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _read(folder: Path, files: list[str], shape: tuple[int, int, int]) -> np.ndarray:
    """The images ``files`` of ``folder`` as uint8 (N, C, H, W), grey or RGB, resized."""
    from PIL import Image, UnidentifiedImageError

    c, h, w = shape
    store = np.empty((len(files), c, h, w), np.uint8)
    for r, file in enumerate(files):
        try:
            with Image.open(folder / file) as image:
                pixels = np.asarray(image.convert("L" if c == 1 else "RGB"))
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"{folder / file}: not a readable image ({err})") from None
        store[r] = resize_images(pixels[None], (h, w))[0]
    return store
