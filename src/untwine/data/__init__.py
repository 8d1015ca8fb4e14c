"""Ground-truth datasets: ``untwine.data.load(name, **options)``.

Each dataset module registers a loader with ``@register_dataset(name)``; a user registers
their own the same way (a callable taking keyword options and returning a
:class:`GroundTruthData`).
"""

from __future__ import annotations

from untwine.data.base import ArrayData, GroundTruthData, cache_dir
from untwine.registry import DATASETS, register_dataset

__all__ = ["ArrayData", "GroundTruthData", "cache_dir", "load", "register_dataset", "names"]


def load(name: str, **options) -> GroundTruthData:
    """Load the dataset registered as ``name`` (options are the loader's keyword arguments)."""
    _import_builtin()
    return DATASETS.get(name)(**options)


def names() -> list[str]:
    _import_builtin()
    return DATASETS.names()


def _import_builtin() -> None:
    # Imported on demand so that ``import untwine`` stays cheap.
    from untwine.data import dsprites, mnist  # noqa: F401
