"""The whole metric suite of a trained conv model of dSprites: seconds per metric and in total.

Runs ``mig, sap, dci`` (the reference gradient-boosted trees), ``modularity,
factor_vae_score, beta_vae_score`` in one :func:`untwine.metrics.evaluate` call at the
reference sample counts (10,000 / 5,000 points; 10,000 / 5,000 votes of 64), encoding
included: one code table shared by every metric, each distinct image encoded once, with the
run's own representation function in its inference precision (``--precision run``, the
default, or ``fp32``). Then it checks every number against the sequential fp32 computation:
each metric in its own evaluation (its own encoding, the run opened for fp32 inference), and
DCI with disentanglement_lib's loop, one plain ``GradientBoostingClassifier`` after another.
The tolerance is printed: 0 (identical) when the suite's codes are fp32, 0.005 (the bf16
inference tolerance of the precision setting) per number when they are not.

With no ``--run``, a conv64 beta-TCVAE (the demo's settings) is trained for ``--steps`` steps
first (not timed). The machine's load average is printed before and after: timings on a busy
machine are not the machine's speed.

Usage::

    .venv/bin/python bench/metrics_suite.py                     # train 300 steps, full suite
    .venv/bin/python bench/metrics_suite.py --run runs/demo     # a trained run
    .venv/bin/python bench/metrics_suite.py --quick --steps 20  # smoke test: small counts
    .venv/bin/python bench/metrics_suite.py --no-check          # the timed suite only
"""

from __future__ import annotations

import argparse
import inspect
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
#: Largest allowed change of a score when the codes are not fp32 (the precision setting's
#: inference tolerance).
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


def open_run(path: str | Path, precision: str) -> untwine.Run:
    """The run with inference in ``precision`` ("run": the run's own; "fp32"). Before the
    precision setting existed, every run encoded in fp32."""
    if "precision" in inspect.signature(untwine.load_run).parameters:
        return untwine.load_run(path, precision=precision)
    return untwine.load_run(path)


class Counting:
    """A representation function that counts the images it encodes and the seconds it takes."""

    def __init__(self, fn) -> None:
        self.fn, self.images, self.seconds = fn, 0, 0.0

    def __call__(self, images: np.ndarray):
        start = time.perf_counter()
        out = self.fn(images)
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


def reference(run_dir: Path, data, seed: int, overrides: dict) -> dict[str, dict]:
    """Every metric in its own evaluation with fp32 codes; DCI with the sequential loop."""
    fp32 = open_run(run_dir, "fp32").representation
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
    ap.add_argument("--precision", default="run", help="inference: run (the run's own) | fp32")
    ap.add_argument("--quick", action="store_true", help=f"smoke test: {QUICK}")
    ap.add_argument("--no-check", action="store_true", help="skip the sequential fp32 check")
    args = ap.parse_args()

    torch.set_num_threads(default_jobs())
    print(f"untwine {untwine.__version__}, torch {torch.__version__}, "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}, "
          f"{default_jobs()} cores, load average {load_average()}")  # fmt: skip
    run_dir = trained_run(args)
    run = open_run(run_dir, args.precision)
    data = run.dataset()
    overrides = dict(QUICK) if args.quick else {}
    print(f"run {run.path} (step {run.step}), counts: {overrides or 'reference'}", flush=True)

    codes = Counting(run.representation)
    start = time.perf_counter()
    suite = evaluate(codes, data, SUITE, args.seed, **overrides)
    total = time.perf_counter() - start
    load_after = load_average()
    probe = data.sample_observations_from_factors(
        data.sample_factors(64, np.random.default_rng(1)), np.random.default_rng(1)
    )
    exact = np.array_equal(
        run.representation(probe), open_run(run_dir, "fp32").representation(probe)
    )
    tolerance = 0.0 if exact else REDUCED_PRECISION_TOLERANCE
    ref = None if args.no_check else reference(run_dir, data, args.seed, overrides)

    print(f"\nsuite in one evaluate call ({'fp32' if exact else 'reduced-precision'} codes; "
          f"{codes.images:,} images encoded in {codes.seconds:.1f} s)\n")  # fmt: skip
    head = (
        f"| metric | seconds | {'value' if ref is None else 'value | sequential fp32 | |diff|'} |"
    )
    print(head)
    print("|---|---:|" + ("---:|" if ref is None else "---:|---:|---:|"))
    failures = []
    for name in SUITE:
        for i, key in enumerate(HEADLINES[name]):
            seconds = f"{suite[name]['seconds']:.1f}" if i == 0 else ""
            value = suite[name][key]
            row = f"| {name if i == 0 else ''} {key} | {seconds} | {value:.4f} |"
            if ref is not None:
                diff = abs(value - ref[name][key])
                row += f" {ref[name][key]:.4f} | {diff:.2g} |"
                if not diff <= tolerance:
                    failures.append(f"{name} {key}: {value!r} vs {ref[name][key]!r}")
            print(row)
    print(f"| **total** | **{total:.1f}** | |" + ("" if ref is None else " | |"))
    if ref is not None:
        ref_total = sum(r["seconds"] for r in ref.values())
        print(f"\nsequential fp32 computation: {ref_total:.1f} s; tolerance {tolerance} per number")
    print(f"load average after the suite: {load_after}")
    if failures:
        raise SystemExit("numbers differ beyond the tolerance:\n  " + "\n  ".join(failures))


if __name__ == "__main__":
    main()
