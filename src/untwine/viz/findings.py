"""The headline figures of the papers untwine's studies reproduce, drawn from any runs.

Each figure is drawn only from what runs record (``log.jsonl``, ``metrics.json``,
``config.yaml``) and, where it needs the factor a dimension encodes or the codes themselves,
from the model through :func:`untwine.train.load_run`. Each ``plot_*`` function takes run
records or run folders and a PNG path and returns ``(path, data)``: the data the figure is
built from, so that a caption, a test or a results page states the same numbers.

- :func:`plot_capacity` (Burgess et al. 2018, "Understanding disentangling in beta-VAE",
  fig. 3): per-dimension KL against the capacity C of a capacity-annealed beta-VAE, each
  dimension labelled with the factor it encodes, and the C at which each factor appears.
- :func:`plot_tradeoff` (Kim & Mnih 2018, "Disentangling by Factorising", fig. 5):
  reconstruction error against a disentanglement score, one series per method, one point per
  value of the hyperparameter that varies, medians over seeds with their range.
- :func:`plot_metric_by_method` (Kumar et al. 2018, "Variational Inference of Disentangled
  Latent Concepts from Unlabeled Observations", table 1): a metric (SAP by default) per
  method and setting, median and range over seeds.
- :func:`plot_active_features` (Gyawali et al. 2019, IBP-VAE): the number of active features
  per dataset, and the features' usage.
- :func:`plot_aggregate_posterior` (Makhzani et al. 2015, the adversarial autoencoder): the
  codes' per-dimension mean and variance against N(0, I), and histograms of a few dimensions
  against the normal density.

Medians are over seeds; a cell's "range" is its lowest and highest seed (with three seeds a
median is the middle seed, and an interquartile range says nothing more).
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from untwine.config import read_yaml_mapping
from untwine.errors import UntwineError
from untwine.models.base import ACTIVE_USAGE
from untwine.registry import DATASETS
from untwine.rundir import RunRecord, read_log
from untwine.train import load_run
from untwine.viz._figure import panel_grid, plt, save_figure
from untwine.viz.latents import MIN_SHARE, kl_history, random_indices, summarize_latents
from untwine.viz.runs import read_run

#: A dimension "appears" in :func:`plot_capacity` when its KL first reaches this many nats.
APPEARANCE_NATS = 0.5
#: Log records averaged for a run's final reconstruction error (:func:`final_value`).
LAST_RECORDS = 5
#: Hyperparameters never shown as the setting that varies within a method.
_NOT_SETTINGS = {"method", "seed"}

RunLike = RunRecord | str | Path


def as_records(runs: Iterable[RunLike]) -> list[RunRecord]:
    """Run records for records or run folders (read without loading any model)."""
    return [r if isinstance(r, RunRecord) else read_run(r) for r in runs]


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, lowest, highest) of a non-empty sequence."""
    return statistics.median(values), min(values), max(values)


def final_value(records: Sequence[Mapping[str, Any]], key: str, last: int = LAST_RECORDS):
    """Mean of ``key`` over the last ``last`` log records that hold it as a finite number
    (the end of training, less noisy than one record); None when none does."""
    values = [
        float(r[key])
        for r in records
        if isinstance(r.get(key), int | float) and math.isfinite(r[key])
    ]
    return float(np.mean(values[-last:])) if values else None


# -- 1. capacity: factors appear in order as C rises (Burgess et al. 2018) ------------------
@dataclass
class Appearance:
    """A factor's first dimension to carry information: ``capacity`` is C (nats) at the first
    log record where that dimension's KL reached the threshold, ``step`` its step."""

    factor: str
    dim: int
    capacity: float
    step: int


