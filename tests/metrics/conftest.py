"""Fixtures for the metric tests: a ground-truth dataset whose observations ARE its factors.

With observations equal to the factor indices (as float images of shape (K, 1, 1)), the
identity representation is perfectly disentangled and every metric has a closed-form answer.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest

from untwine.data.base import GroundTruthData


class FactorGrid(GroundTruthData):
    """Full grid over ``factor_sizes``; image of a cell = its factor indices, shape (K, 1, 1)."""

    max_value = 1  # to_float leaves the indices unscaled

    def __init__(self, factor_sizes: tuple[int, ...]) -> None:
        self.name = "factor-grid"
        self.factor_sizes = tuple(factor_sizes)
        self.factor_names = tuple(f"f{k}" for k in range(len(factor_sizes)))
        self.observation_shape = (len(factor_sizes), 1, 1)

    def images(self, indices) -> np.ndarray:
        factors = self.factors_of(indices)
        return factors.astype(np.uint8).reshape(len(factors), self.num_factors, 1, 1)


def identity(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float64)


def constant(images: np.ndarray) -> np.ndarray:
    return np.zeros((len(images), 3))


def duplicated(images: np.ndarray) -> np.ndarray:
    x = identity(images)
    return np.hstack([x, x])


def rotation(dim: int, seed: int = 0) -> np.ndarray:
    """A random orthogonal matrix with no near-zero entries' structure (Haar via QR)."""
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q * np.sign(np.diag(r))


@pytest.fixture
def reps() -> SimpleNamespace:
    """Representation functions and helpers shared by the tests."""
    return SimpleNamespace(
        identity=identity, constant=constant, duplicated=duplicated, rotation=rotation,
        sample=sample,
    )  # fmt: skip


@pytest.fixture
def grid() -> Callable[..., FactorGrid]:
    return FactorGrid


@pytest.fixture
def cube() -> FactorGrid:
    """10 x 10 x 10 grid: 1,000 cells."""
    return FactorGrid((10, 10, 10))


def sample(data: GroundTruthData, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random factors and their identity codes."""
    factors = data.sample_factors(n, np.random.default_rng(seed))
    return identity(data.sample_observations_from_factors(factors)), factors


@pytest.fixture
def split(cube) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Identity codes of 4,000 train and 2,000 test points of ``cube``."""
    train = sample(cube, 4000, 1)
    test = sample(cube, 2000, 2)
    return train[0], train[1], test[0], test[1]
