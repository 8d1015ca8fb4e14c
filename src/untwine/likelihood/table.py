"""Estimates as a plain-text table, one row per run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from untwine.likelihood.compare import compare_to
from untwine.text import text_table


def format_table(results: list[dict[str, Any]], baseline: Mapping[str, Any] | None = None) -> str:
    """One aligned text row per result: the run, log p(x) +- s.e., the bounds, diagnostics;
    with a ``baseline``, each row's :func:`paired_difference` from it (see :func:`compare_to`)."""
    failed = [r for r in results if "error" in r]
    results = [r for r in results if "error" not in r]
    ks = sorted({int(j) for r in results for j in r["bounds"]})
    head = ["run", "log p(x)", "+-", "ELBO", *[f"L_{j}" for j in ks if j not in (1,)]]
    head += ["bits/dim", "active", "KL", "I(x;z)", "n"]
    if baseline is not None:
        head += ["vs base", "+-"]
        compare_to(results, baseline)
    rows = [head]
    for r in results:
        bpd = "-" if r["bits_per_dim"] is None else f"{r['bits_per_dim']:.4f}"
        paired = []
        if baseline is not None:
            d = r["vs_base"]
            if "error" in d:
                paired = ["-", "-"]
                failed.append({"run": r["run"], "error": f"vs base: {d['error']}"})
            else:
                paired = [f"{d['difference']:+.3f}", f"{d['stderr']:.3f}"]
        rows.append(
            [
                r["run"],
                f"{r['log_px']:.2f}",
                f"{r['stderr']:.2f}",
                f"{r['elbo']:.2f}",
                *[
                    f"{r['bounds'][str(j)]:.2f}" if str(j) in r["bounds"] else "-"
                    for j in ks
                    if j != 1
                ],
                bpd,
                "-" if r["active_units"] is None else f"{r['active_units']}/{len(r['kl_per_dim'])}",
                "-" if r["kl"] is None else f"{r['kl']:.2f}",
                "-" if r.get("mutual_information") is None else f"{r['mutual_information']:.2f}",
                str(r["n"]),
                *paired,
            ]
        )
    errors = "".join(f"{r['run']}  error: {r['error']}\n" for r in failed)
    table = text_table(rows, right=range(1, len(head)))  # the run left, the numbers right
    note = ""
    if baseline is not None:
        note = (
            f"vs base: log p(x) minus that of {baseline.get('run')} on the same images, "
            "+- its paired standard error\n"
        )
    return table + note + errors
