"""What each latent dimension carries: average KL, posterior spread, MI with the factors.

:func:`summarize_latents` encodes a random sample of a run's dataset once; the traversals, the
mutual-information heat map and the report all read that one :class:`LatentSummary`, so their
numbers agree with each other. Given the run's ``metrics.json``, it takes the numbers that file
holds from it (the MIG result's mutual information, the ELBO result's KL per dimension), so a
page that shows both the metrics table and the pictures shows one value per metric.

Mutual information is the discrete, plug-in estimate of the benchmark MIG (Chen et al. 2018,
as computed by Locatello et al. 2019): each dimension's codes (the representation the metrics
score; the Gaussian family's posterior means) cut into 20
equal-width bins, in nats, from :func:`untwine.metrics.mig`. A dimension's *best factor* is
the one it holds the largest share of, ``I(z_j; v_k) / H(v_k)``; its *gap* is that share minus
the largest share any other dimension holds about the same factor — for the dimension that
explains a factor best this is exactly the factor's MIG gap, and a negative gap means another
dimension explains the factor better.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from untwine.data import GroundTruthData
from untwine.errors import UntwineError
from untwine.metrics import mig
from untwine.models.base import ACTIVE_USAGE
from untwine.models.normal import kl_standard_normal

#: Below this share of a factor's entropy a dimension is reported as explaining no factor:
#: collapsed dimensions still show a few hundredths of a nat from binning noise.
MIN_SHARE = 0.05
#: Where a summary's numbers come from when the run's metrics.json supplied them.
FROM_METRICS = "metrics.json"


def random_indices(length: int, n: int, seed: int) -> np.ndarray:
    """``min(n, length)`` distinct indices below ``length`` in random order, drawn with
    ``numpy.random.default_rng(seed)``: how every picture of a run picks its images."""
    return np.random.default_rng(seed).choice(length, size=min(n, length), replace=False)


def kl_order(kl: np.ndarray) -> np.ndarray:
    """Dimension indices sorted by KL, largest first (ties keep index order)."""
    return np.argsort(-np.asarray(kl), kind="stable")


def kl_history(records: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Steps (T,) and per-dimension KL (T, D) in nats from log records that have ``kl_dims``
    (records of another width than the last, from an older model, are left out)."""
    rows = [r for r in records if isinstance(r.get("kl_dims"), list) and "step" in r]
    if rows:
        width = len(rows[-1]["kl_dims"])
        rows = [r for r in rows if len(r["kl_dims"]) == width]
    if not rows:
        return np.zeros(0), np.zeros((0, 0))
    return np.array([r["step"] for r in rows]), np.array([r["kl_dims"] for r in rows], float)


@dataclass
class FactorMatch:
    """The factor a latent dimension explains best (see the module docstring)."""

    factor: int
    name: str
    share: float  # I(z_j; v_k) / H(v_k), dimensionless in [0, 1]
    gap: float  # share minus the best share of any other dimension for the same factor

    def label(self) -> str:
        return f"{self.name} {self.share:.2f} gap {self.gap:+.2f}"


