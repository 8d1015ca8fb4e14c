"""The driver: metrics by name, shared codes, recorded settings, overrides, metrics.json."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

import untwine
from untwine.errors import ConfigError
from untwine.metrics import (
    BUILTIN_METRICS,
    MetricInputError,
    beta_vae_score,
    evaluate,
    evaluate_run,
    factor_vae_score,
    metric_settings,
)
from untwine.metrics.evaluate import RENAMED_SETTINGS
from untwine.registry import METRICS

ARRAY_METRICS = ["mig", "sap", "dci", "modularity"]
SMALL = {"num_points": 2000, "num_test_points": 1000, "dci_model": "fast"}


class Counting:
    """A representation function that counts the images it encodes."""

    def __init__(self, fn):
        self.fn, self.images = fn, 0

    def __call__(self, images):
        self.images += len(images)
        return self.fn(images)


def sharp_encoder(images):
    mu = images.reshape(len(images), -1).astype(np.float64)
    return mu, np.full_like(mu, 2 * np.log(0.05))


def test_every_builtin_metric_is_registered():
    assert set(BUILTIN_METRICS) <= set(METRICS.names())
    assert metric_settings("dci") == {
        "num_points": 10_000,
        "num_test_points": 5_000,
        "model": "gbt",
    }


def test_array_metrics_share_one_encoded_sample(grid, reps):
    data = grid((10, 20, 30))
    one, four = Counting(reps.identity), Counting(reps.identity)
    evaluate(one, data, ["sap"], seed=3, num_points=2000, num_test_points=1000)
    results = evaluate(four, data, ARRAY_METRICS, seed=3, **SMALL)
    rng = np.random.default_rng(3)
    drawn = np.vstack([data.sample_factors(2000, rng), data.sample_factors(1000, rng)])
    distinct = len(np.unique(data.index(drawn)))
    assert four.images == one.images == distinct  # each drawn cell encoded once, for all four
    assert results["mig"]["mig"] > 0.9
    assert results["dci"]["disentanglement"] > 0.9
    assert results["modularity"]["modularity"] > 0.9
    for name in ARRAY_METRICS:
        assert results[name]["seed"] == 3
        assert results[name]["untwine_version"] == untwine.__version__
        assert results[name]["settings"]["num_points"] == 2000
    assert results["dci"]["settings"]["model"] == "fast"
    assert results["sap"]["settings"] == {
        "num_points": 2000,
        "num_test_points": 1000,
        "continuous_factors": False,
    }
    json.dumps(results)


def test_same_numbers_as_the_stand_alone_functions(cube, reps):
    settings = {"num_votes": 500, "num_eval_votes": 300}
    results = evaluate(reps.identity, cube, ["factor_vae_score", "beta_vae_score"], seed=9,
                       num_variance_points=1000, **settings)  # fmt: skip
    alone = factor_vae_score(cube, reps.identity, seed=9, num_variance_points=1000, **settings)
    assert {k: results["factor_vae_score"][k] for k in alone} == alone
    alone = beta_vae_score(cube, reps.identity, seed=9, **settings)
    assert {k: results["beta_vae_score"][k] for k in alone} == alone


def test_mig_on_train_split_does_not_depend_on_other_metrics(cube, reps):
    alone = evaluate(reps.identity, cube, ["mig"], num_points=1500)["mig"]["mig"]
    together = evaluate(reps.identity, cube, ["sap", "mig"], num_points=1500, num_test_points=700)
    assert together["mig"]["mig"] == alone


def test_full_dataset_metrics_use_the_encoder(cube):
    results = evaluate(None, cube, ["elbo", "mig_full", "mig"], encoder_fn=sharp_encoder,
                       num_samples=400, mig_num_points=1000)  # fmt: skip
    assert results["mig_full"]["mig_full"] > 0.9
    assert results["elbo"]["index_code_mi"] > 3.0  # ~log(1000 distinct posteriors)
    assert results["mig"]["mig"] > 0.9  # the representation defaults to the mean


def test_encoder_alone_encodes_each_image_once(grid):
    """Given only an encoder, codes and full-dataset posteriors come from one table: the whole
    grid is encoded once for MIG, FactorVAE, MIG (full) and the ELBO decomposition together."""
    data = grid((6, 7, 8))
    counting = Counting(sharp_encoder)
    alone = {
        "mig": dict(num_points=200),
        "factor_vae_score": dict(num_votes=40, num_eval_votes=20, num_variance_points=100),
        "mig_full": dict(num_samples=100),
        "elbo": dict(num_samples=100),
    }
    settings = {f"{name}_{k}": v for name, options in alone.items() for k, v in options.items()}
    together = evaluate(None, data, list(alone), seed=2, encoder_fn=counting, **settings)
    assert counting.images == 6 * 7 * 8
    for name, options in alone.items():
        single = evaluate(None, data, [name], seed=2, encoder_fn=sharp_encoder, **options)
        assert {k: v for k, v in together[name].items() if k != "seconds"} == {
            k: v for k, v in single[name].items() if k != "seconds"
        }


def test_unknown_names_and_settings_fail_clearly(cube, reps):
    with pytest.raises(ConfigError, match="unknown metric 'mgi'"):
        evaluate(reps.identity, cube, ["mgi"])
    with pytest.raises(ConfigError, match=r"unknown option\(s\) 'num_trian'"):
        evaluate(reps.identity, cube, ["mig"], num_trian=10)
    with pytest.raises(ConfigError, match="dci_model"):
        evaluate(reps.identity, cube, ["mig"], dci_model="fast")  # dci not selected
    with pytest.raises(MetricInputError, match="encoder_fn"):
        evaluate(reps.identity, cube, ["elbo"])


@pytest.mark.parametrize(
    ("old", "message"),
    [
        ("num_train", "'num_train' was renamed to 'num_points' / 'num_votes' (num_points for mig"),
        ("num_test", "'num_test' was renamed to 'num_test_points'"),
        ("num_eval", "'num_eval' was renamed to 'num_eval_votes'"),
        ("batch_size", "'batch_size' was renamed to 'vote_batch_size'"),
        ("num_variance_estimate", "renamed to 'num_variance_points'"),
        ("factor_vae_score_num_train", "renamed to 'factor_vae_score_num_votes'"),
    ],
)
def test_old_setting_names_name_the_new_ones(cube, reps, old, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        evaluate(reps.identity, cube, ["mig", "factor_vae_score"], **{old: 10})


def test_every_renamed_setting_exists_under_its_new_name():
    for new_names in RENAMED_SETTINGS.values():
        for metric, new in new_names.items():
            assert new in metric_settings(metric), (metric, new)


class FakeRun:
    checkpoint_path = "fake"  # a run with a checkpoint
    has_gaussian_posterior = True

    def __init__(self, data, fail=False, precision="fp32"):
        self.data, self.fail, self.precision = data, fail, precision
        self.images = 0

    def representation(self, images):
        if self.fail:
            raise RuntimeError("encoder crashed")
        self.images += len(images)
        return images.reshape(len(images), -1).astype(np.float64)

    def encode(self, images):
        return sharp_encoder(images)

    def dataset(self):
        return self.data


def test_evaluate_run_writes_and_merges_metrics_json(tmp_path, monkeypatch, cube):
    monkeypatch.setattr(untwine, "load_run", lambda run_dir, **kw: FakeRun(cube), raising=False)
    evaluate_run(tmp_path, ["mig"], num_points=1000)
    evaluate_run(tmp_path, ["sap"], num_points=1000, num_test_points=500)
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert set(saved) == {"mig", "sap"}
    assert saved["mig"]["settings"] == {"num_points": 1000, "num_bins": 20}
    assert saved["mig"]["mig"] > 0.95
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp files left


def test_evaluate_run_keeps_the_good_file_on_failure(tmp_path, monkeypatch, cube):
    monkeypatch.setattr(untwine, "load_run", lambda run_dir, **kw: FakeRun(cube), raising=False)
    evaluate_run(tmp_path, ["mig"], num_points=1000)
    before = (tmp_path / "metrics.json").read_text()
    monkeypatch.setattr(untwine, "load_run", lambda run_dir, **kw: FakeRun(cube, fail=True))
    with pytest.raises(RuntimeError, match="encoder crashed"):
        evaluate_run(tmp_path, ["mig"], num_points=1000)
    assert (tmp_path / "metrics.json").read_text() == before


def test_whole_suite_encodes_each_image_once(grid, reps):
    """The six metrics of one call share one code table: no image is encoded twice, and
    every number is the one of the metric evaluated on its own (with its own encoding)."""
    data = grid((10, 20, 30, 8))  # 48,000 cells: the votes reach cells the split did not
    seen = []

    def recording(images):
        seen.append(data.index(images.reshape(len(images), -1).astype(np.int64)))
        return reps.identity(images)

    suite = ["mig", "sap", "dci", "modularity", "factor_vae_score", "beta_vae_score"]
    small = dict(SMALL, num_votes=60, num_eval_votes=30, num_variance_points=300)
    results = evaluate(recording, data, suite, seed=4, **small)
    cells = np.concatenate(seen)
    assert len(np.unique(cells)) == len(cells)  # each distinct image encoded once
    assert len(cells) > 3000  # the vote-based scores reach beyond the shared split
    for name in suite:
        accepted = metric_settings(name)
        options = {k: v for k, v in small.items() if k in accepted or k == "dci_model"}
        if name != "dci":
            options.pop("dci_model")
        alone = evaluate(reps.identity, data, [name], seed=4, **options)[name]
        assert {k: v for k, v in results[name].items() if k != "seconds"} == {
            k: v for k, v in alone.items() if k != "seconds"
        }


def perturbed(images):
    """The identity representation partly mixed between dimensions: codes different enough
    from the identity's to change votes (as reduced-precision codes may, less so)."""
    x = images.reshape(len(images), -1).astype(np.float64)
    return x + 2.0 * x[:, ::-1]


