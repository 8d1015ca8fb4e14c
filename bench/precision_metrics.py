"""bf16 vs fp32, in training and in inference: the demo's settings over a few seeds.

For each seed, trains the demo (``untwine.demo.DEMO_SETTINGS``, beta-TCVAE on dSprites) in
each requested training precision, then scores every run twice, with the networks run in
float32 and in the run's own precision (``load_run(path, precision="fp32" | "run")``), on
the same points (evaluation seed 0): discrete MIG, SAP, DCI (fast) and the FactorVAE score.

Two questions, two tables:

1. training: is the median discrete MIG of bf16 runs within 0.05 of fp32's (fp32 inference
   for both)? The README's fp32 figures for the demo are 0.304 / 0.048 / 0.131 (seeds 0-2),
   so ``--train bf16`` alone compares against those.
2. inference: how far does each score move between fp32 and bf16 inference of the same bf16
   run? :class:`untwine.train.Run` defaults to what keeps them within 0.005.

    python bench/precision_metrics.py [--seeds 0,1,2] [--train bf16,fp32] [--steps 1000]

Runs go to ``--out`` (default a folder under the system's temporary directory) and are reused
when present, so an interrupted measurement continues.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from untwine import data as datasets
from untwine import load_run
from untwine.demo import DEMO_SETTINGS
from untwine.metrics.evaluate import evaluate
from untwine.train import checkpoint, train
from untwine.viz.runs import headline_scores

METRICS = ["mig", "sap", "dci", "factor_vae_score"]
README_FP32_MIG = {0: 0.304, 1: 0.048, 2: 0.131}


def scores(run_dir: Path, inference: str, overrides: dict) -> dict[str, float | None]:
    run = load_run(run_dir, precision=inference)
    results = evaluate(
        run.representation, run.dataset(), METRICS, 0, encoder_fn=run.encode, **overrides
    )
    return headline_scores(results)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--train", default="bf16", help="training precisions, comma-separated")
    ap.add_argument("--steps", type=int, default=DEMO_SETTINGS["steps"])
    ap.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "precision-runs")
    ap.add_argument("--quick", action="store_true", help="small metric samples (smoke test)")
    args = ap.parse_args()
    overrides: dict = {"dci_model": "fast"}
    if args.quick:
        overrides.update(
            mig_num_points=500,
            sap_num_points=500,
            sap_num_test_points=250,
            dci_num_points=500,
            dci_num_test_points=250,
            factor_vae_score_num_votes=40,
            factor_vae_score_num_eval_votes=20,
            factor_vae_score_num_variance_points=500,
        )
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    data = datasets.load("dsprites")
    seeds = [int(s) for s in args.seeds.split(",")]
    table: dict[tuple[str, int], dict[str, dict]] = {}
    for seed in seeds:
        for precision in args.train.split(","):
            out = args.out / f"{precision}-seed{seed}-steps{args.steps}"
            settings = {**DEMO_SETTINGS, "seed": seed, "steps": args.steps, "precision": precision}
            t = time.perf_counter()
            train(data, out=out, resume=checkpoint.latest(out) is not None, **settings)
            seconds = time.perf_counter() - t
            row = {inf: scores(out, inf, overrides) for inf in ("fp32", "run")}
            table[precision, seed] = row
            print(f"{precision} seed {seed}: trained in {seconds:.0f} s; {json.dumps(row)}")

    print("\n1. training: discrete MIG with fp32 inference")
    for precision in args.train.split(","):
        migs = [table[precision, s]["fp32"]["mig"] for s in seeds]
        shown = " / ".join(f"{m:.3f}" for m in migs)
        print(f"   {precision}: {shown}  median {statistics.median(migs):.3f}")
    readme = [README_FP32_MIG[s] for s in seeds if s in README_FP32_MIG]
    if len(readme) == len(seeds):
        print(f"   fp32 (README): median {statistics.median(readme):.3f}")

    print("\n2. inference: |score(run's precision) - score(fp32)| per bf16 run")
    for (precision, seed), row in table.items():
        if precision != "bf16":
            continue
        moves = {
            k: abs(row["run"][k] - v)
            for k, v in row["fp32"].items()
            if v is not None and row["run"].get(k) is not None
        }
        print(f"   seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in moves.items()))


if __name__ == "__main__":
    main()
