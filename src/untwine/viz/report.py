"""Self-contained HTML reports: one page per run, one page per folder of runs.

A page is a single file: pictures are embedded as base64 ``data:`` URIs, styles and the small
table-sorting script are inline, fonts are the browser's own, and a Content-Security-Policy
forbids every fetch, so it opens the same from a laptop, a mail attachment or an air-gapped
cluster and never touches the network. It reads without JavaScript (the script only makes the
tables sortable by clicking a header). Pages are rendered from the jinja2 templates in
``untwine/viz/templates`` (``report.css`` and ``report.js`` are inlined from there) with
autoescaping on, so every string that comes from a file is HTML-escaped.

The run page shows the status, the metrics (from ``metrics.json``; "not evaluated" without
one), traversals (PNG and GIF), the codes-by-factors mutual information, reconstructions,
prior samples, per-dimension KL and loss terms over training, and the configuration. Its
pictures take the numbers ``metrics.json`` holds from it (see
:func:`untwine.viz.latents.summarize_latents`), so each metric shows one value; a number the
pictures compute themselves is labelled with its sample. The folder page lists every run
directory found below the folder (a study folder included) with its state, hyperparameters and
headline scores, and plots each metric against each hyperparameter that varies; where its
runs allow, it also draws the papers' figures of :mod:`untwine.viz.findings` (KL against the
capacity of annealed runs, reconstruction against a score for two or more methods, SAP by
method, IBP active features on two or more datasets, the AAE's codes against N(0, I)), and
leaves them out otherwise. Crashed, interrupted, pending and unevaluated runs are listed and
marked, never skipped.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from untwine.files import atomic_write_text
from untwine.models.base import ACTIVE_USAGE
from untwine.rundir import LIKELIHOOD, read_log
from untwine.text import format_cell
from untwine.train import load_run
from untwine.version import __version__
from untwine.viz import findings
from untwine.viz._figure import data_uri
from untwine.viz.latents import FROM_METRICS, LatentSummary, kl_history, summarize_latents
from untwine.viz.plots import (
    KL_DIMENSION_FLOOR,
    mutual_info_title,
    plot_kl_by_run,
    plot_kl_over_training,
    plot_losses,
    plot_metrics_vs_hyperparameter,
    plot_mutual_info,
    plot_reconstructions,
    plot_samples,
)
from untwine.viz.runs import RunRecord, headline_scores, read_run, read_runs, varying_params
from untwine.viz.traversals import draw_traversals

REPORT_NAME = "report.html"
#: Folder (inside the folder reported on) for the folder page's PNG files.
FOLDER_FIGURES = "report-figures"


def _fmt(value: Any) -> str:
    """A value as a table cell shows it (and sorts it): :func:`untwine.text.format_cell`, with an
    empty cell for a missing value."""
    return format_cell(value, missing="")


def _score(value: float | None, missing: str = "") -> str:
    """A headline score as every table prints it: four decimals."""
    return missing if value is None else f"{value:.4f}"


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("untwine.viz", "templates"),
        autoescape=True,  # every file-borne string is escaped, in text and attributes
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(fmt=_fmt, score=_score)
    return env


def _render(template: str, out: Path, title: str, **context: Any) -> Path:
    when = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    text = (
        _templates()
        .get_template(template)
        .render(title=title, version=__version__, when=when, **context)
    )
    atomic_write_text(out, text)
    return out


@dataclass
class Figure:
    """An embedded picture: its data URI, caption and alt text (plain text, escaped)."""

    src: str
    caption: str
    alt: str
    pixels: bool = False  # shown without smoothing (the GIF's small tiles)

    @classmethod
    def of(cls, path: Path, caption: str, alt: str = "", pixels: bool = False) -> Figure:
        return cls(data_uri(path), caption, alt or caption, pixels)


@dataclass
class Section:
    """A titled part of a page: notes, a "missing" line, figures; or the error that stopped
    it from being drawn."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing: str = ""
    error: str = ""


def _attempt(title: str, build: Callable[[], Section]) -> Section:
    """``build()``, or a section showing its error: a report is a viewer, and one broken
    picture must not hide the rest."""
    try:
        return build()
    except Exception as e:  # noqa: BLE001 - shown on the page and warned about
        warnings.warn(f"report: {title} could not be drawn: {type(e).__name__}: {e}", stacklevel=2)
        return Section(title, error=traceback.format_exception_only(type(e), e)[-1].strip())


