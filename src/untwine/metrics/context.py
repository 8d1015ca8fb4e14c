"""The interface of a metric: what a registered metric receives, and how to register one.

A metric is registered by name with :func:`untwine.registry.register_metric` as an *adapter*
``metric(ctx: EvalContext, *, setting=default, ...) -> dict``. Its keyword-only parameters are
its settings: :func:`untwine.metrics.evaluate` (and ``evaluate_run``, a study's
``metric_options``) accepts them as overrides, passes the resolved values and records them
beside the result. The returned dict must be JSON-serialisable, with the headline number a
float under the metric's own name. A user's metric is then evaluated by name like the
built-in ones (put its module in ``$UNTWINE_PLUGINS`` to reach it from the command line and
study workers).

:class:`EvalContext` gives the adapter:

* ``ctx.data``: the ground-truth dataset (``factor_sizes``, ``num_factors``,
  ``sample_factors(n, rng)``, ``sample_observations_from_factors(factors, rng)``);
* ``ctx.seed``: the evaluation seed (draw with ``numpy.random.default_rng(ctx.seed)``);
* ``ctx.train_test(num_points, num_test_points)``: uniformly sampled points with their codes
  under the representation, the same draw for every metric that asks for the same numbers
  (so MIG, SAP, DCI and modularity share one draw, encoded once);
* ``ctx.require_codes(name)``: a :class:`CodeSource`, codes of any factor indices (each grid
  cell encoded at most once), for metrics that draw their own points;
* ``ctx.precision``: the precision of the codes this metric reads (``"fp32"`` unless it is
  declared with :func:`accepts_reduced_precision`, see below);
* ``ctx.posteriors(num_points)``: posterior means, log-variances and factors of the whole
  grid (or of ``num_points`` random cells), for the full-dataset estimators (from the same
  table as the codes when the evaluation was given only an encoder).

Example, a metric reporting the mean variance of the codes::

    import numpy as np
    from untwine.metrics.context import EvalContext
    from untwine.registry import register_metric

    @register_metric("mean_code_variance")
    def mean_code_variance(ctx: EvalContext, *, num_points: int = 1000) -> dict:
        split = ctx.train_test(num_points)
        value = float(np.var(split.train_codes, axis=0).mean())
        return {"mean_code_variance": value}

    # untwine.metrics.evaluate(representation_fn, data, ["mean_code_variance"], num_points=500)

How codes are made: :class:`CodeSource` turns factor indices into codes through a
representation function. Every grid cell is encoded at most once: requested cells not seen
before are rendered and encoded in large batches, and their codes are kept in a table indexed
by the cell's flat index (D floats per cell: 29 MB for dSprites with D = 10 in float32).
FactorVAE and beta-VAE scores draw ~1.0 and ~1.9 million images from dSprites' 737,280, of
which ~540,000 and ~680,000 are distinct cells; the reference encodes every draw, 64 at a
time. The numbers are the same as encoding every draw for a deterministic, batch-independent
representation (the mean code of a VAE in eval mode), which is what the metrics assume.
One :class:`EvalContext` holds one table per inference precision for every metric of an
evaluation.

Precision of the codes: ``representation_fn`` gives the full-precision (float32) codes, and
every metric reads them unless it is declared with :func:`accepts_reduced_precision`. Such a
metric, and only such a metric, reads the codes of a reduced-precision representation (the
same network run in bfloat16, say) when the evaluation is given one (``reduced=("bf16", fn)``):
its own table, so that each distinct image is encoded at most once per precision. The
point-based metrics (MIG, SAP, DCI, modularity) keep float32: their 15,000 points are cheap to
encode, and bfloat16 codes moved DCI's informativeness by 0.025 on a trained conv model of
dSprites. The FactorVAE and beta-VAE scores accept reduced precision: their ~1.2 million
encodings dominate the suite (bfloat16 encoded them 5.5x faster than float32 on a Xeon with
AMX), and a vote reduces 64 codes to one argmin or mean, which moved their scores by at most
0.0012 there
(``bench/metrics_suite.py`` checks every number against float32 again). The precision each
metric's codes had is recorded in its result (``codes_precision``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from untwine.metrics._validate import MetricInputError
from untwine.nets.precision import FULL_PRECISION  # what representation_fn's codes are in

RepresentationFn = Callable[[np.ndarray], Any]
EncoderFn = Callable[[np.ndarray], tuple[Any, Any]]

#: Images passed to the representation / encoder function per call.
ENCODE_BATCH = 1024


def accepts_reduced_precision(adapter: Callable[..., dict]) -> Callable[..., dict]:
    """Declare that a metric adapter may read reduced-precision codes.

    Declare it only for a metric whose numbers stay within the inference tolerance (0.005)
    of float32 codes; :func:`untwine.metrics.evaluate` then hands it the reduced-precision
    table when the evaluation has one, and float32 codes otherwise.
    """
    adapter.accepts_reduced_precision = True  # type: ignore[attr-defined]
    return adapter


def accepts_reduced(adapter: Callable[..., dict]) -> bool:
    """Whether ``adapter`` was declared with :func:`accepts_reduced_precision`."""
    return bool(getattr(adapter, "accepts_reduced_precision", False))


def needs_no_labels(adapter: Callable[..., dict]) -> Callable[..., dict]:
    """Declare that a metric adapter reads no factor labels (the unsupervised scores, the
    ELBO decomposition): :func:`untwine.metrics.evaluate` runs it on unlabelled images too,
    where it refuses every other metric."""
    adapter.needs_no_labels = True  # type: ignore[attr-defined]
    return adapter


def reads_labels(adapter: Callable[..., dict]) -> bool:
    """Whether ``adapter`` compares codes with factor labels (not :func:`needs_no_labels`)."""
    return not getattr(adapter, "needs_no_labels", False)


def _as_codes(out: Any, n: int, what: str) -> np.ndarray:
    """Convert a representation function's output to a finite (n, D) float array or raise."""
    if hasattr(out, "detach"):  # a torch tensor slipped through
        out = out.detach().cpu().numpy()
    arr = np.asarray(out)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise MetricInputError(
            f"{what} must return an array (N, D) for N={n} images, got {arr.shape}"
        )
    if not np.issubdtype(arr.dtype, np.floating):
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise MetricInputError(f"{what} returned NaN or inf codes")
    return arr


