"""Ground-truth datasets: ``untwine.data.load(name, **options)``.

Each dataset module registers a loader with ``@register_dataset(name)``; a user registers
their own the same way (a callable taking keyword options and returning a
:class:`GroundTruthData`). The built-in dataset modules are listed once, with the dataset
registry (:data:`untwine.registry.DATASETS`), which imports them on its first lookup: a new
built-in dataset module is added to that list.
"""

from __future__ import annotations

from untwine.data.base import ArrayData, GroundTruthData, cache_dir
from untwine.registry import DATASETS, register_dataset

__all__ = ["ArrayData", "GroundTruthData", "cache_dir", "load", "register_dataset", "names"]


def load(name: str, **options) -> GroundTruthData:
    """Load the dataset registered as ``name`` (options are the loader's keyword arguments)."""
    return DATASETS.get(name)(**options)


def names() -> list[str]:
    """Names of every registered dataset (built-in and plugins)."""
    return DATASETS.names()
