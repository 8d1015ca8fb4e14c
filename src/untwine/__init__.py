"""untwine: learn and measure disentangled representations with VAEs."""

__version__ = "0.1.0"

import importlib  # noqa: E402

from untwine import data  # noqa: E402
from untwine.errors import UntwineError  # noqa: E402
from untwine.train import Run, load_run, train  # noqa: E402

#: subpackages reachable as attributes after ``import untwine`` (``untwine.metrics``), imported
#: on first use so that the command line starts without them
LAZY = ("likelihood", "metrics", "models", "nets", "objectives", "study", "viz")


def __getattr__(name: str):
    if name in LAZY:
        return importlib.import_module(f"untwine.{name}")
    raise AttributeError(f"module 'untwine' has no attribute {name!r}")


__all__ = ["Run", "UntwineError", "__version__", "data", "load_run", "train", *LAZY]
