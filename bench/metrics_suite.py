"""The whole metric suite of a trained conv model of dSprites: seconds per metric and in total.

Runs ``mig, sap, dci`` (the reference gradient-boosted trees), ``modularity,
factor_vae_score, beta_vae_score`` in one :func:`untwine.metrics.evaluate` call at the
reference sample counts (10,000 / 5,000 points; 10,000 / 5,000 votes of 64), encoding
included, as ``untwine evaluate`` does it: with ``--precision auto`` (the default) the
metrics that accept reduced precision (FactorVAE and beta-VAE scores) read codes of the run's
own inference precision (bf16 for a run trained in bf16) and the others float32 codes, one
code table per precision, each distinct image encoded once per precision; ``--precision
fp32`` encodes everything in float32. Then it checks every number against the sequential
fp32 computation: each metric in its own evaluation (its own encoding, the run opened for
fp32 inference), and DCI with disentanglement_lib's loop, one plain
``GradientBoostingClassifier`` after another. The tolerance is per metric: 0 (identical) for
a metric whose codes were fp32, 0.005 (the bf16 inference tolerance of the precision
setting) per number for one whose codes were not. ``--encode-batch`` sets the images per
network call (the run's default when not given), to measure what the batch size costs.

With no ``--run``, a conv64 beta-TCVAE (the demo's settings) is trained for ``--steps`` steps
first (not timed). The machine's load average is printed before and after: timings on a busy
machine are not the machine's speed.

Usage::

    .venv/bin/python bench/metrics_suite.py                     # train 300 steps, full suite
    .venv/bin/python bench/metrics_suite.py --run runs/demo     # a trained run
    .venv/bin/python bench/metrics_suite.py --quick --steps 20  # smoke test: small counts
    .venv/bin/python bench/metrics_suite.py --no-check          # the timed suite only
    .venv/bin/python bench/metrics_suite.py --run runs/demo --no-check --encode-batch 128
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.ensemble import GradientBoostingClassifier

import untwine
from untwine.demo import DEMO_SETTINGS
from untwine.metrics import dci_from_importance, evaluate, metric_settings
from untwine.metrics.context import EvalContext
from untwine.metrics.dci import default_jobs

SUITE = ("mig", "sap", "dci", "modularity", "factor_vae_score", "beta_vae_score")
#: Reduced counts for a smoke test (the vote batch stays the reference's 64).
QUICK = dict(num_points=1000, num_test_points=500, num_votes=100, num_eval_votes=50,
             num_variance_points=1000)  # fmt: skip
#: The numbers compared per metric.
HEADLINES = {
    "mig": ("mig",),
    "sap": ("sap",),
    "dci": ("disentanglement", "completeness", "informativeness_train", "informativeness_test"),
    "modularity": ("modularity", "explicitness_train", "explicitness_test"),
    "factor_vae_score": ("factor_vae_score", "train_accuracy"),
    "beta_vae_score": ("beta_vae_score", "train_accuracy"),
}
#: Largest allowed change of a score when its codes are not fp32 (the precision setting's
#: inference tolerance); a metric with fp32 codes must be identical.
REDUCED_PRECISION_TOLERANCE = 0.005


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def trained_run(args: argparse.Namespace) -> Path:
    if args.run:
        return Path(args.run)
    out = Path(tempfile.mkdtemp(prefix="metrics-suite-")) / "run"
    print(f"training a conv64 beta-TCVAE for {args.steps} steps into {out} ...", flush=True)
    start = time.perf_counter()
    untwine.train(
        "dsprites", **{**DEMO_SETTINGS, "steps": args.steps}, out=str(out), progress=False
    )
    print(f"trained in {time.perf_counter() - start:.0f} s", flush=True)
    return out


class Counting:
    """A representation function that counts the images it encodes and the seconds it takes."""

    def __init__(self, fn, batch_size: int | None = None) -> None:
        self.fn, self.images, self.seconds = fn, 0, 0.0
        self.options = {} if batch_size is None else {"batch_size": batch_size}

    def __call__(self, images: np.ndarray):
        start = time.perf_counter()
        out = self.fn(images, **self.options)
        self.seconds += time.perf_counter() - start
        self.images += len(images)
        return out


def sequential_dci(ctx: EvalContext, num_points: int, num_test_points: int, seed: int) -> dict:
    """DCI as disentanglement_lib computes it: one plain GradientBoostingClassifier per factor,
    one after another."""
    split = ctx.train_test(num_points, num_test_points)
    num_factors = split.train_factors.shape[1]
    importance = np.zeros((split.train_codes.shape[1], num_factors))
    acc_train, acc_test = [], []
    for k in range(num_factors):
        clf = GradientBoostingClassifier(random_state=seed)
        clf.fit(split.train_codes, split.train_factors[:, k])
        importance[:, k] = np.abs(clf.feature_importances_)
        acc_train.append(np.mean(clf.predict(split.train_codes) == split.train_factors[:, k]))
        acc_test.append(np.mean(clf.predict(split.test_codes) == split.test_factors[:, k]))
    out = dict(dci_from_importance(importance))
    out.update(
        informativeness_train=float(np.mean(acc_train)),
        informativeness_test=float(np.mean(acc_test)),
    )
    return out


def reference(
    run_dir: Path, data, seed: int, overrides: dict, encode_batch: int | None
) -> dict[str, dict]:
    """Every metric in its own evaluation with fp32 codes (encoded in batches of the suite's
    size); DCI with the sequential loop."""
    fp32 = Counting(untwine.load_run(run_dir, precision="fp32").representation, encode_batch)
    results = {}
    for name in SUITE:
        start = time.perf_counter()
        if name == "dci":  # the bench's one special case: the reference loop written out
            counts = {k: overrides.get(k, d) for k, d in (("num_points", 10_000),
                                                          ("num_test_points", 5_000))}  # fmt: skip
            ctx = EvalContext(data, seed, representation_fn=fp32)
            results[name] = sequential_dci(
                ctx, counts["num_points"], counts["num_test_points"], seed
            )
        else:
            known = metric_settings(name)
            options = {k: v for k, v in overrides.items() if k in known}
            results[name] = evaluate(fp32, data, [name], seed, **options)[name]
        results[name]["seconds"] = time.perf_counter() - start
        print(f"  reference {name}: {results[name]['seconds']:.1f} s", flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", help="a trained run directory (default: train one)")
    ap.add_argument("--steps", type=int, default=300, help="training steps when no --run")
    ap.add_argument("--seed", type=int, default=0, help="evaluation seed")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32"),
                    help="auto: vote scores in the run's own precision, the rest fp32")  # fmt: skip
    ap.add_argument("--encode-batch", type=int, help="images per network call")
    ap.add_argument("--quick", action="store_true", help=f"smoke test: {QUICK}")
    ap.add_argument("--no-check", action="store_true", help="skip the sequential fp32 check")
    args = ap.parse_args()

    torch.set_num_threads(default_jobs())
    print(f"untwine {untwine.__version__}, torch {torch.__version__}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"{default_jobs()} cores, load average {load_average()}")  # fmt: skip
    run_dir = trained_run(args)
    run = untwine.load_run(run_dir, precision="fp32")
    own = untwine.load_run(run_dir, precision="run")
    data = run.dataset()
    overrides = dict(QUICK) if args.quick else {}
    print(f"run {run.path} (step {run.step}, trained in {own.precision}), "
          f"counts: {overrides or 'reference'}", flush=True)  # fmt: skip

    codes = {"fp32": Counting(run.representation, args.encode_batch)}
    reduced = None
    if args.precision == "auto" and own.precision != "fp32":
        codes[own.precision] = Counting(own.representation, args.encode_batch)
        reduced = (own.precision, codes[own.precision])
    start = time.perf_counter()
    suite = evaluate(codes["fp32"], data, SUITE, args.seed, reduced=reduced, **overrides)
    total = time.perf_counter() - start
    load_after = load_average()
    ref = (
        None if args.no_check else reference(run_dir, data, args.seed, overrides, args.encode_batch)
    )

    encoded = "; ".join(
        f"{c.images:,} images encoded in {precision} in {c.seconds:.1f} s"
        for precision, c in codes.items()
    )
    print(f"\nsuite in one evaluate call ({encoded})\n")
    columns = "| metric | seconds | codes | value |"
    if ref is not None:
        columns += " sequential fp32 | |diff| | tolerance |"
    print(columns)
    print("|---|---:|---|---:|" + ("" if ref is None else "---:|---:|---:|"))
    failures = []
    for name in SUITE:
        precision = suite[name]["codes_precision"]
        tolerance = 0.0 if precision == "fp32" else REDUCED_PRECISION_TOLERANCE
        for i, key in enumerate(HEADLINES[name]):
            first = i == 0
            seconds = f"{suite[name]['seconds']:.1f}" if first else ""
            value = suite[name][key]
            row = f"| {name if first else ''} {key} | {seconds} | {precision if first else ''} |"
            row += f" {value:.4f} |"
            if ref is not None:
                diff = abs(value - ref[name][key])
                ok = diff <= tolerance
                row += (
                    f" {ref[name][key]:.4f} | {diff:.2g} | {tolerance:g} {'ok' if ok else 'FAIL'} |"
                )
                if not ok:
                    failures.append(f"{name} {key}: {value!r} vs {ref[name][key]!r}")
            print(row)
    print(f"| **total** | **{total:.1f}** | | |" + ("" if ref is None else " | | |"))
    if ref is not None:
        ref_total = sum(r["seconds"] for r in ref.values())
        print(f"\nsequential fp32 computation: {ref_total:.1f} s")
    print(f"load average after the suite: {load_after}")
    if failures:
        raise SystemExit("numbers differ beyond the tolerance:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()
