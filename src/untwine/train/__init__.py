"""Training: the loop, checkpoints and run directories."""

from untwine.train.loop import train
from untwine.train.run import Run, load_run

__all__ = ["Run", "load_run", "train"]