def test_each_metric_reads_the_codes_of_its_declared_precision(grid, reps):
    """With a reduced-precision representation, the vote-based scores read it and every other
    metric reads the full-precision one: each metric's numbers equal those of an evaluation
    with only its precision's function, each function encodes each distinct cell at most
    once, the full-precision one only the shared split, and the precision is recorded."""
    data = grid((10, 20, 30, 8))
    seen = {"fp32": [], "bf16": []}

    def recording(precision, fn):
        def encode(images):
            seen[precision].append(data.index(images.reshape(len(images), -1).astype(np.int64)))
            return fn(images)

        return encode

    suite = ["mig", "sap", "dci", "modularity", "factor_vae_score", "beta_vae_score"]
    small = dict(SMALL, num_votes=60, num_eval_votes=30, num_variance_points=300)
    results = evaluate(recording("fp32", reps.identity), data, suite, seed=4,
                       reduced=("bf16", recording("bf16", perturbed)), **small)  # fmt: skip
    full = evaluate(reps.identity, data, suite, seed=4, **small)
    coarse = evaluate(perturbed, data, suite, seed=4, **small)
    voted = {"factor_vae_score", "beta_vae_score"}
    for name in suite:
        expected = coarse[name] if name in voted else full[name]
        assert results[name]["codes_precision"] == ("bf16" if name in voted else "fp32")
        assert {
            k: v for k, v in results[name].items() if k not in ("seconds", "codes_precision")
        } == {k: v for k, v in expected.items() if k not in ("seconds", "codes_precision")}
        assert full[name]["codes_precision"] == "fp32"
    # the two tables give different votes here, so the routing is visible in the numbers
    assert coarse["factor_vae_score"]["votes"] != full["factor_vae_score"]["votes"]
    for batches in seen.values():
        cells = np.concatenate(batches)
        assert len(np.unique(cells)) == len(cells)  # at most once per precision
    rng = np.random.default_rng(4)
    split = np.vstack([data.sample_factors(2000, rng), data.sample_factors(1000, rng)])
    assert set(np.concatenate(seen["fp32"])) == set(data.index(split))
    assert len(np.concatenate(seen["bf16"])) > 3000


