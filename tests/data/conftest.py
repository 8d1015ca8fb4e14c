"""Fixtures shared by the dataset tests: the rendered dSprites set, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

import untwine.data


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
