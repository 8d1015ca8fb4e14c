"""FactorVAE score (Kim & Mnih 2018) on a dataset whose observations are its factors."""

from __future__ import annotations

import numpy as np
import pytest

from untwine.metrics import MetricInputError, factor_vae_score

SMALL = {"num_votes": 1000, "num_eval_votes": 500, "num_variance_points": 2000}


def test_identity_is_one(cube, reps):
    result = factor_vae_score(cube, reps.identity, **SMALL)
    assert result["factor_vae_score"] == 1.0
    assert result["num_active_dims"] == 3


def test_generator_seed_draws_as_its_int(cube, reps):
    noisy = lambda images: reps.identity(images) @ reps.rotation(3, seed=2)  # noqa: E731
    by_int = factor_vae_score(cube, noisy, seed=5, **SMALL)
    assert factor_vae_score(cube, noisy, seed=np.random.default_rng(5), **SMALL) == by_int
    with pytest.raises(MetricInputError, match="seed"):
        factor_vae_score(cube, noisy, seed=-1, **SMALL)


def test_constant_is_zero(cube, reps):
    result = factor_vae_score(cube, reps.constant, **SMALL)
    assert result == {
        "factor_vae_score": 0.0,
        "train_accuracy": 0.0,
        "eval_accuracy": 0.0,
        "num_active_dims": 0,
        "votes": [[0, 0, 0]] * 3,
    }


def test_prunes_collapsed_codes(cube, reps):
    def with_dead_code(images):
        x = reps.identity(images)
        return np.hstack([x, np.full((len(x), 1), 0.01)])

    result = factor_vae_score(cube, with_dead_code, **SMALL)
    assert result["num_active_dims"] == 3
    assert result["factor_vae_score"] == 1.0


def test_matches_plain_vote_loop(cube, reps):
    """The vectorised votes equal the reference's one-vote-at-a-time loop on the same draws."""

    def noisy(images):  # deterministic but imperfect: factors 0 and 1 mixed
        x = reps.identity(images)
        return np.stack([x[:, 0] + 0.7 * x[:, 1], x[:, 1], x[:, 2] + np.sin(x[:, 0])], axis=1)

    result = factor_vae_score(cube, noisy, seed=5, vote_batch_size=16, **SMALL)

    rng = np.random.default_rng(5)
    codes = noisy(cube.sample_observations_from_factors(cube.sample_factors(2000, rng)))
    global_var = np.var(codes, axis=0, ddof=1)

    def votes(num):
        fixed = rng.integers(3, size=num)
        factors = cube.sample_factors(num * 16, rng).reshape(num, 16, 3)
        table = np.zeros((3, 3), dtype=int)
        for i in range(num):
            batch = factors[i].copy()
            batch[:, fixed[i]] = batch[0, fixed[i]]
            local = np.var(noisy(cube.sample_observations_from_factors(batch)), axis=0, ddof=1)
            table[fixed[i], np.argmin(local / global_var)] += 1
        return table

    train = votes(1000)
    assert result["votes"] == train.tolist()
    classifier = np.argmax(train, axis=0)
    evaluation = votes(500)
    expected = evaluation[classifier, np.arange(3)].sum() / evaluation.sum()
    assert result["factor_vae_score"] == pytest.approx(expected)


def test_same_seed_same_numbers(cube, reps):
    def blurred(images):
        return reps.identity(images) @ reps.rotation(3, seed=1)

    first = factor_vae_score(cube, blurred, seed=2, **SMALL)
    assert factor_vae_score(cube, blurred, seed=2, **SMALL) == first


def test_bad_settings(cube, reps):
    with pytest.raises(MetricInputError, match="vote_batch_size"):
        factor_vae_score(cube, reps.identity, vote_batch_size=1)
    with pytest.raises(MetricInputError, match="representation_fn must return"):
        factor_vae_score(cube, lambda images: np.zeros(len(images)), **SMALL)
    with pytest.raises(MetricInputError, match="NaN or inf"):
        factor_vae_score(cube, lambda images: np.full((len(images), 2), np.nan), **SMALL)
