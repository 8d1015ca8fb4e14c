"""untwine: learn and measure disentangled representations with VAEs."""

import importlib

from untwine import data
from untwine.errors import UntwineError
from untwine.train import Run, load_run, train
from untwine.version import __version__

#: subpackages reachable as attributes after ``import untwine`` (``untwine.metrics``), imported
#: on first use so that the command line starts without them
LAZY = ("likelihood", "metrics", "models", "nets", "objectives", "study", "viz")


def __getattr__(name: str):
    if name in LAZY:
        return importlib.import_module(f"untwine.{name}")
    raise AttributeError(f"module 'untwine' has no attribute {name!r}")


__all__ = ["Run", "UntwineError", "__version__", "data", "load_run", "train", *LAZY]
