"""A study that estimates log p(x) per cell: saved per run, in the results, beside MIG."""

from __future__ import annotations

import json
import math

import pytest
import yaml
from study_helpers import write_spec

from untwine import study

GRID = [{"method": "betavae", "beta": [1, 4]}]
LIKELIHOOD = {"k": 4, "examples": 12}


@pytest.fixture(scope="module")
def lik_study(tmp_path_factory, worker_env):
    """2 betas x 2 seeds on test-squares (a factor grid: no test split), with log p(x)."""
    root = tmp_path_factory.mktemp("lik")
    spec = write_spec(root / "lik.yaml", seeds=[0, 1], grid=GRID, likelihood=LIKELIHOOD)
    events: list[str] = []
    summary = study.run_study(spec, workers=2, on_event=events.append)
    return spec, root / "lik", summary, events


def test_every_cell_saves_its_estimate_on_named_training_images(lik_study):
    _, study_dir, summary, events = lik_study
    assert summary.states == {"done": 4}
    assert sum("log p(x)=" in e for e in events) == 4
    for folder in (study_dir / "runs").iterdir():
        r = json.loads((folder / "likelihood.json").read_text())
        # test-squares holds no images out: the estimate says it used training images
        assert r["split"] == "train" and r["split_size"] == 128 and r["n"] == 12
        assert r["k"] == 4 and r["bounds"]["1"] <= r["log_px"] + 1e-9
        assert r["settings"]["max_examples"] == 12 and r["settings"]["split"] == "auto"


def test_the_results_and_the_report_show_log_px_beside_mig(lik_study, tmp_path):
    _, study_dir, _, _ = lik_study
    columns, rows = study.results(study_dir)
    shown = ("log_px", "elbo", "kl", "mutual_information", "active_units")
    for name in shown:
        assert f"likelihood.{name}" in columns
    for row in rows:
        saved = json.loads((study_dir / "runs" / row["id"] / "likelihood.json").read_text())
        for name in shown:
            assert row[f"likelihood.{name}"] == pytest.approx(saved[name])
        assert row["likelihood.elbo"] <= row["likelihood.log_px"] + 1e-9
        # I(x; z) under the aggregate posterior of n images: at most log n, for every draw
        assert row["likelihood.mutual_information"] <= math.log(saved["n"]) + 1e-9
    _, table = study.results(study_dir, aggregate="median")
    assert [r["n"] for r in table] == [2, 2]
    study.write_report(study_dir)
    figure = study_dir / "report-figures" / "likelihood_vs_beta.png"
    assert figure.is_file() and figure.stat().st_size > 0
    page = (study_dir / "report.html").read_text()
    assert "log p(x)" in page and "beside mig" in page
    # every run logs its per-dimension KL: one figure of collapse over training
    assert (study_dir / "report-figures" / "kl_over_training.png").stat().st_size > 0
    assert "KL over training" in page


def test_a_new_k_re_estimates_without_retraining(lik_study):
    from untwine.study.driver import StudyDriver
    from untwine.study.runner import run_cell
    from untwine.study.spec import parse_spec

    spec, study_dir, _, _ = lik_study
    assert study.run_study(spec).skipped == 4  # the saved estimates are current: nothing runs
    raw = {**yaml.safe_load(spec.read_text()), "likelihood": {**LIKELIHOOD, "k": 8}}
    with StudyDriver(parse_spec(raw), study_dir) as driver:
        todo = driver.to_run()
        assert len(todo) == 4  # every cell is done, but its estimate is stale
        result = run_cell(driver.job(todo[0], threads=1))  # in this process: cheap
    assert result["state"] == "done" and not result["trained"]  # only the estimate ran
    assert result["likelihood"]["k"] == 8
    saved = json.loads((study_dir / "runs" / todo[0].id / "likelihood.json").read_text())
    assert saved["k"] == 8 and saved["settings"]["k"] == 8


def test_likelihood_settings_are_checked_by_name():
    from untwine.errors import ConfigError
    from untwine.study.spec import parse_spec

    with pytest.raises(ConfigError, match="likelihood"):
        parse_spec({"likelihood": {"k": 0}})
    with pytest.raises(ConfigError, match="likelihood"):
        parse_spec({"likelihood": {"kk": 5}})
