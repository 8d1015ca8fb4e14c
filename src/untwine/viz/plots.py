"""Plots of a run and of a set of runs, as PNG files written atomically (matplotlib Agg).

Of a run: reconstructions beside their originals, samples from the prior, per-dimension KL
and loss terms over training (from ``log.jsonl``), and the codes-by-factors mutual-information
matrix as a heat map (Chen et al. 2018, fig. 6 style). Of a set of runs: any metric against
any hyperparameter, one line per method through the median over seeds, each seed a point
(Locatello et al. 2019, fig. 7 style).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from untwine.viz._figure import mosaic, panel_grid, picture_axes, plt, save_figure, save_message
from untwine.viz.latents import LatentSummary, kl_history, random_indices

#: log.jsonl fields that are bookkeeping, not loss terms.
NOT_TERMS = {"step", "epoch", "images_per_s"}


# -- a run's pictures -------------------------------------------------------------------------
def plot_reconstructions(
    run, path: str | Path, images: np.ndarray | None = None, n: int = 12, seed: int = 0
) -> Path:
    """Originals (top row) above their mean reconstructions (decoded posterior means).

    ``images`` (N, C, H, W, uint8 or float) default to ``n`` random images of the run's
    dataset drawn with ``numpy.random.default_rng(seed)``.
    """
    if images is None:
        data = run.dataset()
        images = data.images(np.sort(random_indices(len(data), n, seed)))
    originals = run.float_images(images)
    recons = run.reconstruct(images)
    picture = mosaic(np.stack([originals, recons]))
    fig, ax = picture_axes(picture)
    h = originals.shape[2] + 2
    ax.set_yticks([h / 2, h * 1.5])
    ax.set_yticklabels(["original", "reconstruction"], fontsize=8)
    ax.set_xticks([])
    ax.tick_params(length=0)
    ax.set_title(f"reconstructions (step {run.step})", fontsize=9)
    return save_figure(fig, path)


def plot_samples(run, path: str | Path, n: int = 32, columns: int = 8, seed: int = 0) -> Path:
    """Mean images decoded from ``n`` codes z ~ N(0, I) drawn with ``torch.Generator(seed)``."""
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn((n, run.config.model.z_dim), generator=generator).numpy()
    images = run.decode(z)
    rows = math.ceil(n / columns)
    grid = np.ones((rows * columns, *images.shape[1:]), np.float32)
    grid[:n] = images
    picture = mosaic(grid.reshape(rows, columns, *images.shape[1:]))
    fig, ax = picture_axes(picture)
    ax.set_axis_off()
    ax.set_title(f"samples from the prior N(0, I) (step {run.step})", fontsize=9)
    return save_figure(fig, path)


def loss_history(records: Sequence[Mapping[str, Any]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Steps (T,) and each scalar loss term's values (T,), NaN where a record lacks it."""
    rows = [r for r in records if "step" in r]
    names: list[str] = []
    for r in rows:
        for k, v in r.items():
            if k not in NOT_TERMS and isinstance(v, int | float) and k not in names:
                names.append(k)
    steps = np.array([r["step"] for r in rows], float)
    terms = {k: np.array([_number(r.get(k)) for r in rows], float) for k in names}
    return steps, terms


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else float("nan")


