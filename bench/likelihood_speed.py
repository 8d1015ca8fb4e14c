"""Seconds for the k = 5,000 importance-sampled log p(x) of the 1,000 mnist5k test images with
the standard conv net: untwine's estimator against the same estimate written plainly.

- *untwine (batched)*: 100 images at a time, encoded once, their k samples decoded in calls
  of at least 300 rows, one log-sum-exp over all k log-weights per image; the networks in
  ``--precision`` (``auto``: bf16 where the CPU has bfloat16 units), every density and
  log-sum-exp in float32 (:mod:`untwine.nets.precision`); log p(x|z) compiled (the default
  at this size: decoder and log-density fused by ``torch.compile``; its compile time is in
  the seconds).
- *plain loop*: one image at a time, as several public implementations do it: repeat the
  image 100 times, encode the copies, draw one z per copy, decode, collect the log-weights;
  a log-sum-exp over the k log-weights at the end. float32 throughout. It takes about half
  an hour for 1,000 images on two cores, so it runs on the first ``--plain-images`` test
  images and its time is extrapolated per image to all of them (labelled so in the table).

The numbers: the batched estimate on all test images; on the plain loop's subset, the plain
loop's and untwine's in float32 and in ``--precision``, all three with the same samples
(untwine with one image per batch and the plain loop's chunk, reading one generator in the
same order): the differences are what summation order and reduced precision move log p(x),
free of Monte Carlo noise.

The model: with no ``--run``, a VAE with the conv64 net (z = 10, Bernoulli pixels) trained,
untimed, on dynamically binarised mnist5k zero-padded to 64x64 (``size=64``), or reused
from ``--out`` when it is already there; the estimate needs a trained model, because the
error of reduced precision depends on how sharp the decoder's logits are.

    python bench/likelihood_speed.py                                     # full size
    python bench/likelihood_speed.py --train-steps 20 --images 20 --k 50 --plain-images 2
"""

from __future__ import annotations

import argparse
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

import untwine
from untwine.likelihood import estimate_model
from untwine.train import checkpoint
from untwine.train.run import Run
from untwine.train.runtime import cpu_description


@torch.no_grad()
def plain_log_px(model, images: np.ndarray, k: int, chunk: int, seed: int) -> np.ndarray:
    """log p(x) in nats per image (N,), one image at a time (the reference loop). Its noise
    comes from one generator seeded ``seed`` and read in order, as untwine's estimate with
    one image per batch and ``chunk`` samples per call reads it: the two see the same z."""
    gen = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    out = []
    for image in images:
        x = torch.as_tensor(image, device=device).float().unsqueeze(0)
        log_w = []
        for start in range(0, k, chunk):
            xs = x.repeat(min(chunk, k - start), 1, 1, 1)
            post = model.encode(xs)
            z = post.rsample(gen)
            log_w.append(
                model.log_prob(xs, model.decode(z)) + model.prior_log_prob(z) - post.log_prob(z)
            )
        log_w = torch.cat(log_w)
        out.append((torch.logsumexp(log_w, 0) - math.log(k)).item())
    return np.array(out)


