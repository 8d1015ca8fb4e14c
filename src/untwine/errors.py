"""The one exception family untwine raises for bad input (docs/design.md, "Conventions")."""


class UntwineError(Exception):
    """Base class: a problem the user can fix, described in one line."""


class ConfigError(UntwineError):
    """A configuration value, key or file is invalid."""


class DataError(UntwineError):
    """A dataset file or array does not match what the loader expects."""


class CheckpointError(UntwineError):
    """A run directory or checkpoint is missing, incomplete or inconsistent."""


class TrainingError(UntwineError):
    """Training cannot continue (for example a non-finite loss)."""