class CodeSource:
    """Codes of grid cells under ``representation_fn``; each cell is encoded at most once.

    Built from an ``encoder_fn`` (images -> ``(mu, logvar)``) instead, it keeps both: the
    codes are the posterior means, and :meth:`posteriors` serves the full-dataset estimators
    from the same table, so that no image is encoded twice for them either. The function
    carries the inference precision (a run's ``representation`` encodes in the run's
    precision); the table keeps the dtype it returns.
    """

    def __init__(
        self,
        data: Any,
        representation_fn: RepresentationFn | None = None,
        rng: np.random.Generator | None = None,
        *,
        encoder_fn: EncoderFn | None = None,
        batch_size: int = ENCODE_BATCH,
    ) -> None:
        if (representation_fn is None) == (encoder_fn is None):
            raise MetricInputError("CodeSource takes one of representation_fn and encoder_fn")
        self.data = data
        self.representation_fn = representation_fn
        self.encoder_fn = encoder_fn
        self.sizes = tuple(int(s) for s in data.factor_sizes)
        self.num_cells = int(np.prod(self.sizes, dtype=np.int64))
        # Only datasets with nuisance variables use this; grid datasets ignore it.
        self.rng = rng if rng is not None else np.random.default_rng(0)
        self.batch_size = batch_size
        self.images_encoded = 0
        self._tables: list[np.ndarray] = []  # codes, or (mu, logvar): (num_cells, D) each
        self._known = np.zeros(self.num_cells, dtype=bool)

    def __call__(self, factors: np.ndarray) -> np.ndarray:
        """Codes (..., D) for factor indices (..., K)."""
        return self._lookup(factors)[0]

    def posteriors(self, factors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and log-variances (..., D) for factor indices (..., K)."""
        if self.encoder_fn is None:
            raise MetricInputError(
                "this metric needs posterior parameters: pass encoder_fn returning (mu, logvar)"
            )
        mu, logvar = self._lookup(factors)
        return mu, logvar

    def _lookup(self, factors: np.ndarray) -> list[np.ndarray]:
        shape = factors.shape[:-1]
        cells = np.ravel_multi_index(tuple(factors.reshape(-1, factors.shape[-1]).T), self.sizes)
        # Distinct unseen cells, sorted: marking a (num_cells,) table is linear, where
        # np.unique hashes or sorts every request (0.18 s of the FactorVAE score's ~1 M).
        mark = np.zeros(self.num_cells, dtype=bool)
        mark[cells[~self._known[cells]]] = True
        missing = np.flatnonzero(mark)
        if len(missing):
            fresh = self._encode(
                np.stack(np.unravel_index(missing, self.sizes), axis=1).astype(np.int64)
            )
            if not self._tables:
                self._tables = [np.empty((self.num_cells, f.shape[1]), f.dtype) for f in fresh]
            elif fresh[0].shape[1] != self._tables[0].shape[1]:
                raise MetricInputError(
                    f"{self._what} returned {fresh[0].shape[1]} dimensions, "
                    f"earlier {self._tables[0].shape[1]}"
                )
            for table, part in zip(self._tables, fresh, strict=True):
                table[missing] = part
            self._known[missing] = True
        return [t[cells].reshape(*shape, t.shape[1]) for t in self._tables]

    @property
    def _what(self) -> str:
        return "representation_fn" if self.encoder_fn is None else "encoder_fn"

    def _encode(self, factors: np.ndarray) -> list[np.ndarray]:
        """Codes (or means and log-variances) of the cells ``factors``, in batches."""
        parts: list[list[np.ndarray]] = []
        for start in range(0, len(factors), self.batch_size):
            chunk = factors[start : start + self.batch_size]
            images = self.data.sample_observations_from_factors(chunk, self.rng)
            if self.encoder_fn is None:
                parts.append([_as_codes(self.representation_fn(images), len(chunk), self._what)])
            else:
                parts.append(_as_posterior(self.encoder_fn(images), len(chunk)))
            self.images_encoded += len(chunk)
        widths = {p.shape[1] for batch in parts for p in batch}
        if len(widths) > 1:
            raise MetricInputError(f"{self._what} returned codes of varying widths {widths}")
        return [np.concatenate(column) for column in zip(*parts, strict=True)]


def _as_posterior(out: Any, n: int) -> list[np.ndarray]:
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise MetricInputError("encoder_fn must return a pair (mu, logvar)")
    return [_as_codes(out[0], n, "encoder_fn (mu)"), _as_codes(out[1], n, "encoder_fn (logvar)")]


@dataclass
class Split:
    """Sampled points with codes: the train split and (possibly empty) test split."""

    train_codes: np.ndarray
    train_factors: np.ndarray
    test_codes: np.ndarray
    test_factors: np.ndarray


class EvalContext:
    """Dataset, seed and caches handed to every registered metric adapter.

    ``codes`` (a :class:`CodeSource`) is None when neither function was given; adapters ask
    for codes and posteriors through :meth:`require_codes` / :meth:`posteriors`, which raise a
    clear error when the function they need is missing. With ``encoder_fn`` alone, the codes
    are its posterior means and one table serves codes and posteriors (every image of the
    evaluation encoded once); with both functions, each has its own table.

    ``reduced=(precision, representation_fn)`` adds a table of reduced-precision codes
    (``precision`` names it, e.g. ``"bf16"``). A context reads the table of its
    :attr:`precision`; :meth:`using` gives a view reading another one, sharing every table and
    cache, which is how :func:`untwine.metrics.evaluate` serves each metric the codes it
    accepts (see the module docstring).
    """

    def __init__(
        self,
        data: Any,
        seed: int,
        representation_fn: RepresentationFn | None = None,
        encoder_fn: EncoderFn | None = None,
        *,
        reduced: tuple[str, RepresentationFn] | None = None,
    ) -> None:
        self.data = data
        self.seed = seed
        self.encoder_fn = encoder_fn
        encoded = (
            CodeSource(data, rng=np.random.default_rng(seed), encoder_fn=encoder_fn)
            if encoder_fn is not None
            else None
        )
        self._posterior_source = encoded
        full = (
            CodeSource(data, representation_fn, np.random.default_rng(seed))
            if representation_fn is not None
            else encoded
        )
        #: one code table per precision; the full-precision one is None without functions
        self.sources: dict[str, CodeSource | None] = {FULL_PRECISION: full}
        if reduced is not None:
            name, fn = reduced
            if not isinstance(name, str) or not name or name == FULL_PRECISION or fn is None:
                raise MetricInputError(
                    f"reduced must be (precision name other than {FULL_PRECISION!r}, "
                    f"representation_fn), got {reduced!r}"
                )
            self.sources[name] = CodeSource(data, fn, np.random.default_rng(seed))
        #: the precision of the codes this context reads
        self.precision = FULL_PRECISION
        self.codes = full
        # keyed by (precision, num_points, num_test_points); shared by every view
        self._splits: dict[tuple[str, int, int], Split] = {}
        self._posteriors: dict[int | None, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @property
    def reduced_precision(self) -> str | None:
        """The name of the reduced-precision table, or None when there is none."""
        return next((p for p in self.sources if p != FULL_PRECISION), None)

    def using(self, precision: str) -> EvalContext:
        """A view of this context reading the codes of ``precision`` (one of :attr:`sources`);
        tables and caches are shared, so no image is encoded twice in either precision."""
        if precision not in self.sources:
            raise MetricInputError(
                f"no codes in precision {precision!r}; this evaluation has {sorted(self.sources)}"
            )
        view = copy.copy(self)
        view.precision, view.codes = precision, self.sources[precision]
        return view

    def precision_for(self, adapter: Callable[..., dict]) -> str:
        """The precision of the codes a metric adapter reads here: the reduced one when the
        adapter accepts it (:func:`accepts_reduced_precision`) and there is one, else fp32."""
        reduced = self.reduced_precision
        return reduced if reduced is not None and accepts_reduced(adapter) else FULL_PRECISION

    def require_codes(self, metric: str) -> CodeSource:
        if self.codes is None:
            raise MetricInputError(f"metric {metric!r} needs a representation_fn")
        return self.codes

    def train_test(self, num_points: int, num_test_points: int = 0) -> Split:
        """Uniformly sampled train and test points and their codes, shared between metrics.

        The train factors are the first ``num_points`` draws of ``default_rng(seed)`` and the
        test factors the next ``num_test_points``, so a metric that needs only the train split
        sees the same points as one that needs both.
        """
        key = (self.precision, num_points, num_test_points)
        if key not in self._splits:
            source = self.require_codes("train/test split")
            rng = np.random.default_rng(self.seed)
            train_factors = self.data.sample_factors(num_points, rng)
            test_factors = self.data.sample_factors(num_test_points, rng)
            train_codes = self._train_codes(num_points, train_factors, source)
            test_codes = source(test_factors) if num_test_points else train_codes[:0]
            self._splits[key] = Split(train_codes, train_factors, test_codes, test_factors)
        return self._splits[key]

    def _train_codes(self, num_train: int, factors: np.ndarray, source: CodeSource) -> np.ndarray:
        for (precision, n_train, _), split in self._splits.items():
            if precision == self.precision and n_train == num_train:
                return split.train_codes
        return source(factors)

    def posteriors(self, num_points: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(mu, logvar, factors)`` of the whole grid, or of ``num_points`` random cells.

        The subset (without replacement, sorted) is drawn from ``default_rng(seed)``.
        """
        if self._posterior_source is None:
            raise MetricInputError(
                "this metric needs posterior parameters: pass encoder_fn returning (mu, logvar)"
            )
        if num_points not in self._posteriors:
            sizes = tuple(int(s) for s in self.data.factor_sizes)
            total = int(np.prod(sizes, dtype=np.int64))
            if num_points is None or num_points >= total:
                cells = np.arange(total)
            else:
                rng = np.random.default_rng(self.seed)
                cells = np.sort(rng.choice(total, size=num_points, replace=False))
            factors = np.stack(np.unravel_index(cells, sizes), axis=1).astype(np.int64)
            mu, logvar = self._posterior_source.posteriors(factors)
            self._posteriors[num_points] = (mu, logvar, factors)
        return self._posteriors[num_points]
