"""Fixtures for the study tests: worker processes must see the test plugins.

The local runner starts workers with the driver's environment and the Ray runner forwards
``UNTWINE_PLUGINS`` and ``PYTHONPATH`` to its tasks, so setting them here (absolute paths)
is what makes ``test-squares``, the failing test methods and the ``test_threads`` metric
known in every worker.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import study_plugin  # noqa: F401  (registers the test methods and metric in this process)

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent
PLUGINS = "squares_plugin,study_plugin"


def plugin_path() -> str:
    return os.pathsep.join(filter(None, [str(TESTS), str(HERE), os.environ.get("PYTHONPATH")]))


@pytest.fixture(scope="module")
def worker_env() -> Iterator[None]:
    """Module-wide: os.environ such that spawned workers import the test plugins."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", plugin_path())
        mp.setenv("UNTWINE_PLUGINS", PLUGINS)
        yield


@pytest.fixture
def study_cli_env() -> dict[str, str]:
    """Environment for ``python -m untwine study ...`` subprocesses."""
    return {**os.environ, "PYTHONPATH": plugin_path(), "UNTWINE_PLUGINS": PLUGINS}