@dataclass
class CapacityCurves:
    """One run's per-dimension KL (T, D) against the logged capacity C (T,), both in nats,
    each dimension's factor (None: no factor, or unknown), and where each dimension crosses
    ``threshold`` (index into the records, or None when it never does)."""

    name: str
    steps: np.ndarray
    capacity: np.ndarray
    kl: np.ndarray
    factors: list[str | None]
    threshold: float = APPEARANCE_NATS
    factor_source: str = ""

    @property
    def crossings(self) -> list[int | None]:
        out: list[int | None] = []
        for d in range(self.kl.shape[1]):
            hits = np.flatnonzero(self.kl[:, d] >= self.threshold)
            out.append(int(hits[0]) if hits.size else None)
        return out

    @property
    def order(self) -> list[Appearance]:
        """The factors in the order they appear (a factor encoded by several dimensions
        appears with the first of them); dimensions without a factor are left out."""
        first: dict[str, tuple[int, int]] = {}  # factor -> (record index, dimension)
        for d, t in enumerate(self.crossings):
            factor = self.factors[d]
            if t is not None and factor is not None and (t, d) < first.get(factor, (t + 1, d)):
                first[factor] = (t, d)
        return [
            Appearance(factor, d, float(self.capacity[t]), int(self.steps[t]))
            for factor, (t, d) in sorted(first.items(), key=lambda item: item[1])
        ]


def capacity_curves(
    log: Sequence[Mapping[str, Any]],
    factors: Sequence[str | None] | None = None,
    threshold: float = APPEARANCE_NATS,
    name: str = "",
) -> CapacityCurves | None:
    """Per-dimension KL against the capacity C from a capacity-annealed run's log records
    (``kl_dims`` and ``capacity``, each a batch average over a log interval); None when the
    log holds no record with both. ``factors`` names each dimension's factor."""
    rows = [r for r in log if isinstance(r.get("capacity"), int | float)]
    steps, kl = kl_history(rows)
    if not len(steps):
        return None
    by_step = {r["step"]: float(r["capacity"]) for r in rows}
    capacity = np.array([by_step[s] for s in steps.tolist()], float)
    named = list(factors) if factors is not None else [None] * kl.shape[1]
    if len(named) != kl.shape[1]:
        raise ValueError(f"{len(named)} factor names for {kl.shape[1]} dimensions")
    return CapacityCurves(name, steps, capacity, kl, named, threshold)


def dimension_factors(
    run_dir: str | Path, num_points: int = 2_000, seed: int = 0
) -> list[str | None]:
    """The factor each latent dimension of a run encodes most, by discrete mutual
    information: the run's recorded MIG result (metrics.json) named by its dataset's factors
    (:func:`recorded_factors`, which needs neither the model nor the data), else that of
    :func:`untwine.viz.latents.summarize_latents` on ``num_points`` images of the final
    model; None for a dimension that holds less than :data:`untwine.viz.latents.MIN_SHARE`
    of any factor's entropy."""
    named = recorded_factors(run_dir)
    if named is not None:
        return named
    summary = summarize_latents(load_run(run_dir), num_points=num_points, seed=seed)
    matches = [summary.best_factor(d) for d in range(summary.z_dim)]
    return [m.name if m is not None else None for m in matches]


def recorded_factors(run_dir: str | Path) -> list[str | None] | None:
    """Each dimension's factor from the MIG result in the run's metrics.json (the factor of
    which the dimension holds the largest share of entropy, if at least
    :data:`untwine.viz.latents.MIN_SHARE`), named by the registered dataset's factor names;
    None when there is no such result or the names do not fit it. A run folder without its
    checkpoints (copied from another machine, say) is labelled this way."""
    record = read_run(run_dir)
    result = record.metrics.get("mig")
    config = Path(run_dir) / "config.yaml"
    if not isinstance(result, Mapping) or not config.is_file():
        return None
    try:
        shares = np.asarray(result["mutual_info"], float) / np.maximum(
            np.asarray(result["factor_entropy"], float)[None, :], 1e-12
        )
        dataset = read_yaml_mapping(config, "run config", "training settings").get("dataset", {})
        name = dataset.get("name") if isinstance(dataset, Mapping) else dataset
        names = DATASETS.get(name).about.factor_names
    except (KeyError, TypeError, ValueError, AttributeError, UntwineError):
        return None
    if shares.ndim != 2 or shares.shape[1] != len(names):
        return None
    best = shares.argmax(axis=1)
    return [names[k] if shares[d, k] >= MIN_SHARE else None for d, k in enumerate(best.tolist())]


