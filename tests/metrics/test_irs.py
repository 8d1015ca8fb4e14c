"""Interventional Robustness Score: a hand-computed case, the disentangled / rotated / noise
cases, constant codes and the registered adapter."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from untwine.metrics import MetricInputError, evaluate, irs


def test_hand_computed_case():
    """z = g0 + g1 / 2 on the full 2 x 2 grid, worst case over interventions (quantile 1).

    z takes 0, 0.5, 1, 1.5; mean 0.75, largest deviation 0.75. Fixing g0 leaves g1 to move z by
    0.25 around each group mean: IRS = 1 - 0.25 / 0.75 = 2/3. Fixing g1 leaves g0 to move it
    by 0.5: IRS = 1/3. The code's parent is g0 and its score 2/3.
    """
    factors = np.array(list(itertools.product(range(2), range(2))) * 5)
    codes = (factors[:, 0] + 0.5 * factors[:, 1])[:, None]
    result = irs(codes, factors, diff_quantile=1.0)
    assert result["irs_matrix"][0] == pytest.approx([2 / 3, 1 / 3])
    assert result["irs"] == pytest.approx(2 / 3)
    assert result["irs_per_code"] == pytest.approx([2 / 3])
    assert result["parents"] == [0]
    assert result["max_deviations"] == pytest.approx([0.75])


def test_disentangled_codes_score_one(split):
    codes, factors = split[0], split[1]
    exact = irs(codes, factors, diff_quantile=1.0)
    assert exact["irs"] == pytest.approx(1.0)
    assert exact["parents"] == [0, 1, 2]
    assert exact["num_active_dims"] == 3
    noisy = codes + 0.01 * np.random.default_rng(0).normal(size=codes.shape)
    assert irs(noisy, factors)["irs"] > 0.98
    json.dumps(exact)


def test_rotated_codes_score_lower(split, reps):
    codes, factors = split[0], split[1]
    rotated = (codes - 4.5) @ reps.rotation(3, seed=3)
    assert irs(rotated, factors)["irs"] < 0.7


def test_noise_scores_low(split):
    noise = np.random.default_rng(1).normal(size=split[0].shape)
    assert irs(noise, split[1])["irs"] < 0.5


def test_constant_codes_are_not_scored(split):
    codes, factors = split[0], split[1]
    with_constant = np.hstack([codes[:, :1], np.zeros((len(codes), 1)), codes[:, 1:]])
    result = irs(with_constant, factors, diff_quantile=1.0)
    assert result["num_active_dims"] == 3
    assert result["irs"] == pytest.approx(1.0)
    assert result["irs_per_code"][1] is None and result["parents"][1] is None
    none = irs(np.ones((len(codes), 2)), factors)
    assert none["irs"] == 0.0 and none["num_active_dims"] == 0


def test_factors_are_binned_like_the_reference():
    """A factor of 40 values is cut into 20 bins of two values each: a code equal to it moves
    within a bin, so its score falls below 1; with 40 bins every value is its own."""
    factors = np.arange(40).repeat(3)[:, None]
    codes = factors.astype(float)
    assert irs(codes, factors, diff_quantile=1.0)["irs"] < 1.0
    assert irs(codes, factors, diff_quantile=1.0, num_bins=40)["irs"] == pytest.approx(1.0)


def test_registered_adapter_matches_the_array_function(cube, reps):
    result = evaluate(reps.identity, cube, ["irs"], seed=2, num_points=400)["irs"]
    factors = cube.sample_factors(400, np.random.default_rng(2))
    direct = irs(reps.identity(cube.sample_observations_from_factors(factors)), factors)
    assert result["irs"] == pytest.approx(direct["irs"])
    assert result["settings"] == {"num_points": 400, "diff_quantile": 0.99, "num_bins": 20}


def test_bad_inputs_name_the_argument(split):
    codes, factors = split[0], split[1]
    with pytest.raises(MetricInputError, match="same number of rows"):
        irs(codes[:10], factors)
    with pytest.raises(MetricInputError, match="factors.*integer"):
        irs(codes, factors.astype(float))
    for bad in (0.0, 1.5, "high"):
        with pytest.raises(MetricInputError, match="diff_quantile"):
            irs(codes, factors, diff_quantile=bad)
    with pytest.raises(MetricInputError, match="num_bins"):
        irs(codes, factors, num_bins=0)
