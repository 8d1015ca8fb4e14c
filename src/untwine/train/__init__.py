"""Training: the loop, checkpoints, and a trained run read back (a run folder's files are
untwine.rundir's)."""

from untwine.train.loop import train
from untwine.train.run import Run, load_run

__all__ = ["Run", "load_run", "train"]
