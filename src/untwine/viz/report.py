"""Self-contained HTML reports: one page per run, one page per folder of runs.

A page is a single file: pictures are embedded as base64 ``data:`` URIs, styles and the small
table-sorting script are inline, fonts are the browser's own, and a Content-Security-Policy
forbids every fetch, so it opens the same from a laptop, a mail attachment or an air-gapped
cluster and never touches the network. It reads without JavaScript (the script only makes the
folder table sortable by clicking a header). Every string that comes from a file is
HTML-escaped.

The run page shows the status, the metrics (from ``metrics.json``; "not evaluated" without
one), traversals (PNG and GIF), the codes-by-factors mutual information, reconstructions,
prior samples, per-dimension KL and loss terms over training, and the configuration. The
folder page lists every run directory found below the folder (a study folder included) with
its state, hyperparameters and headline scores, and plots each metric against each
hyperparameter that varies. Crashed, interrupted, pending and unevaluated runs are listed and
marked, never skipped.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import os
import traceback
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import untwine
from untwine.files import atomic_write_text
from untwine.models.base import ACTIVE_USAGE
from untwine.viz._figure import data_uri
from untwine.viz.latents import LatentSummary, summarize_latents
from untwine.viz.plots import (
    plot_kl_over_training,
    plot_losses,
    plot_metrics_vs_hyperparameter,
    plot_mutual_info,
    plot_reconstructions,
    plot_samples,
)
from untwine.viz.runs import RunRecord, read_run, read_runs, varying_params
from untwine.viz.traversals import draw_traversals

REPORT_NAME = "report.html"
#: Folder (inside the folder reported on) for the folder page's PNG files.
FOLDER_FIGURES = "report-figures"

# Nothing may be fetched: only inline styles/scripts and data: images are allowed.
CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
)

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
 margin:0 auto;max-width:1200px;padding:1rem 1.5rem 3rem;color:#1d2330;background:#fff;
 line-height:1.4}
h1{font-size:1.5rem;margin:.4rem 0}h2{font-size:1.15rem;margin:2rem 0 .5rem;
 border-bottom:1px solid #d8dce3;padding-bottom:.2rem}
.sub{color:#4b5563;margin:.2rem 0}
table{border-collapse:collapse;font-size:.85rem;margin:.4rem 0}
th,td{border:1px solid #d8dce3;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f1f3f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;user-select:none}
table.sortable th[aria-sort=ascending]::after{content:" \\25B2"}
table.sortable th[aria-sort=descending]::after{content:" \\25BC"}
tr.bad td{background:#fff6f5}
.state{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:.8rem;
 font-weight:600;color:#fff;background:#6b7280}
.state-done{background:#15803d}.state-running{background:#1d4ed8}
.state-failed{background:#b91c1c}.state-interrupted{background:#c2410c}
.mark{display:inline-block;padding:0 .4rem;margin:0 .15rem;border-radius:.6rem;
 font-size:.75rem;background:#fde68a;color:#713f12}
.error{color:#991b1b;white-space:pre-wrap;font-family:ui-monospace,monospace;font-size:.8rem}
.note{color:#4b5563;font-size:.85rem}
figure{margin:.6rem 0 1.2rem}figcaption{color:#4b5563;font-size:.85rem;max-width:70rem}
img{max-width:100%;height:auto}img.pixels{image-rendering:pixelated}
pre{background:#f6f7f9;padding:.6rem;overflow-x:auto;font-size:.8rem}
.missing{color:#9ca3af}
"""

