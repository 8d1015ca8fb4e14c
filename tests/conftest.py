"""Shared fixtures. ``tests/`` is on sys.path (pytest rootdir conftest), so the test plugin
module registers the tiny ``test-squares`` dataset for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import squares_plugin

import untwine.data

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


@pytest.fixture(scope="session")
def dsprites_home(tmp_path_factory: pytest.TempPathFactory):
    """A private UNTWINE_HOME for this session, so that tests never touch the user's cache."""
    home = tmp_path_factory.mktemp("untwine-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNTWINE_HOME", str(home))
        yield home


@pytest.fixture(scope="session")
def data(dsprites_home: Path) -> untwine.data.ArrayData:
    """The full rendered set, rendered once per session (and cached in ``dsprites_home``)."""
    return untwine.data.load("dsprites")
