"""The Ray backend on a local Ray instance: one task per cell, one injected failure."""

from __future__ import annotations

import json

import pytest
from study_helpers import write_spec

from untwine import study

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'untwine[ray]')")


@pytest.fixture(scope="module")
def local_ray(worker_env):
    """A private local Ray instance for this module, shut down afterwards."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield ray
    finally:
        ray.shutdown()


def test_a_study_on_ray_completes_around_an_injected_failure(tmp_path, local_ray):
    spec = write_spec(
        tmp_path / "ray.yaml",
        seeds=[0, 1],
        grid=[{"method": "betavae", "beta": 4}, {"method": "test-raise", "fail_at": 3}],
    )
    events: list[str] = []
    summary = study.run_study(spec, backend="ray", on_event=events.append)
    assert summary.states == {"done": 2, "failed": 2} and not summary.complete
    assert local_ray.is_initialized()  # an instance we did not start is left running

    study_dir = tmp_path / "ray"
    report = study.status(study_dir)
    assert report["counts"]["done"] == 2 and report["counts"]["failed"] == 2
    for run in report["runs"]:
        record = json.loads((study_dir / "runs" / run["id"] / "cell.json").read_text())
        assert record["backend"] == "ray"
        if run["id"].startswith("test-raise-"):
            assert run["status"] == "failed"
            assert run["error"] == "RuntimeError: injected failure at step 3"
            assert "injected failure" in (study_dir / "runs" / run["id"] / "error.txt").read_text()
        else:
            assert run["status"] == "done" and run["step"] == 10
    columns, rows = study.results(study_dir, sort="mig")
    assert [r["status"] for r in rows] == ["done", "done", "failed", "failed"]
    assert all(isinstance(r["mig"], float) for r in rows[:2])
    assert sum("injected failure at step 3" in e for e in events) == 2

    # Running it again on Ray skips the finished cells and retries only the failed ones.
    again = study.run_study(spec, backend="ray")
    assert (again.skipped, again.states) == (2, {"failed": 2})
