"""UDR (Duan et al. 2020): the pair score's closed forms, permuted / rotated / independent
models, uninformative dimensions, and the run-folder driver on stand-in runs."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

import untwine
from untwine.metrics import MetricInputError, udr, udr_of_runs
from untwine.metrics.udr import gaussian_kl_per_dim, pair_score

ALL = np.ones(4, dtype=bool)


@pytest.fixture
def sources() -> np.ndarray:
    """5,000 points of four independent non-Gaussian sources (what a disentangled model of
    the same data would recover, up to permutation and sign)."""
    return np.random.default_rng(0).uniform(-1, 1, size=(5000, 4))


def twin(z: np.ndarray) -> np.ndarray:
    """The same representation with its dimensions permuted, flipped and rescaled."""
    return z[:, [2, 0, 3, 1]] * np.array([1.0, -2.0, 0.5, -1.0]) + 3.0


def test_pair_score_closed_forms():
    assert pair_score(np.eye(3), np.ones(3, bool), np.ones(3, bool)) == pytest.approx(1.0)
    # dimension 0 of model a matches two of b equally: its row term is 0.5^2 / 1 = 1/4, and
    # those columns score 0.5^2 / 0.5 = 1/2 each; dimension 1 matches one exactly.
    r = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    expected = ((0.25 + 1.0) + (0.5 + 0.5 + 1.0)) / (2 + 3)
    assert pair_score(r, np.ones(2, bool), np.ones(3, bool)) == pytest.approx(expected)
    # uninformative dimensions drop out of the sums and the counts
    assert pair_score(np.ones((2, 2)), np.array([True, False]), np.array([False, True])) == (
        pytest.approx(1.0)
    )
    assert pair_score(np.eye(2), np.zeros(2, bool), np.ones(2, bool)) == 0.0
    assert pair_score(np.eye(2), np.zeros(2, bool), np.zeros(2, bool)) == 0.0


@pytest.mark.parametrize("correlation", ["spearman", "lasso"])
def test_permuted_models_score_one_rotated_lower_noise_zero(sources, reps, correlation):
    rng = np.random.default_rng(1)
    models = [
        sources,
        twin(sources),
        sources @ reps.rotation(4, seed=2),
        rng.normal(size=(5000, 4)),
    ]
    result = udr(models, [np.ones(4)] * 4, correlation=correlation)
    pairwise = np.array(result["pairwise"])
    # the Lasso shrinks a perfect standardised match to 1 - alpha = 0.9, scoring 0.9^2 / 0.9
    best = 0.9 if correlation == "lasso" else 1.0
    assert pairwise[0, 1] == pytest.approx(best, abs=0.05)
    assert pairwise[1, 0] == pytest.approx(best, abs=0.05)
    assert pairwise[0, 2] < 0.6 and pairwise[1, 2] < 0.6
    assert pairwise[0, 3] < 0.1 and pairwise[2, 3] < 0.1
    assert np.isnan(np.diag(pairwise)).all()
    # each model's score is the median of its column: the pairs whose Lasso regresses its
    # codes (disentanglement_lib's reading; the same as the row's for Spearman)
    for i, column in enumerate(pairwise.T):
        assert result["udr"][i] == pytest.approx(np.median(np.delete(column, i)))
    assert result["num_informative_dims"] == [4, 4, 4, 4]
    json.dumps(result)


def test_spearman_is_blind_to_monotone_maps(sources):
    warped = np.tanh(3 * twin(sources)) ** 3
    assert udr([sources, warped], [np.ones(4)] * 2)["udr"][0] > 0.9


def test_uninformative_dimensions_are_left_out(sources):
    rng = np.random.default_rng(3)
    collapsed = 1e-3 * rng.normal(size=(5000, 2))  # noise dimensions of a collapsed posterior
    a = np.hstack([sources, collapsed])
    b = np.hstack([collapsed[::-1], twin(sources)])
    kl_a = np.array([1.0, 2.0, 0.5, 1.5, 0.001, 0.002])
    kl_b = np.array([0.0, 0.005, 1.0, 2.0, 0.5, 1.5])
    result = udr([a, b], [kl_a, kl_b])
    assert result["num_informative_dims"] == [4, 4]
    assert result["udr"][0] > 0.9
    # the same through masks
    masks = [kl_a > 0.01, kl_b > 0.01]
    assert udr([a, b], masks)["udr"] == pytest.approx(result["udr"])
    # counting the collapsed dimensions as informative lowers the score
    assert udr([a, b], [np.ones(6), np.ones(6)])["udr"][0] < result["udr"][0] - 0.2


def test_model_without_informative_dimension_scores_zero(sources):
    result = udr([sources, twin(sources), sources], [np.ones(4), np.ones(4), np.zeros(4)])
    pairwise = np.array(result["pairwise"])
    assert pairwise[2, 0] == 0.0 and pairwise[0, 2] == 0.0
    assert result["udr"][2] == 0.0
    assert result["num_informative_dims"] == [4, 4, 0]


def test_gaussian_kl_per_dim_closed_form():
    mu = np.array([[1.0, 0.0], [-1.0, 0.0]])
    logvar = np.array([[0.0, np.log(2.0)], [0.0, np.log(2.0)]])
    expected = [0.5, 0.5 * (2.0 - 1.0 - np.log(2.0))]
    assert gaussian_kl_per_dim(mu, logvar) == pytest.approx(expected)


def test_bad_inputs_are_one_line_errors(sources):
    kl = np.ones(4)
    with pytest.raises(MetricInputError, match="at least 2"):
        udr([sources], [kl])
    with pytest.raises(MetricInputError, match=r"same latent size.*\(5000, 4\), \(5000, 3\)"):
        udr([sources, sources[:, :3]], [kl, kl[:3]])
    with pytest.raises(MetricInputError, match="one entry per model"):
        udr([sources, sources], [kl])
    with pytest.raises(MetricInputError, match=r"kl_list\[1\] must have shape \(4,\)"):
        udr([sources, sources], [kl, kl[:3]])
    with pytest.raises(MetricInputError, match="correlation must be one of"):
        udr([sources, sources], [kl, kl], correlation="pearson")
    with pytest.raises(MetricInputError, match=r"codes_list\[1\] contains NaN"):
        udr([sources, np.full_like(sources, np.nan)], [kl, kl])


class StandInRun:
    """What :func:`udr_of_runs` reads of a run: config, dataset, encode."""

    def __init__(self, data, order, dataset="factor-grid", gaussian=True, z_dim=3):
        self.data, self.order = data, order
        self.config = SimpleNamespace(dataset=SimpleNamespace(name=dataset, options={}))
        self.has_gaussian_posterior = gaussian
        self.z_dim = z_dim

    def dataset(self):
        return self.data

    def encode(self, images):
        x = images.reshape(len(images), -1)[:, self.order]
        mu = np.hstack([x, np.zeros((len(x), self.z_dim - x.shape[1]))])
        logvar = np.full_like(mu, np.log(0.01))
        logvar[:, x.shape[1] :] = 0.0  # collapsed dimensions: the prior
        return mu, logvar


def test_udr_of_runs_encodes_the_same_images_with_each_run(monkeypatch, grid):
    data = grid((6, 7, 8))
    runs = {"a": StandInRun(data, [0, 1, 2]), "b": StandInRun(data, [2, 0, 1], z_dim=3)}
    monkeypatch.setattr(untwine, "load_run", lambda path, **kw: runs[str(path)], raising=False)
    result = udr_of_runs(["a", "b"], num_points=500, seed=1)
    rng = np.random.default_rng(1)
    images = data.sample_observations_from_factors(data.sample_factors(500, rng), rng)
    codes = [runs[name].encode(images)[0] for name in ("a", "b")]
    assert result["udr"] == udr(codes, [np.ones(3)] * 2)["udr"]
    assert result["udr"][0] > 0.9  # 1 less the spurious rank correlations of 500 points
    assert result["runs"] == ["a", "b"]
    assert np.array(result["kl_per_dim"]).shape == (2, 3)
    json.dumps(result)


def test_udr_of_runs_counts_collapsed_dimensions_out(monkeypatch, grid):
    data = grid((6, 7, 8))
    runs = {"a": StandInRun(data, [0, 1], z_dim=3), "b": StandInRun(data, [1, 0], z_dim=3)}
    monkeypatch.setattr(untwine, "load_run", lambda path, **kw: runs[str(path)], raising=False)
    result = udr_of_runs(["a", "b"], num_points=500)
    assert result["num_informative_dims"] == [2, 2]
    assert result["kl_per_dim"][0][2] == pytest.approx(0.0)


def test_udr_of_runs_refuses_what_it_cannot_compare(monkeypatch, grid):
    data = grid((6, 7, 8))
    runs = {
        "a": StandInRun(data, [0, 1, 2]),
        "other": StandInRun(data, [0, 1, 2], dataset="dsprites"),
        "vq": StandInRun(data, [0, 1, 2], gaussian=False),
        "wide": StandInRun(data, [0, 1, 2], z_dim=5),
    }
    monkeypatch.setattr(untwine, "load_run", lambda path, **kw: runs[str(path)], raising=False)
    with pytest.raises(MetricInputError, match="at least 2 run folders"):
        udr_of_runs(["a"])
    with pytest.raises(MetricInputError, match="other: trained on dataset"):
        udr_of_runs(["a", "other"], num_points=50)
    with pytest.raises(MetricInputError, match="vq: UDR needs a Gaussian posterior"):
        udr_of_runs(["a", "vq"], num_points=50)
    with pytest.raises(MetricInputError, match="different latent sizes.*wide: 5"):
        udr_of_runs(["a", "wide"], num_points=50)