# -- one run ----------------------------------------------------------------------------------
def metric_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per headline score of a metrics.json: metric, score, value, seed, settings."""
    rows = []
    for name, result in metrics.items():
        if not isinstance(result, dict):
            continue
        for key, value in headline_scores({name: result}).items():
            rows.append(
                dict(
                    metric=name,
                    score=key,
                    value=value,
                    seed=result.get("seed"),
                    settings=result.get("settings", {}),
                )
            )
    return rows


def write_run_report(
    run_dir: str | Path,
    out: str | Path | None = None,
    *,
    num_points: int = 10_000,
    seed: int = 0,
    traversal: dict[str, Any] | None = None,
) -> Path:
    """Draw a run's pictures into its directory and write its self-contained HTML page.

    Args:
        run_dir: the run directory (finished, running, crashed or never checkpointed).
        out: the HTML file (default ``run_dir/report.html``).
        num_points: images encoded for the quantile ranges, and for the KL ordering and mutual
            information where ``metrics.json`` does not hold them.
        seed: seed of every random choice (points, seed images, prior samples).
        traversal: options for :func:`untwine.viz.traversals.compute_traversal`.

    Returns the path of the page. The PNG/GIF files stay beside it in the run directory.
    """
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / REPORT_NAME
    record = read_run(run_dir)
    messages: list[dict[str, str]] = []
    sections: list[Section] = []

    run = None
    if record.config:
        try:
            run = load_run(run_dir)  # reads config.yaml; the weights load on first use
        except Exception as e:  # noqa: BLE001 - the page still shows what the folder holds
            messages.append(dict(kind="error", text=f"the run cannot be loaded: {e}"))
    if not record.has_checkpoint:
        messages.append(
            dict(
                kind="note",
                text="No checkpoint: the run stopped before its first checkpoint, so only "
                "what its log recorded is shown.",
            )
        )
    elif run is not None:
        # One sample for every picture, made on first use; the table's metrics.json is passed
        # so that the pictures state the numbers the table does.
        @functools.cache
        def summary() -> LatentSummary:
            return summarize_latents(run, num_points=num_points, seed=seed, metrics=record.metrics)

        sections.append(
            _attempt("Traversals", lambda: _traversal_section(run, summary(), seed, traversal))
        )
        sections.append(_attempt("Mutual information", lambda: _mi_section(run, summary())))
        usage = _attempt("Feature usage", lambda: _usage_section(summary()))
        if usage is not None:
            sections.append(usage)
        sections.append(_attempt("Reconstructions and samples", lambda: _model_pictures(run, seed)))
    sections.append(_attempt("Likelihood", lambda: _likelihood_section(run_dir)))
    sections.append(_attempt("Training", lambda: _training_section(run_dir, run)))
    return _render(
        "run.html.j2",
        out,
        f"untwine: {record.name}",
        record=record,
        metric_rows=metric_rows(record.metrics),
        messages=messages,
        sections=sections,
    )


def _likelihood_section(run_dir: Path) -> Section:
    """The held-out log p(x), bounds, bits/dim and collapse diagnostics ``untwine likelihood``
    saved (:mod:`untwine.likelihood`); read, never recomputed (k = 5,000 takes minutes)."""
    path = run_dir / LIKELIHOOD
    if not path.is_file():
        return Section(
            "Likelihood",
            missing=f"not estimated (no {LIKELIHOOD}; run untwine likelihood on this run)",
        )
    r = json.loads(path.read_text())
    held_out = "" if r["split"] == "test" else " (training images: the dataset holds none out)"
    if r.get("split_size") is not None and r["n"] < r["split_size"]:
        held_out += f", a fixed random {r['n']} of its {r['split_size']}"
    bounds = ", ".join(f"L_{k} {v:.2f}" for k, v in r["bounds"].items())
    bpd = "n/a (the likelihood is not a probability of these grey levels)"
    if r.get("bits_per_dim") is not None:
        bpd = f"{r['bits_per_dim']:.4f}" + (
            " (uniformly dequantised)" if r.get("dequantised") else ""
        )
    per_dim = ", ".join(f"{v:.2f}" for v in r["kl_per_dim"])
    return Section(
        "Likelihood",
        notes=[
            f"{r['split']} split of {r['dataset']}{held_out}, {r['n']} images, k = {r['k']} "
            f"importance samples, networks in {r.get('precision', 'fp32')}: log p(x) = "
            f"{r['log_px']:.2f} \u00b1 {r['stderr']:.2f} nats (standard error over images); "
            f"ELBO {r['elbo']:.2f}; {bounds}.",
            f"bits/dim: {bpd}.",
            f"active units (Cov_x E_q[z_u] > 0.01): {r['active_units']} of "
            f"{len(r['kl_per_dim'])}; KL {r['kl']:.2f} nats, per dimension: {per_dim}.",
        ],
    )


def _kl_words(summary: LatentSummary) -> str:
    """How the rows are ordered, with where the KL comes from."""
    where = "from metrics.json" if summary.kl_source == FROM_METRICS else summary.kl_source
    return f"average KL in nats {where}".rstrip()


def _traversal_section(run, summary: LatentSummary, seed: int, options: dict | None) -> Section:
    png, gif, trav = draw_traversals(run, summary=summary, **{"seed": seed, **(options or {})})
    where = (
        "between the 5% and 95% quantiles of each dimension's codes"
        if trav.mode == "quantile"
        else f"over [{trav.values.min():+.1f}, {trav.values.max():+.1f}]"
    )
    mi = (
        ""
        if summary.mig is None
        else " Shares and gaps use the mutual information of the heat map below "
        f"({summary.mig_headline})."
    )
    active = summary.active
    rows = (
        "rows: the active features, most used first (see Feature usage)"
        if active is not None and active.size
        else f"rows by {_kl_words(summary)}, largest first"
    )
    caption = (
        f"Each row varies one latent dimension {where} with the others at the seed's "
        f"code (the representation; for the Gaussian family the posterior mean); {rows}. "
        "Labels: the factor a "
        "dimension explains best, its share I(z;v)/H(v) of the factor's entropy, and its MIG "
        f"gap (negative: another dimension explains that factor better).{mi} "
        f"Quantiles of {summary.source}."
    )
    animated = (
        "The same traversal animated: each frame shows every row at one value, sweeping "
        "back and forth; the dot on top marks the position."
    )
    return Section(
        "Traversals",
        notes=list(trav.notes),
        figures=[
            Figure.of(png, caption, alt="latent traversal grid"),
            Figure.of(gif, animated, alt="animated latent traversal", pixels=True),
        ],
    )


def _mi_section(run, summary: LatentSummary) -> Section:
    if summary.shares is None:
        return Section(
            "Mutual information", missing=f"unavailable: {summary.source or 'no factors'}"
        )
    path = plot_mutual_info(summary, run.path / "mutual_info.png")
    per_factor = ", ".join(
        f"{n} {g:.2f}"
        for n, g in zip(summary.factor_names, summary.mig_per_factor, strict=True)
        if g == g  # NaN: a factor that does not vary in the sample
    )
    if summary.mi_source == FROM_METRICS:
        where = "as metrics.json records them (the mig row of the Metrics table)"
    else:
        where = f"computed on this page's own sample ({summary.source})"
    caption = (
        "Discrete mutual information between each latent dimension (rows, by "
        f"{_kl_words(summary)}) and each factor (columns), divided by the factor's entropy; "
        f"20 equal-width bins of the posterior means, {where}. {summary.mig_headline}; "
        f"per factor: {per_factor}."
    )
    title = mutual_info_title(summary).replace("\n", ", ")
    return Section("Mutual information", figures=[Figure.of(path, caption, alt=title)])


def _usage_section(summary: LatentSummary) -> Section | None:
    """Per latent dimension, the share of images that switch it on; None for families whose
    dimensions are always on."""
    if summary.usage is None:
        return None
    active = summary.active
    shares = ", ".join(f"{d}: {u:.3f}" for d, u in enumerate(summary.usage))
    return Section(
        "Feature usage",
        notes=[
            f"{len(active)} of {len(summary.usage)} features active (on for at least "
            f"{ACTIVE_USAGE:.0%} of images; the traversals show these, most used first), "
            f"{summary.source}.",
            f"Share of images with the feature on, per feature: {shares}.",
        ],
    )


def _model_pictures(run, seed: int) -> Section:
    recon = plot_reconstructions(run, run.path / "reconstructions.png", seed=seed)
    samples = plot_samples(run, run.path / "samples.png", seed=seed)
    return Section(
        "Reconstructions and samples",
        figures=[
            Figure.of(recon, "Originals (top) and their mean reconstructions (bottom)."),
            Figure.of(samples, "Mean images decoded from codes drawn from the prior N(0, I)."),
        ],
    )


def _training_section(run_dir: Path, run) -> Section:
    if run is None:  # the log is read through the run (Run.log), which needs its config
        return Section("Training", missing="log not read: it needs a loadable config.yaml")
    log = run.log()
    if not log:
        return Section("Training", missing="no log records (log.jsonl)")
    kl = plot_kl_over_training(log, run_dir / "kl_per_dimension.png")
    losses = plot_losses(log, run_dir / "losses.png")
    speed = [r["images_per_s"] for r in log if isinstance(r.get("images_per_s"), int | float)]
    note = f" Median throughput {sorted(speed)[len(speed) // 2]:.0f} images/s." if speed else ""
    return Section(
        "Training",
        figures=[
            Figure.of(kl, "KL per latent dimension (nats) over training, from log.jsonl."),
            Figure.of(losses, "Loss terms over training (nats per example)." + note),
        ],
    )


# -- a folder of runs -------------------------------------------------------------------------
def _score_columns(records: list[RunRecord]) -> list[str]:
    columns: list[str] = []
    for r in records:
        columns += [k for k in r.scores if k not in columns]
    return columns


def _link(target: Path, page: Path) -> str:
    return Path(os.path.relpath(target, page.parent)).as_posix()


def folder_rows(records: list[RunRecord], page: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """The folder table's header and one row per run: its record, link to its page (relative
    to ``page``), varying hyperparameters, step, headline scores, and whether it is marked bad
    (not finished, or without a checkpoint)."""
    params = [p for p in varying_params(records) if p != "method"]
    scores = _score_columns(records)
    rows = []
    for r in records:
        report = r.path / REPORT_NAME
        cells = []
        for p in params:
            value = r.params.get(p)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cells.append(dict(value=value, numeric=numeric))
        rows.append(
            dict(
                record=r,
                link=_link(report, page) if report.exists() else None,
                params=cells,
                step="" if r.step is None else f"{r.step}" + (f" / {r.steps}" if r.steps else ""),
                scores=[r.scores.get(s) for s in scores],
                bad=r.state not in ("done", "running") or not r.has_checkpoint,
            )
        )
    return ["run", "state", "method", *params, "step", *scores, "notes"], rows


def _counts(records: list[RunRecord]) -> str:
    states: dict[str, int] = {}
    for r in records:
        states[r.state] = states.get(r.state, 0) + 1
    parts = [f"{n} {s}" for s, n in sorted(states.items())]
    unevaluated = sum(not r.evaluated for r in records)
    return (
        f"{len(records)} run{'s' if len(records) != 1 else ''}: {', '.join(parts)}; "
        f"{unevaluated} not evaluated."
    )


def write_folder_report(
    folder: str | Path,
    out: str | Path | None = None,
    *,
    each: bool = False,
    records: list[RunRecord] | None = None,
    **run_options: Any,
) -> Path:
    """Write one page comparing every run directory below ``folder`` (recursively), or the
    ``records`` given (a study gives its cells: :func:`untwine.study.write_report`).

    With ``each``, every run's own page is written first (:func:`write_run_report` with
    ``run_options``) so the table links to all of them; otherwise runs link to the pages
    they already have. Metric-against-hyperparameter plots are written to
    ``folder/report-figures/``. Returns the page's path (default ``folder/report.html``).
    """
    folder = Path(folder)
    out = Path(out) if out is not None else folder / REPORT_NAME
    records = read_runs(folder) if records is None else records
    if each:
        for r in records:
            if r.config:
                write_run_report(r.path, **run_options)
    head, rows = folder_rows(records, out)
    trend = (
        _attempt("Metrics against hyperparameters", lambda: _trend_section(records, folder))
        if records
        else None
    )
    kl = _attempt("KL over training", lambda: _kl_section(records, folder)) if records else None
    findings = [
        section
        for title, build in _FINDINGS
        if records and (section := _attempt(title, functools.partial(build, records, folder)))
    ]
    name = folder.resolve().name
    return _render(
        "folder.html.j2",
        out,
        f"untwine: {name}",
        name=name,
        folder=folder,
        counts=_counts(records),
        head=head,
        rows=rows,
        trend=trend,
        kl=kl,
        findings=findings,
    )


def _kl_section(records: list[RunRecord], folder: Path) -> Section:
    """Total KL and informative dimensions over training, every run with per-dimension KL in
    its log: where a posterior collapses and whether a remedy keeps it open."""
    path = folder / FOLDER_FIGURES / "kl_over_training.png"
    runs = []
    for r, label in zip(records, _cell_labels(records), strict=True):
        steps, kl = kl_history(read_log(r.path))
        if len(steps):
            runs.append((label, r.seed or 0, steps, kl))
    if not runs:
        path.unlink(missing_ok=True)
        return Section("KL over training", missing="no per-dimension KL in the runs' logs")
    caption = (
        "Left: KL(q(z|x) || p(z)) summed over dimensions; right: the dimensions whose KL is "
        f"at least {KL_DIMENSION_FLOOR} nats; both batch averages from each run's log.jsonl. "
        "A collapsed posterior has both near 0; active units and I(x; z) on held-out images "
        "are in the table (untwine likelihood)."
    )
    return Section("KL over training", figures=[Figure.of(plot_kl_by_run(runs, path), caption)])


def _cell_labels(records: list[RunRecord]) -> list[str]:
    """Each run named by the settings that set it apart from most runs (seed aside):
    ``free_bits=0.5`` in a study of remedies, where listing every varying setting would bury
    it; the method for the runs at the common values. Ties go to the value seen first."""
    params = [p for p in varying_params(records) if p not in ("seed", "method")]
    key = functools.partial(json.dumps, sort_keys=True, default=str)
    common = {
        p: Counter(key(r.params.get(p)) for r in records).most_common(1)[0][0] for p in params
    }
    labels = []
    for r in records:
        differs = [
            f"{p}={r.params[p]}" for p in params if p in r.params and key(r.params[p]) != common[p]
        ]
        labels.append(", ".join(differs) if differs else (r.method or r.name))
    return labels


def _distinct(values: Iterable[Any]) -> set[str]:
    return {json.dumps(v, sort_keys=True, default=str) for v in values}


#: The score column of a run's log p(x) (from its likelihood.json, see
#: :func:`untwine.rundir.likelihood_scores`), and the disentanglement scores drawn
#: beside it, the first present.
LOG_PX = "likelihood.log_px"
DISENTANGLEMENT = ("mig", "mig_full")


def _trend_section(records: list[RunRecord], folder: Path) -> Section:
    scores = _score_columns(records)
    points = [{**r.params, **r.scores} for r in records if r.scores]
    # A plot needs two values on its axis: a setting only some methods have, at one value
    # (beta-TCVAE's alpha beside beta-VAE runs), is listed in the table but not plotted.
    params = [
        p
        for p in varying_params(records)
        if p not in ("method", "seed")
        and len(_distinct(r.params[p] for r in records if p in r.params)) > 1
    ]
    for pattern in ("metrics_vs_*.png", "likelihood_vs_*.png"):  # from an earlier page
        for stale in (folder / FOLDER_FIGURES).glob(pattern):
            stale.unlink()
    figures = []
    # The trade-off the likelihood literature discusses: log p(x) beside MIG, per setting;
    # then every metric against each setting.
    beside = [s for s in (LOG_PX, *DISENTANGLEMENT) if s in scores][:2]
    plots = []
    if beside and beside[0] == LOG_PX:
        what = (
            "log p(x) (nats per image, importance-sampled; the split and k are in each run's "
            f"page) beside {beside[-1]}"
        )
        plots.append(("likelihood_vs", beside, what))
    plots.append(("metrics_vs", scores, "Each metric"))
    for prefix, shown, what in plots:
        for param in params:
            name = "".join(c if c.isalnum() or c in "-_" else "_" for c in param)
            path = plot_metrics_vs_hyperparameter(
                points, shown, param, folder / FOLDER_FIGURES / f"{prefix}_{name}.png"
            )
            if path is not None:
                caption = (
                    f"{what} against {param}: one colour per method, each run a point, "
                    "the line through the median over seeds."
                )
                figures.append(Figure.of(path, caption))
    title = "Metrics against hyperparameters"
    if not figures:
        why = "no evaluated runs" if not points else "no hyperparameter varies between them"
        return Section(title, missing=why)
    return Section(title, figures=figures)


# -- the papers' figures, where the runs allow them (untwine.viz.findings) ------------------
#: Scores the trade-off figure puts against reconstruction, the first that two methods have.
TRADEOFF_SCORES = ("factor_vae_score", "mig")
#: The metric of the metric-by-method figure (Kumar et al. 2018 tabulate SAP).
TABLE_METRIC = "sap"
#: Images encoded per run where a figure needs the model (factor labels, codes).
FINDINGS_POINTS = 2_000
#: At most this many AAE runs get an aggregate-posterior figure.
MAX_AAE_FIGURES = 3


def _figure_path(folder: Path, name: str) -> Path:
    return folder / FOLDER_FIGURES / name


def _capacity_section(records: list[RunRecord], folder: Path) -> Section | None:
    """Burgess et al. (2018): per-dimension KL against C, for capacity-annealed runs that
    logged both."""
    annealed = [r for r in records if r.method == "annealedvae"]
    runs = [r for r in annealed if findings.capacity_curves(read_log(r.path)) is not None]
    if not runs:
        return None
    path, drawn = findings.plot_capacity(
        runs, _figure_path(folder, "capacity.png"), num_points=FINDINGS_POINTS
    )
    notes = []
    for curves in drawn.runs:
        order = ", ".join(f"{a.factor} (z{a.dim}, C {a.capacity:.1f})" for a in curves.order)
        notes.append(f"{curves.name}: {order or 'no factor appeared'} [{curves.factor_source}].")
    if drawn.median_order:
        notes.append(
            "Median C at which each factor appears, over the runs where it did: "
            + ", ".join(
                f"{f} {c:.1f} nats ({n} of {len(drawn.runs)})" for f, c, n in drawn.median_order
            )
            + "."
        )
    caption = (
        "KL of each latent dimension (nats, batch averages from log.jsonl) against the capacity "
        "C, one panel per run; each dimension is labelled with the factor it holds the largest "
        "share of (mutual information of the final model) and the C at which its KL first "
        f"reached {drawn.runs[0].threshold:g} nats (the dot). Burgess et al. (2018) report "
        "position first (C ~ 3 nats), then scale (~7), then shape and rotation."
    )
    return Section(
        "Capacity and the order of factors", figures=[Figure.of(path, caption)], notes=notes
    )


def _tradeoff_section(records: list[RunRecord], folder: Path) -> Section | None:
    """Kim & Mnih (2018): reconstruction against a score, for the first dataset on which two
    methods have both (errors on different data do not compare)."""
    by_dataset: dict[str, list[RunRecord]] = {}
    for r in records:
        by_dataset.setdefault(_fmt(r.params.get("dataset")), []).append(r)
    chosen = None
    for metric in TRADEOFF_SCORES:
        for dataset, runs in by_dataset.items():
            if len({p.method for p in findings.tradeoff_points(runs, metric)}) >= 2:
                chosen = metric, dataset, runs
                break
        if chosen:
            break
    if chosen is None:
        return None
    metric, dataset, runs = chosen
    path, points = findings.plot_tradeoff(runs, _figure_path(folder, "tradeoff.png"), metric)
    notes = [
        f"{p.method} {p.setting}: recon {p.recon:.1f} ({p.recon_range[0]:.1f}-"
        f"{p.recon_range[1]:.1f}), {metric} {p.score:.3f} ({p.score_range[0]:.3f}-"
        f"{p.score_range[1]:.3f}), {p.n} seeds"
        for p in points
    ]
    caption = (
        f"The runs on {dataset}: reconstruction error (the mean of the last "
        f"{findings.LAST_RECORDS} log records' recon, nats per image) against {metric}, one "
        "colour per method, each point the median over seeds of one setting, the bars the "
        "range of the seeds (faint dots). Kim & Mnih (2018) find FactorVAE above beta-VAE at "
        "the same reconstruction error."
    )
    return Section(
        "Reconstruction against disentanglement", figures=[Figure.of(path, caption)], notes=notes
    )


def _metric_table_section(records: list[RunRecord], folder: Path) -> Section | None:
    """Kumar et al. (2018): SAP per method over seeds, when two methods have it."""
    cells = findings.metric_by_method(records, TABLE_METRIC)
    if len({c.method for c in cells}) < 2:
        return None
    path, cells = findings.plot_metric_by_method(
        records, _figure_path(folder, f"{TABLE_METRIC}_by_method.png"), TABLE_METRIC
    )
    caption = (
        f"{TABLE_METRIC} per method and setting: each seed a dot, the median a bar, with the "
        "range and the number of seeds. Kumar et al. (2018, table 1) find DIP-VAE-I and II "
        "above beta-VAE in SAP on dSprites."
    )
    notes = [
        f"{c.label}: median {c.median:.4f}, range {c.low:.4f}-{c.high:.4f}, seeds "
        + ", ".join(str(s) for s in c.seeds)
        for c in cells
    ]
    return Section(f"{TABLE_METRIC} by method", figures=[Figure.of(path, caption)], notes=notes)


def _active_features_section(records: list[RunRecord], folder: Path) -> Section | None:
    """Gyawali et al. (2019): IBP-VAE's active features per dataset, on two or more."""
    ibp = [r for r in records if r.method == "ibpvae"]
    if len({_fmt(r.params.get("dataset")) for r in ibp}) < 2:
        return None
    groups = findings.active_features_by_dataset(ibp, FINDINGS_POINTS)
    if len(groups) < 2:
        return None
    path, groups = findings.plot_active_features(
        ibp, _figure_path(folder, "active_features.png"), FINDINGS_POINTS
    )
    notes = [
        f"{g.dataset}: median {g.median:g} active features over {len(g.counts)} runs "
        f"({', '.join(f'{c:g}' for c in g.counts)}; from the {g.source})"
        for g in groups
    ]
    caption = (
        "Active features of the IBP-VAE runs per dataset (used by at least "
        f"{ACTIVE_USAGE:.0%} of a batch, the last log record) and each feature's usage. "
        "Gyawali et al. (2019): more complex data use more features."
    )
    return Section("Active features per dataset", figures=[Figure.of(path, caption)], notes=notes)


