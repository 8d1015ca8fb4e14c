"""``untwine study run | status | results | index`` through the command line."""

from __future__ import annotations

import csv
import io
import json

from cli_helpers import untwine, untwine_here
from study_helpers import write_spec


def test_run_status_results_and_index_from_the_shell(tmp_path, study_cli_env):
    write_spec(
        tmp_path / "cli.yaml",
        grid=[{"method": "betavae", "beta": 2}, {"method": "test-raise", "fail_at": 2}],
    )
    run = untwine("study", "run", "cli.yaml", "--workers", "2", env=study_cli_env, cwd=tmp_path)
    assert run.returncode == 1, run.stderr  # not every cell finished
    assert "study " in run.stdout and "1 done, 1 failed" in run.stdout
    assert "RuntimeError: injected failure at step 2" in run.stdout
    study_dir = tmp_path / "cli"
    assert (study_dir / "index.sqlite").is_file()

    status = untwine_here("study", "status", "cli", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0] == "done 1  running 0  failed 1  interrupted 0  pending 0"
    assert lines[1].startswith("failed") and "injected failure at step 2" in lines[1]

    table = untwine_here("study", "results", "cli", "--sort", "mig", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    header, first, second = table.stdout.splitlines()
    assert header.split()[:3] == ["id", "status", "method"] and "mig" in header.split()
    assert first.split()[1:3] == ["done", "betavae"] and second.split()[1] == "failed"

    as_csv = untwine_here("study", "results", "cli", "--format", "csv", cwd=tmp_path)
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert {r["status"] for r in rows} == {"done", "failed"}
    (done,) = [r for r in rows if r["status"] == "done"]
    assert float(done["mig"]) >= 0 and done["step"] == "10"

    as_json = untwine_here(
        "study",
        "results",
        "cli",
        "--format",
        "json",
        "--sort",
        "method",
        cwd=tmp_path,
    )
    records = json.loads(as_json.stdout)
    assert [r["method"] for r in records] == ["betavae", "test-raise"]
    assert records[1]["mig"] is None and "injected failure" in records[1]["error"]

    rebuilt = untwine_here("study", "index", "cli", "--rebuild", cwd=tmp_path)
    assert rebuilt.returncode == 0 and "indexed 2 runs" in rebuilt.stdout
    again = untwine_here(
        "study",
        "results",
        "cli",
        "--format",
        "json",
        "--sort",
        "method",
        cwd=tmp_path,
    )
    assert json.loads(again.stdout) == records


def test_bad_specs_and_folders_are_one_line_errors(tmp_path, study_cli_env):
    write_spec(tmp_path / "bad.yaml", grid=[{"method": "betavae", "bta": [1, 2]}])
    proc = untwine("study", "run", "bad.yaml", env=study_cli_env, cwd=tmp_path)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip().splitlines() == [proc.stderr.strip()]
        and "bad.yaml: grid[0]: unknown setting(s) 'bta'" in proc.stderr
    )
    assert not (tmp_path / "bad").exists()  # nothing was written
    proc = untwine_here("study", "status", "nowhere", cwd=tmp_path)
    assert proc.returncode == 2 and "nowhere: no such study folder" in proc.stderr
