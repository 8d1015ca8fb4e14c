"""Ground-truth datasets: ``untwine.data.load(name, **options)``.

Each dataset module registers a loader with ``@register_dataset(name)``; a user registers
their own the same way (a callable taking keyword options and returning a
:class:`GroundTruthData`). The built-in dataset modules are listed once, with the dataset
registry (:data:`untwine.registry.DATASETS`), which imports them on its first lookup: a new
built-in dataset module is added to that list.
"""

from __future__ import annotations

import os

from untwine.data.base import ArrayData, GroundTruthData, cache_dir
from untwine.registry import DATASETS, register_dataset

__all__ = [
    "ArrayData",
    "GroundTruthData",
    "cache_dir",
    "describe",
    "load",
    "register_dataset",
    "names",
]


def load(name: str, **options) -> GroundTruthData:
    """Load the dataset registered as ``name`` (options are the loader's keyword arguments)."""
    data = DATASETS.get(name)(**options)
    if not hasattr(data, "load_options"):
        # What a run records in its config, so that its dataset is loaded the same way again.
        data.load_options = {
            k: str(v) if isinstance(v, os.PathLike) else v for k, v in options.items()
        }
    return data


def describe() -> list[tuple[str, str]]:
    """(name, "factor sizes; where it reads from") for every registered dataset."""
    out = []
    for name in DATASETS.names():
        info = getattr(DATASETS.get(name), "about", None)
        if info is None:
            out.append((name, "(a user's loader)"))
        elif not info.factor_names:
            out.append((name, info.reads))
        else:
            out.append((name, info.line()))
    return out


def names() -> list[str]:
    """Names of every registered dataset (built-in and plugins)."""
    return DATASETS.names()
