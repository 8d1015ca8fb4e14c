"""Choosing a model without factor labels: rank the trained runs of a folder by an
unsupervised score and name the best.

- ``by="udr"``: Unsupervised Disentanglement Ranking (Duan et al. 2020,
  :mod:`untwine.metrics.udr`). The runs of one *setting* (the same hyperparameters, seeds
  apart) are compared with each other; a run's score is its median UDR against the other
  seeds of its setting, and every run of the folder is then ranked by it, higher first, as
  in the paper (which ranks models of all settings by their UDR). A setting needs at least
  two runs.
- ``by`` one of the Gaussian scores of the ``unsupervised`` metric
  (:mod:`untwine.metrics.unsupervised`: ``gaussian_total_correlation``,
  ``gaussian_wasserstein_correlation``, ``gaussian_wasserstein_correlation_norm``,
  ``mutual_info_score``): each run scored alone (merged into its ``metrics.json``), lower
  first: less statistical dependence between the codes.

:func:`select` writes what it found to ``selection.json`` in the folder (atomically) and
returns it: every run with its setting, seed, score and rank, the best run of each setting,
and the chosen run (the best overall).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from untwine import rundir
from untwine.errors import ConfigError
from untwine.files import atomic_write_text
from untwine.metrics._validate import MetricInputError
from untwine.metrics.udr import udr_of_runs
from untwine.text import format_cell, text_table

#: each score :func:`select` ranks by, and which end is better
SCORES = {
    "udr": "higher",
    "gaussian_total_correlation": "lower",
    "gaussian_wasserstein_correlation": "lower",
    "gaussian_wasserstein_correlation_norm": "lower",
    "mutual_info_score": "lower",
}
SELECTION = "selection.json"
#: what a setting is not: the seed, and the run folder's bookkeeping
NOT_SETTING = ("seed",)


def setting_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters of a run's config that make its setting: all but the seed (and
    the settings that are not hyperparameters), the dataset's options included."""
    params = {k: v for k, v in rundir.flat_params(config).items() if k not in NOT_SETTING}
    options = (config.get("dataset") or {}).get("options") or {}
    if options:
        params["dataset_options"] = options
    return params


def select(
    folder: str | Path, by: str = "udr", num_points: int = 10_000, seed: int = 0
) -> dict[str, Any]:
    """Rank the trained runs at or below ``folder`` by ``by`` (see the module text), write
    ``folder/selection.json`` and return it: ``{"by", "better", "runs": [{"run", "setting",
    "seed", "score", "rank"}] (best first), "settings": [{"setting", "runs", "chosen"}],
    "chosen"}``; ``num_points`` images are encoded per run, drawn with ``seed``."""
    folder = Path(folder)
    if by not in SCORES:
        raise ConfigError(f"by: expected one of {', '.join(SCORES)} (got {by!r})")
    records = [r for r in rundir.read_records(folder) if r.has_checkpoint]
    if len(records) < 2:
        found = f"only {records[0].path}" if records else "none"
        raise MetricInputError(
            f"{folder}: selection ranks several trained runs, found {found} (a run folder "
            "with a checkpoint)"
        )
    groups: dict[str, list[rundir.RunRecord]] = {}
    for record in records:
        key = json.dumps(setting_of(record.config), sort_keys=True, default=str)
        groups.setdefault(key, []).append(record)
    if by == "udr":
        scores = _udr_scores(groups, num_points, seed)
    else:
        scores = _unsupervised_scores(records, by, num_points, seed)
    sign = -1.0 if SCORES[by] == "higher" else 1.0
    ranked = sorted(records, key=lambda r: (sign * scores[r.path], str(r.path)))
    rank = {r.path: k + 1 for k, r in enumerate(ranked)}
    rows = [
        {
            "run": str(r.path),
            "setting": setting_of(r.config),
            "seed": r.seed,
            "score": scores[r.path],
            "rank": rank[r.path],
        }
        for r in ranked
    ]
    settings = [
        {
            "setting": setting_of(group[0].config),
            "runs": [str(r.path) for r in group],
            "chosen": str(min(group, key=lambda r: rank[r.path]).path),
        }
        for group in groups.values()
    ]
    result = {
        "by": by,
        "better": SCORES[by],
        "num_points": num_points,
        "seed": seed,
        "runs": rows,
        "settings": settings,
        "chosen": rows[0]["run"],
    }
    atomic_write_text(folder / SELECTION, json.dumps(result, indent=2) + "\n")
    return result


def _udr_scores(
    groups: Mapping[str, list[rundir.RunRecord]], num_points: int, seed: int
) -> dict[Path, float]:
    scores: dict[Path, float] = {}
    for group in groups.values():
        if len(group) < 2:
            raise MetricInputError(
                f"{group[0].path}: the only run of its setting; UDR compares the seeds of a "
                "setting, so train at least 2 of each"
            )
        result = udr_of_runs([r.path for r in group], num_points=num_points, seed=seed)
        scores.update(zip([r.path for r in group], result["udr"], strict=True))
    return scores


def _unsupervised_scores(
    records: list[rundir.RunRecord], by: str, num_points: int, seed: int
) -> dict[Path, float]:
    from untwine.metrics.evaluate import evaluate_run

    scores = {}
    for record in records:
        result = evaluate_run(record.path, ["unsupervised"], seed=seed, num_points=num_points)
        scores[record.path] = float(result["unsupervised"][by])
    return scores


def format_selection(result: Mapping[str, Any]) -> str:
    """The selection as a text table, best first, and the chosen run."""
    header = ["rank", "run", "seed", f"{result['by']} ({result['better']})"]
    rows = [
        [str(r["rank"]), r["run"], format_cell(r["seed"], ""), f"{r['score']:.4f}"]
        for r in result["runs"]
    ]
    return text_table([header, *rows], right={0, 2, 3}) + f"chosen: {result['chosen']}\n"
