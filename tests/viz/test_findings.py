"""The papers' figures (untwine.viz.findings) on fabricated run folders, and the folder page
drawing each one only where the runs allow it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import untwine
from untwine.viz import findings
from untwine.viz.report import write_folder_report


def fake_run(
    folder: Path,
    method: str,
    *,
    seed: int = 0,
    dataset: str = "test-squares",
    log: list[dict] | None = None,
    metrics: dict | None = None,
    **settings,
) -> Path:
    """A finished run folder written by hand: config.yaml, status.json, log.jsonl and
    metrics.json, no checkpoint."""
    folder.mkdir(parents=True)
    config = {
        "method": {"name": method, **settings},
        "dataset": {"name": dataset},
        "seed": seed,
        "steps": 100,
    }
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    (folder / "status.json").write_text(json.dumps({"state": "done", "step": 100}))
    lines = [json.dumps({"step": 10 * (i + 1), **r}) for i, r in enumerate(log or [])]
    (folder / "log.jsonl").write_text("".join(line + "\n" for line in lines))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    return folder


# -- capacity -----------------------------------------------------------------------------
def capacity_log() -> list[dict]:
    """C rises 0, 1, ..., 9 nats; z0 reaches 0.5 nats at C = 2, z2 at C = 5, z3 at C = 7,
    z1 never (collapsed)."""
    records = []
    for c in range(10):
        kl = [max(0.0, 0.25 * (c - 0)), 0.01, max(0.0, 0.25 * (c - 3)), max(0.0, 0.25 * (c - 5))]
        records.append({"step": 10 * (c + 1), "capacity": float(c), "kl_dims": kl, "recon": 50.0})
    return records


def test_capacity_order_of_appearance_from_a_constructed_log(tmp_path):
    curves = findings.capacity_curves(capacity_log(), factors=["posX", None, "scale", "posX"])
    assert curves.capacity.tolist() == list(range(10))
    assert curves.crossings == [2, None, 5, 7]
    # posX appears with z0 (its first dimension), scale with z2; z1 has no factor
    assert [(a.factor, a.dim, a.capacity, a.step) for a in curves.order] == [
        ("posX", 0, 2.0, 30),
        ("scale", 2, 5.0, 60),
    ]
    assert findings.capacity_curves([{"step": 1, "kl_dims": [0.1]}]) is None  # no capacity

    runs = [fake_run(tmp_path / f"s{s}", "annealedvae", seed=s, log=capacity_log()) for s in (0, 1)]
    labels = {str(runs[0]): ["posX", None, "scale", "shape"]}  # s1: factors unknown
    path, drawn = findings.plot_capacity(runs, tmp_path / "capacity.png", factors=labels)
    assert path.is_file() and len(drawn.runs) == 2
    assert [a.factor for a in drawn.runs[0].order] == ["posX", "scale", "shape"]
    assert drawn.runs[1].factors == [None] * 4 and "factors unknown" in drawn.runs[1].factor_source
    assert drawn.median_order == [("posX", 2.0, 1), ("scale", 5.0, 1), ("shape", 7.0, 1)]


def test_recorded_mig_names_the_dimensions_of_a_run_without_its_checkpoints(tmp_path):
    # dSprites' factors (shape, scale, orientation, posX, posY), entropies 1 nat each so that
    # a share is the MI itself: z0 holds posX, z1 scale, z2 nothing above MIN_SHARE (0.05),
    # z3 more of posY than of posX
    mi = [[0, 0, 0, 0.9, 0], [0, 0.6, 0.01, 0, 0], [0.04, 0, 0, 0.02, 0], [0, 0, 0, 0.2, 0.3]]
    result = {"mig": 0.3, "mutual_info": mi, "factor_entropy": [1.0] * 5}
    run = fake_run(
        tmp_path / "a", "annealedvae", dataset="dsprites", log=capacity_log(),
        metrics={"mig": result},
    )  # fmt: skip
    assert findings.recorded_factors(run) == ["posX", "scale", None, "posY"]
    assert findings.dimension_factors(run) == ["posX", "scale", None, "posY"]
    _, drawn = findings.plot_capacity([run], tmp_path / "capacity.png")
    assert drawn.runs[0].factor_source == "the recorded MIG (metrics.json)"
    assert [a.factor for a in drawn.runs[0].order] == ["posX", "posY"]  # z1 never opens
    # columns that do not fit the dataset's factors, or no MIG result: not named from the file
    bad = fake_run(
        tmp_path / "b", "annealedvae", dataset="dsprites",
        metrics={"mig": {**result, "mutual_info": [row[:4] for row in mi],
                         "factor_entropy": [1.0] * 4}},
    )  # fmt: skip
    assert findings.recorded_factors(bad) is None
    assert findings.recorded_factors(fake_run(tmp_path / "c", "annealedvae")) is None


def test_dimension_factors_label_each_dimension_from_the_final_model(trained_run_dir):
    named = findings.dimension_factors(trained_run_dir, num_points=128)
    assert len(named) == 4
    assert set(named) <= {"x", "y", "side", None}


# -- trade-off and the metric table --------------------------------------------------------
def sweep(tmp_path: Path) -> list[Path]:
    """beta-VAE at beta 1 and 4, FactorVAE at gamma 10, three seeds each: recon and scores
    chosen so that each cell's median and range are known."""
    runs = []
    cells = [("betavae", {"beta": 1.0}, 40.0, 0.5), ("betavae", {"beta": 4.0}, 60.0, 0.6)]
    cells.append(("factorvae", {"gamma": 10.0}, 45.0, 0.8))
    for method, setting, recon, score in cells:
        for s in (0, 1, 2):
            log = [{"recon": 999.0}] + [{"recon": recon + s}] * findings.LAST_RECORDS
            metrics = {
                "factor_vae_score": {"factor_vae_score": score + 0.1 * s},
                "sap": {"sap": score / 10 + 0.01 * s},
            }
            name = f"{method}-{'-'.join(f'{v:g}' for v in setting.values())}-s{s}"
            runs.append(
                fake_run(tmp_path / name, method, seed=s, log=log, metrics=metrics, **setting)
            )
    return runs


