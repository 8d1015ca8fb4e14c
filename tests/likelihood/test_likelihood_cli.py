"""``untwine likelihood``: one run, a folder of runs, JSON, and one-line errors."""

from __future__ import annotations

import json
import math

import pytest
from cli_helpers import untwine
from test_cli import assert_one_line_error

import untwine as ut
from untwine import likelihood

SMALL = dict(
    network="mlp200", z_dim=2, batch_size=16, progress=False, threads=1, lr=1e-3, log_every=5
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    ut.train(
        "digits8x8",
        method="iwae",
        k=3,
        likelihood="logistic",
        levels=17,
        steps=10,
        out=root / "iw",
        **SMALL,
    )
    ut.train("digits8x8", method="vae", likelihood="bernoulli", steps=10, out=root / "vae", **SMALL)
    return root


def test_estimate_orders_the_bounds_and_counts_bits(runs):
    r = likelihood.estimate(runs / "iw", k=50, max_examples=40)
    b = r["bounds"]
    assert r["elbo"] == b["1"] and r["log_px"] == b["50"]
    assert b["1"] <= b["5"] <= b["50"]
    # the discretised logistic gives probabilities of the 17 levels: no correction
    assert r["bits_per_dim"] == pytest.approx(-r["log_px"] / (64 * math.log(2)))
    assert r["n"] == 40 and r["dataset"] == "digits8x8" and r["split"] == "test"
    assert 0 <= r["active_units"] <= 2 and len(r["kl_per_dim"]) == 2
    # a Bernoulli on 17 grey levels is not a probability of them: no bits/dim
    assert likelihood.estimate(runs / "vae", k=5, max_examples=10)["bits_per_dim"] is None


def test_cli_one_run_as_json_and_a_folder_as_a_table(runs, plugin_env, tmp_path):
    proc = untwine(
        "likelihood",
        str(runs / "iw"),
        "--k",
        "10",
        "--max-examples",
        "20",
        "--json",
        env=plugin_env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["k"] == 10 and doc["elbo"] <= doc["log_px"]
    assert json.loads((runs / "iw" / "likelihood.json").read_text())["k"] == 10
    proc = untwine(
        "likelihood", str(runs), "--k", "5", "--max-examples", "10", env=plugin_env, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "log", "p(x)"] and len(lines) == 3


def test_bad_input_is_one_line(runs, plugin_env, tmp_path):
    assert_one_line_error(
        untwine("likelihood", str(runs / "iw"), "--k", "0", env=plugin_env, cwd=tmp_path),
        r"--k: expected an integer >= 1",
    )
    ut.train(
        "test-squares",
        method="vae",
        steps=1,
        out=tmp_path / "sq",
        network="mlp200",
        z_dim=2,
        progress=False,
        threads=1,
    )
    assert_one_line_error(
        untwine("likelihood", str(tmp_path / "sq"), env=plugin_env, cwd=tmp_path),
        r"dataset 'test-squares' has no 'test' split",
    )
    # in a folder, a run that cannot be estimated is a row of its own, the others go on
    proc = untwine("likelihood", str(tmp_path), "--k", "2", env=plugin_env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].endswith("has no 'test' split (it has no held-out images)")
    assert_one_line_error(
        untwine("likelihood", str(tmp_path / "nothing"), env=plugin_env, cwd=tmp_path),
        r"not a run directory and no run directories below it",
    )


def test_the_run_report_shows_the_saved_estimate(runs):
    from untwine.viz.report import write_run_report

    likelihood.estimate_and_save(runs / "iw", k=5, max_examples=10)
    page = write_run_report(runs / "iw", num_points=100).read_text()
    assert "<h2>Likelihood</h2>" in page
    assert "k = 5 importance samples: log p(x) =" in page and "active units" in page
    (runs / "iw" / "likelihood.json").unlink()
    assert "not estimated" in write_run_report(runs / "iw", num_points=100).read_text()