@dataclass
class CapacityFigure:
    """What :func:`plot_capacity` drew: each run's curves, and per factor the median C of its
    appearance over the runs where it appeared (sorted by it) with how many did."""

    runs: list[CapacityCurves]
    median_order: list[tuple[str, float, int]] = field(default_factory=list)


def capacity_order(runs: Sequence[CapacityCurves]) -> list[tuple[str, float, int]]:
    """(factor, median C of its appearance, runs where it appeared), earliest first."""
    at: dict[str, list[float]] = {}
    for curves in runs:
        for a in curves.order:
            at.setdefault(a.factor, []).append(a.capacity)
    rows = [(f, statistics.median(cs), len(cs)) for f, cs in at.items()]
    return sorted(rows, key=lambda row: row[1])


def plot_capacity(
    runs: Iterable[RunLike],
    path: str | Path,
    *,
    threshold: float = APPEARANCE_NATS,
    factors: Mapping[str, Sequence[str | None]] | None = None,
    num_points: int = 2_000,
    seed: int = 0,
    max_panels: int = 6,
) -> tuple[Path, CapacityFigure]:
    """One panel per capacity-annealed run (the first ``max_panels`` that logged ``kl_dims``
    and ``capacity``): each dimension's KL (nats) against C (nats), labelled with the factor it
    encodes and the C where it reached ``threshold``, marked by a dot.

    ``factors`` maps a run's folder (as a string) to its dimensions' factor names; a run not
    in it is labelled by :func:`dimension_factors` (its model and dataset loaded), or by index
    alone when that fails (the data's ``factor_source`` says why). Raises ValueError when no
    run has the logged curves.
    """
    drawn: list[CapacityCurves] = []
    for r in as_records(runs):
        if len(drawn) == max_panels:
            break
        log = read_log(r.path)
        curves = capacity_curves(log, threshold=threshold, name=r.name)
        if curves is None:
            continue
        named = (factors or {}).get(str(r.path))
        source = "given"
        if named is None:
            named, source = recorded_factors(r.path), "the recorded MIG (metrics.json)"
        if named is None:
            try:
                named = dimension_factors(r.path, num_points=num_points, seed=seed)
                source = "mutual information of the final model"
            except (UntwineError, OSError, ValueError) as e:
                named, source = None, f"factors unknown: {e}"
        if named is not None and len(named) == curves.kl.shape[1]:
            curves.factors = list(named)
        curves.factor_source = source
        drawn.append(curves)
    if not drawn:
        raise ValueError("no run logged both kl_dims and capacity (an annealedvae run)")
    fig, axes = panel_grid(len(drawn), 4.6, 3.4, max_columns=2)
    colors = plt.get_cmap("tab10")
    for ax, curves in zip(axes.flat, drawn, strict=False):
        crossings = curves.crossings
        order = sorted(
            range(curves.kl.shape[1]), key=lambda d: (crossings[d] is None, crossings[d] or 0)
        )
        for rank, d in enumerate(order):
            t = crossings[d]
            quiet = t is None
            # a closed dimension is labelled by index alone: a factor it holds a sliver of
            # (MIG's binning is blind to scale) is not one the model uses
            factor = "" if quiet else f" {curves.factors[d] or '-'}"
            at = f" C={curves.capacity[t]:.1f}" if t is not None else ""
            ax.plot(
                curves.capacity,
                curves.kl[:, d],
                color="0.75" if quiet else colors(rank % colors.N),
                lw=0.9 if quiet else 1.5,
                label=f"z{d}{factor}{at}",
            )
            if t is not None:
                ax.plot(curves.capacity[t], curves.kl[t, d], "o", ms=4, color=colors(rank % 10))
        ax.axhline(threshold, color="0.4", ls=":", lw=0.8)
        ax.set_xlabel("capacity C (nats)", fontsize=8)
        ax.set_ylabel("KL per dimension (nats)", fontsize=8)
        ax.set_title(curves.name, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="upper left")
    fig.suptitle(
        f"KL per dimension as the capacity rises; dots: KL reaches {threshold:g} nats", fontsize=9
    )
    fig.tight_layout()
    return save_figure(fig, path), CapacityFigure(drawn, capacity_order(drawn))