def test_tradeoff_points_are_medians_over_seeds_with_their_range(tmp_path):
    runs = sweep(tmp_path / "runs")
    path, points = findings.plot_tradeoff(runs, tmp_path / "tradeoff.png")
    assert path.is_file()
    got = {(p.method, p.setting): p for p in points}
    assert set(got) == {
        ("betavae", "beta=1.0"),
        ("betavae", "beta=4.0"),
        ("factorvae", "factorvae"),
    }
    b4 = got[("betavae", "beta=4.0")]
    # recon: the mean of the last LAST_RECORDS records (the first, 999, is left out)
    assert b4.recon == pytest.approx(61.0) and b4.recon_range == pytest.approx((60.0, 62.0))
    assert b4.score == pytest.approx(0.7) and b4.score_range == pytest.approx((0.6, 0.8))
    assert b4.n == 3 and [s for s, *_ in b4.seeds] == [0, 1, 2]
    # any metric name: the metric table's SAP as the score
    sap = findings.tradeoff_points(runs, "sap")
    assert sorted(p.score for p in sap) == pytest.approx([0.06, 0.07, 0.09])
    with pytest.raises(ValueError, match="mig"):
        findings.plot_tradeoff(runs, tmp_path / "none.png", metric="mig")


def test_metric_by_method_gives_each_cell_its_seeds(tmp_path):
    runs = sweep(tmp_path / "runs")
    path, cells = findings.plot_metric_by_method(runs, tmp_path / "sap.png")
    assert path.is_file()
    by_label = {c.label: c for c in cells}
    # a setting at one value in every run that has it (FactorVAE's gamma) names no cell
    assert set(by_label) == {"betavae beta=1.0", "betavae beta=4.0", "factorvae"}
    cell = by_label["factorvae"]
    assert cell.values == pytest.approx([0.08, 0.09, 0.10]) and cell.seeds == [0, 1, 2]
    assert (cell.median, cell.low, cell.high) == pytest.approx((0.09, 0.08, 0.10))