def trained_run(out: Path, steps: int, threads: int | None) -> Run:
    """The conv64 VAE at ``out``, trained first unless a finished run is there."""
    found = checkpoint.latest(out) if (out / "config.yaml").is_file() else None
    if found is None or checkpoint.step_of(found) < steps:
        t0 = time.perf_counter()
        untwine.train(
            "mnist5k",
            dataset_options={"binarised": True, "size": 64},
            method="vae",
            network="conv64",
            z_dim=10,
            lr=1e-3,
            batch_size=32,
            kl_warmup_steps=steps // 2,  # the conv net collapses to the mean image without it
            steps=steps,
            seed=0,
            out=out,
            resume=found is not None,
            threads=threads,
            progress=False,
            log_every=max(1, steps // 10),
            checkpoint_every=steps,
        )
        print(f"trained {out} for {steps} steps in {time.perf_counter() - t0:.0f} s (untimed)")
    return Run(out, device="cpu")


def main() -> None:
    ap = argparse.ArgumentParser(description="importance-sampled log p(x): batched vs plain")
    ap.add_argument("--run", type=Path, default=None, help="a trained run (skips training)")
    ap.add_argument("--out", type=Path, default=Path("runs/likelihood_speed_conv64"))
    ap.add_argument("--train-steps", type=int, default=3000)
    ap.add_argument("--images", type=int, default=1000, help="test images, batched estimate")
    ap.add_argument("--plain-images", type=int, default=20, help="test images, plain loop")
    ap.add_argument("--k", type=int, default=5000)
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--batch-size", type=int, default=100, help="images per batch (batched)")
    ap.add_argument("--chunk", type=int, default=100, help="copies per pass (plain loop)")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.run:
        run = Run(args.run, device="cpu")
    else:
        run = trained_run(args.out, args.train_steps, args.threads)
    test = run.dataset().split("test")
    images = test.images(range(min(args.images, len(test))))
    subset = images[: args.plain_images]
    model, k, bs = run.model, args.k, args.batch_size

    t0 = time.perf_counter()
    fast = estimate_model(model, images, k=k, max_value=1, batch_size=bs, precision=args.precision)
    t_fast = time.perf_counter() - t0
    # the same samples as the plain loop: one image per batch, its chunk size, its seed
    # (untwine's own path: compiled where the batched estimate compiled)
    same = dict(k=k, max_value=1, batch_size=1, chunk=args.chunk, seed=1)
    on_subset = {
        p: estimate_model(model, subset, **same, precision=p, compile=fast["compiled"])
        for p in dict.fromkeys(("fp32", fast["precision"]))
    }
    t0 = time.perf_counter()
    plain = plain_log_px(model, subset.astype(np.float32), k, args.chunk, seed=1)
    t_plain = time.perf_counter() - t0
    t_plain_all = t_plain / len(subset) * len(images)

    n, m = len(images), len(subset)
    mine = on_subset[fast["precision"]]
    print(f"CPU: {cpu_description()}")
    print(
        f"load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())} (1 / 5 / 15 min); "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"model: {run.path} (conv64 VAE, step {run.step}); binarised mnist5k test at 64x64; "
        f"k = {k}; batched networks in {fast['precision']}; "
        f"log p(x|z) {'compiled' if fast['compiled'] else 'not compiled'} (compile time included)"
    )
    print(f"{'estimate':<52}{'images':>7}{'seconds':>10}{'log p(x) nats':>15}")
    rows = [
        (f"untwine (batched, {fast['precision']})", n, f"{t_fast:.1f}", fast["log_px"]),
        (f"plain loop (fp32, chunks of {args.chunk}), extrapolated", n, f"{t_plain_all:.1f}", None),
        (f"plain loop (fp32, chunks of {args.chunk})", m, f"{t_plain:.1f}", plain.mean()),
        ("untwine (fp32), the plain loop's samples", m, "", on_subset["fp32"]["log_px"]),
        (f"untwine ({fast['precision']}), the plain loop's samples", m, "", mine["log_px"]),
    ]
    for name, count, seconds, value in rows:
        shown = "" if value is None else f"{value:.4f}"
        print(f"{name:<52}{count:>7}{seconds:>10}{shown:>15}")
    print(
        f"speed-up {t_plain_all / t_fast:.1f}x (plain time extrapolated from {m} to {n} images); "
        f"on the {m} images, the same samples: batched {fast['precision']} - plain fp32 = "
        f"{mine['log_px'] - plain.mean():+.4f} nats, batched fp32 - plain fp32 = "
        f"{on_subset['fp32']['log_px'] - plain.mean():+.4f} nats "
        f"(Monte Carlo s.e. of one estimate {mine['mc_stderr']:.4f})"
    )


if __name__ == "__main__":
    main()
