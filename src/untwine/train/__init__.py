"""Training: the loop, checkpoints, and a trained run read back (a run folder's files are
untwine.rundir's).

The package is callable: ``untwine.train(data, method=..., ...)`` trains, the same as
:func:`untwine.train.loop.train` (``from untwine.train import train`` gives that function).
"""

import sys
import types

from untwine.train.loop import train
from untwine.train.run import Run, load_run


class _CallablePackage(types.ModuleType):
    """``untwine.train`` is both this package and the function that trains: ``import
    untwine.train.x`` makes the attribute ``untwine.train`` the package, so the package
    itself must train when called."""

    def __call__(self, *args, **kwargs):
        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage

__all__ = ["Run", "load_run", "train"]