# -- IBP active features and the AAE's codes ------------------------------------------------
def test_active_features_per_dataset_from_the_log(tmp_path):
    runs = []
    for dataset, active in (("dsprites", [3, 4, 4]), ("noisy-dsprites", [6, 7, 5])):
        for s, n in enumerate(active):
            usage = [0.9] * n + [0.0] * (10 - n)
            log = [
                {"active_features": 1.0, "usage": [0.0] * 10},
                {"active_features": float(n), "usage": usage},
            ]
            runs.append(
                fake_run(tmp_path / f"{dataset}-{s}", "ibpvae", seed=s, dataset=dataset, log=log)
            )
    runs.append(fake_run(tmp_path / "vae", "betavae", log=[{"recon": 1.0}]))  # not IBP
    path, groups = findings.plot_active_features(runs, tmp_path / "active.png")
    assert path.is_file()
    got = {g.dataset: g for g in groups}
    assert got["dsprites"].counts == [3, 4, 4] and got["dsprites"].median == 4
    assert got["noisy-dsprites"].median == 6 and got["noisy-dsprites"].source == "log"
    assert got["dsprites"].usage.shape == (3, 10)


def train(out: Path, method: str, **settings) -> Path:
    base = dict(batch_size=16, steps=3, log_every=3, checkpoint_every=3, z_dim=4)
    untwine.train(
        "test-squares", out=out, method=method, progress=False, threads=1, **{**base, **settings}
    )
    return out


def test_active_features_counted_from_the_model_without_a_log(tmp_path):
    run = train(tmp_path / "ibp", "ibpvae")
    (run / "log.jsonl").unlink()
    (group,) = findings.active_features_by_dataset([run], num_points=64)
    assert group.source == "model" and group.dataset == "test-squares"
    assert 0 <= group.counts[0] <= 4 and group.usage.shape == (1, 4)


def test_aggregate_posterior_moments_of_an_aae(tmp_path):
    run = train(tmp_path / "aae", "aae")
    path, posterior = findings.plot_aggregate_posterior(
        run, tmp_path / "q.png", num_points=64, dims=2
    )
    assert path.is_file() and posterior.codes.shape == (64, 4)
    assert posterior.mean == pytest.approx(posterior.codes.mean(axis=0))
    # the moments' KL is 0 exactly for codes with mean 0 and variance 1
    unit = findings.AggregatePosterior("unit", np.array([[-1.0, 1.0], [1.0, -1.0]]))
    assert unit.moment_kl == pytest.approx([0.0, 0.0])


# -- the folder page ---------------------------------------------------------------------------
SECTIONS = {
    "capacity": "Capacity and the order of factors",
    "tradeoff": "Reconstruction against disentanglement",
    "table": "sap by method",
    "ibp": "Active features per dataset",
    "aae": "Aggregate posterior against the prior",
}


def titles(page: Path) -> set[str]:
    text = page.read_text()
    return {key for key, title in SECTIONS.items() if f"<h2>{title}</h2>" in text}


@pytest.mark.filterwarnings("error::UserWarning")  # a figure that cannot be drawn fails
def test_folder_report_draws_each_figure_only_where_the_runs_allow(tmp_path):
    root = tmp_path / "study"
    sweep(root / "runs")
    fake_run(root / "annealed", "annealedvae", log=capacity_log())
    for dataset in ("dsprites", "color-dsprites"):
        fake_run(root / dataset, "ibpvae", dataset=dataset, log=[{"active_features": 3.0}])
    train(root / "aae", "aae")
    page = write_folder_report(root)
    assert titles(page) == set(SECTIONS)
    figures = root / "report-figures"
    for name in (
        "capacity",
        "tradeoff",
        "sap_by_method",
        "active_features",
        "aggregate_posterior_0",
    ):
        assert (figures / f"{name}.png").is_file()
    assert "posX" not in page.read_text() and "factors unknown" in page.read_text()

    # One method, no annealed or IBP or AAE run: none of them, and no error.
    shutil.rmtree(root / "annealed")
    shutil.rmtree(root / "aae")
    shutil.rmtree(root / "color-dsprites")
    for run in (root / "runs").glob("factorvae-*"):
        shutil.rmtree(run)
    page = write_folder_report(root)
    assert titles(page) == set() and "could not be drawn" not in page.read_text()
    # A second method on another dataset: errors on different data are not compared.
    score = {"factor_vae_score": {"factor_vae_score": 0.9}}
    fake_run(root / "other", "factorvae", dataset="dsprites", log=[{"recon": 1.0}], metrics=score)
    assert "tradeoff" not in titles(write_folder_report(root))
