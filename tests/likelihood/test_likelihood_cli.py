"""``untwine likelihood``: one run, a folder of runs, JSON, and one-line errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from cli_helpers import untwine, untwine_here
from test_cli import assert_one_line_error

import untwine as ut
from untwine import likelihood
from untwine.errors import ConfigError, DataError

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
        untwine_here("likelihood", str(tmp_path / "sq"), cwd=tmp_path),
        r"dataset 'test-squares' has no 'test' split",
    )
    # in a folder, a run that cannot be estimated is a row of its own, the others go on
    proc = untwine_here("likelihood", str(tmp_path), "--k", "2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1].endswith("has no 'test' split (it has no held-out images)")
    assert_one_line_error(
        untwine_here("likelihood", str(tmp_path / "nothing"), cwd=tmp_path),
        r"not a run directory and no run directories below it",
    )


def test_the_run_report_shows_the_saved_estimate(runs):
    from untwine.viz.report import write_run_report

    likelihood.estimate_and_save(runs / "iw", k=5, max_examples=10, precision="fp32")
    page = write_run_report(runs / "iw", num_points=100).read_text()
    assert "<h2>Likelihood</h2>" in page
    assert "k = 5 importance samples, networks in fp32: log p(x) =" in page
    assert "active units" in page
    (runs / "iw" / "likelihood.json").unlink()
    assert "not estimated" in write_run_report(runs / "iw", num_points=100).read_text()


def test_bf16_networks_keep_the_estimate_of_a_trained_model_close_to_fp32(runs):
    from untwine.nets.precision import precision_of, resolve_precision
    from untwine.train.run import Run

    run = Run(runs / "iw", device="cpu")
    same = dict(k=50, max_examples=40, seed=3)  # the same images and samples
    fp32 = likelihood.estimate(run, precision="fp32", **same)
    bf16 = likelihood.estimate(run, precision="bf16", **same)
    assert (fp32["precision"], bf16["precision"]) == ("fp32", "bf16")
    # only the networks' products are rounded; densities and log-sum-exps stay float32
    assert bf16["log_px"] == pytest.approx(fp32["log_px"], abs=0.02)
    assert bf16["elbo"] == pytest.approx(fp32["elbo"], abs=0.02)
    assert bf16["log_px"] != fp32["log_px"]  # bf16 really ran
    assert precision_of(run.model)[0] == "fp32"  # the run's own setting is back
    auto = likelihood.estimate(run, precision="auto", k=2, max_examples=4)
    assert auto["precision"] == resolve_precision("auto", torch.device("cpu"))


def test_max_examples_is_a_fixed_random_subset_and_a_grid_evaluates_training_images(squares):
    data, idx = likelihood.examples(squares, "auto", 10)
    again = likelihood.examples(squares, "auto", 10)[1]
    assert len(idx) == 10 and np.array_equal(idx, again) and np.all(np.diff(idx) > 0)
    assert idx.max() >= 16  # not the first images (in a grid they share the slowest factor)
    assert len(data) == 128  # a grid has no held-out split: auto means its training images
    assert likelihood.resolve_split(squares, "auto") == "train"
    assert len(likelihood.examples(squares, "auto", 1000)[1]) == 128
    with pytest.raises(ConfigError, match="max_examples"):
        likelihood.examples(squares, "train", 0)
    with pytest.raises(DataError, match="no 'test' split"):
        likelihood.examples(squares, "test", 10)


def test_a_bad_precision_is_one_line(runs, plugin_env, tmp_path):
    assert_one_line_error(
        untwine("likelihood", str(runs), "--precision", "fp16", env=plugin_env, cwd=tmp_path),
        r"precision: expected one of auto, fp32, bf16 \(got 'fp16'\)",
    )


def test_compiled_estimate_equals_the_uncompiled_one_on_the_same_samples(runs):
    from untwine.train.run import Run

    run = Run(runs / "vae", device="cpu")
    images = run.dataset().split("test").images(range(40))
    # k = 10 in chunks of 4: a short last chunk (padded when compiled); batches of 15, 15, 10
    same = dict(k=10, chunk=4, batch_size=15, seed=2, max_value=16)
    eager = {
        p: likelihood.estimate_model(run.model, images, **same, precision=p)
        for p in ("fp32", "bf16")
    }
    compiled = likelihood.estimate_model(run.model, images, **same, precision="bf16", compile=True)
    assert compiled["compiled"] and not eager["bf16"]["compiled"]
    for key in ("log_px", "elbo", "kl", "active_units"):
        assert compiled[key] == pytest.approx(eager["bf16"][key], abs=1e-4), key
    for j, value in eager["bf16"]["bounds"].items():
        assert compiled["bounds"][j] == pytest.approx(value, abs=1e-4)
    # the networks really ran in bf16 inside the compiled code
    assert abs(compiled["log_px"] - eager["fp32"]["log_px"]) > 1e-4


def test_a_failed_compilation_warns_and_gives_the_uncompiled_numbers(runs, monkeypatch):
    from untwine.likelihood import importance
    from untwine.train.run import Run

    def no_compiler(fn, **options):
        def fails(*args):
            raise RuntimeError("no C++ compiler found\nsecond line")

        return fails

    monkeypatch.setattr(importance.torch, "compile", no_compiler)
    run = Run(runs / "vae", device="cpu")
    images = run.dataset().split("test").images(range(10))
    same = dict(k=6, seed=1, max_value=16)
    with pytest.warns(RuntimeWarning, match=r"RuntimeError: no C\+\+ compiler found\)"):
        tried = likelihood.estimate_model(run.model, images, **same, compile=True)
    plain = likelihood.estimate_model(run.model, images, **same, compile=False)
    assert not tried["compiled"]
    assert tried["log_px"] == plain["log_px"] and tried["bounds"] == plain["bounds"]


def test_a_paired_difference_is_taken_image_by_image(runs):
    same = dict(k=5, max_examples=40, precision="fp32")
    iw, vae = likelihood.estimate(runs / "iw", **same), likelihood.estimate(runs / "vae", **same)
    for r in (iw, vae):
        per = r["per_image"]
        assert len(per["index"]) == len(per["log_px"]) == len(per["elbo"]) == 40
        assert np.mean(per["log_px"]) == pytest.approx(r["log_px"])
        assert np.mean(per["elbo"]) == pytest.approx(r["elbo"])
    assert iw["per_image"]["index"] == vae["per_image"]["index"]
    d = likelihood.paired_difference(iw, vae)
    diffs = np.subtract(iw["per_image"]["log_px"], vae["per_image"]["log_px"])
    assert d["n"] == 40 and d["difference"] == pytest.approx(iw["log_px"] - vae["log_px"])
    assert d["stderr"] == pytest.approx(diffs.std(ddof=1) / math.sqrt(40))
    # the same model under other importance samples: the images' spread, which both share,
    # is what the paired error leaves out; what is left is Monte Carlo noise
    again = likelihood.estimate(runs / "iw", seed=1, **same)
    assert 0 < likelihood.paired_difference(again, iw)["stderr"] < iw["stderr"] / 5
    assert likelihood.paired_difference(iw, iw) == {
        "difference": 0.0,
        "stderr": 0.0,
        "n": 40,
        "baseline": iw["run"],
    }
    with pytest.raises(ConfigError, match="other images of the split"):
        likelihood.paired_difference(iw, likelihood.estimate(runs / "vae", k=5, max_examples=30))
    with pytest.raises(ConfigError, match="split 'train'.* on 'test'"):
        likelihood.paired_difference(
            likelihood.estimate(runs / "vae", k=5, split="train", max_examples=40), iw
        )
    old = {k: v for k, v in vae.items() if k != "per_image"}
    with pytest.raises(ConfigError, match="no per-image values.*estimate it again"):
        likelihood.paired_difference(iw, old)


def test_cli_compares_saved_estimates_against_a_base_run(runs, plugin_env, tmp_path):
    for name in ("iw", "vae"):
        likelihood.estimate_and_save(runs / name, k=5, max_examples=20, precision="fp32")
    saved = [json.loads((runs / n / "likelihood.json").read_text()) for n in ("iw", "vae")]
    expected = likelihood.paired_difference(saved[0], saved[1])["difference"]
    proc = untwine(
        "likelihood", str(runs), "--saved", "--against", str(runs / "vae"),
        env=plugin_env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    head, iw_row, vae_row, note = proc.stdout.splitlines()
    assert head.split()[-2:] == ["base", "+-"]
    assert iw_row.split()[-2] == f"{expected:+.3f}" and vae_row.split()[-2:] == ["+0.000", "0.000"]
    assert note.startswith("vs base: log p(x) minus that of")
    proc = untwine(
        "likelihood", str(runs / "iw"), "--saved", "--json", "--against", str(runs / "vae"),
        env=plugin_env, cwd=tmp_path,
    )  # fmt: skip
    doc = json.loads(proc.stdout)
    assert "per_image" not in doc and doc["vs_base"]["difference"] == pytest.approx(expected)
    assert doc["log_px"] == saved[0]["log_px"]  # read, not estimated again
    assert_one_line_error(
        untwine("likelihood", str(runs), "--against", str(tmp_path), env=plugin_env, cwd=tmp_path),
        r"--against .*: expected a run directory",
    )
    (runs / "vae" / "likelihood.json").unlink()
    assert_one_line_error(
        untwine("likelihood", str(runs / "vae"), "--saved", env=plugin_env, cwd=tmp_path),
        r"likelihood.json: no saved estimate",
    )