# -- 2. reconstruction against disentanglement (Kim & Mnih 2018) ----------------------------
@dataclass
class TradeoffPoint:
    """One method's cell: its ``setting`` (``beta=4``, the hyperparameters that vary within
    the method), the median and range over seeds of the final reconstruction error (nats
    per image) and of the score, and each seed's (seed, recon, score)."""

    method: str
    setting: str
    recon: float
    recon_range: tuple[float, float]
    score: float
    score_range: tuple[float, float]
    seeds: list[tuple[int | None, float, float]]

    @property
    def n(self) -> int:
        return len(self.seeds)


def varying_within(records: Sequence[RunRecord], keys: Iterable[str] = ()) -> list[str]:
    """The hyperparameters whose values differ between ``records`` (``method`` and ``seed``
    aside), in first-seen order; ``keys`` are always included when any record has them."""
    seen: dict[str, set[str]] = {}
    for r in records:
        for k, v in r.params.items():
            if k not in _NOT_SETTINGS:
                seen.setdefault(k, set()).add(_key(v))
    always = [k for k in keys if k in seen]
    return always + [k for k, values in seen.items() if len(values) > 1 and k not in always]


def _cells(records: Sequence[RunRecord], params: Sequence[str]) -> dict[str, list[RunRecord]]:
    """Records grouped by method and ``params``, each cell labelled ``method p=v, ...``."""
    cells: dict[str, list[RunRecord]] = {}
    for r in records:
        parts = [f"{p}={r.params[p]}" for p in params if p in r.params]
        label = " ".join([str(r.method or r.params.get("method") or r.name), ", ".join(parts)])
        cells.setdefault(label.strip(), []).append(r)
    return cells


def tradeoff_points(
    runs: Iterable[RunLike],
    metric: str = "factor_vae_score",
    recon: str = "recon",
    last: int = LAST_RECORDS,
) -> list[TradeoffPoint]:
    """Per method and setting, reconstruction error (the mean of ``recon`` over the last
    ``last`` log records) against ``metric`` (a headline score of metrics.json: ``mig``,
    ``dci.disentanglement`` ...); runs without either are left out. The setting is what varies
    between the method's own runs (beta for beta-VAE, gamma for FactorVAE)."""
    usable: list[tuple[RunRecord, float, float]] = []
    for r in as_records(runs):
        score = r.scores.get(metric)
        error = final_value(read_log(r.path), recon, last) if score is not None else None
        if score is not None and error is not None:
            usable.append((r, error, float(score)))
    by_method: dict[str, list[tuple[RunRecord, float, float]]] = {}
    for item in usable:
        by_method.setdefault(str(item[0].method), []).append(item)
    points = []
    for method, items in sorted(by_method.items()):
        params = varying_within([r for r, *_ in items])
        values = {id(r): (e, s) for r, e, s in items}
        for label, members in _cells([r for r, *_ in items], params).items():
            seeds = sorted(
                ((m.seed, *values[id(m)]) for m in members), key=lambda x: (x[0] is None, x[0])
            )
            rec, rec_lo, rec_hi = _spread([e for _, e, _ in seeds])
            sc, sc_lo, sc_hi = _spread([s for *_, s in seeds])
            setting = label[len(method) :].strip() or method
            points.append(
                TradeoffPoint(method, setting, rec, (rec_lo, rec_hi), sc, (sc_lo, sc_hi), seeds)
            )
    return points


