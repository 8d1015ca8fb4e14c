"""Does UDR pick the disentangled seed? Duan et al.'s (2020) claim, measured on a study.

Reads a folder of runs of ONE setting over many seeds (``studies/udr_selection.yaml``: the
demo's settings over ten seeds), each with its MIG in metrics.json. The pairwise UDR of every
two runs is computed once (:func:`untwine.metrics.udr.udr_of_runs`); for every group of k
seeds (all of them, for each k), a run's UDR within the group is the median of its pairwise
scores against the group's other runs, exactly as if the group alone had been trained, and
the group's pick is its highest UDR (k >= 3: between two runs UDR is one symmetric score).
Printed per k: how often the pick has the group's best MIG (against 1/k by chance), and the
pick's MIG against the group's median MIG (median over groups, and how often the pick is at
least the median).

    python bench/udr_selection.py studies/udr_selection [--points 10000] [--k 3 5]
"""

from __future__ import annotations

import argparse
import itertools
import platform
from pathlib import Path

import numpy as np

from untwine.metrics.udr import udr_of_runs
from untwine.rundir import find_run_dirs, read_metrics, read_record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--points", type=int, default=10_000)
    parser.add_argument("--k", type=int, nargs="+", default=[3, 5])
    parser.add_argument("--figure", type=Path, help="PNG of MIG against UDR, one point a seed")
    args = parser.parse_args()

    runs = [p for p in find_run_dirs(args.folder) if "mig" in read_metrics(p)]
    mig = np.array([read_metrics(p)["mig"]["mig"] for p in runs])
    pairwise = np.array(udr_of_runs(runs, num_points=args.points)["pairwise"])
    seeds = [read_record(p).seed for p in runs]
    print(f"{len(runs)} runs ({platform.processor() or platform.machine()}), seeds {seeds}")
    own = [float(np.nanmedian(row)) for row in pairwise]
    print("seed  MIG    UDR (against all others)")
    for s, m, u in zip(seeds, mig, own, strict=True):
        print(f"{s!s:>4}  {m:.3f}  {u:.3f}")
    rho = np.corrcoef(np.argsort(np.argsort(mig)), np.argsort(np.argsort(own)))[0, 1]
    print(f"Spearman correlation of MIG and UDR over the runs: {rho:+.2f}\n")
    if args.figure:
        _figure(args.figure, seeds, mig, own, rho)
    print("k  groups  pick = best MIG  chance  pick >= median  MIG pick - median (median, mean)")
    for k in args.k:
        hits = at_least = 0
        gaps = []
        groups = list(itertools.combinations(range(len(runs)), k))
        for group in groups:
            sub = pairwise[np.ix_(group, group)]
            score = [float(np.nanmedian(np.delete(sub[i], i))) for i in range(k)]
            pick = group[int(np.argmax(score))]
            best = group[int(np.argmax(mig[list(group)]))]
            median = float(np.median(mig[list(group)]))
            hits += pick == best
            at_least += mig[pick] >= median
            gaps.append(mig[pick] - median)
        n = len(groups)
        print(
            f"{k}  {n:6d}  {hits / n:15.2f}  {1 / k:6.2f}  {at_least / n:14.2f}  "
            f"{np.median(gaps):+.3f}, {np.mean(gaps):+.3f}"
        )


def _figure(path: Path, seeds, mig, own, rho) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.5, 3.5))
    ax.scatter(own, mig)
    for s, x, y in zip(seeds, own, mig, strict=True):
        ax.annotate(str(s), (x, y), textcoords="offset points", xytext=(4, 2), fontsize=8)
    ax.set_xlabel("UDR (median against the other seeds)")
    ax.set_ylabel("discrete MIG")
    ax.set_title(f"{len(seeds)} seeds, Spearman {rho:+.2f}", fontsize=10)
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={"Software": None})
    print(f"figure: {path}")


if __name__ == "__main__":
    main()
