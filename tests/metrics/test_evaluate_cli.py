"""``untwine evaluate``: a run or a folder of runs, metrics.json merged, one-line errors."""

from __future__ import annotations

import json
import shutil

import pytest
from cli_helpers import untwine, untwine_here

import untwine as api


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("eval") / "run"
    api.train(
        "test-squares", method="betavae", steps=4, batch_size=8, z_dim=3, out=out,
        seed=0, threads=1, progress=False,
    )  # fmt: skip
    return out


def _error_line(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_a_run_is_scored_and_other_metrics_are_kept(trained, tmp_path, plugin_env):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "metrics.json").write_text(json.dumps({"mine": {"mine": 0.25}}))
    proc = untwine(
        "evaluate", str(run), "--metrics", "mig,sap", "--num-points", "200",
        "--num-test-points", "100", "--json", env=plugin_env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    saved = json.loads((run / "metrics.json").read_text())
    assert set(saved) == {"mine", "mig", "sap"}
    assert saved["mig"]["settings"]["num_points"] == 200
    assert rows == [
        {"run": "run", "step": 4, "mig": saved["mig"]["mig"], "sap": saved["sap"]["sap"]}
    ]
    assert 0.0 <= rows[0]["mig"] <= 1.0


def test_a_folder_gives_one_table_and_reports_a_run_without_checkpoints(
    trained, tmp_path, plugin_env
):
    folder = tmp_path / "sweep"
    for name in ("a", "b"):
        shutil.copytree(trained, folder / name)
    shutil.rmtree(folder / "b" / "checkpoints")
    proc = untwine(
        "evaluate", str(folder), "--metrics", "mig", "--num-points", "200",
        env=plugin_env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    header, row_a, row_b = proc.stdout.splitlines()
    assert header.split()[:3] == ["run", "step", "mig"]
    assert row_a.startswith("a ") and "no checkpoint" in row_b
    assert json.loads((folder / "a" / "metrics.json").read_text())["mig"]["seed"] == 0
    assert not (folder / "b" / "metrics.json").exists()


def test_bad_input_is_one_line(trained, tmp_path, plugin_env):
    line = _error_line(untwine("evaluate", str(tmp_path / "nope"), env=plugin_env, cwd=tmp_path))
    assert "nope: no such run directory" in line
    line = _error_line(untwine_here("evaluate", str(trained), "--metrics", "mgi", cwd=tmp_path))
    assert "unknown metric 'mgi'" in line and "mig" in line and "sap" in line
    bare = tmp_path / "bare"
    shutil.copytree(trained, bare)
    shutil.rmtree(bare / "checkpoints")
    line = _error_line(untwine_here("evaluate", str(bare), cwd=tmp_path))
    assert "bare: the run has no checkpoint yet" in line
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no run folders" in _error_line(untwine_here("evaluate", str(empty), cwd=tmp_path))
