"""Downstream classification and sample efficiency: small training sizes only (the reference's
10,000-point gradient-boosted fits take minutes)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from untwine.metrics import MetricInputError, downstream_task, evaluate

SMALL = dict(train_sizes=(20, 200), efficiency_sizes=(20, 200))


@pytest.fixture
def points() -> tuple[np.ndarray, np.ndarray]:
    """400 points of three factors (3, 4 and 5 values): 200 to train on, 200 to test."""
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, s, 400) for s in (3, 4, 5)], axis=1)
    return factors, rng


def split(codes: np.ndarray, factors: np.ndarray):
    return codes[:200], factors[:200], codes[200:], factors[200:]


def test_disentangled_codes_are_learned_from_few_points(points):
    factors, rng = points
    codes = factors + 0.01 * rng.normal(size=factors.shape)
    result = downstream_task(*split(codes, factors), models=("logistic", "gbt"), **SMALL)
    for model in ("logistic", "gbt"):
        assert result[f"{model}_test_accuracy_200"] > 0.97
        small, large = result[f"{model}_test_accuracy_20"], result[f"{model}_test_accuracy_200"]
        assert result[f"{model}_sample_efficiency"] == pytest.approx(small / large)
    per_factor = result["per_factor"]["gbt"]["200"]
    assert len(per_factor["test_accuracy"]) == 3 and len(per_factor["train_accuracy"]) == 3
    json.dumps(result)


def test_rotated_codes_need_more_points_for_trees(points, reps):
    """Axis-aligned trees need more points when every factor is spread over every code; an
    L2-penalised logistic regression with a free intercept does not see a rotation."""
    factors, rng = points
    codes = factors + 0.01 * rng.normal(size=factors.shape)
    rotated = (factors - factors.mean(axis=0)) @ reps.rotation(3, seed=5)
    plain = downstream_task(*split(codes, factors), **SMALL)
    mixed = downstream_task(*split(rotated, factors), **SMALL)
    assert plain["gbt_sample_efficiency"] > 0.85
    assert mixed["gbt_sample_efficiency"] < plain["gbt_sample_efficiency"] - 0.2
    assert mixed["gbt_test_accuracy_200"] > 0.9  # the information is all there
    for n in (20, 200):
        key = f"logistic_test_accuracy_{n}"
        assert mixed[key] == pytest.approx(plain[key], abs=0.02)


def test_noise_is_at_chance(points):
    factors, rng = points
    noise = rng.normal(size=(400, 3))
    result = downstream_task(*split(noise, factors), models=("logistic",), **SMALL)
    assert result["logistic_test_accuracy_200"] < 0.4  # chance: 1/3, 1/4 and 1/5


def test_cross_validated_logistic_regression(points):
    factors, rng = points
    codes = factors + 0.01 * rng.normal(size=factors.shape)
    result = downstream_task(
        *split(codes, factors),
        models=("logistic_cv",),
        train_sizes=(100,),
        efficiency_sizes=(100, 100),
    )
    assert result["logistic_cv_test_accuracy_100"] > 0.97
    assert result["logistic_cv_sample_efficiency"] == pytest.approx(1.0)


def test_one_class_training_set_predicts_that_class():
    codes = np.arange(20.0)[:, None]
    factors = np.array([[0]] * 10 + [[0], [1]] * 5)
    result = downstream_task(
        codes[:10], factors[:10], codes[10:], factors[10:], train_sizes=(1, 10),
        models=("logistic",), efficiency_sizes=(1, 10),
    )  # fmt: skip
    assert result["logistic_test_accuracy_1"] == pytest.approx(0.5)
    assert result["per_factor"]["logistic"]["1"]["train_accuracy"] == [1.0]


def test_registered_adapter_uses_nested_training_sets(cube, reps):
    result = evaluate(
        reps.identity, cube, ["downstream"], seed=1, train_sizes=[20, 100],
        num_test_points=100, models=["logistic"], efficiency_sizes=[20, 100],
    )["downstream"]  # fmt: skip
    rng = np.random.default_rng(1)
    train, test = cube.sample_factors(100, rng), cube.sample_factors(100, rng)
    direct = downstream_task(
        reps.identity(cube.sample_observations_from_factors(train)), train,
        reps.identity(cube.sample_observations_from_factors(test)), test,
        train_sizes=(20, 100), models=("logistic",), efficiency_sizes=(20, 100),
    )  # fmt: skip
    assert result["logistic_test_accuracy_100"] == direct["logistic_test_accuracy_100"]
    assert result["logistic_sample_efficiency"] == direct["logistic_sample_efficiency"]


def test_bad_settings_name_the_setting(points):
    factors, rng = points
    args = split(rng.normal(size=(400, 3)), factors)
    with pytest.raises(MetricInputError, match="efficiency_sizes must be two of train_sizes"):
        downstream_task(*args, train_sizes=(10, 100))
    with pytest.raises(MetricInputError, match="unknown downstream model"):
        downstream_task(*args, models=("svm",), **SMALL)
    with pytest.raises(MetricInputError, match="asks for 1000 training points"):
        downstream_task(*args, train_sizes=(10, 1000), efficiency_sizes=(10, 1000))
    with pytest.raises(MetricInputError, match="distinct"):
        downstream_task(*args, train_sizes=(10, 10), efficiency_sizes=(10, 10))
    with pytest.raises(MetricInputError, match="train_sizes entries"):
        downstream_task(*args, train_sizes=(0, 10), efficiency_sizes=(0, 10))
    with pytest.raises(MetricInputError, match="5 folds"):
        downstream_task(
            *args, train_sizes=(3, 10), models=("logistic_cv",), efficiency_sizes=(3, 10)
        )
    with pytest.raises(MetricInputError, match="same number of columns"):
        downstream_task(args[0], args[1], args[2][:, :1], args[3], **SMALL)
