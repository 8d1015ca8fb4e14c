"""Seconds for the k = 5,000 importance-sampled log p(x) of 1,000 test images: untwine's
estimator (examples and samples batched, one log-sum-exp per example) against the same
estimate written plainly, one example at a time, as several public implementations do it
(for each image: repeat it ``chunk`` times, encode the copies, draw one z per copy, decode,
collect; a log-sum-exp over the k log-weights at the end).

The model is the Gaussian family with Bernoulli pixels on dynamically binarised mnist5k test
images: network ``mlp200`` (the IWAE paper's MNIST net) at 28x28, or ``conv64`` (the
standard conv net) on the same digits zero-padded to 64x64. ``--run`` evaluates a trained
run instead of a freshly initialised model. The two estimates use independent samples, so
they agree up to Monte Carlo noise (well under 0.01 nats at k = 5,000 on 1,000 images).

    python bench/likelihood_speed.py                       # full size: 1,000 images, k = 5,000
    python bench/likelihood_speed.py --images 20 --k 200   # smoke
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from untwine import data
from untwine.config import ModelConfig
from untwine.likelihood import estimate_model
from untwine.models import build


@torch.no_grad()
def plain_log_px(model, images: np.ndarray, k: int, chunk: int, seed: int) -> float:
    """Mean log p(x) in nats, one example at a time (the reference loop)."""
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    total = 0.0
    for image in images:
        x = torch.as_tensor(image, device=device).float().unsqueeze(0)
        log_w = []
        for start in range(0, k, chunk):
            xs = x.repeat(min(chunk, k - start), 1, 1, 1)
            post = model.encode(xs)
            z = post.rsample()
            log_w.append(
                model.log_prob(xs, model.decode(z)) + model.prior_log_prob(z) - post.log_prob(z)
            )
        log_w = torch.cat(log_w)
        total += (torch.logsumexp(log_w, 0) - math.log(k)).item()
    return total / len(images)


def main() -> None:
    ap = argparse.ArgumentParser(description="importance-sampled log p(x): batched vs plain")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--k", type=int, default=5000)
    ap.add_argument("--network", default="mlp200", choices=["mlp200", "conv64"])
    ap.add_argument("--run", default=None, help="a trained run directory (overrides --network)")
    ap.add_argument("--batch-size", type=int, default=100, help="images per batch (batched)")
    ap.add_argument("--chunk", type=int, default=100, help="samples per pass (plain loop)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.run:
        from untwine.train.run import Run

        run = Run(args.run, device=args.device)
        model, test = run.model, run.dataset().split("test")
        images = test.images(range(min(args.images, len(test))))
        label = f"run {args.run}"
    else:
        test = data.load("mnist5k", binarised=True).split("test")
        images = test.images(range(args.images))
        if args.network == "conv64":
            images = np.pad(images, ((0, 0), (0, 0), (18, 18), (18, 18)))
        torch.manual_seed(0)
        cfg = ModelConfig(network=args.network, z_dim=50 if args.network == "mlp200" else 10)
        model = build("gaussian", images.shape[1:], cfg).to(args.device).eval()
        label = f"{args.network}, untrained, binarised mnist5k {images.shape[2]}x{images.shape[3]}"

    t0 = time.perf_counter()
    fast = estimate_model(model, images, k=args.k, max_value=1, batch_size=args.batch_size)
    t_fast = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain = plain_log_px(model, images.astype(np.float32), args.k, args.chunk, seed=1)
    t_plain = time.perf_counter() - t0

    print(f"{label}; {len(images)} images, k = {args.k}, {torch.get_num_threads()} threads")
    print(f"{'estimator':<36}{'seconds':>10}{'log p(x) nats':>16}")
    print(f"{'untwine (batched)':<36}{t_fast:>10.2f}{fast['log_px']:>16.4f}")
    print(f"{'plain loop (chunks of ' + str(args.chunk) + ')':<36}{t_plain:>10.2f}{plain:>16.4f}")
    print(
        f"speed-up {t_plain / t_fast:.1f}x; difference {abs(fast['log_px'] - plain):.4f} nats "
        f"(stderr over images {fast['stderr']:.3f})"
    )


if __name__ == "__main__":
    main()
