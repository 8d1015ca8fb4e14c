"""The run folder: one rule for its state, its log, its metrics and its settings."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys

import pytest

from untwine import rundir
from untwine.config import TrainConfig
from untwine.study.spec import cell_id


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_running_is_believed_only_while_its_owner_lives():
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    assert rundir.run_state({"state": "running", **me}, {}) == "running"
    dead = {"state": "running", "pid": _dead_pid(), "host": socket.gethostname()}
    assert rundir.run_state(dead, {}) == "interrupted"
    assert rundir.run_state({"state": "running"}, {}) == "interrupted"  # no owner recorded
    # Another machine's process cannot be checked from here: trust it.
    elsewhere = {"state": "running", "pid": 1, "host": socket.gethostname() + "-other"}
    assert rundir.run_state(elsewhere, {}) == "running"
    assert rundir.run_state({"state": "done", "pid": _dead_pid()}, {}) == "done"


def test_the_drivers_record_wins_and_its_owner_is_checked_too():
    status = {"state": "running", "pid": os.getpid(), "host": socket.gethostname()}
    assert rundir.run_state(status, {"state": "failed"}) == "failed"  # the worker died
    dead_driver = {"state": "running", "pid": _dead_pid(), "host": socket.gethostname()}
    assert rundir.run_state(status, dead_driver) == "interrupted"
    assert rundir.run_state({}, {}) == "pending"


def test_written_status_and_cell_read_back_as_running_in_this_process(tmp_path):
    rundir.write_status(tmp_path, "running", 7)
    rundir.write_cell(tmp_path, {"state": "running", "settings": {"beta": 4}})
    record = rundir.read_record(tmp_path)
    assert (record.state, record.step, record.settings) == ("running", 7, {"beta": 4})
    assert rundir.step(tmp_path) == 7
    assert "no checkpoint" in record.marks and "no config" in record.marks


def test_the_log_skips_a_torn_last_line_and_truncates_to_a_step(tmp_path):
    lines = [json.dumps({"step": s, "loss": float(s)}) for s in (2, 4, 6)]
    (tmp_path / rundir.LOG).write_text("\n".join(lines) + '\n{"step": 8, "lo')
    assert [r["step"] for r in rundir.read_log(tmp_path)] == [2, 4, 6]
    rundir.truncate_log(tmp_path, 4)
    assert (tmp_path / rundir.LOG).read_text() == "".join(x + "\n" for x in lines[:2])


def test_metrics_merge_keeps_others_and_a_bad_result_leaves_the_file(tmp_path):
    rundir.merge_metrics(tmp_path, {"mig": {"mig": 0.5, "seed": 0}})
    rundir.merge_metrics(tmp_path, {"sap": {"sap": math.nan}})
    saved = rundir.read_metrics(tmp_path)
    assert saved == {"mig": {"mig": 0.5, "seed": 0}, "sap": {"sap": None}}
    before = (tmp_path / rundir.METRICS).read_text()
    with pytest.raises(TypeError):
        rundir.merge_metrics(tmp_path, {"dci": {"dci": object()}})
    assert (tmp_path / rundir.METRICS).read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == [rundir.METRICS]  # no temp file left
    assert rundir.headline_scores(saved) == {"mig": 0.5, "sap": None}


def test_not_hyperparameters_leave_ids_alone_and_keep_existing_study_ids():
    config = TrainConfig.from_flat(method="betavae", beta=4, steps=100, out="x")
    # The id an untwine study gave this cell before the list moved here: existing study
    # folders must keep finding their cells (a new config field with a default changes it
    # on purpose; then this value is updated in the same change: `network: auto` did).
    assert cell_id(config) == "betavae-271fe5e3b277"
    for key, value in {
        "out": "y",
        "log_every": 3,
        "checkpoint_every": 5,
        "keep_checkpoints": 4,
        "device": "cpu",
    }.items():
        assert cell_id(config.model_copy(update={key: value})) == cell_id(config), key
    assert set(rundir.NOT_HYPERPARAMETERS) == rundir.RESUMABLE - {"steps"}
    params = rundir.flat_params(config.model_dump(mode="json"))
    assert not set(params) & set(rundir.NOT_HYPERPARAMETERS)
    assert params["beta"] == 4.0 and params["method"] == "betavae" and params["steps"] == 100
