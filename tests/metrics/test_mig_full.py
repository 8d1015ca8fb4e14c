"""Chen et al.'s full-dataset MIG on an encoder whose posteriors sit on the factors."""

from __future__ import annotations

import numpy as np
import pytest

from untwine.metrics import MetricInputError, mig_full, mig_full_from_posteriors


def sharp_encoder(images: np.ndarray):
    mu = images.reshape(len(images), -1).astype(np.float64)
    return mu, np.full_like(mu, 2 * np.log(0.05))


def test_sharp_identity_encoder_is_near_one(cube):
    result = mig_full(cube, sharp_encoder, num_samples=1000)
    assert result["mig_full"] > 0.95
    # I(z_k; v_k) = H(v_k) = log 10 nats for well-separated posteriors.
    assert np.diag(result["mutual_info"]) == pytest.approx([np.log(10)] * 3, abs=0.05)


def test_uninformative_encoder_is_zero(cube):
    def prior_encoder(images):
        return np.zeros((len(images), 3)), np.zeros((len(images), 3))

    # Zero up to the sampling noise of the entropy estimates.
    assert mig_full(cube, prior_encoder, num_samples=500)["mig_full"] < 0.01


def test_duplicated_code_is_zero(cube):
    def doubled(images):
        mu, logvar = sharp_encoder(images)
        return np.hstack([mu, mu]), np.hstack([logvar, logvar])

    result = mig_full(cube, doubled, num_samples=1000)
    assert result["mig_full"] < 0.02


def test_subset_and_seed_are_reproducible(cube):
    first = mig_full(cube, sharp_encoder, seed=4, num_points=600, num_samples=300)
    again = mig_full(cube, sharp_encoder, seed=4, num_points=600, num_samples=300)
    assert first == again


def test_bad_inputs():
    mu = np.zeros((10, 2))
    factors = np.zeros((10, 1), dtype=int)
    with pytest.raises(MetricInputError, match="at least one factor with 2"):
        mig_full_from_posteriors(mu, mu, factors)
    with pytest.raises(MetricInputError, match="same points"):
        mig_full_from_posteriors(mu, mu, factors[:5])
