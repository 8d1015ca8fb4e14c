"""A run's results: metrics.json and likelihood.json read, written and merged, and the
scores of them that tables and plots show.

Non-finite numbers (undefined scores) are written as null and read back as None, so a table
still shows that a metric was computed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from untwine.files import atomic_write_json, read_json_dict
from untwine.rundir.layout import LIKELIHOOD, METRICS, NOT_SCORES

# -- likelihood.json -----------------------------------------------------------------------
#: The entries of likelihood.json that tables and plots show as the run's scores (under the
#: name ``likelihood``: columns ``likelihood.log_px`` ...): the density and the bound, with the
#: collapse diagnostics beside them (KL, I(x; z), active units); the rest is detail for its page.
LIKELIHOOD_SCORES = ("log_px", "elbo", "kl", "mutual_information", "bits_per_dim", "active_units")


def read_likelihood(run_dir: str | Path) -> dict[str, Any]:
    """likelihood.json (:func:`untwine.likelihood.estimate_and_save`), or ``{}``."""
    return read_json_dict(Path(run_dir) / LIKELIHOOD)


def write_likelihood(run_dir: str | Path, result: Mapping[str, Any]) -> None:
    """Replace likelihood.json with ``result``, atomically (non-finite numbers as null)."""
    atomic_write_json(Path(run_dir) / LIKELIHOOD, _jsonable(dict(result)))


def likelihood_scores(result: Mapping[str, Any]) -> dict[str, Any]:
    """A likelihood.json document as a metric result: its :data:`LIKELIHOOD_SCORES` and the
    settings it was estimated with; ``{}`` for an empty document."""
    if not result or "log_px" not in result:
        return {}
    settings = {k: result.get(k) for k in ("k", "n", "split", "precision")}
    return {**{k: result.get(k) for k in LIKELIHOOD_SCORES}, "settings": settings}


# -- metrics.json --------------------------------------------------------------------------
def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """metrics.json as ``{metric: result}``, or ``{}``."""
    return read_json_dict(Path(run_dir) / METRICS)


def merge_metrics(run_dir: str | Path, results: Mapping[str, Any]) -> dict[str, Any]:
    """Add ``results`` to metrics.json, keeping the other metrics there; returns the whole.

    The merged document is serialised completely before the file is replaced atomically, so
    a failure leaves the previous file as it was. Non-finite numbers (undefined scores)
    are written as null.
    """
    merged = {**read_metrics(run_dir), **_jsonable(dict(results))}
    atomic_write_json(Path(run_dir) / METRICS, merged, sort_keys=True)
    return merged


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _scalar(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def metric_scalars(metrics: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """Every scalar score of a metrics.json document: ``{metric: {key: value}}``. Lists,
    settings and bookkeeping are left out; a null (undefined score) stays None, so a table
    still shows the metric was computed."""
    out: dict[str, dict[str, float | None]] = {}
    for metric, result in metrics.items():
        if isinstance(result, dict):
            scalars = {
                k: (None if v is None else float(v))
                for k, v in result.items()
                if k not in NOT_SCORES and _scalar(v)
            }
            if scalars:
                out[metric] = scalars
    return out


def headline_scores(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Headline numbers of a metrics.json: ``{metric: value}`` where the result has an entry
    named like the metric (``mig``, ``sap`` ...), else ``{metric.key: value}`` for each of its
    scalar scores (``dci.disentanglement`` ...) — the columns of a study's results table.
    Non-finite values (undefined scores) are None."""
    out: dict[str, float | None] = {}
    for name, scores in metric_scalars(metrics).items():
        if name in scores:
            out[name] = _finite(scores[name])
        else:
            out.update({f"{name}.{k}": _finite(v) for k, v in scores.items()})
    return out


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None