@dataclass
class LatentSummary:
    """A sample of a run's posteriors and what they say about each latent dimension.

    ``mu``/``logvar`` are (N, D) posterior parameters of ``indices`` (N,) of the dataset,
    ``codes`` their representation (N, D), what the metrics score (the Gaussian family: ``mu``;
    defaults to ``mu``), ``factors`` their (N, K) factor indices (None when the dataset is
    unavailable). ``usage`` (D,) is the share of the images using each dimension, for
    families whose dimensions can be off (IBP; None otherwise). ``kl`` is
    the average KL per dimension (D,) in nats. ``mutual_info`` (D, K) in nats and
    ``factor_entropy`` (K,) in nats come from the discrete MIG estimator; ``mig`` is its
    headline value (None without factors). ``source`` describes the sample; ``kl_source`` and
    ``mi_source`` say where the KL and the mutual information come from (the sample, the
    training log, or :data:`FROM_METRICS`).
    """

    mu: np.ndarray
    logvar: np.ndarray
    kl: np.ndarray
    indices: np.ndarray | None = None
    factors: np.ndarray | None = None
    factor_names: tuple[str, ...] = ()
    mutual_info: np.ndarray | None = None
    factor_entropy: np.ndarray | None = None
    mig: float | None = None
    mig_per_factor: np.ndarray | None = None
    source: str = ""
    kl_source: str = ""
    mi_source: str = ""
    codes: np.ndarray | None = None
    usage: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.codes is None:
            self.codes = self.mu

    @property
    def z_dim(self) -> int:
        return int(self.kl.shape[0])

    @property
    def active(self) -> np.ndarray | None:
        """The active dimensions (usage at least ``ACTIVE_USAGE``), most used first; None
        when the family's dimensions are always on."""
        if self.usage is None:
            return None
        ranked = np.argsort(-self.usage, kind="stable")
        return ranked[self.usage[ranked] >= ACTIVE_USAGE]

    @property
    def order(self) -> np.ndarray:
        """The dimensions to show: by average KL, most informative first; where the family
        switches dimensions off, only the active ones, most used first (all, by KL, when
        none is active)."""
        active = self.active
        return active if active is not None and active.size else kl_order(self.kl)

    @property
    def mig_headline(self) -> str:
        """The MIG as every picture and caption states it, with where it comes from
        (``MIG 0.2951 from metrics.json``, ``MIG 0.2820 on a sample of 10,000 images, seed
        0``): four decimals, as the metrics table prints it. Empty without factors."""
        if self.mig is None:
            return ""
        where = "from " + FROM_METRICS if self.mi_source == FROM_METRICS else self.mi_source
        return f"MIG {self.mig:.4f} {where}".rstrip()

    @property
    def shares(self) -> np.ndarray | None:
        """``I(z_j; v_k) / H(v_k)`` (D, K): the fraction of each factor's entropy a dimension
        holds (the normalisation MIG uses)."""
        if self.mutual_info is None or self.factor_entropy is None:
            return None
        return self.mutual_info / np.maximum(self.factor_entropy[None, :], 1e-12)

    def best_factor(self, dim: int) -> FactorMatch | None:
        """The factor dimension ``dim`` explains best, or None (no factors, or no factor
        holds at least :data:`MIN_SHARE` of its entropy in this dimension)."""
        shares = self.shares
        if shares is None:
            return None
        k = int(np.argmax(shares[dim]))
        share = float(shares[dim, k])
        if share < MIN_SHARE:
            return None
        others = np.delete(shares[:, k], dim)
        gap = share - float(others.max()) if others.size else share
        return FactorMatch(k, self.factor_names[k], share, gap)

    def quantiles(self, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-dimension ``low`` and ``high`` quantiles (D,) of the posterior means: the range
        the aggregate posterior actually covers."""
        lo, hi = np.quantile(self.codes, [low, high], axis=0)
        return lo.astype(np.float32), hi.astype(np.float32)


def recorded_metrics(run) -> dict[str, Any]:
    """The run's ``metrics.json`` as a mapping ({} when it is missing or unreadable)."""
    from untwine.viz.runs import read_run  # the one reader of a run folder's files

    path = getattr(run, "path", None)
    return read_run(path).metrics if path is not None else {}


def summarize_latents(
    run,
    *,
    data: GroundTruthData | None = None,
    num_points: int = 10_000,
    seed: int = 0,
    num_bins: int = 20,
    metrics: Mapping[str, Any] | None = None,
) -> LatentSummary:
    """Encode ``num_points`` random images of the run's dataset and summarise each dimension.

    Points are drawn without replacement with ``numpy.random.default_rng(seed)`` (the whole
    dataset when it is smaller); their posterior means give the quantile ranges. The numbers
    the run's evaluation recorded are taken from ``metrics`` (default: the run's
    ``metrics.json``), so that pictures and the metrics table agree: the MIG result's mutual
    information, factor entropies and MIG, and the ELBO result's closed-form KL per dimension
    (``kl_per_dim``, nats). Where a result is absent or does not fit this run's shape, the
    sample's own values are used: the average closed-form KL of its posteriors
    (:func:`untwine.models.normal.kl_standard_normal`) and the discrete MIG of its means with
    ``num_bins`` equal-width bins (20, as the benchmark). ``kl_source`` and ``mi_source`` say
    which. If the dataset cannot be loaded, the summary falls back to the per-dimension KL of
    the run's last log record and has no factors (``source`` says so).
    """
    if data is None:
        try:
            data = run.dataset()
        except UntwineError as e:
            return summary_from_log(run, reason=str(e))
    if metrics is None:
        metrics = recorded_metrics(run)
    indices = np.sort(random_indices(len(data), num_points, seed))
    n = len(indices)
    images = data.images(indices)
    mu, logvar = run.encode(images)
    codes = run.representation(images)
    factors = data.factors_of(indices)
    sample = f"on a sample of {n:,} images, seed {seed}"
    summary = LatentSummary(
        mu=mu,
        logvar=logvar,
        kl=_mean_kl(mu, logvar),
        indices=indices,
        factors=factors,
        factor_names=tuple(data.factor_names),
        source=f"{n} images of {data.name} (seed {seed})",
        kl_source=sample,
        mi_source=sample,
        codes=codes,
        usage=run.usage(images),
    )
    kl = _kl_from_metrics(metrics.get("elbo"), summary.z_dim)
    if kl is not None:
        summary.kl, summary.kl_source = kl, FROM_METRICS
    recorded = _mig_from_metrics(metrics.get("mig"), summary.z_dim, factors.shape[1])
    if recorded is not None:
        summary.mutual_info, summary.factor_entropy, summary.mig, summary.mig_per_factor = recorded
        summary.mi_source = FROM_METRICS
        return summary
    # Factors with a single value carry no information; MIG rejects them, so drop them here.
    varying = [k for k in range(factors.shape[1]) if np.unique(factors[:, k]).size > 1]
    if codes.shape[1] >= 2 and varying:
        result = mig(codes, factors[:, varying], num_bins=num_bins)
        mi = np.zeros((codes.shape[1], factors.shape[1]))
        mi[:, varying] = np.asarray(result["mutual_info"])
        entropy = np.zeros(factors.shape[1])
        entropy[varying] = result["factor_entropy"]
        per_factor = np.full(factors.shape[1], np.nan)
        per_factor[varying] = result["mig_per_factor"]
        summary.mutual_info, summary.factor_entropy = mi, entropy
        summary.mig, summary.mig_per_factor = float(result["mig"]), per_factor
    return summary


def _mean_kl(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Average closed-form KL(q(z_j|x) || N(0, 1)) per dimension, (D,) in nats (float64)."""
    mu_t = torch.as_tensor(np.asarray(mu), dtype=torch.float64)
    logvar_t = torch.as_tensor(np.asarray(logvar), dtype=torch.float64)
    return kl_standard_normal(mu_t, logvar_t).mean(dim=0).numpy()


def _kl_from_metrics(result: Any, z_dim: int) -> np.ndarray | None:
    """The ELBO result's ``kl_per_dim`` (D,), or None when absent, misshapen or not finite."""
    if not isinstance(result, Mapping):
        return None
    try:
        kl = np.asarray(result.get("kl_per_dim"), np.float64)
    except (TypeError, ValueError):
        return None
    return kl if kl.shape == (z_dim,) and np.isfinite(kl).all() else None


def _mig_from_metrics(
    result: Any, z_dim: int, num_factors: int
) -> tuple[np.ndarray, np.ndarray, float, np.ndarray] | None:
    """``(mutual_info, factor_entropy, mig, mig_per_factor)`` of a recorded MIG result, or
    None when it is absent, undefined or of another shape than (z_dim, num_factors)."""
    if not isinstance(result, Mapping) or not isinstance(result.get("mig"), int | float):
        return None
    try:
        mi = np.asarray(result["mutual_info"], np.float64)
        entropy = np.asarray(result["factor_entropy"], np.float64)
        # null (an undefined gap) reads as NaN, as the sample's own estimate gives it
        per_factor = np.asarray(result["mig_per_factor"], np.float64)
    except (KeyError, TypeError, ValueError):
        return None
    if mi.shape != (z_dim, num_factors) or {entropy.shape, per_factor.shape} != {(num_factors,)}:
        return None
    return mi, entropy, float(result["mig"]), per_factor


def summary_from_log(run, reason: str = "") -> LatentSummary:
    """A summary without data: KL per dimension from the last ``kl_dims`` in log.jsonl (or
    zeros), no posterior sample and no factors."""
    z_dim = int(run.config.model.z_dim)
    _, history = kl_history(run.log())
    kl = history[-1] if history.shape[1:] == (z_dim,) else np.zeros(z_dim)
    empty = np.zeros((0, z_dim), np.float32)
    source = "KL from the training log" + (f" (dataset unavailable: {reason})" if reason else "")
    return LatentSummary(mu=empty, logvar=empty, kl=kl, source=source, kl_source="training log")
