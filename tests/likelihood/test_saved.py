"""Which run folders an estimate over a folder visits."""

from __future__ import annotations

import pytest

from untwine import likelihood
from untwine.errors import ConfigError


def _run(path):
    (path / "checkpoints").mkdir(parents=True)
    (path / "config.yaml").write_text("{}\n")
    return path


def test_a_folder_s_runs_are_the_run_folders_the_run_folder_module_finds(tmp_path):
    vq = _run(tmp_path / "vq")
    _run(vq / "prior")  # a VQ run's prior is part of that run, not a run of its own
    _run(tmp_path / ".jobs" / "x")  # hidden: a study's bookkeeping
    vae = _run(tmp_path / "sweep" / "vae")
    pending = tmp_path / "sweep" / "pending"
    pending.mkdir()
    (pending / "cell.json").write_text("{}")  # a study cell not trained yet: a row (an error)
    assert likelihood.run_dirs(tmp_path) == [pending, vae, vq]
    assert likelihood.run_dirs(vq) == [vq]
    with pytest.raises(ConfigError, match="not a run directory and no run directories below"):
        likelihood.run_dirs(tmp_path / "sweep" / "pending" / "nothing")