def plot_tradeoff(
    runs: Iterable[RunLike],
    path: str | Path,
    metric: str = "factor_vae_score",
    recon: str = "recon",
    last: int = LAST_RECORDS,
) -> tuple[Path, list[TradeoffPoint]]:
    """Reconstruction error (x, nats per image, lower is better) against ``metric`` (y): one
    colour per method, each cell's median over seeds a point labelled with its setting, the
    bars its range over seeds, each seed a faint dot; a line joins a method's cells in order
    of their error. Raises ValueError when no run has both numbers."""
    points = tradeoff_points(runs, metric, recon, last)
    if not points:
        raise ValueError(f"no run has both {metric} in metrics.json and {recon} in log.jsonl")
    fig, ax = plt.subplots(figsize=(5.6, 4.0))
    colors = plt.get_cmap("tab10")
    methods = sorted({p.method for p in points})
    for i, method in enumerate(methods):
        color = colors(i % 10)
        mine = sorted((p for p in points if p.method == method), key=lambda p: p.recon)
        for p in mine:
            ax.errorbar(
                p.recon,
                p.score,
                xerr=[[p.recon - p.recon_range[0]], [p.recon_range[1] - p.recon]],
                yerr=[[p.score - p.score_range[0]], [p.score_range[1] - p.score]],
                fmt="o",
                color=color,
                ms=5,
                lw=1,
                capsize=2,
            )
            ax.scatter(
                [e for _, e, _ in p.seeds], [s for *_, s in p.seeds], color=color, s=8, alpha=0.35
            )
            ax.annotate(
                p.setting, (p.recon, p.score), fontsize=7, xytext=(4, 3), textcoords="offset points"
            )
        ax.plot([p.recon for p in mine], [p.score for p in mine], color=color, lw=1.2, label=method)
    ax.set_xlabel(
        f"reconstruction error ({recon}, nats per image, last {last} log records)", fontsize=8
    )
    ax.set_ylabel(metric, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(
        f"{metric} against reconstruction: medians over seeds, bars their range", fontsize=9
    )
    return save_figure(fig, path), points


# -- 3. a metric per method, over seeds (Kumar et al. 2018, table 1) ------------------------
@dataclass
class MetricCell:
    """One method and setting: the metric's value per seed, its median and range."""

    label: str
    method: str
    values: list[float]
    seeds: list[int | None]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


def metric_by_method(runs: Iterable[RunLike], metric: str = "sap") -> list[MetricCell]:
    """The cells of a metric-by-method table: runs grouped by method and the hyperparameters
    that vary between runs (seed aside), as a study's median aggregate groups them, each with
    its seeds' ``metric`` (a headline score of metrics.json); runs without it are left out."""
    scored = [r for r in as_records(runs) if r.scores.get(metric) is not None]
    params = varying_within(scored)
    cells = []
    for label, members in _cells(scored, params).items():
        members = sorted(members, key=lambda m: (m.seed is None, m.seed))
        cells.append(
            MetricCell(
                label,
                str(members[0].method),
                [float(m.scores[metric]) for m in members],
                [m.seed for m in members],
            )
        )
    return sorted(cells, key=lambda c: c.label)


def plot_metric_by_method(
    runs: Iterable[RunLike], path: str | Path, metric: str = "sap"
) -> tuple[Path, list[MetricCell]]:
    """One row per method and setting: each seed's ``metric`` a dot, the median a bar with
    its value and the range written beside it. Raises ValueError when no run has it."""
    cells = metric_by_method(runs, metric)
    if not cells:
        raise ValueError(f"no run has {metric} in metrics.json")
    fig, ax = plt.subplots(figsize=(6.0, 0.9 + 0.42 * len(cells)))
    colors = plt.get_cmap("tab10")
    methods = sorted({c.method for c in cells})
    for row, cell in enumerate(cells):
        color = colors(methods.index(cell.method) % 10)
        ax.barh(row, cell.median, color=color, alpha=0.35, height=0.6)
        ax.scatter(cell.values, [row] * len(cell.values), color=color, s=16, zorder=3)
        ax.text(
            max(cell.high, cell.median),
            row,
            f"  {cell.median:.3f} ({cell.low:.3f}-{cell.high:.3f}, n={len(cell.values)})",
            va="center",
            fontsize=7,
        )
    ax.set_yticks(range(len(cells)))
    ax.set_yticklabels([c.label for c in cells], fontsize=7)
    ax.invert_yaxis()
    top = max(c.high for c in cells)
    ax.set_xlim(0, 1.45 * top if top > 0 else 1)
    ax.set_xlabel(metric, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, axis="x")
    ax.set_title(f"{metric} per method: seeds as dots, median as bar (range, seeds)", fontsize=9)
    return save_figure(fig, path), cells


# -- 4a. active features per dataset (IBP-VAE) ----------------------------------------------
@dataclass
class ActiveFeatures:
    """A dataset's IBP runs: active features per run (the last logged ``active_features``,
    or counted from the model's usage over a sample), their median and range, and the
    features' usage (runs, K) from the last logged ``usage`` where every run logged one."""

    dataset: str
    counts: list[float]
    seeds: list[int | None]
    source: str
    usage: np.ndarray | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.counts)