def _aggregate_posterior_section(records: list[RunRecord], folder: Path) -> Section | None:
    """Makhzani et al. (2015): the AAE's codes against N(0, I), for its first runs."""
    runs = [r for r in records if r.method == "aae" and r.has_checkpoint][:MAX_AAE_FIGURES]
    if not runs:
        return None
    figures, notes = [], []
    for i, r in enumerate(runs):
        path, posterior = findings.plot_aggregate_posterior(
            r, _figure_path(folder, f"aggregate_posterior_{i}.png"), num_points=FINDINGS_POINTS
        )
        kl = posterior.moment_kl
        notes.append(
            f"{r.name}: KL of the codes' moments from N(0, 1) per dimension: mean "
            f"{kl.mean():.3f}, largest {kl.max():.3f} nats ({posterior.source})."
        )
        figures.append(
            Figure.of(
                path,
                f"{r.name}: each dimension's code mean and variance against the prior's 0 and "
                "1, and histograms of the dimensions farthest from N(0, 1) over its density.",
            )
        )
    return Section("Aggregate posterior against the prior", figures=figures, notes=notes)


#: The papers' figures a folder page draws where its runs allow them (a builder returns None
#: when they do not, and the page omits the section).
_FINDINGS: tuple[tuple[str, Callable[[list[RunRecord], Path], Section | None]], ...] = (
    ("Capacity and the order of factors", _capacity_section),
    ("Reconstruction against disentanglement", _tradeoff_section),
    (f"{TABLE_METRIC} by method", _metric_table_section),
    ("Active features per dataset", _active_features_section),
    ("Aggregate posterior against the prior", _aggregate_posterior_section),
)


def write_report(path: str | Path, out: str | Path | None = None, **options: Any) -> Path:
    """The run page if ``path`` is a run directory, else the folder page."""
    path = Path(path)
    if any((path / marker).exists() for marker in ("config.yaml", "status.json")):
        run_options = {k: v for k, v in options.items() if k != "each"}
        return write_run_report(path, out, **run_options)
    return write_folder_report(path, out, **options)


__all__ = [
    "REPORT_NAME",
    "write_folder_report",
    "write_report",
    "write_run_report",
]
