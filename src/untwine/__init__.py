"""untwine: learn and measure disentangled representations with VAEs."""

__version__ = "0.1.0"

from untwine import data  # noqa: E402
from untwine.errors import UntwineError  # noqa: E402
from untwine.train import Run, load_run, train  # noqa: E402

__all__ = ["Run", "UntwineError", "__version__", "data", "load_run", "train"]
