"""untwine: learn and measure disentangled representations with VAEs.

``untwine.train(...)``, ``untwine.load_run(path)``, ``untwine.Run`` and the subpackages
(``untwine.data``, ``untwine.metrics`` ...) are imported on first use: importing a light part
of untwine (``untwine.rundir``, the settings) or starting the command line loads neither
torch nor the training loop.
"""

import importlib

from untwine.errors import UntwineError
from untwine.version import __version__

#: the subpackages, reachable as attributes after ``import untwine``; ``untwine.train`` is
#: also callable: ``untwine.train(...)`` is :func:`untwine.train.loop.train`
SUBPACKAGES = (
    "data", "likelihood", "metrics", "models", "nets", "objectives", "rundir", "study",
    "train", "viz",
)  # fmt: skip
#: what ``untwine`` offers from ``untwine.train``
FROM_TRAIN = ("Run", "load_run")


def __getattr__(name: str):
    if name in SUBPACKAGES:
        return importlib.import_module(f"untwine.{name}")
    if name in FROM_TRAIN:
        return getattr(importlib.import_module("untwine.train"), name)
    raise AttributeError(f"module 'untwine' has no attribute {name!r}")


__all__ = ["UntwineError", "__version__", *FROM_TRAIN, *SUBPACKAGES]