# Sorts the rows of every table.sortable by the clicked column: numbers numerically (a cell's
# data-sort attribute if it has one), text alphabetically, empty cells last either way.
SORT_SCRIPT = """
(function(){
function key(row,i){var c=row.cells[i];if(!c)return[2,""];
 var v=c.getAttribute("data-sort");if(v===null)v=c.textContent.trim();
 if(v==="")return[2,""];var n=Number(v);return isNaN(n)?[1,v.toLowerCase()]:[0,n];}
function sortBy(table,i,th){
 var asc=th.getAttribute("aria-sort")!=="ascending";
 Array.prototype.forEach.call(th.parentNode.cells,function(c){c.removeAttribute("aria-sort");});
 th.setAttribute("aria-sort",asc?"ascending":"descending");
 var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
 rows.sort(function(a,b){var x=key(a,i),y=key(b,i);if(x[0]!==y[0])return x[0]-y[0];
  var c=x[1]<y[1]?-1:(x[1]>y[1]?1:0);return asc?c:-c;});
 rows.forEach(function(r){body.appendChild(r);});}
Array.prototype.forEach.call(document.querySelectorAll("table.sortable"),function(t){
 Array.prototype.forEach.call(t.tHead.rows[0].cells,function(th,i){
  th.title="click to sort";th.addEventListener("click",function(){sortBy(t,i,th);});});});
})();
"""


def esc(value: Any) -> str:
    """HTML-escape anything (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _page(title: str, body: str, script: bool = False) -> str:
    when = _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    js = f"<script>{SORT_SCRIPT}</script>" if script else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{body}\n"
        f'<footer class="note"><p>written by untwine {esc(untwine.__version__)} on '
        f"{esc(when)}; a self-contained page (no network).</p></footer>\n{js}\n</body>\n</html>\n"
    )


def state_badge(state: str) -> str:
    return f'<span class="state state-{esc(state)}">{esc(state)}</span>'


def marks_html(marks: Iterable[str]) -> str:
    return "".join(f'<span class="mark">{esc(m)}</span>' for m in marks)


def _figure(path: Path, caption: str, pixels: bool = False, alt: str = "") -> str:
    cls = ' class="pixels"' if pixels else ""
    return (
        f'<figure><img{cls} src="{data_uri(path)}" alt="{esc(alt or caption)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


class _Sections:
    """Collects HTML sections; a section that fails shows its error instead of the page
    failing (a report is a viewer: one broken picture must not hide the rest)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.errors: list[str] = []

    def add(self, html_text: str) -> None:
        self.parts.append(html_text)

    def attempt(self, title: str, build: Callable[[], str]) -> None:
        try:
            self.parts.append(build())
        except Exception as e:  # noqa: BLE001 - shown on the page and warned about
            message = f"{type(e).__name__}: {e}"
            self.errors.append(f"{title}: {message}")
            warnings.warn(f"report: {title} could not be drawn: {message}", stacklevel=2)
            detail = traceback.format_exception_only(type(e), e)[-1].strip()
            self.parts.append(
                f'<h2>{esc(title)}</h2><p class="error">could not be drawn: {esc(detail)}</p>'
            )

    def html(self) -> str:
        return "\n".join(self.parts)


