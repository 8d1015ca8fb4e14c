"""FactorVAE disentanglement score (Kim & Mnih 2018), as in disentanglement_lib.

Kim & Mnih, "Disentangling by Factorising", ICML 2018, Sec. 4: fix one factor in a batch of
otherwise random points, find the code dimension whose variance (normalised by its variance
over the whole dataset) is smallest, and vote; a majority-vote classifier from code dimension
to factor is scored by its accuracy.

The reference draws, encodes and reduces one vote at a time (15,000 calls of the
representation function on 64 images each); here all votes are drawn at once, images are
encoded in large batches through :class:`untwine.metrics.context.CodeSource` (which encodes
each grid cell at most once) and the variances are one array reduction. The definition and
the numbers are unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from untwine.metrics._validate import (
    MetricInputError,
    Seed,
    as_generator,
    check_positive_int,
    image_generator,
)
from untwine.metrics.context import CodeSource, RepresentationFn, accepts_reduced_precision
from untwine.registry import register_metric

if TYPE_CHECKING:
    from untwine.metrics.context import EvalContext


def factor_vae_score(
    data: Any,
    representation_fn: RepresentationFn,
    seed: Seed = 0,
    vote_batch_size: int = 64,
    num_votes: int = 10_000,
    num_eval_votes: int = 5_000,
    num_variance_points: int = 10_000,
    prune_threshold: float = 0.05,
) -> dict[str, float | list]:
    """FactorVAE score in [0, 1] (dimensionless): majority-vote accuracy on held-out votes.

    1. Global variance of each code over ``num_variance_points`` random points (ddof=1);
       codes with standard deviation below ``prune_threshold`` are ignored (collapsed).
    2. Each vote: pick a factor ``k`` uniformly, draw ``vote_batch_size`` points sharing a
       random value of ``k``, take the code variances over the batch (ddof=1) divided by the
       global variances, and vote for the pair (``k``, the active code with the smallest ratio).
    3. The classifier maps each code to the factor with most of the ``num_votes`` training
       votes; the score is the fraction of ``num_eval_votes`` fresh votes it gets right
       (Kim & Mnih 2018, Sec. 4).

    Args:
        data: a ground-truth dataset (``factor_sizes``, ``num_factors``, ``sample_factors``,
            ``sample_observations_from_factors``).
        representation_fn: float32 images (N, C, H, W) -> codes (N, D), deterministic.
        seed: an int seeding the ``numpy.random.Generator`` that draws every point, or such a
            Generator.

    Returns:
        ``{"factor_vae_score": eval accuracy, "train_accuracy", "eval_accuracy",
        "num_active_dims", "votes": [[D] * K] training votes}``; with no active code every
        number is 0, as in the reference.
    """
    source = CodeSource(data, representation_fn, image_generator(seed))
    return _factor_vae(
        source, data, as_generator(seed), vote_batch_size, num_votes, num_eval_votes,
        num_variance_points, prune_threshold,
    )  # fmt: skip


def _factor_vae(
    source: CodeSource,
    data: Any,
    rng: np.random.Generator,
    vote_batch_size: int,
    num_votes: int,
    num_eval_votes: int,
    num_variance_points: int,
    prune_threshold: float,
) -> dict[str, float | list]:
    vote_batch_size = check_positive_int(vote_batch_size, "vote_batch_size", 2)
    num_votes = check_positive_int(num_votes, "num_votes")
    num_eval_votes = check_positive_int(num_eval_votes, "num_eval_votes")
    num_variance_points = check_positive_int(num_variance_points, "num_variance_points", 2)
    if not prune_threshold >= 0:
        raise MetricInputError(f"prune_threshold must be >= 0, got {prune_threshold!r}")

    codes = source(data.sample_factors(num_variance_points, rng))
    global_var = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(global_var) >= prune_threshold
    num_codes = codes.shape[1]
    if not active.any():
        return {
            "factor_vae_score": 0.0,
            "train_accuracy": 0.0,
            "eval_accuracy": 0.0,
            "num_active_dims": 0,
            "votes": np.zeros((data.num_factors, num_codes), dtype=int).tolist(),
        }
    train_votes = _votes(source, data, rng, vote_batch_size, num_votes, global_var, active)
    classifier = np.argmax(train_votes, axis=0)  # factor voted for most by each code
    columns = np.arange(num_codes)
    train_accuracy = train_votes[classifier, columns].sum() / train_votes.sum()
    eval_votes = _votes(source, data, rng, vote_batch_size, num_eval_votes, global_var, active)
    eval_accuracy = eval_votes[classifier, columns].sum() / eval_votes.sum()
    return {
        "factor_vae_score": float(eval_accuracy),
        "train_accuracy": float(train_accuracy),
        "eval_accuracy": float(eval_accuracy),
        "num_active_dims": int(active.sum()),
        "votes": train_votes.tolist(),
    }


def _votes(
    source: CodeSource,
    data: Any,
    rng: np.random.Generator,
    batch_size: int,
    num_votes: int,
    global_var: np.ndarray,
    active: np.ndarray,
) -> np.ndarray:
    """Vote counts (K, D): rows factors, columns the code with the smallest variance ratio."""
    num_factors = data.num_factors
    fixed = rng.integers(num_factors, size=num_votes)
    factors = data.sample_factors(num_votes * batch_size, rng).reshape(num_votes, batch_size, -1)
    rows = np.arange(num_votes)
    factors[rows, :, fixed] = factors[rows, 0, fixed][:, None]
    codes = source(factors)  # (votes, batch, D)
    local_var = np.var(codes[:, :, active], axis=1, ddof=1)
    winner = np.flatnonzero(active)[np.argmin(local_var / global_var[active], axis=1)]
    votes = np.zeros((num_factors, len(global_var)), dtype=np.int64)
    np.add.at(votes, (fixed, winner), 1)
    return votes


@register_metric("factor_vae_score")
@accepts_reduced_precision
def _factor_vae_metric(
    ctx: EvalContext,
    *,
    vote_batch_size: int = 64,
    num_votes: int = 10_000,
    num_eval_votes: int = 5_000,
    num_variance_points: int = 10_000,
    prune_threshold: float = 0.05,
) -> dict:
    """Driver adapter: the same numbers as :func:`factor_vae_score` with the same seed."""
    return _factor_vae(
        ctx.require_codes("factor_vae_score"), ctx.data, np.random.default_rng(ctx.seed),
        vote_batch_size, num_votes, num_eval_votes, num_variance_points, prune_threshold,
    )  # fmt: skip