def plot_kl_over_training(
    records: Sequence[Mapping[str, Any]], path: str | Path, title: str = ""
) -> Path:
    """KL(q(z_j|x) || p(z_j)) per latent dimension (nats, batch averages of each log interval)
    against the training step; the legend lists dimensions by their final KL."""
    steps, kl = kl_history(records)
    if len(steps) == 0:
        return save_message(path, "no per-dimension KL in log.jsonl", size=(6.4, 3.4))
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    order = np.argsort(-kl[-1], kind="stable")
    colors = plt.get_cmap("tab20" if kl.shape[1] > 10 else "tab10")
    for rank, d in enumerate(order):
        ax.plot(
            steps,
            kl[:, d],
            color=colors(rank % colors.N),
            lw=1.4,
            marker="." if len(steps) < 3 else None,
            label=f"z{d} ({kl[-1, d]:.2f})",
        )
    ax.set_xlabel("step")
    ax.set_ylabel("KL per dimension (nats)")
    ax.set_title(title or "KL per latent dimension over training", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=1 + kl.shape[1] // 11, loc="upper left", bbox_to_anchor=(1, 1))
    return save_figure(fig, path)


#: A latent dimension counts as carrying information in :func:`plot_kl_by_run` when its
#: batch-averaged KL in the training log is at least this many nats (a collapsed dimension's
#: is ~0.001). A training-log view, not Burda et al.'s active units, which ``untwine
#: likelihood`` counts from the variance of the posterior means over the data.
KL_DIMENSION_FLOOR = 0.01


def plot_kl_by_run(
    runs: Sequence[tuple[str, int, np.ndarray, np.ndarray]], path: str | Path
) -> Path:
    """Posterior collapse over training for a set of runs: the total KL (nats) and the number
    of dimensions whose KL is at least :data:`KL_DIMENSION_FLOOR`, against the step. ``runs``
    holds (label, seed, steps (T,), KL per dimension (T, D)); one colour per label, one line
    style per seed."""
    fig, (ax_kl, ax_dims) = plt.subplots(1, 2, figsize=(9.6, 3.4))
    labels = list(dict.fromkeys(label for label, *_ in runs))
    seeds = sorted({seed for _, seed, *_ in runs})
    colors = plt.get_cmap("tab10")
    styles = ("-", "--", ":", "-.")
    for label, seed, steps, kl in runs:
        color = colors(labels.index(label) % colors.N)
        style = styles[seeds.index(seed) % len(styles)]
        first = seeds.index(seed) == 0
        ax_kl.plot(
            steps, kl.sum(axis=1), color=color, ls=style, lw=1.3, label=label if first else None
        )
        ax_dims.plot(
            steps,
            (kl >= KL_DIMENSION_FLOOR).sum(axis=1),
            color=color,
            ls=style,
            lw=1.3,
            drawstyle="steps-post",
        )
    # a KL warm-up starts far above where it settles: scale to the runs' second halves
    settled = max(float(kl[len(kl) // 2 :].sum(axis=1).max()) for *_, kl in runs)
    ax_kl.set_ylim(0, 1.5 * settled if settled > 0 else None)
    ax_kl.set_ylabel("KL (nats, batch average)")
    ax_dims.set_ylabel(f"dimensions with KL >= {KL_DIMENSION_FLOOR} nats")
    for ax in (ax_kl, ax_dims):
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    ax_kl.legend(fontsize=7)
    what = ", ".join(f"seed {s} {styles[i % len(styles)]}" for i, s in enumerate(seeds))
    fig.suptitle(f"KL over training, one colour per cell ({what})", fontsize=9)
    return save_figure(fig, path)


def plot_losses(records: Sequence[Mapping[str, Any]], path: str | Path, title: str = "") -> Path:
    """Every scalar term of log.jsonl (loss, recon, kl, tc ... in nats per example) against the
    step, one small panel each: their scales differ by orders of magnitude. A panel uses a log
    axis when its values are positive and span more than a factor of 20."""
    steps, terms = loss_history(records)
    if len(steps) == 0 or not terms:
        return save_message(path, "no log records")
    fig, axes = panel_grid(len(terms), 3.2, 2.3, sharex=True)
    for ax, (name, values) in zip(axes.flat, terms.items(), strict=False):
        ax.plot(steps, values, lw=1.4, marker="." if len(steps) < 3 else None)
        finite = values[np.isfinite(values)]
        if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
            ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("step", fontsize=8)
    fig.suptitle(title or "loss terms over training (nats per example)", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def mutual_info_title(summary: LatentSummary) -> str:
    """The heat map's title: what it shows and the MIG with its source (metrics.json, or the
    summary's own sample, so two different values on one page are never unlabelled)."""
    return f"normalised mutual information\n{summary.mig_headline}".rstrip()


def plot_mutual_info(summary: LatentSummary, path: str | Path, title: str = "") -> Path:
    """Heat map of ``I(z_j; v_k) / H(v_k)``: rows are latent dimensions by KL (largest first),
    columns the factors. A disentangled code has one bright cell per column, in its own row;
    MIG is the mean over columns of the gap between the two brightest cells. The title is
    :func:`mutual_info_title` unless ``title`` is given."""
    shares = summary.shares
    if shares is None:
        return save_message(path, "no factors: mutual information unavailable", size=(5, 1.5))
    order = summary.order
    k = shares.shape[1]
    fig, ax = plt.subplots(figsize=(1.6 + 0.85 * k, 1.2 + 0.32 * summary.z_dim))
    image = ax.imshow(shares[order], cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for i, d in enumerate(order):
        for j in range(k):
            value = shares[d, j]
            color = "black" if value > 0.6 else "white"
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7, color=color)
    ax.set_xticks(range(k))
    ax.set_xticklabels(summary.factor_names, fontsize=8, rotation=30, ha="right")
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([f"z{d} ({summary.kl[d]:.2f})" for d in order], fontsize=7)
    ax.set_ylabel("latent (KL, nats)", fontsize=8)
    fig.colorbar(image, ax=ax, fraction=0.05, pad=0.03, label="I(z; v) / H(v)")
    ax.set_title(title or mutual_info_title(summary), fontsize=9)
    return save_figure(fig, path)


# -- many runs --------------------------------------------------------------------------------
def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def draw_metric_vs_hyperparameter(
    ax,
    points: Sequence[Mapping[str, Any]],
    metric: str,
    param: str,
    group: str = "method",
) -> bool:
    """Draw ``metric`` against ``param`` on ``ax``: for each ``group`` value (method) its runs
    as points (one per seed) and a line through the median at each setting. ``points`` are
    flat rows (``{"method": ..., "beta": 4, "mig": 0.31, ...}``); rows missing either value
    are left out. Returns whether anything was drawn."""
    rows = [
        p
        for p in points
        if p.get(param) is not None
        and isinstance(p.get(metric), int | float)
        and math.isfinite(p[metric])
    ]
    if not rows:
        return False
    xs_all = [p[param] for p in rows]
    numeric = _numeric(xs_all)
    if numeric:
        positions = {x: float(x) for x in xs_all}
    else:  # categorical setting (a network name, an estimator): evenly spaced, sorted
        labels = sorted({str(x) for x in xs_all})
        positions = {x: float(labels.index(str(x))) for x in xs_all}
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, fontsize=7, rotation=20)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for p in rows:
        groups.setdefault(str(p.get(group)), []).append(p)
    colors = plt.get_cmap("tab10")
    for i, (name, members) in enumerate(sorted(groups.items())):
        color = colors(i % 10)
        ax.scatter(
            [positions[p[param]] for p in members],
            [p[metric] for p in members],
            color=color,
            alpha=0.55,
            s=18,
            edgecolors="none",
        )
        by_x: dict[float, list[float]] = {}
        for p in members:
            by_x.setdefault(positions[p[param]], []).append(float(p[metric]))
        xs = sorted(by_x)
        ax.plot(xs, [statistics.median(by_x[x]) for x in xs], color=color, lw=1.6, label=name)
    if numeric:
        values = [float(x) for x in xs_all]
        if min(values) > 0 and max(values) / min(values) >= 8:
            ax.set_xscale("log")
    ax.set_xlabel(param, fontsize=8)
    ax.set_ylabel(metric, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    return True


def plot_metric_vs_hyperparameter(
    points: Sequence[Mapping[str, Any]],
    metric: str,
    param: str,
    path: str | Path,
    group: str = "method",
) -> Path:
    """One PNG of ``metric`` against ``param`` (see :func:`draw_metric_vs_hyperparameter`)."""
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    if draw_metric_vs_hyperparameter(ax, points, metric, param, group):
        ax.legend(fontsize=7)
        ax.set_title(f"{metric} vs {param}: seeds as points, median as line", fontsize=9)
    else:
        ax.text(0.5, 0.5, f"no runs with both {metric} and {param}", ha="center")
        ax.set_axis_off()
    return save_figure(fig, path)


def plot_metrics_vs_hyperparameter(
    points: Sequence[Mapping[str, Any]],
    metrics: Sequence[str],
    param: str,
    path: str | Path,
    group: str = "method",
) -> Path | None:
    """One PNG with a panel per metric against ``param``; None when no panel has data."""
    drawable = [
        m
        for m in metrics
        if any(p.get(param) is not None and isinstance(p.get(m), int | float) for p in points)
    ]
    if not drawable:
        return None
    fig, axes = panel_grid(len(drawable), 4.0, 3.0)
    for ax, metric in zip(axes.flat, drawable, strict=False):
        draw_metric_vs_hyperparameter(ax, points, metric, param, group)
        ax.set_title(metric, fontsize=9)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.tight_layout()
    if handles:  # one legend for all panels, outside them on the right
        fig.legend(
            handles, labels, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, title=group
        )
    return save_figure(fig, path)
