"""Two estimates of the same images compared image by image: the paired difference."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from untwine.errors import ConfigError


def compare_to(results: list[dict[str, Any]], baseline: Mapping[str, Any]) -> None:
    """Give every result without an error a ``vs_base``: its :func:`paired_difference` from
    ``baseline``, or ``{"error": ...}`` saying why there is none."""
    for r in results:
        if "error" not in r:
            try:
                r["vs_base"] = paired_difference(r, baseline)
            except ConfigError as e:
                r["vs_base"] = {"error": str(e)}


def paired_difference(result: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """``result``'s log p(x) minus ``baseline``'s, image by image, for two estimates (results of
    :func:`estimate`, or likelihood.json documents) of the same images: the mean difference
    in nats, its standard error over the images (the paired one: the spread of the
    differences, not of the images) and their number. A ConfigError names what does not
    match: the dataset, the split or the images themselves, or an estimate saved before
    per-image values were kept."""
    name, base = result.get("run", "result"), baseline.get("run", "baseline")
    for r, who in ((result, name), (baseline, base)):
        if "log_px" not in r.get("per_image", {}):
            raise ConfigError(
                f"{who}: its estimate has no per-image values (saved by an older untwine): "
                "estimate it again"
            )
    for key in ("dataset", "split"):
        if result.get(key) != baseline.get(key):
            raise ConfigError(
                f"{name}: estimated on {key} {result.get(key)!r}, {base} on "
                f"{baseline.get(key)!r}: a paired difference needs the same images"
            )
    a, b = result["per_image"], baseline["per_image"]
    if list(a.get("index", [])) != list(b.get("index", [])):
        raise ConfigError(
            f"{name}: estimated on other images of the split than {base} ({len(a['log_px'])} "
            f"and {len(b['log_px'])} images): estimate both with the same max_examples"
        )
    d = np.asarray(a["log_px"], dtype=np.float64) - np.asarray(b["log_px"], dtype=np.float64)
    n = len(d)
    return {
        "difference": float(d.mean()),
        "stderr": float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan"),
        "n": n,
        "baseline": base,
    }
