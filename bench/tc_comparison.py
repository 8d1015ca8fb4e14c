"""Total correlation of beta-TCVAE vs beta-VAE at the same beta and seed, on dSprites.

Trains both (same beta, seed, network, optimiser, batch order) with ``untwine.train`` and
prints a table of the KL decomposition of Chen et al. (2018) for each trained model:

- ``TC eval``: :func:`untwine.objectives.tcvae.decompose_kl` (stratified estimator, true
  N = 737,280) on ``--eval-batches`` batches of ``--eval-batch`` images, the same images for
  both models; mean and standard error over batches. MI and dimension-wise KL likewise.
- ``TC @B``: the same estimator at the training batch size, for comparison with
  ``TC train``, beta-TCVAE's own logged batch estimate averaged over the last 1000 steps
  (or all of them for shorter runs).
- with ``--full``: the full-dataset estimate (``untwine.metrics.elbo_decomposition``), which
  encodes all 737,280 images (slow on a CPU).

Runs are kept under ``--out`` and resumed if present, so a budget can be spent in pieces.

    python bench/tc_comparison.py [--steps 1500] [--beta 6] [--seed 0] [--lr 1e-3] [--out DIR]
        [--jobs 2 --threads 1]     # both trainings at once, one thread each
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

import untwine
from untwine.objectives.tcvae import decompose_kl
from untwine.train import checkpoint

TERMS = ("index_code_mi", "total_correlation", "dimwise_kl")


def train(method: str, args: argparse.Namespace, data=None) -> Path:
    out = Path(args.out) / method
    resume = checkpoint.latest(out) is not None
    if data is None:
        data = untwine.data.load("dsprites")
    t0 = time.perf_counter()
    untwine.train(
        data,
        method=method,
        beta=args.beta,
        kl_warmup_steps=args.kl_warmup_steps,
        steps=args.steps,
        seed=args.seed,
        lr=args.lr,
        batch_size=args.batch,
        network=args.network,
        out=out,
        log_every=50,
        checkpoint_every=250,
        resume=resume,
        progress=not args.quiet,
        threads=args.threads,
    )
    spent = out / "train_seconds.txt"  # summed over resumed pieces
    before = float(spent.read_text()) if resume and spent.exists() else 0.0
    spent.write_text(f"{before + time.perf_counter() - t0:.1f}\n")
    return out


@torch.no_grad()
def batch_terms(run, data, batches: list[np.ndarray], seed: int) -> dict[str, list[float]]:
    """decompose_kl (MSS, true N) of each batch of dataset indices, one z per image."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, list[float]] = {k: [] for k in (*TERMS, "kl")}
    for idx in batches:
        mu, logvar = (torch.from_numpy(a) for a in run.encode(data.images(np.sort(idx))))
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=g)
        for k, v in decompose_kl(z, mu, logvar, len(data), "mss").items():
            if k in out:
                out[k].append(v.item())
        out["kl"].append((0.5 * (mu**2 + logvar.exp() - 1 - logvar)).sum(1).mean().item())
    return out


def mean_se(xs: list[float]) -> str:
    m = statistics.fmean(xs)
    se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
    return f"{m:7.3f} +- {se:5.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--beta", type=float, default=6.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--kl-warmup-steps", type=int, default=0, help="both models (see README)")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--network", default="conv64")
    ap.add_argument("--eval-batches", type=int, default=4)
    ap.add_argument("--eval-batch", type=int, default=1024)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=1, help="2: train both at once (processes)")
    ap.add_argument("--out", default="runs/tc-comparison")
    ap.add_argument("--full", action="store_true", help="also the full-dataset estimate")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    data = untwine.data.load("dsprites")
    rng = np.random.default_rng(12345)  # the same evaluation images for both models
    big = [rng.choice(len(data), args.eval_batch, replace=False) for _ in range(args.eval_batches)]
    small = [rng.choice(len(data), args.batch, replace=False) for _ in range(64)]

    methods = ("betavae", "betatcvae")
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs, mp_context=mp.get_context("spawn")) as pool:
            outs = list(pool.map(train, methods, [args] * len(methods)))
    else:
        outs = [train(m, args, data) for m in methods]
    rows = []
    for method, out in zip(methods, outs, strict=True):
        run = untwine.load_run(out)
        t_train = float((out / "train_seconds.txt").read_text())
        ev = batch_terms(run, data, big, seed=1)
        at_b = batch_terms(run, data, small, seed=2)
        log = run.log()
        last = [r for r in log if r["step"] > run.step - 1000] or log
        logged = [r["total_correlation"] for r in last if "total_correlation" in r]
        row = {
            "method": method,
            "steps": run.step,
            "recon": log[-1]["recon"],
            "kl": ev["kl"],
            "ev": ev,
            "tc_at_b": at_b["total_correlation"],
            "tc_train": statistics.fmean(logged) if logged else None,
            "minutes": t_train / 60,
        }
        if args.full:
            from untwine.metrics import elbo_decomposition

            mu, logvar = run.encode(data.images(np.arange(len(data))))
            row["full_tc"] = elbo_decomposition(mu, logvar)["total_correlation"]
        rows.append(row)

    print(
        f"\ndSprites, beta {args.beta}, seed {args.seed}, {args.network}, batch {args.batch}, "
        f"Adam lr {args.lr}, KL warm-up {args.kl_warmup_steps} steps; "
        f"eval: MSS on {args.eval_batches} x {args.eval_batch} images, "
        f"N = {len(data)} (nats; mean +- s.e. over batches)"
    )
    head = (
        f"{'method':<10}{'steps':>6}{'recon':>9}{'KL':>18}{'MI eval':>18}{'TC eval':>18}"
        f"{'dimKL eval':>18}{f'TC @B={args.batch}':>18}{'TC train':>10}{'min':>6}"
    )
    if args.full:
        head += f"{'TC full':>9}"
    print(head)
    for r in rows:
        ev = r["ev"]
        tc_train = f"{r['tc_train']:10.3f}" if r["tc_train"] is not None else f"{'-':>10}"
        line = (
            f"{r['method']:<10}{r['steps']:>6}{r['recon']:>9.1f}{mean_se(r['kl']):>18}"
            f"{mean_se(ev['index_code_mi']):>18}{mean_se(ev['total_correlation']):>18}"
            f"{mean_se(ev['dimwise_kl']):>18}{mean_se(r['tc_at_b']):>18}{tc_train}"
            f"{r['minutes']:>6.1f}"
        )
        if args.full:
            line += f"{r['full_tc']:>9.3f}"
        print(line)


if __name__ == "__main__":
    main()