# -- one run ----------------------------------------------------------------------------------
def metrics_table(metrics: dict[str, Any]) -> str:
    """Rows per headline score: metric, score, value, seed and the settings used."""
    if not metrics:
        return '<p class="missing">not evaluated (no metrics.json)</p>'
    from untwine.viz.runs import headline_scores

    rows = []
    for name, result in metrics.items():
        if not isinstance(result, dict):
            continue
        settings = result.get("settings", {})
        scores = headline_scores({name: result})
        for key, value in scores.items():
            shown = "undefined" if value is None else f"{value:.4f}"
            rows.append(
                f"<tr><td>{esc(name)}</td><td>{esc(key)}</td>"
                f'<td class="num" data-sort="{esc(_fmt(value))}">{esc(shown)}</td>'
                f'<td class="num">{esc(_fmt(result.get("seed")))}</td>'
                f"<td><code>{esc(_fmt(settings))}</code></td></tr>"
            )
    return (
        '<table class="sortable"><thead><tr><th>metric</th><th>score</th><th>value</th>'
        "<th>seed</th><th>settings</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _run_header(record: RunRecord) -> str:
    p = record.params
    bits = [
        f"method <b>{esc(p.get('method', '?'))}</b>",
        f"dataset <b>{esc(p.get('dataset', '?'))}</b>",
        f"step {esc(_fmt(record.step))} of {esc(_fmt(record.steps))}",
    ]
    if "seed" in p:
        bits.append(f"seed {esc(p['seed'])}")
    error = f'<p class="error">{esc(record.error)}</p>' if record.error else ""
    return (
        f"<header><h1>{esc(record.name)}</h1>"
        f'<p class="sub">{state_badge(record.state)} {marks_html(record.marks)} '
        f"{' &middot; '.join(bits)}</p>{error}"
        f'<p class="note">{esc(record.path)}</p></header>'
    )


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
        num_points: images encoded for the KL ordering, quantile ranges and mutual information.
        seed: seed of every random choice (points, seed images, prior samples).
        traversal: options for :func:`untwine.viz.traversals.compute_traversal`.

    Returns the path of the page. The PNG/GIF files stay beside it in the run directory.
    """
    run_dir = Path(run_dir)
    out = Path(out) if out is not None else run_dir / REPORT_NAME
    record = read_run(run_dir)
    sections = _Sections()
    sections.add(_run_header(record))
    sections.add(f"<h2>Metrics</h2>{metrics_table(record.metrics)}")

    run = None
    if record.has_checkpoint and record.config:
        try:
            run = untwine.load_run(run_dir)
        except Exception as e:  # noqa: BLE001 - the log-based pictures can still be drawn
            sections.add(f'<p class="error">the model cannot be loaded: {esc(e)}</p>')
    elif not record.has_checkpoint:
        sections.add(
            '<p class="note">No checkpoint: the run stopped before its first checkpoint, so '
            "only what its log recorded is shown.</p>"
        )

    if run is not None:
        summary_box: list[LatentSummary] = []

        def summary() -> LatentSummary:
            if not summary_box:
                summary_box.append(summarize_latents(run, num_points=num_points, seed=seed))
            return summary_box[0]

        sections.attempt("Traversals", lambda: _traversal_section(run, summary(), seed, traversal))
        sections.attempt("Mutual information", lambda: _mi_section(run, summary()))
        sections.attempt("Feature usage", lambda: _usage_section(summary()))
        sections.attempt("Reconstructions and samples", lambda: _model_pictures(run, seed))
    log = _read_log(run_dir)
    sections.attempt("Training", lambda: _training_section(run_dir, log))
    sections.add(
        "<h2>Configuration</h2>"
        + (
            f"<pre>{esc(record.config_text)}</pre>"
            if record.config_text
            else '<p class="missing">no config.yaml</p>'
        )
    )
    atomic_write_text(out, _page(f"untwine: {record.name}", sections.html(), script=True))
    return out


def _read_log(run_dir: Path) -> list[dict[str, Any]]:
    records = []
    try:
        lines = (run_dir / "log.jsonl").read_text().splitlines()
    except OSError:
        return records
    for line in lines:
        try:
            value = json.loads(line)
        except ValueError:
            break  # a torn last line from a crash
        if isinstance(value, dict):
            records.append(value)
    return records


def _traversal_section(run, summary: LatentSummary, seed: int, options: dict | None) -> str:
    png, gif, trav = draw_traversals(run, summary=summary, **{"seed": seed, **(options or {})})
    where = (
        "between the 5% and 95% quantiles of each dimension's posterior means"
        if trav.mode == "quantile"
        else f"over [{trav.values.min():+.1f}, {trav.values.max():+.1f}]"
    )
    caption = (
        f"Each row varies one latent dimension {esc(where)} with the others at the seed's "
        "posterior mean; rows by average KL (nats), largest first. Labels: the factor a "
        "dimension explains best, its share I(z;v)/H(v) of the factor's entropy, and its MIG "
        f"gap (negative: another dimension explains that factor better). {esc(summary.source)}."
    )
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in trav.notes)
    return (
        "<h2>Traversals</h2>"
        + notes
        + _figure(png, caption, alt="latent traversal grid")
        + _figure(
            gif,
            "The same traversal animated: each frame shows every row at one value, sweeping "
            "back and forth; the dot on top marks the position.",
            pixels=True,
            alt="animated latent traversal",
        )
    )


def _mi_section(run, summary: LatentSummary) -> str:
    if summary.shares is None:
        return (
            "<h2>Mutual information</h2>"
            f'<p class="missing">unavailable: {esc(summary.source or "no factors")}</p>'
        )
    path = plot_mutual_info(summary, run.path / "mutual_info.png")
    per_factor = ", ".join(
        f"{esc(n)} {g:.2f}"
        for n, g in zip(summary.factor_names, summary.mig_per_factor, strict=True)
        if g == g  # NaN: a factor that does not vary in the sample
    )
    caption = (
        "Discrete mutual information between each latent dimension (rows, by KL) and each "
        "factor (columns), divided by the factor's entropy; 20 equal-width bins of the "
        f"posterior means, {esc(summary.source)}. MIG on this sample {summary.mig:.3f}; "
        f"per factor: {per_factor}."
    )
    return "<h2>Mutual information</h2>" + _figure(path, caption, alt="mutual information")


def _usage_section(summary: LatentSummary) -> str:
    """Per latent dimension, the share of images that switch it on (families that can)."""
    if summary.usage is None:
        return ""
    active = summary.active
    cells = "".join(
        f"<tr><td>{d}</td><td>{u:.3f}</td><td>{'yes' if d in set(active) else ''}</td></tr>"
        for d, u in enumerate(summary.usage)
    )
    return (
        "<h2>Feature usage</h2>"
        f"<p>{len(active)} of {len(summary.usage)} features active (on for at least "
        f"{ACTIVE_USAGE:.0%} of images); the traversals show the active ones. "
        f"{esc(summary.source)}.</p>"
        f"<table><tr><th>feature</th><th>share of images on</th><th>active</th></tr>{cells}"
        "</table>"
    )


def _model_pictures(run, seed: int) -> str:
    recon = plot_reconstructions(run, run.path / "reconstructions.png", seed=seed)
    samples = plot_samples(run, run.path / "samples.png", seed=seed)
    return (
        "<h2>Reconstructions and samples</h2>"
        + _figure(recon, "Originals (top) and their mean reconstructions (bottom).")
        + _figure(samples, "Mean images decoded from codes drawn from the prior N(0, I).")
    )


def _training_section(run_dir: Path, log: list[dict[str, Any]]) -> str:
    if not log:
        return '<h2>Training</h2><p class="missing">no log records (log.jsonl)</p>'
    kl = plot_kl_over_training(log, run_dir / "kl_per_dimension.png")
    losses = plot_losses(log, run_dir / "losses.png")
    speed = [r["images_per_s"] for r in log if isinstance(r.get("images_per_s"), int | float)]
    note = f" Median throughput {sorted(speed)[len(speed) // 2]:.0f} images/s." if speed else ""
    return (
        "<h2>Training</h2>"
        + _figure(kl, "KL per latent dimension (nats) over training, from log.jsonl.")
        + _figure(losses, "Loss terms over training (nats per example)." + esc(note))
    )


# -- a folder of runs -------------------------------------------------------------------------
def _score_columns(records: list[RunRecord]) -> list[str]:
    columns: list[str] = []
    for r in records:
        columns += [k for k in r.scores if k not in columns]
    return columns


def _link(target: Path, page: Path) -> str:
    return Path(os.path.relpath(target, page.parent)).as_posix()


def folder_table(records: list[RunRecord], page: Path) -> str:
    """The runs as a table sortable by clicking a header (plain table without JavaScript)."""
    params = [p for p in varying_params(records) if p != "method"]
    scores = _score_columns(records)
    head = ["run", "state", "method", *params, "step", *scores, "notes"]
    rows = []
    for r in records:
        report = r.path / REPORT_NAME
        name = esc(r.name)
        if report.exists():
            name = f'<a href="{esc(_link(report, page))}">{name}</a>'
        cells = [
            f"<td>{name}</td>",
            f'<td data-sort="{esc(r.state)}">{state_badge(r.state)}</td>',
            f"<td>{esc(_fmt(r.method))}</td>",
        ]
        for p in params:
            value = r.params.get(p)
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            cls = ' class="num"' if numeric else ""
            cells.append(f'<td{cls} data-sort="{esc(_fmt(value))}">{esc(_fmt(value))}</td>')
        step = "" if r.step is None else f"{r.step}" + (f" / {r.steps}" if r.steps else "")
        cells.append(f'<td class="num" data-sort="{esc(_fmt(r.step))}">{esc(step)}</td>')
        for s in scores:
            value = r.scores.get(s)
            shown = "" if value is None else f"{value:.4f}"
            cells.append(f'<td class="num" data-sort="{esc(_fmt(value))}">{esc(shown)}</td>')
        notes = marks_html(r.marks)
        if r.error:
            notes += f'<div class="error">{esc(r.error)}</div>'
        cells.append(f"<td>{notes}</td>")
        bad = r.state not in ("done", "running") or not r.has_checkpoint
        row_class = ' class="bad"' if bad else ""
        rows.append(f"<tr{row_class}>" + "".join(cells) + "</tr>")
    header = "".join(f"<th>{esc(h)}</th>" for h in head)
    return (
        f'<table class="sortable" id="runs"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _counts(records: list[RunRecord]) -> str:
    states: dict[str, int] = {}
    for r in records:
        states[r.state] = states.get(r.state, 0) + 1
    parts = [f"{n} {esc(s)}" for s, n in sorted(states.items())]
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
    **run_options: Any,
) -> Path:
    """Write one page comparing every run directory below ``folder`` (recursively).

    With ``each``, every run's own page is written first (:func:`write_run_report` with
    ``run_options``) so the table links to all of them; otherwise runs link to the pages
    they already have. Metric-against-hyperparameter plots are written to
    ``folder/report-figures/``. Returns the page's path (default ``folder/report.html``).
    """
    folder = Path(folder)
    out = Path(out) if out is not None else folder / REPORT_NAME
    records = read_runs(folder)
    if each:
        for r in records:
            if r.config:
                write_run_report(r.path, **run_options)
    sections = _Sections()
    sections.add(
        f"<header><h1>{esc(folder.resolve().name)}</h1>"
        f'<p class="sub">{_counts(records)}</p><p class="note">{esc(folder)}</p></header>'
    )
    if not records:
        sections.add('<p class="missing">no run directories below this folder</p>')
    else:
        sections.add("<h2>Runs</h2>" + folder_table(records, out))
        sections.attempt("Metrics against hyperparameters", lambda: _trend_section(records, folder))
    atomic_write_text(out, _page(f"untwine: {folder.resolve().name}", sections.html(), script=True))
    return out


def _distinct(values: Iterable[Any]) -> set[str]:
    return {json.dumps(v, sort_keys=True, default=str) for v in values}


def _trend_section(records: list[RunRecord], folder: Path) -> str:
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
    for stale in (folder / FOLDER_FIGURES).glob("metrics_vs_*.png"):  # from an earlier page
        stale.unlink()
    figures = []
    for param in params:
        name = "".join(c if c.isalnum() or c in "-_" else "_" for c in param)
        path = plot_metrics_vs_hyperparameter(
            points, scores, param, folder / FOLDER_FIGURES / f"metrics_vs_{name}.png"
        )
        if path is not None:
            figures.append(
                _figure(
                    path,
                    f"Each metric against {esc(param)}: one colour per method, each run a "
                    "point, the line through the median over seeds.",
                )
            )
    if not figures:
        why = "no evaluated runs" if not points else "no hyperparameter varies between them"
        return f'<h2>Metrics against hyperparameters</h2><p class="missing">{why}</p>'
    return "<h2>Metrics against hyperparameters</h2>" + "".join(figures)


def write_report(path: str | Path, out: str | Path | None = None, **options: Any) -> Path:
    """The run page if ``path`` is a run directory, else the folder page."""
    path = Path(path)
    if any((path / marker).exists() for marker in ("config.yaml", "status.json")):
        run_options = {k: v for k, v in options.items() if k != "each"}
        return write_run_report(path, out, **run_options)
    return write_folder_report(path, out, **options)


__all__ = [
    "REPORT_NAME",
    "metrics_table",
    "write_folder_report",
    "write_report",
    "write_run_report",
]
