"""Discrete MIG: closed-form cases and agreement with the plain reference definition."""

from __future__ import annotations

import json

import numpy as np
import pytest
import sklearn.metrics

from untwine.metrics import MetricInputError, mig


def plain_mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """disentanglement_lib's loops: np.histogram bins, one mutual_info_score per pair."""
    binned = np.stack([np.digitize(c, np.histogram(c, num_bins)[1][:-1]) for c in codes.T], axis=1)
    m = np.array(
        [
            [
                sklearn.metrics.mutual_info_score(factors[:, k], binned[:, d])
                for k in range(factors.shape[1])
            ]
            for d in range(codes.shape[1])
        ]
    )
    h = np.array([sklearn.metrics.mutual_info_score(f, f) for f in factors.T])
    s = np.sort(m, axis=0)[::-1]
    return float(np.mean((s[0] - s[1]) / h))


def test_identity_is_near_one(split):
    codes, factors = split[0], split[1]
    result = mig(codes, factors)
    assert result["mig"] > 0.95
    # Each code's MI with its own factor is the factor's entropy (all values in their own bin).
    mi = np.array(result["mutual_info"])
    assert np.allclose(np.diag(mi), result["factor_entropy"])
    json.dumps(result)


def test_constant_is_zero(split):
    result = mig(np.zeros((len(split[1]), 3)), split[1])
    assert result["mig"] == 0.0


def test_duplicated_code_has_zero_gap(split):
    codes, factors = split[0], split[1]
    assert mig(np.hstack([codes, codes]), factors)["mig"] == pytest.approx(0.0, abs=1e-12)


def test_rotated_perfect_code_is_low(grid, reps):
    data = grid((10,) * 5)
    codes, factors = reps.sample(data, 10_000, 0)
    rotated = (codes - 4.5) @ reps.rotation(5, seed=3)
    assert mig(codes, factors)["mig"] > 0.95
    assert mig(rotated, factors)["mig"] < 0.25


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_plain_definition(dtype):
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, s, 3000) for s in (3, 7, 12)], axis=1)
    codes = (factors @ rng.normal(size=(3, 4)) + rng.normal(size=(3000, 4))).astype(dtype)
    assert mig(codes, factors)["mig"] == pytest.approx(plain_mig(codes, factors), abs=1e-12)


def test_bad_inputs_name_the_argument(split):
    codes, factors = split[0], split[1]
    with pytest.raises(MetricInputError, match="factors.*integer"):
        mig(codes, factors.astype(float))
    with pytest.raises(MetricInputError, match="same number of rows"):
        mig(codes[:10], factors)
    bad = codes.copy()
    bad[3, 1] = np.nan
    with pytest.raises(MetricInputError, match="codes contains NaN"):
        mig(bad, factors)
    with pytest.raises(MetricInputError, match="codes must be a 2-D"):
        mig(codes[:, 0], factors)
    with pytest.raises(MetricInputError, match=r"factors\[:, 0\] takes a single value"):
        mig(codes, np.zeros_like(factors))
    with pytest.raises(MetricInputError, match="num_bins"):
        mig(codes, factors, num_bins=0)
    few = np.array([[0, 0, 1], [1, 9, 0], [0, 3, 1], [1, 2, 0], [0, 1, 1]])  # factor 1: 10 classes
    with pytest.raises(MetricInputError, match=r"5 samples, fewer than the 10 classes.*\[:, 1\]"):
        mig(codes[:5], few)
