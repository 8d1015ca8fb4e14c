"""Pictures and pages of trained models: traversals, plots and self-contained HTML reports.

::

    from untwine import viz

    viz.draw_traversals(run)                      # run_dir/traversals.png + traversals.gif
    viz.write_report("runs/tc6")                  # runs/tc6/report.html
    viz.write_report("runs/")                     # runs/report.html comparing every run below

Modules: :mod:`~untwine.viz.latents` (KL, quantiles and mutual information per latent
dimension), :mod:`~untwine.viz.traversals`, :mod:`~untwine.viz.plots`,
:mod:`~untwine.viz.runs` (reading run directories in any state),
:mod:`~untwine.viz.findings` (the papers' figures the shipped studies reproduce, from any
runs) and :mod:`~untwine.viz.report` (the HTML pages).
"""

from untwine.viz.latents import LatentSummary, summarize_latents
from untwine.viz.plots import (
    plot_kl_over_training,
    plot_losses,
    plot_metric_vs_hyperparameter,
    plot_metrics_vs_hyperparameter,
    plot_mutual_info,
    plot_reconstructions,
    plot_samples,
)
from untwine.viz.report import write_folder_report, write_report, write_run_report
from untwine.viz.runs import RunRecord, find_run_dirs, read_run, read_runs
from untwine.viz.traversals import (
    Traversal,
    compute_traversal,
    draw_traversals,
    plot_traversal,
    save_traversal_gif,
)

__all__ = [
    "LatentSummary",
    "RunRecord",
    "Traversal",
    "compute_traversal",
    "draw_traversals",
    "find_run_dirs",
    "plot_kl_over_training",
    "plot_losses",
    "plot_metric_vs_hyperparameter",
    "plot_metrics_vs_hyperparameter",
    "plot_mutual_info",
    "plot_reconstructions",
    "plot_samples",
    "plot_traversal",
    "read_run",
    "read_runs",
    "save_traversal_gif",
    "summarize_latents",
    "write_folder_report",
    "write_report",
    "write_run_report",
]
