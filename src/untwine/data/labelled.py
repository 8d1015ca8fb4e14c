"""Image collections with a class label and held-out splits (MNIST, scikit-learn's digits).

These are not full factor grids: the class label is the single factor, images are stored in
any order and a label has many images. :class:`LabelledData` keeps the ground-truth protocol
(``factors_of``, ``sample_observations_from_factors`` draw a random image of each requested
label) so the metrics still run, and adds named splits: ``data.split("test")`` is another
:class:`LabelledData` over the held-out images, which is what likelihood evaluation reads.

Dynamic binarisation (Salakhutdinov & Murray 2008; the IWAE paper's protocol): each training
batch is a fresh Bernoulli draw with the grey level as probability (:meth:`training_images`,
seeded by the batch stream), while :meth:`images` returns one fixed binarisation, drawn once
from ``binarise_seed``, so that evaluation is repeatable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from untwine.data.base import GroundTruthData, IndexLike
from untwine.errors import DataError


class LabelledData(GroundTruthData):
    """uint8 images (N, C, H, W) with integer labels (N,), a train split and named others.

    ``splits`` maps split names to index arrays into ``store``; the object itself is the
    ``split`` named at construction (by default "train"). ``binarise_seed`` (not None) turns
    grey images into dynamically binarised ones, see the module docstring.
    """

    def __init__(
        self,
        name: str,
        store: np.ndarray,
        labels: np.ndarray,
        *,
        splits: dict[str, np.ndarray],
        split: str = "train",
        max_value: int = 255,
        num_classes: int = 10,
        binarise_seed: int | None = None,
        load_options: dict | None = None,
    ) -> None:
        if split not in splits:
            raise DataError(f"{name}: no split {split!r}; expected one of: {', '.join(splits)}")
        self.name = name
        self.factor_names = ("label",)
        self.factor_sizes = (num_classes,)
        self.observation_shape = tuple(int(s) for s in store.shape[1:])  # type: ignore[assignment]
        self.split_name = split
        self.splits = tuple(splits)
        self.load_options = dict(load_options or {})
        self._all, self._all_labels, self._split_idx = store, labels, splits
        self._grey_max = max_value
        self._binarise_seed = binarise_seed
        idx = np.asarray(splits[split], dtype=np.int64)
        self._labels = labels[idx]
        if binarise_seed is None:
            self._store = store[idx]
            self.max_value = max_value
        else:
            # One fixed draw over the whole collection, so every split sees the same pixels.
            fixed = self._bernoulli(store, np.random.default_rng(binarise_seed))
            self._grey, self._store = store[idx], fixed[idx]
            self.max_value = 1
        self._by_label = [np.flatnonzero(self._labels == c) for c in range(num_classes)]

    def __len__(self) -> int:
        return len(self._store)

    def split(self, name: str) -> LabelledData:
        """The same collection restricted to the split ``name`` (e.g. "test")."""
        return LabelledData(
            self.name,
            self._all,
            self._all_labels,
            splits=self._split_idx,
            split=name,
            max_value=self._grey_max,
            num_classes=self.factor_sizes[0],
            binarise_seed=self._binarise_seed,
            load_options=self.load_options,
        )

    def images(self, indices: IndexLike) -> np.ndarray:
        return self._store[self._as_indices(indices)]

    def training_images(self, indices: IndexLike, rng: np.random.Generator) -> np.ndarray:
        """Fresh Bernoulli draws for binarised data; the stored images otherwise."""
        idx = self._as_indices(indices)
        if self._binarise_seed is None:
            return self._store[idx]
        return self._bernoulli(self._grey[idx], rng)

    def _bernoulli(self, grey: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p = grey.astype(np.float32) * np.float32(1.0 / self._grey_max)
        return (rng.random(grey.shape, dtype=np.float32) < p).astype(np.uint8)

    # -- the label as the single factor ---------------------------------------------------
    def factors_of(self, indices: IndexLike) -> np.ndarray:
        return self._labels[self._as_indices(indices)].reshape(-1, 1).astype(np.int64)

    def index(self, factors: np.ndarray) -> np.ndarray:
        raise DataError(
            f"{self.name}: a label has many images; use sample_observations_from_factors"
        )

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """One random image (float32 in [0, 1]) of each requested label."""
        factors = np.asarray(factors).reshape(-1)
        rng = rng if rng is not None else np.random.default_rng(0)
        picks = np.array(
            [self._by_label[c][rng.integers(len(self._by_label[c]))] for c in factors],
            dtype=np.int64,
        )
        return self.to_float(self.images(picks))


def split_per_class(labels: np.ndarray, test_per_class: int, seed: int) -> dict[str, np.ndarray]:
    """A fixed split: ``test_per_class`` random images of each label held out, sorted indices."""
    rng = np.random.default_rng(seed)
    test = np.concatenate(
        [
            rng.choice(np.flatnonzero(labels == c), test_per_class, replace=False)
            for c in np.unique(labels)
        ]
    )
    test.sort()
    train = np.setdiff1d(np.arange(len(labels)), test)
    return {"train": train, "test": test}


def check_labels(name: str, labels: Sequence[int], n: int) -> None:
    if len(labels) != n:
        raise DataError(f"{name}: {n} images but {len(labels)} labels")
