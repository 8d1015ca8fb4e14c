"""Time a 4-run study with 1 worker versus N workers (default: one per core) on this machine.

    .venv/bin/python bench/study_workers.py                  # dSprites, 4 x 300 steps
    .venv/bin/python bench/study_workers.py --steps 100 --rounds 2

The local runner divides the cores among its workers (threads = cores // workers), so the
comparison is "one run at a time with every core" against "several runs at once, each with
its share". Each round runs both settings into fresh folders, alternating which goes first,
because timings on a shared machine drift. The table also shows the torch thread count each
worker reported (it must equal cores // workers: no oversubscription).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
from pathlib import Path

import yaml

from untwine import study
from untwine.train.runtime import available_cores


def spec(args: argparse.Namespace) -> dict:
    doc = {
        "dataset": args.dataset,
        "steps": args.steps,
        "batch_size": args.batch_size,
        "network": args.network,
        "checkpoint_every": args.steps,
        "log_every": max(1, args.steps // 4),
        "seeds": [0, 1],
        "grid": [{"method": "betavae", "beta": [1, 4]}],
    }
    if args.metric:
        doc.update(metrics=[args.metric], metric_options={"num_train": 2000})
    return doc


def one(root: Path, doc: dict, workers: int, tag: str) -> tuple[float, list[int]]:
    path = root / f"{tag}.yaml"
    path.write_text(yaml.safe_dump(doc))
    summary = study.run_study(path, workers=workers)
    assert summary.complete, summary
    threads = [
        json.loads(p.read_text())["threads"] for p in (root / tag / "runs").glob("*/cell.json")
    ]
    return summary.wall_s, threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="dsprites")
    parser.add_argument("--network", default="conv64")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--metric", default="", help="also evaluate this metric (e.g. mig)")
    parser.add_argument("--workers", type=int, default=available_cores())
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()

    cores = available_cores()
    doc = spec(args)
    settings = sorted({1, args.workers})
    times: dict[int, list[float]] = {w: [] for w in settings}
    seen: dict[int, set[int]] = {w: set() for w in settings}
    with tempfile.TemporaryDirectory(prefix="untwine-bench-") as tmp:
        for r in range(args.rounds):
            order = settings if r % 2 == 0 else settings[::-1]
            for w in order:
                wall, threads = one(Path(tmp), doc, w, f"r{r}-w{w}")
                times[w].append(wall)
                seen[w].update(threads)

    load = os.getloadavg()[0]
    print(
        f"4 runs x {args.steps} steps, {args.dataset}/{args.network}, batch {args.batch_size}; "
        f"{cores} cores; load average {load:.1f}; {args.rounds} round(s), median shown"
    )
    base = statistics.median(times[1])
    print(
        f"{'workers':>7}  {'threads/worker':>14}  {'torch threads seen':>18}  "
        f"{'wall s':>8}  {'runs/min':>8}  {'speed-up':>8}"
    )
    for w in settings:
        wall = statistics.median(times[w])
        print(
            f"{w:>7}  {max(1, cores // w):>14}  {','.join(map(str, sorted(seen[w]))):>18}  "
            f"{wall:>8.1f}  {4 * 60 / wall:>8.2f}  {base / wall:>7.2f}x"
        )


if __name__ == "__main__":
    main()
