"""The local runner end to end on the tiny test dataset: it runs, skips, resumes, recovers."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
from pathlib import Path

import pytest
from study_helpers import write_spec

from untwine import study
from untwine.study.index import StudyIndex
from untwine.train.runtime import available_cores

GRID = [{"method": "betavae", "beta": [1, 4]}]


def cell_record(study_dir: Path, cell_id: str) -> dict:
    return json.loads((study_dir / "runs" / cell_id / "cell.json").read_text())


def checkpoint_mtimes(study_dir: Path) -> dict[str, float]:
    return {
        str(p.relative_to(study_dir)): p.stat().st_mtime_ns
        for p in (study_dir / "runs").glob("*/checkpoints/*/*")
    }


@pytest.fixture(scope="module")
def squares_study(tmp_path_factory, worker_env):
    """A 4-cell study (beta 1, 4 x seeds 0, 1) run once by two workers."""
    root = tmp_path_factory.mktemp("local")
    spec = write_spec(
        root / "tiny.yaml",
        seeds=[0, 1],
        grid=GRID,
        metrics=["mig", "test_threads"],
        select={"by": "udr", "num_points": 64},
    )
    events: list[str] = []
    summary = study.run_study(spec, workers=2, on_event=events.append)
    return spec, root / "tiny", summary, events


def test_every_cell_runs_and_the_index_holds_runs_and_scores(squares_study):
    spec, study_dir, summary, events = squares_study
    assert summary.study_dir == study_dir.resolve()
    assert (summary.cells, summary.skipped, summary.states) == (4, 0, {"done": 4})
    assert summary.complete
    assert any("local: 2 workers x" in e for e in events)
    assert sum("done" in e and "mig=" in e for e in events) == 4

    assert study.status(study_dir)["counts"] == {
        "done": 4,
        "running": 0,
        "failed": 0,
        "interrupted": 0,
        "pending": 0,
    }
    columns, rows = study.results(study_dir, sort="mig")
    assert columns[:5] == ["id", "status", "method", "beta", "seed"]
    assert "mig" in columns and "test_threads" in columns
    assert len(rows) == 4 and all(r["status"] == "done" and r["step"] == 10 for r in rows)
    migs = [r["mig"] for r in rows]
    assert all(isinstance(m, float) for m in migs) and migs == sorted(migs, reverse=True)
    assert sorted((r["beta"], r["seed"]) for r in rows) == [(1, 0), (1, 1), (4, 0), (4, 1)]

    with sqlite3.connect(study_dir / "index.sqlite") as db:
        assert db.execute("SELECT count(*) FROM runs WHERE status = 'done'").fetchone() == (4,)
        assert db.execute(
            "SELECT count(DISTINCT run_id) FROM metrics WHERE metric = 'mig' AND key = 'mig'"
        ).fetchone() == (4,)
        assert sorted(db.execute("SELECT p_beta FROM runs")) == [(1,), (1,), (4,), (4,)]
    assert (study_dir / "study.yaml").is_file()
    assert not list((study_dir / ".jobs").iterdir())


def test_the_spec_s_selection_ranks_the_seeds_of_each_setting(squares_study):
    from untwine.metrics.udr import udr_of_runs

    _, study_dir, _, events = squares_study
    chosen = json.loads((study_dir / "selection.json").read_text())
    assert chosen["by"] == "udr" and len(chosen["runs"]) == 4 and len(chosen["settings"]) == 2
    assert sum(e.startswith("selected by udr: ") for e in events) == 2
    for group in chosen["settings"]:
        pair = udr_of_runs(group["runs"], num_points=64, seed=0)["udr"]
        scores = {r["run"]: r["score"] for r in chosen["runs"] if r["run"] in group["runs"]}
        assert [scores[run] for run in group["runs"]] == pytest.approx(pair)
        assert group["chosen"] in group["runs"]
    assert [r["rank"] for r in chosen["runs"]] == [1, 2, 3, 4]
    assert chosen["chosen"] == chosen["runs"][0]["run"]


def test_workers_get_the_cores_divided_among_them(squares_study):
    _, study_dir, _, events = squares_study
    expected = max(1, available_cores() // 2)
    assert any(f"local: 2 workers x {expected} threads" in e for e in events)
    _, rows = study.results(study_dir)
    for row in rows:
        # Seen inside the worker process, after the run trained: torch and OpenMP agree.
        scores = json.loads((study_dir / "runs" / row["id"] / "metrics.json").read_text())
        assert scores["test_threads"]["test_threads"] == expected
        assert scores["test_threads"]["omp_num_threads"] == expected
        assert cell_record(study_dir, row["id"])["threads"] == expected
    pids = {cell_record(study_dir, r["id"])["attempts"][0]["pid"] for r in rows}
    assert len(pids) == 4 and os.getpid() not in pids  # one fresh process per cell


def test_rerunning_skips_done_cells_and_a_new_seed_runs_only_new_cells(squares_study):
    spec, study_dir, _, _ = squares_study
    before = checkpoint_mtimes(study_dir)
    first_ids = {r["id"] for r in study.results(study_dir)[1]}

    again = study.run_study(spec, workers=2)
    assert (again.skipped, again.states) == (4, {})
    assert checkpoint_mtimes(study_dir) == before
    assert all(len(cell_record(study_dir, i)["attempts"]) == 1 for i in first_ids)

    write_spec(spec, seeds=[0, 1, 2], grid=GRID, metrics=["mig", "test_threads"])
    grown = study.run_study(spec, workers=2)
    assert (grown.cells, grown.skipped, grown.states) == (6, 4, {"done": 2})
    assert {k: v for k, v in checkpoint_mtimes(study_dir).items() if k in before} == before
    rows = study.results(study_dir)[1]
    assert len(rows) == 6 and {r["seed"] for r in rows if r["id"] not in first_ids} == {2}
    assert all(len(cell_record(study_dir, i)["attempts"]) == 1 for i in first_ids)


def test_the_index_rebuilt_from_the_folders_gives_the_same_table(squares_study):
    _, study_dir, _, _ = squares_study
    table = study.results(study_dir, sort="mig")
    status = study.status(study_dir)
    with StudyIndex.open(study_dir) as index:
        records = index.records(in_spec_only=False)

    assert study.rebuild_index(study_dir) == len(records)
    assert study.results(study_dir, sort="mig") == table
    with StudyIndex.open(study_dir) as index:
        assert index.records(in_spec_only=False) == records

    (study_dir / "index.sqlite").unlink()  # missing: rebuilt on demand
    assert study.results(study_dir, sort="mig") == table
    (study_dir / "index.sqlite").write_bytes(b"not a database" * 100)  # corrupt: rebuilt
    assert study.results(study_dir, sort="mig") == table
    assert study.status(study_dir) == status


def test_a_sigkilled_run_is_recorded_failed_and_resumes_on_the_next_run(tmp_path, worker_env):
    marker = tmp_path / "killed-once"
    spec = write_spec(
        tmp_path / "kill.yaml",
        grid=[
            {"method": "test-sigkill", "kill_at": 6, "kill_marker": str(marker)},
            {"method": "betavae", "beta": [1, 4]},
        ],
    )
    study_dir = tmp_path / "kill"
    first = study.run_study(spec, workers=2)
    assert first.states == {"failed": 1, "done": 2} and not first.complete
    assert marker.exists()  # the kill happened, in a worker (not in this process)

    report = study.status(study_dir)
    assert report["counts"]["failed"] == 1 and report["counts"]["done"] == 2
    (killed,) = [r for r in report["runs"] if r["status"] == "failed"]
    assert killed["id"].startswith("test-sigkill-")
    assert "worker killed by SIGKILL; last checkpoint at step 6" in killed["error"]
    others = [r["id"] for r in report["runs"] if r["status"] == "done"]

    second = study.run_study(spec, workers=2)
    assert (second.skipped, second.states) == (2, {"done": 1}) and second.complete
    assert study.status(study_dir)["counts"]["done"] == 3

    attempts = cell_record(study_dir, killed["id"])["attempts"]
    assert [a["state"] for a in attempts] == ["failed", "done"]
    assert attempts[1]["resumed_from"] == 6  # continued from its checkpoint, not from zero
    log = [
        json.loads(x)["step"]
        for x in (study_dir / "runs" / killed["id"] / "log.jsonl").read_text().splitlines()
    ]
    assert log == [2, 4, 6, 8, 10]
    for cell in others:  # finished runs were not touched again
        assert [a["state"] for a in cell_record(study_dir, cell)["attempts"]] == ["done"]


def test_the_study_report_reads_the_index_and_plots_metrics_against_beta(squares_study, tmp_path):
    from untwine.study import write_report
    from untwine.study.driver import StudyDriver
    from untwine.study.spec import load_spec

    _, study_dir, _, _ = squares_study
    copy = tmp_path / "copy"
    shutil.copytree(study_dir, copy, ignore=shutil.ignore_patterns("*.lock"))
    # The spec gains a seed that no run has started: the index knows the cell, no folder does.
    grown = write_spec(tmp_path / "grown.yaml", seeds=[0, 1, 7], grid=GRID, metrics=["mig"])
    with StudyDriver(load_spec(grown), copy):
        pass
    stale = copy / "report-figures" / "metrics_vs_alpha.png"  # an axis the spec no longer has
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"old")
    page = write_report(copy).read_text()
    assert not stale.exists()
    kept = {r["id"] for r in study.results(study_dir)[1] if r["seed"] in (0, 1)}
    dropped = {r["id"] for r in study.results(study_dir)[1] if r["seed"] not in (0, 1)}
    assert all(i in page for i in kept) and not any(i in page for i in dropped)
    assert page.count('data-sort="done"') == 4 and page.count('data-sort="pending"') == 2
    assert "not started" in page
    figure = copy / "report-figures" / "metrics_vs_beta.png"
    assert figure.is_file() and figure.stat().st_size > 0


def test_aggregate_is_the_median_over_seeds_in_axis_order(squares_study):
    _, study_dir, _, _ = squares_study
    _, rows = study.results(study_dir)
    columns, table = study.results(study_dir, aggregate="median")
    assert columns[:2] == ["method", "beta"] and "mig" in columns
    assert [r["beta"] for r in table] == [1, 4]  # numeric order, not the order of the ids
    for r in table:
        migs = [x["mig"] for x in rows if x["beta"] == r["beta"]]
        assert r["n"] == len(migs) >= 2 and r["mig"] == statistics.median(migs)
