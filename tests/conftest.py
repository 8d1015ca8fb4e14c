"""Shared fixtures. ``tests/`` is on sys.path (pytest rootdir conftest), so the test plugin
module registers the tiny ``test-squares`` dataset for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import squares_plugin

TESTS = Path(__file__).parent


@pytest.fixture
def squares():
    return squares_plugin.load_squares()


@pytest.fixture
def plugin_env() -> dict[str, str]:
    """Environment for subprocesses that need the test dataset registered."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    env["UNTWINE_PLUGINS"] = "squares_plugin"
    return env