def _active_count(r: RunRecord, num_points: int, seed: int) -> tuple[float, str, list | None]:
    log = read_log(r.path)
    logged = [x for x in log if isinstance(x.get("active_features"), int | float)]
    usage = [x["usage"] for x in log if isinstance(x.get("usage"), list)]
    if logged:
        return float(logged[-1]["active_features"]), "log", usage[-1] if usage else None
    run = load_run(r.path)
    data = run.dataset()
    used = run.usage(data.images(np.sort(random_indices(len(data), num_points, seed))))
    if used is None:
        raise ValueError(f"{r.name}: the model's features are always on (not an IBP model)")
    return float((used >= ACTIVE_USAGE).sum()), "model", used.tolist()


def active_features_by_dataset(
    runs: Iterable[RunLike], num_points: int = 2_000, seed: int = 0
) -> list[ActiveFeatures]:
    """Per dataset, the active features of each IBP-VAE run (``method: ibpvae``): the last
    ``active_features`` in its log (features used by at least
    :data:`untwine.models.base.ACTIVE_USAGE` of a batch), else the count from its model's
    usage over ``num_points`` images. Runs that have neither are left out."""
    by_data: dict[str, list[tuple[RunRecord, float, str, list | None]]] = {}
    for r in as_records(runs):
        if r.method != "ibpvae":
            continue
        try:
            count, source, usage = _active_count(r, num_points, seed)
        except (UntwineError, OSError, ValueError):
            continue
        by_data.setdefault(str(r.params.get("dataset")), []).append((r, count, source, usage))
    out = []
    for dataset, items in by_data.items():
        items.sort(key=lambda x: (x[0].seed is None, x[0].seed))
        usages = [u for *_, u in items]
        widths = {len(u) for u in usages if u is not None}
        usage = np.array(usages, float) if None not in usages and len(widths) == 1 else None
        sources = sorted({s for _, _, s, _ in items})
        out.append(
            ActiveFeatures(
                dataset,
                [c for _, c, _, _ in items],
                [x[0].seed for x in items],
                " and ".join(sources),
                usage,
            )
        )
    return out


