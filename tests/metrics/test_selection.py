"""Choosing a model without labels: a folder's runs ranked by UDR among the seeds of each
setting or by an unsupervised score, and unlabelled images scored only label-free."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import untwine
from untwine.errors import ConfigError, UntwineError
from untwine.metrics import evaluate_run
from untwine.metrics.selection import format_selection, select
from untwine.metrics.udr import udr_of_runs

TINY = dict(
    method="betavae", steps=3, batch_size=8, z_dim=3, lr=1e-3, progress=False, threads=1,
    checkpoint_every=3, log_every=3,
)  # fmt: skip


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three seeds of beta 1 and two of beta 4 on the test squares."""
    root = tmp_path_factory.mktemp("select")
    for beta, seeds in ((1.0, (0, 1, 2)), (4.0, (0, 1))):
        for seed in seeds:
            untwine.train(
                "test-squares", beta=beta, seed=seed, out=root / f"b{beta:g}-s{seed}", **TINY
            )
    return root


def test_udr_ranks_every_run_against_the_seeds_of_its_setting(folder):
    chosen = select(folder, by="udr", num_points=64)
    runs = {r["run"]: r for r in chosen["runs"]}
    assert len(runs) == 5 and [r["rank"] for r in chosen["runs"]] == [1, 2, 3, 4, 5]
    scores = [r["score"] for r in chosen["runs"]]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 1 for s in scores)
    beta1 = [str(folder / f"b1-s{s}") for s in (0, 1, 2)]
    alone = udr_of_runs(beta1, num_points=64, seed=0)["udr"]
    assert [runs[r]["score"] for r in beta1] == pytest.approx(alone)
    assert sorted(len(g["runs"]) for g in chosen["settings"]) == [2, 3]
    assert chosen["chosen"] == chosen["runs"][0]["run"]
    assert json.loads((folder / "selection.json").read_text()) == chosen
    table = format_selection(chosen)
    assert table.splitlines()[0].split() == ["rank", "run", "seed", "udr", "(higher)"]
    assert table.splitlines()[-1] == f"chosen: {chosen['chosen']}"


def test_an_unsupervised_score_ranks_lower_first_and_is_kept_with_the_metrics(folder):
    chosen = select(folder, by="gaussian_total_correlation", num_points=64)
    scores = [r["score"] for r in chosen["runs"]]
    assert scores == sorted(scores) and chosen["better"] == "lower"
    saved = json.loads((folder / "b4-s1" / "metrics.json").read_text())["unsupervised"]
    row = next(r for r in chosen["runs"] if r["run"].endswith("b4-s1"))
    assert row["score"] == saved["gaussian_total_correlation"]


def test_bad_input_is_one_line(folder, tmp_path):
    with pytest.raises(ConfigError, match=r"by: expected one of udr, gaussian_total_corr"):
        select(folder, by="mig")
    untwine.train("test-squares", out=tmp_path / "one", **TINY)
    with pytest.raises(UntwineError, match=r"found only .*one \(a run folder with a checkpoint"):
        select(tmp_path)
    untwine.train("test-squares", beta=2.0, out=tmp_path / "other", **TINY)
    with pytest.raises(UntwineError, match=r"the only run of its setting; UDR compares"):
        select(tmp_path)
    untwine.train("test-squares", out=tmp_path / "wide", **{**TINY, "z_dim": 4})
    with pytest.raises(UntwineError, match=r"different latent sizes .*one\D+3.*wide\D+4"):
        udr_of_runs([tmp_path / "one", tmp_path / "wide"], num_points=16)
    assert not (tmp_path / "selection.json").exists()


def test_unlabelled_images_train_and_take_only_the_label_free_metrics(tmp_path):
    pictures = tmp_path / "pictures"
    pictures.mkdir()
    rng = np.random.default_rng(0)
    for k in range(12):
        Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(
            pictures / f"{k:02d}.png"
        )
    data = untwine.data.load("folder", path=str(pictures), shape=(1, 16, 16))
    assert not data.labelled and len(data) == 12 and data.observation_shape == (1, 16, 16)
    untwine.train(data, out=tmp_path / "run", **TINY)
    scored = evaluate_run(tmp_path / "run", num_points=12, num_samples=20)
    assert set(scored) == {"unsupervised", "elbo"}
    with pytest.raises(UntwineError) as error:
        evaluate_run(tmp_path / "run", ["mig", "unsupervised"], num_points=12)
    assert str(error.value).startswith(
        "metric(s) mig compare codes with factor labels, and dataset 'folder' has none; "
        "label-free: "
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UntwineError, match=r"empty: no PNG or JPEG images, and no factors.csv"):
        untwine.data.load("folder", path=str(empty))


def test_the_command_prints_the_ranking_and_json(folder, plugin_env, tmp_path):
    from cli_helpers import untwine as run_cli
    from cli_helpers import untwine_here

    done = run_cli("select", str(folder), "--points", "64", "--json", env=plugin_env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed == json.loads((folder / "selection.json").read_text())
    assert printed["by"] == "udr" and len(printed["runs"]) == 5
    bad = untwine_here("select", str(folder), "--by", "mig", cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.startswith("untwine: error: by: expected one of")
