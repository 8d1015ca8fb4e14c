"""What each latent dimension carries: average KL, posterior spread, MI with the factors.

:func:`summarize_latents` encodes a random sample of a run's dataset once; the traversals, the
mutual-information heat map and the report all read that one :class:`LatentSummary`, so their
numbers agree with each other.

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

from dataclasses import dataclass

import numpy as np

from untwine.data import GroundTruthData
from untwine.errors import UntwineError
from untwine.metrics import mig
from untwine.models.base import ACTIVE_USAGE

#: Below this share of a factor's entropy a dimension is reported as explaining no factor:
#: collapsed dimensions still show a few hundredths of a nat from binning noise.
MIN_SHARE = 0.05


def kl_per_dimension(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Average KL(q(z_j|x) || N(0, 1)) per dimension over the given posteriors, (D,), nats."""
    mu = np.asarray(mu, np.float64)
    logvar = np.asarray(logvar, np.float64)
    return (0.5 * (mu**2 + np.exp(logvar) - 1.0 - logvar)).mean(axis=0)


def kl_order(kl: np.ndarray) -> np.ndarray:
    """Dimension indices sorted by KL, largest first (ties keep index order)."""
    return np.argsort(-np.asarray(kl), kind="stable")


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
    headline value on this sample (None without factors).
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
        """Per-dimension ``low`` and ``high`` quantiles (D,) of the codes: the range the
        aggregate posterior actually covers."""
        lo, hi = np.quantile(self.codes, [low, high], axis=0)
        return lo.astype(np.float32), hi.astype(np.float32)


def summarize_latents(
    run,
    *,
    data: GroundTruthData | None = None,
    num_points: int = 10_000,
    seed: int = 0,
    num_bins: int = 20,
) -> LatentSummary:
    """Encode ``num_points`` random images of the run's dataset and summarise each dimension.

    Points are drawn without replacement with ``numpy.random.default_rng(seed)`` (the whole
    dataset when it is smaller). MI uses ``num_bins`` equal-width bins per dimension, as the
    benchmark MIG does (20). If the dataset cannot be loaded, the summary falls back to the
    per-dimension KL of the run's last log record and has no factors (``source`` says so).
    """
    if data is None:
        try:
            data = run.dataset()
        except UntwineError as e:
            return summary_from_log(run, reason=str(e))
    rng = np.random.default_rng(seed)
    n = min(num_points, len(data))
    indices = np.sort(rng.choice(len(data), size=n, replace=False))
    images = data.images(indices)
    mu, logvar = run.encode(images)
    codes = run.representation(images)
    factors = data.factors_of(indices)
    summary = LatentSummary(
        mu=mu,
        logvar=logvar,
        kl=kl_per_dimension(mu, logvar),
        indices=indices,
        factors=factors,
        factor_names=tuple(data.factor_names),
        source=f"{n} images of {data.name} (seed {seed})",
        codes=codes,
        usage=run.usage(images),
    )
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


def summary_from_log(run, reason: str = "") -> LatentSummary:
    """A summary without data: KL per dimension from the last ``kl_dims`` in log.jsonl (or
    zeros), no posterior sample and no factors."""
    kl = None
    for record in reversed(run.log()):
        if isinstance(record.get("kl_dims"), list):
            kl = np.asarray(record["kl_dims"], np.float64)
            break
    z_dim = int(run.config.model.z_dim)
    if kl is None or kl.shape != (z_dim,):
        kl = np.zeros(z_dim)
    empty = np.zeros((0, z_dim), np.float32)
    source = "KL from the training log" + (f" (dataset unavailable: {reason})" if reason else "")
    return LatentSummary(mu=empty, logvar=empty, kl=kl, source=source)
