"""Which images an estimate evaluates: the split of a dataset and a fixed subset of it."""

from __future__ import annotations

from typing import Any

import numpy as np

from untwine.errors import ConfigError

#: Seed of the fixed random subset ``max_examples`` picks: the same images for every run and
#: every importance-sampling seed, so that runs compare on equal examples.
SUBSET_SEED = 20151101


def resolve_split(data: Any, split: str | None) -> str | None:
    """``split`` with ``"auto"`` resolved: the test split where ``data`` has one, else the
    training images (see :func:`examples`)."""
    if split != "auto":
        return split
    return "test" if "test" in getattr(data, "splits", ()) else "train"


def examples(data: Any, split: str | None, max_examples: int | None) -> tuple[Any, np.ndarray]:
    """The dataset of ``split`` and the indices of the images an estimate evaluates.

    ``split="test"`` (or another held-out split) must exist: a dataset without it raises a
    one-line DataError. ``split="train"`` is the training images, also for a dataset that has
    no named splits (a factor grid such as dSprites, whose every image is a training image);
    ``split=None`` takes ``data`` as given. ``max_examples`` below the split's size picks a
    fixed random subset (:data:`SUBSET_SEED`, in index order): the first images of a factor
    grid all share the slowest factor's first value.
    ``split="auto"`` is ``"test"`` where the dataset has a test split and ``"train"``
    elsewhere; the dataset returned says which (``data.split_name`` for a labelled one; the
    result of :func:`estimate` names it).
    """
    split = resolve_split(data, split)
    if split == "train" and "train" not in getattr(data, "splits", ()):
        split = None  # no named splits: the dataset is its training images
    if split is not None:
        data = data.split(split)
    n = len(data)
    if max_examples is None or max_examples >= n:
        return data, np.arange(n)
    if max_examples < 1:
        raise ConfigError(f"max_examples: expected an integer >= 1 (got {max_examples!r})")
    rng = np.random.default_rng(SUBSET_SEED)
    return data, np.sort(rng.choice(n, size=max_examples, replace=False))
