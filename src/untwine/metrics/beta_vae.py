"""beta-VAE disentanglement score (Higgins et al. 2017), as in disentanglement_lib.

Higgins et al., "beta-VAE: Learning Basic Visual Concepts with a Constrained Variational
Framework", ICLR 2017, Sec. 3: pairs of points share the value of one factor; the mean
absolute difference of their codes over a batch of pairs should reveal which factor was shared
to a linear classifier, whose accuracy is the score.

Classifier: the reference calls scikit-learn's ``LogisticRegression()``, which for the published
benchmark (2019) meant LIBLINEAR, one-vs-rest, ``C = 1``, penalised intercept, on unscaled
features. The same per-class problems are solved here to the optimum by
:func:`untwine.metrics._linear.fit_logistic` (LIBLINEAR stops at a tolerance of 1e-4). All
pairs are drawn at once and encoded in large batches (see
:class:`untwine.metrics.context.CodeSource`) instead of 2 x 15,000 calls on 64 images each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from untwine.metrics._linear import decision_to_labels, fit_logistic, ovr_problems
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

LOGISTIC_C = 1.0


def beta_vae_score(
    data: Any,
    representation_fn: RepresentationFn,
    seed: Seed = 0,
    vote_batch_size: int = 64,
    num_votes: int = 10_000,
    num_eval_votes: int = 5_000,
) -> dict[str, float | list]:
    """beta-VAE score in [0, 1] (dimensionless): accuracy on ``num_eval_votes`` fresh votes.

    Each vote (an example for the classifier): pick a factor ``k`` uniformly, draw
    ``vote_batch_size`` pairs of points that agree on factor ``k`` (everything else
    independent), and take the mean over pairs of the absolute code difference (a D-vector).
    A one-vs-rest logistic regression (``C = 1``) trained on ``num_votes`` of them predicts
    ``k``; the score is its eval accuracy (Higgins et al. 2017, Sec. 3). ``seed``: an int or
    a ``numpy.random.Generator`` drawing every point.

    Returns:
        ``{"beta_vae_score": eval accuracy, "train_accuracy", "eval_accuracy"}``.
    """
    source = CodeSource(data, representation_fn, image_generator(seed))
    return _beta_vae(source, data, as_generator(seed), vote_batch_size, num_votes, num_eval_votes)


def _beta_vae(
    source: CodeSource,
    data: Any,
    rng: np.random.Generator,
    vote_batch_size: int,
    num_votes: int,
    num_eval_votes: int,
) -> dict[str, float | list]:
    vote_batch_size = check_positive_int(vote_batch_size, "vote_batch_size")
    num_votes = check_positive_int(num_votes, "num_votes")
    num_eval_votes = check_positive_int(num_eval_votes, "num_eval_votes")
    if data.num_factors < 2:
        raise MetricInputError("beta_vae_score needs a dataset with at least 2 factors")
    train_x, train_y = _examples(source, data, rng, vote_batch_size, num_votes)
    classes = np.unique(train_y)
    if len(classes) < 2:
        raise MetricInputError(
            f"num_votes={num_votes} drew votes of a single factor; use more votes"
        )
    signs, costs = ovr_problems(train_y, classes, None, LOGISTIC_C)
    theta = fit_logistic(train_x, signs, costs)

    def accuracy(x: np.ndarray, y: np.ndarray) -> float:
        decision = x @ theta[:, :-1].T + theta[:, -1]
        return float(np.mean(decision_to_labels(decision, classes) == y))

    train_accuracy = accuracy(train_x, train_y)
    eval_x, eval_y = _examples(source, data, rng, vote_batch_size, num_eval_votes)
    eval_accuracy = accuracy(eval_x, eval_y)
    return {
        "beta_vae_score": eval_accuracy,
        "train_accuracy": train_accuracy,
        "eval_accuracy": eval_accuracy,
    }


def _examples(
    source: CodeSource, data: Any, rng: np.random.Generator, batch_size: int, num: int
) -> tuple[np.ndarray, np.ndarray]:
    """Features (num, D): mean |code1 - code2| over pairs sharing factor ``labels`` (num,)."""
    labels = rng.integers(data.num_factors, size=num)
    first = data.sample_factors(num * batch_size, rng).reshape(num, batch_size, -1)
    second = data.sample_factors(num * batch_size, rng).reshape(num, batch_size, -1)
    rows = np.arange(num)
    second[rows, :, labels] = first[rows, :, labels]
    features = np.mean(np.abs(source(first) - source(second)), axis=1, dtype=np.float64)
    return features, labels


@register_metric("beta_vae_score")
@accepts_reduced_precision
def _beta_vae_metric(
    ctx: EvalContext,
    *,
    vote_batch_size: int = 64,
    num_votes: int = 10_000,
    num_eval_votes: int = 5_000,
) -> dict:
    """Driver adapter: the same numbers as :func:`beta_vae_score` with the same seed."""
    return _beta_vae(
        ctx.require_codes("beta_vae_score"), ctx.data, np.random.default_rng(ctx.seed),
        vote_batch_size, num_votes, num_eval_votes,
    )  # fmt: skip