def plot_active_features(
    runs: Iterable[RunLike], path: str | Path, num_points: int = 2_000, seed: int = 0
) -> tuple[Path, list[ActiveFeatures]]:
    """Left: active features per dataset (each run a dot, the median a bar); right, where the
    runs logged it: each feature's usage (share of a batch with the feature on), the median
    over a dataset's runs, one line per dataset. Raises ValueError without IBP runs."""
    groups = active_features_by_dataset(runs, num_points, seed)
    if not groups:
        raise ValueError("no ibpvae run with a logged active_features or a loadable model")
    with_usage = [g for g in groups if g.usage is not None]
    fig, axes = panel_grid(2 if with_usage else 1, 4.4, 3.2)
    ax = axes.flat[0]
    colors = plt.get_cmap("tab10")
    for i, g in enumerate(groups):
        ax.bar(i, g.median, color=colors(i % 10), alpha=0.35, width=0.6)
        ax.scatter([i] * len(g.counts), g.counts, color=colors(i % 10), s=16, zorder=3)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([g.dataset for g in groups], fontsize=7, rotation=15)
    ax.set_ylabel(f"active features (usage >= {ACTIVE_USAGE:g})", fontsize=8)
    ax.set_title("active features per dataset: runs as dots, median as bar", fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    if with_usage:
        ax = axes.flat[1]
        for i, g in enumerate(groups):
            if g.usage is not None:
                ax.plot(
                    np.median(g.usage, axis=0), marker=".", color=colors(i % 10), label=g.dataset
                )
        ax.axhline(ACTIVE_USAGE, color="0.4", ls=":", lw=0.8)
        ax.set_xlabel("feature k", fontsize=8)
        ax.set_ylabel("share of images using it (median over runs)", fontsize=8)
        ax.set_title("feature usage, last log record", fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.flat:
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return save_figure(fig, path), groups


# -- 4b. the adversarial autoencoder's codes against N(0, I) --------------------------------
@dataclass
class AggregatePosterior:
    """A run's codes (the representation, N x D) over a sample of its dataset: per dimension
    their mean and variance, and the KL (nats) of N(mean, variance) from N(0, 1), a summary
    of how far each dimension's aggregate posterior is from the prior in its first two
    moments (0 when they match; it does not see the shape beyond them)."""

    name: str
    codes: np.ndarray
    source: str = ""

    @property
    def mean(self) -> np.ndarray:
        return self.codes.mean(axis=0)

    @property
    def variance(self) -> np.ndarray:
        return self.codes.var(axis=0)

    @property
    def moment_kl(self) -> np.ndarray:
        v = np.maximum(self.variance, 1e-12)
        return 0.5 * (v + self.mean**2 - 1.0 - np.log(v))


def aggregate_posterior(
    run_dir: RunLike, num_points: int = 5_000, seed: int = 0
) -> AggregatePosterior:
    """Encode ``num_points`` random images of a run's dataset (drawn with
    ``numpy.random.default_rng(seed)``) into its representation: the samples of the aggregate
    posterior q(z) the AAE matches to its prior (its deterministic encoder's codes)."""
    record = as_records([run_dir])[0]
    run = load_run(record.path)
    data = run.dataset()
    indices = np.sort(random_indices(len(data), num_points, seed))
    codes = np.asarray(run.representation(data.images(indices)), np.float64)
    return AggregatePosterior(
        record.name, codes, f"{len(indices)} images of {data.name}, seed {seed}"
    )


def plot_aggregate_posterior(
    run: RunLike | AggregatePosterior,
    path: str | Path,
    *,
    dims: int = 4,
    num_points: int = 5_000,
    seed: int = 0,
) -> tuple[Path, AggregatePosterior]:
    """Left: each dimension's code mean and variance beside the prior's 0 and 1; right: the
    histograms of the ``dims`` dimensions farthest from N(0, 1) (by the KL of their moments)
    over the N(0, 1) density."""
    posterior = (
        run if isinstance(run, AggregatePosterior) else aggregate_posterior(run, num_points, seed)
    )
    shown = np.argsort(-posterior.moment_kl, kind="stable")[:dims]
    fig, axes = panel_grid(1 + len(shown), 3.2, 2.8, max_columns=3)
    ax = axes.flat[0]
    d = np.arange(posterior.codes.shape[1])
    ax.plot(d, posterior.mean, "o", ms=4, label="mean")
    ax.plot(d, posterior.variance, "s", ms=4, label="variance")
    ax.axhline(0, color="C0", ls=":", lw=0.8)
    ax.axhline(1, color="C1", ls=":", lw=0.8)
    ax.set_xlabel("dimension", fontsize=8)
    ax.set_title("codes' moments against N(0, I)", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    grid = np.linspace(-4, 4, 200)
    normal = np.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi)
    for ax, j in zip(axes.flat[1:], shown, strict=False):
        ax.hist(posterior.codes[:, j], bins=40, density=True, color="0.6", range=(-4, 4))
        ax.plot(grid, normal, color="C3", lw=1.2)
        ax.set_title(
            f"z{j}: mean {posterior.mean[j]:+.2f}, var {posterior.variance[j]:.2f}", fontsize=8
        )
    for ax in axes.flat:
        ax.tick_params(labelsize=7)
    fig.suptitle(f"aggregate posterior of {posterior.name} ({posterior.source})", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path), posterior


__all__ = [
    "APPEARANCE_NATS",
    "ActiveFeatures",
    "AggregatePosterior",
    "Appearance",
    "CapacityCurves",
    "CapacityFigure",
    "MetricCell",
    "TradeoffPoint",
    "active_features_by_dataset",
    "aggregate_posterior",
    "capacity_curves",
    "capacity_order",
    "dimension_factors",
    "recorded_factors",
    "final_value",
    "metric_by_method",
    "plot_active_features",
    "plot_aggregate_posterior",
    "plot_capacity",
    "plot_metric_by_method",
    "plot_tradeoff",
    "tradeoff_points",
]