def test_reduced_precision_needs_a_name_and_a_function(cube, reps):
    for bad in [("fp32", reps.identity), ("", reps.identity), ("bf16", None)]:
        with pytest.raises(MetricInputError, match="reduced must be"):
            evaluate(reps.identity, cube, ["mig"], reduced=bad, num_points=100)


def test_evaluate_run_reads_the_runs_own_precision_for_vote_scores(tmp_path, monkeypatch, cube):
    """precision="auto": the vote-based scores of a bf16 run read codes of a run opened in its
    own precision, the other metrics the float32 run; "fp32" and fp32 runs read float32 only."""
    opened = {}

    def load_run(run_dir, precision="fp32"):
        opened[precision] = FakeRun(cube, precision="bf16" if precision == "run" else precision)
        return opened[precision]

    monkeypatch.setattr(untwine, "load_run", load_run, raising=False)
    votes = dict(num_votes=40, num_eval_votes=20, num_variance_points=200, num_points=500)
    results = evaluate_run(tmp_path, ["mig", "factor_vae_score"], **votes)
    assert results["mig"]["codes_precision"] == "fp32"
    assert results["factor_vae_score"]["codes_precision"] == "bf16"
    assert opened["fp32"].images > 0 and opened["run"].images > 0
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["factor_vae_score"]["codes_precision"] == "bf16"

    opened.clear()
    results = evaluate_run(tmp_path, ["mig", "factor_vae_score"], precision="fp32", **votes)
    assert {r["codes_precision"] for r in results.values()} == {"fp32"}
    assert set(opened) == {"fp32"}
    opened.clear()
    evaluate_run(tmp_path, ["mig"], num_points=500)  # no metric accepts reduced codes: not opened
    assert set(opened) == {"fp32"}
    with pytest.raises(ConfigError, match="precision: expected one of auto, fp32"):
        evaluate_run(tmp_path, ["mig"], precision="bf16")


def test_evaluate_run_of_an_fp32_run_reads_fp32_only(tmp_path, monkeypatch, cube):
    monkeypatch.setattr(untwine, "load_run", lambda run_dir, **kw: FakeRun(cube), raising=False)
    results = evaluate_run(tmp_path, ["factor_vae_score"], num_votes=40, num_eval_votes=20,
                           num_variance_points=200)  # fmt: skip
    assert results["factor_vae_score"]["codes_precision"] == "fp32"
