"""The version of untwine, recorded in checkpoints, metrics and reports (pyproject.toml has
the same number)."""

__version__ = "0.1.0"
