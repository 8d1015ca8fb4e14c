"""Input checks shared by the metrics: one clear error that names the offending argument.

Metrics validate at their public boundary (docs/design.md, "Conventions") and trust their
inputs inside.
"""

from __future__ import annotations

import numpy as np

from untwine.errors import UntwineError


class MetricInputError(UntwineError, ValueError):
    """An array handed to a metric has the wrong shape, dtype or content.

    Also a ``ValueError`` so that code written against scikit-learn's conventions catches it.
    """


def check_codes(codes: object, name: str = "codes", *, min_dims: int = 1) -> np.ndarray:
    """Return ``codes`` as a finite floating (N, D) array or raise naming ``name``.

    Float32 and float64 are kept as they are (the histogram discretisation of MIG depends on
    the dtype, as in the reference); anything else numeric becomes float64.
    """
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise MetricInputError(f"{name} must be a 2-D array (N, D), got shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.number):
        raise MetricInputError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.issubdtype(arr.dtype, np.complexfloating):
        raise MetricInputError(f"{name} must be real, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if arr.shape[0] == 0:
        raise MetricInputError(f"{name} has no rows")
    if arr.shape[1] < min_dims:
        raise MetricInputError(
            f"{name} must have at least {min_dims} column(s) (code dimensions), "
            f"got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        bad = int(np.count_nonzero(~np.isfinite(arr).all(axis=1)))
        raise MetricInputError(f"{name} contains NaN or inf values (in {bad} rows)")
    return arr


def check_factors(factors: object, name: str = "factors") -> np.ndarray:
    """Return ``factors`` as a non-negative int64 (N, K) array of indices or raise."""
    arr = np.asarray(factors)
    if arr.ndim != 2:
        raise MetricInputError(f"{name} must be a 2-D array (N, K), got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise MetricInputError(
            f"{name} must hold integer factor indices, got dtype {arr.dtype} "
            "(pass the factor classes, not their values)"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise MetricInputError(f"{name} is empty: shape {arr.shape}")
    if (arr < 0).any():
        raise MetricInputError(f"{name} must be non-negative indices, found {int(arr.min())}")
    return arr.astype(np.int64, copy=False)


def check_pair(
    codes: object, factors: object, codes_name: str, factors_name: str, *, min_dims: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (codes, factors) pair that must describe the same N points."""
    c = check_codes(codes, codes_name, min_dims=min_dims)
    f = check_factors(factors, factors_name)
    if len(c) != len(f):
        raise MetricInputError(
            f"{codes_name} and {factors_name} must have the same number of rows, "
            f"got {len(c)} and {len(f)}"
        )
    return c, f


def check_train_test(
    train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]
) -> None:
    """The test split must have the same code width and number of factors as the train split."""
    if train[0].shape[1] != test[0].shape[1]:
        raise MetricInputError(
            f"train_codes and test_codes must have the same number of columns, "
            f"got {train[0].shape[1]} and {test[0].shape[1]}"
        )
    if train[1].shape[1] != test[1].shape[1]:
        raise MetricInputError(
            f"train_factors and test_factors must have the same number of columns, "
            f"got {train[1].shape[1]} and {test[1].shape[1]}"
        )


def check_varying_factors(factors: np.ndarray, name: str = "factors") -> None:
    """Every factor must take at least two distinct values (else no classifier or entropy),
    and there must be at least as many samples as the factor has classes (indices run from 0,
    so a factor whose largest index is m has m + 1 classes): fewer cannot show every class
    once, and the plug-in entropies and the classifiers' accuracies mean nothing then."""
    num = factors.shape[0]
    for k in range(factors.shape[1]):
        classes = int(factors[:, k].max()) + 1
        if num < classes:
            raise MetricInputError(
                f"{name} has {num} samples, fewer than the {classes} classes of factor "
                f"{name}[:, {k}] (indices up to {classes - 1}); pass at least {classes} samples"
            )
        if np.unique(factors[:, k]).size < 2:
            raise MetricInputError(
                f"{name}[:, {k}] takes a single value; each factor needs at least 2 distinct "
                "values in the sample for this metric"
            )


def check_num_factors(factors: np.ndarray, name: str, minimum: int) -> None:
    if factors.shape[1] < minimum:
        raise MetricInputError(
            f"{name} must have at least {minimum} factors (columns), got {factors.shape[1]}"
        )


def check_positive_int(value: object, name: str, minimum: int = 1) -> int:
    """An integer setting such as ``num_bins`` or ``batch_size``, at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise MetricInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


#: What a sampling metric accepts as its source of randomness.
Seed = int | np.random.Generator


def as_generator(seed: Seed, name: str = "seed") -> np.random.Generator:
    """``seed`` as a ``numpy.random.Generator``: an int seeds ``default_rng``; a Generator is
    used as given (its state advances)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise MetricInputError(
            f"{name} must be a non-negative int or a numpy.random.Generator, got {seed!r}"
        )
    return np.random.default_rng(int(seed))


def image_generator(seed: Seed) -> np.random.Generator:
    """The generator a :class:`~untwine.metrics.context.CodeSource` renders images with.

    An int seed gives its own ``default_rng(seed)`` (independent of the point draws, as the
    recorded numbers assume); a Generator gives a child stream spawned from it.
    """
    if isinstance(seed, np.random.Generator):
        return seed.spawn(1)[0]
    return as_generator(seed)


def as_int_seed(seed: Seed, name: str = "seed") -> int:
    """``seed`` as an int, for code that takes integer seeds (scikit-learn's ``random_state``,
    the cached draws of an :class:`~untwine.metrics.context.EvalContext`): an int is kept, a
    Generator gives its next integer below 2**31."""
    if isinstance(seed, np.random.Generator):
        return int(seed.integers(2**31 - 1))
    as_generator(seed, name)  # validates
    return int(seed)
