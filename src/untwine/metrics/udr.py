"""Unsupervised Disentanglement Ranking (Duan et al. 2020): rank models without labels.

Duan, Matthey, Saraiva, Watters, Burgess, Lerchner & Higgins, "Unsupervised Model Selection
for Variational Disentangled Representation Learning", ICLR 2020, Sec. 3: disentangled
representations are alike across runs (up to permutation and sign of their dimensions), each
entangled one is entangled in its own way. So train several models of one setting, encode the
same images with each, and score how well each pair's informative dimensions match one to
one. A model's UDR is the median of its scores against the other models.

For models ``i`` and ``j`` with codes ``z_i``, ``z_j`` of the same N images:

* a dimension is informative when its KL divergence from the prior, averaged over the images,
  exceeds ``kl_threshold`` (0.01 nats in the paper); ``I_KL(a)`` is 1 for an informative
  dimension and 0 otherwise, ``d_a`` / ``d_b`` count those of ``i`` / ``j``;
* ``R[a, b] >= 0`` is the similarity of dimension ``a`` of ``i`` and ``b`` of ``j``: the
  absolute Spearman rank correlation (``correlation="spearman"``, UDR_S) or the absolute
  weight of ``a`` when the standardised ``z_j[:, b]`` is regressed on all of the standardised
  ``z_i`` by the Lasso (``correlation="lasso"``, UDR_L, ``alpha = 0.1``);
* with ``r_b = max_a R[a, b]`` and ``r_a = max_b R[a, b]`` (the paper's Eq. 2)::

      UDR_ij = 1 / (d_a + d_b) * ( sum_b I_KL(b) r_b^2 / sum_a R[a, b]
                                 + sum_a I_KL(a) r_a^2 / sum_b R[a, b] )

  A term ``r^2 / sum R`` is 1 when the dimension matches exactly one dimension of the other
  model and falls as its similarity spreads over several; a dimension with no similarity to
  any (``sum R = 0``) adds 0. Entries of ``R`` that involve an uninformative dimension are 0
  (the reference library zeroes those dimensions' standardised codes before comparing), so the
  sums run over informative dimensions. A pair with no informative dimension scores 0.

Two properties of the estimate worth knowing when reading numbers: the Lasso shrinks every
weight by ``alpha``, so two models that match perfectly score ``1 - alpha`` (0.9) under UDR_L,
not 1; and the sums ``sum R`` collect the chance correlations of independent dimensions (of
order ``1 / sqrt(N)`` each), so a perfect match under UDR_S on N = 1,000 images scores about
0.9 with D = 5 dimensions, and closer to 1 with more images.

Scores are dimensionless, in [0, 1].
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata
from sklearn.linear_model import Lasso

from untwine.metrics._validate import (
    MetricInputError,
    Seed,
    as_generator,
    as_int_seed,
    check_codes,
    check_positive_int,
)

#: The paper's threshold (nats) of the mean KL that makes a dimension informative.
KL_THRESHOLD = 0.01
#: The Lasso penalty of UDR_L (the reference's).
LASSO_ALPHA = 0.1
CORRELATIONS = ("spearman", "lasso")


def udr(
    codes_list: Sequence[np.ndarray],
    kl_list: Sequence[np.ndarray],
    correlation: str = "spearman",
    kl_threshold: float = KL_THRESHOLD,
    seed: Seed = 0,
) -> dict[str, Any]:
    """UDR scores of M models from their codes of the same N images; see the module text.

    Args:
        codes_list: M >= 2 arrays (N, D), row n of each the code of the same image n.
        kl_list: M arrays (D,): each dimension's KL divergence (nats) from the prior, averaged
            over images; or boolean masks (D,) marking the informative dimensions directly.
        correlation: ``"spearman"`` (UDR_S) or ``"lasso"`` (UDR_L).
        kl_threshold: a dimension is informative when its KL exceeds this (nats).
        seed: random state of the Lasso's coordinate descent (unused by Spearman).

    Returns:
        ``{"udr": [M] (each model's median pairwise score, over column i of "pairwise"),
        "pairwise": [[M] * M]
        (``UDR_ij``; NaN on the diagonal), "num_informative_dims": [M]}``.
    """
    codes, masks = _check_models(codes_list, kl_list, kl_threshold)
    if correlation not in CORRELATIONS:
        raise MetricInputError(
            f"correlation must be one of {', '.join(CORRELATIONS)}, got {correlation!r}"
        )
    random_state = as_int_seed(seed)
    standard = [_standardise(z) * m for z, m in zip(codes, masks, strict=True)]
    if correlation == "spearman":
        standard = [_standardise(np.apply_along_axis(rankdata, 0, z)) for z in standard]
    num_models = len(codes)
    pairwise = np.full((num_models, num_models), np.nan)
    for i in range(num_models):
        for j in range(num_models):
            if i == j or (correlation == "spearman" and j < i):
                continue
            if correlation == "spearman":
                similarity = np.abs(standard[i].T @ standard[j]) / len(standard[i])
            else:
                similarity = _lasso_similarity(standard[i], standard[j], random_state)
            score = pair_score(similarity, masks[i], masks[j])
            pairwise[i, j] = score
            if correlation == "spearman":
                pairwise[j, i] = score
    # model i's score: the median of UDR_ji over the others, i.e. over the pairs in which i's
    # codes are the ones regressed (the Lasso is not symmetric), as the authors' code does
    off_diagonal = ~np.eye(num_models, dtype=bool)
    scores = [float(np.median(pairwise[:, i][off_diagonal[i]])) for i in range(num_models)]
    return {
        "udr": scores,
        "pairwise": pairwise.tolist(),
        "num_informative_dims": [int(m.sum()) for m in masks],
    }


def pair_score(
    similarity: np.ndarray, informative_a: np.ndarray, informative_b: np.ndarray
) -> float:
    """``UDR_ij`` (the paper's Eq. 2) from a (D_a, D_b) non-negative similarity matrix ``R``
    and the informative dimensions of either model (boolean (D_a,) and (D_b,))."""
    r = np.where(np.outer(informative_a, informative_b), np.abs(similarity), 0.0)
    d_total = int(informative_a.sum() + informative_b.sum())
    if d_total == 0:
        return 0.0
    total = 0.0
    for axis, informative in ((0, informative_b), (1, informative_a)):
        top, mass = r.max(axis=axis), r.sum(axis=axis)
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(mass > 0, top**2 / mass, 0.0)
        total += float(np.sum(terms[informative]))
    return total / d_total


def _standardise(z: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per column; a constant column becomes 0."""
    centred = z - z.mean(axis=0)
    std = centred.std(axis=0)
    return np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)


def _lasso_similarity(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """``|W|`` (D_x, D_y): Lasso weights of every column of ``y`` on all columns of ``x``."""
    model = Lasso(alpha=LASSO_ALPHA, random_state=seed).fit(x, y)
    return np.abs(np.atleast_2d(model.coef_)).T


def _check_models(
    codes_list: object, kl_list: object, kl_threshold: float
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    if not isinstance(codes_list, Sequence) or len(codes_list) < 2:
        got = len(codes_list) if isinstance(codes_list, Sequence) else type(codes_list).__name__
        raise MetricInputError(f"UDR compares models: codes_list needs at least 2, got {got}")
    codes = [check_codes(c, f"codes_list[{m}]") for m, c in enumerate(codes_list)]
    if len({c.shape for c in codes}) > 1:
        shapes = ", ".join(str(c.shape) for c in codes)
        raise MetricInputError(
            f"codes_list must hold codes of the same images with the same latent size "
            f"(N, D), got shapes {shapes}"
        )
    if not isinstance(kl_list, Sequence) or len(kl_list) != len(codes):
        got = len(kl_list) if isinstance(kl_list, Sequence) else type(kl_list).__name__
        raise MetricInputError(f"kl_list must have one entry per model ({len(codes)}), got {got}")
    if isinstance(kl_threshold, bool) or not isinstance(kl_threshold, int | float | np.floating):
        raise MetricInputError(f"kl_threshold must be a number (nats), got {kl_threshold!r}")
    dims = codes[0].shape[1]
    masks = []
    for m, kl in enumerate(kl_list):
        arr = np.asarray(kl)
        if arr.shape != (dims,):
            raise MetricInputError(f"kl_list[{m}] must have shape ({dims},), got {arr.shape}")
        if arr.dtype == np.bool_:
            masks.append(arr)
            continue
        if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
            raise MetricInputError(f"kl_list[{m}] must be finite KL values (nats) or a mask")
        masks.append(arr > kl_threshold)
    return codes, masks


def gaussian_kl_per_dim(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Mean over images of ``KL(N(mu, exp logvar) || N(0, 1))`` per dimension, (D,) nats:
    ``1/2 (mu^2 + exp(logvar) - 1 - logvar)`` in closed form."""
    mu, logvar = np.asarray(mu, np.float64), np.asarray(logvar, np.float64)
    return np.mean(0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar), axis=0)


def udr_of_runs(
    run_dirs: Sequence[str | os.PathLike],
    num_points: int = 10_000,
    seed: Seed = 0,
    correlation: str = "spearman",
    kl_threshold: float = KL_THRESHOLD,
) -> dict[str, Any]:
    """UDR of trained runs of one dataset (the runs of one setting, differing in seed).

    Each run (:func:`untwine.load_run`) encodes the same ``num_points`` images, drawn
    uniformly from the first run's dataset with ``seed``; its codes are the posterior means
    and its per-dimension KL the closed-form KL to ``N(0, I)`` averaged over the images
    (:func:`gaussian_kl_per_dim`); then :func:`udr`. Every run must have a Gaussian posterior
    and the same dataset (name and options) and latent size.

    Returns:
        :func:`udr`'s result plus ``"runs"`` ([M] paths as given), ``"kl_per_dim"``
        ([[D] * M], nats), ``"num_points"`` and ``"seed"``.
    """
    from untwine import load_run  # deferred: the training stack is heavy and optional here

    if isinstance(run_dirs, str | os.PathLike) or len(run_dirs) < 2:
        raise MetricInputError("UDR compares runs: pass at least 2 run folders")
    num_points = check_positive_int(num_points, "num_points", minimum=2)
    rng = as_generator(seed)
    runs = [load_run(path) for path in run_dirs]
    first = _dataset_of(runs[0])
    for path, run in zip(run_dirs, runs, strict=True):
        if _dataset_of(run) != first:
            raise MetricInputError(
                f"{path}: trained on dataset {_dataset_of(run)}, the first run on {first}; "
                "UDR compares runs of one dataset"
            )
        if not run.has_gaussian_posterior:
            raise MetricInputError(
                f"{path}: UDR needs a Gaussian posterior (mu, logvar) for each dimension's KL"
            )
    data = runs[0].dataset()
    factors = data.sample_factors(num_points, rng)
    images = data.sample_observations_from_factors(factors, rng)
    codes, kls = [], []
    for run in runs:
        mu, logvar = run.encode(images)
        codes.append(np.asarray(mu))
        kls.append(gaussian_kl_per_dim(mu, logvar))
    if len({c.shape[1] for c in codes}) > 1:
        sizes = ", ".join(f"{p}: {c.shape[1]}" for p, c in zip(run_dirs, codes, strict=True))
        raise MetricInputError(f"runs have different latent sizes ({sizes}); UDR needs one")
    result = udr(codes, kls, correlation=correlation, kl_threshold=kl_threshold, seed=seed)
    result.update(
        runs=[str(p) for p in run_dirs],
        kl_per_dim=[k.tolist() for k in kls],
        num_points=num_points,
        seed=seed if isinstance(seed, int) else None,
    )
    return result


def _dataset_of(run: Any) -> tuple[str, dict]:
    ds = run.config.dataset
    return ds.name, dict(ds.options)
