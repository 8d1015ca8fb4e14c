"""Training throughput: untwine's training step vs a bare PyTorch loop, same process.

Both train the standard conv encoder/decoder (Higgins et al. 2017) on 64x64 binary images
with the beta-VAE objective, batch 64, Adam. The bare loop is written here without any
untwine code; untwine is timed through ``untwine.train`` itself (its log's images/s, which
covers data loading, the step, logging and the loss checks, steady state after warm-up).
Rounds alternate between all rows so that drift in machine load hits each alike; the ratios
are taken per round (each against the bare float32 loop of the same round), then the median.

Each precision runs: the bare loop in float32, in bfloat16 (autocast around the networks,
channels-last, loss in float32) and in float16 (the same with float16, to show why untwine
refuses it on a CPU), and untwine with ``precision`` auto / fp32 / bf16. The header says
which CPU this is and whether it has bfloat16 units, i.e. what ``auto`` resolves to.

    python bench/train_throughput.py [--steps 60] [--rounds 3] [--methods betavae,...]

With betavae among the methods, each method's step cost relative to a beta-VAE step is
printed, beside the target where the method has one (:data:`TARGETS`):

    python bench/train_throughput.py --methods betavae,aae,ibpvae

On a machine shared with other work, wall-clock rates mostly measure the neighbours: use
``--clock cpu --threads 1``, which counts the process's CPU seconds per image instead (one
thread, so that no OpenMP spin-wait is counted), and untwine's rate as the difference of two
runs of ``untwine.train`` (warm-up + N steps minus warm-up), so fixed costs cancel.

Peer libraries, measured on the same kind of machine (Intel Xeon, 2 cores, AMX-BF16; one run,
alternating rounds, batch 64, beta-VAE, the same conv net), float32: pythae 0.1.2's
BaseTrainer 1212 images/s, disent 0.8.0 with Lightning 1070, the bare loop with raised
allocator thresholds 1263 (untwine in float32 then: 1216).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import untwine
from untwine.data import ArrayData, register_dataset
from untwine.objectives import METHODS
from untwine.train.runtime import tune_allocator

#: the clock rates are measured by: perf_counter (wall) or process_time (CPU seconds)
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCK["wall"]


@register_dataset("bench-random")
def random_binary() -> ArrayData:
    """Random binary 64x64 images: a stand-in of dSprites' shape when it is not available."""
    rng = np.random.default_rng(0)
    store = rng.integers(0, 256, size=(46080, 512), dtype=np.uint8)
    return ArrayData(
        "bench-random", ("a", "b"), (1440, 32), (1, 64, 64), store, packed=True, max_value=1
    )


def dataset() -> ArrayData:
    try:
        return untwine.data.load("dsprites")
    except Exception:
        return random_binary()


def bare_network(z: int = 10) -> tuple[nn.Module, nn.Module]:
    enc = nn.Sequential(
        nn.Conv2d(1, 32, 4, 2, 1),
        nn.ReLU(),
        nn.Conv2d(32, 32, 4, 2, 1),
        nn.ReLU(),
        nn.Conv2d(32, 64, 4, 2, 1),
        nn.ReLU(),
        nn.Conv2d(64, 64, 4, 2, 1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(1024, 256),
        nn.ReLU(),
        nn.Linear(256, 2 * z),
    )
    dec = nn.Sequential(
        nn.Linear(z, 256),
        nn.ReLU(),
        nn.Linear(256, 1024),
        nn.ReLU(),
        nn.Unflatten(1, (64, 4, 4)),
        nn.ConvTranspose2d(64, 64, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(64, 32, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 32, 4, 2, 1),
        nn.ReLU(),
        nn.ConvTranspose2d(32, 1, 4, 2, 1),
    )
    return enc, dec


def bare_loop(
    data: ArrayData,
    steps: int,
    batch: int = 64,
    beta: float = 4.0,
    channels_last: bool = False,
    compile: bool = False,
    dtype: torch.dtype | None = None,
) -> float:
    """Images/s of a plain loop: random indices, unpack, encode, sample, decode, Adam;
    ``dtype`` (bfloat16, float16) runs the two networks under autocast, the loss in float32."""
    cast = dtype is not None
    torch.manual_seed(0)
    enc, dec = bare_network()
    if compile:
        enc, dec = torch.compile(enc), torch.compile(dec)
    if channels_last:
        enc, dec = (
            enc.to(memory_format=torch.channels_last),
            dec.to(memory_format=torch.channels_last),
        )
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-4)
    rng = np.random.default_rng(0)
    warm, t0 = (15 if compile else 5), 0.0
    for i in range(steps + warm):
        if i == warm:
            t0 = clock()
        x = torch.from_numpy(data.images(rng.integers(0, len(data), batch))).float()
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=cast):
            h = enc(x)
        mu, logvar = h.float().chunk(2, 1)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        with torch.autocast("cpu", dtype=dtype or torch.bfloat16, enabled=cast):
            logits = dec(z)
        recon = F.binary_cross_entropy_with_logits(logits.float(), x, reduction="sum") / batch
        kl = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).sum() / batch
        loss = recon + beta * kl
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * batch / (clock() - t0)


def untwine_rate(
    data: ArrayData, method: str, steps: int, batch: int = 64, precision: str = "auto"
) -> float:
    """Steady-state images/s of ``untwine.train`` (log intervals after the warm-up one)."""
    warm = 5
    steps -= steps % warm
    if clock is CLOCK["cpu"]:
        used = []
        for n in (warm, warm + steps):
            with tempfile.TemporaryDirectory() as out:
                t0 = clock()
                untwine.train(
                    data,
                    method=method,
                    steps=n,
                    batch_size=batch,
                    out=out,
                    checkpoint_every=10**9,
                    progress=False,
                    threads=torch.get_num_threads(),
                    precision=precision,
                )
                used.append(clock() - t0)
        return steps * batch / (used[1] - used[0])
    with tempfile.TemporaryDirectory() as out:
        run = untwine.train(
            data,
            method=method,
            steps=warm + steps,
            batch_size=batch,
            out=out,
            log_every=warm,
            checkpoint_every=10**9,
            progress=False,
            threads=torch.get_num_threads(),  # the bare loop's setting, whatever it is
            precision=precision,
        )
        log = run.log()
    # the first interval includes warm-up; pool the rest as total images / total seconds
    timed = log[1:]
    seconds = sum(warm * batch / r["images_per_s"] for r in timed)
    return len(timed) * warm * batch / seconds


#: step cost relative to a beta-VAE step that a method should stay within: the AAE adds a
#: discriminator step on codes, IBP-VAE a few elementwise distributions on (N, K) tensors.
TARGETS = {"aae": 2.0, "ibpvae": 1.3}


LEVERS = {
    # name: (environment, bare_loop options, threads)
    "bare (glibc defaults)": ({}, {}, None),
    "bare + allocator thresholds": ({"UNTWINE_BENCH_MALLOPT": "1"}, {}, None),
    "bare + channels-last": ({}, {"channels_last": True}, None),
    "bare + torch.compile": ({}, {"compile": True}, None),
    "bare, 1 thread": ({}, {}, 1),
}


def child(name: str, steps: int) -> None:
    """Run one lever's bare loop in this (fresh) process and print its rate."""
    env, options, threads = LEVERS[name]
    if env.get("UNTWINE_BENCH_MALLOPT"):
        tune_allocator()
    if threads:
        torch.set_num_threads(threads)
    print(bare_loop(dataset(), steps, **options))


def levers(steps: int, rounds: int) -> None:
    """Each lever in its own process (allocator settings cannot be undone in-process)."""
    import os
    import subprocess
    import sys

    rates: dict[str, list[float]] = {name: [] for name in LEVERS}
    for _ in range(rounds):
        for name, (env, _, _) in LEVERS.items():
            out = subprocess.run(
                [sys.executable, __file__, "--child", name, "--steps", str(steps)],
                env={**os.environ, **env},
                capture_output=True,
                text=True,
                check=True,
            )
            rates[name].append(float(out.stdout.strip().splitlines()[-1]))
    table(rates, "bare (glibc defaults)", "lever (bare loop, separate processes)")


def table(rates: dict[str, list[float]], baseline: str, title: str) -> None:
    """Median images/s per row and the median of the per-round ratios to ``baseline``."""
    base = rates[baseline]
    print(f"\n{title:<40}{'images/s (median)':>18}{'ratio':>8}   rounds")
    for name, r in rates.items():
        med = statistics.median(r)
        ratio = statistics.median(x / b for x, b in zip(r, base, strict=True))
        print(f"{name:<40}{med:>18.1f}{ratio:>8.3f}   {', '.join(f'{x:.0f}' for x in r)}")


#: the bare loop's rows: options of :func:`bare_loop`
BARE = {
    "bare fp32": {},
    "bare bf16 + channels-last": {"dtype": torch.bfloat16, "channels_last": True},
    "bare bf16, NCHW": {"dtype": torch.bfloat16},
    "bare fp16 + channels-last": {"dtype": torch.float16, "channels_last": True},
}


def header() -> None:
    import os

    from untwine.nets.precision import bf16_units
    from untwine.train.runtime import cpu_description

    auto = "bf16" if bf16_units(torch.device("cpu")) else "fp32 (no bf16 units on this CPU)"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"cpu: {cpu_description()}")
    print(f"precision auto resolves to: {auto}; load average at start: {load}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--methods", default="betavae", help="comma-separated, or 'all' (auto)")
    ap.add_argument("--precisions", default="auto,fp32,bf16", help="untwine's, for betavae")
    ap.add_argument("--no-fp16", action="store_true", help="skip the bare fp16 row")
    ap.add_argument("--levers", action="store_true", help="time allocator/layout/compile levers")
    ap.add_argument("--clock", choices=list(CLOCK), default="wall", help="see the docstring")
    ap.add_argument("--threads", type=int, help="intra-op threads (default: torch's)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.steps)
    global clock
    clock = CLOCK[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"clock: {args.clock}")
    # untwine.train applies its allocator settings to the process; apply them first so that
    # the bare loop and untwine are compared under the same allocator.
    tune_allocator()
    header()
    data = dataset()
    print(f"dataset: {data.name}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    methods = METHODS.names() if args.methods == "all" else args.methods.split(",")
    bare = {k: v for k, v in BARE.items() if not (args.no_fp16 and "fp16" in k)}
    rows = {name: (bare_loop, (data, args.steps), options) for name, options in bare.items()}
    for p in args.precisions.split(","):
        options = {"precision": p}
        rows[f"untwine betavae {p}"] = (untwine_rate, (data, "betavae", args.steps), options)
    for m in methods:
        if m != "betavae":
            rows[f"untwine {m} auto"] = (untwine_rate, (data, m, args.steps), {})
    rates: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(args.rounds):
        for name, (fn, fn_args, options) in rows.items():
            rates[name].append(fn(*fn_args, **options))
    table(rates, "bare fp32", "loop (same process, batch 64)")
    if len(methods) > 1 and "betavae" in methods:  # compare steps, not images
        # a FactorVAE step reads two batches; a ratio per round pairs runs close in time
        title = f"{'method (auto)':<40}{'steps/s (median)':>18}{'step cost / betavae':>22}"
        print(f"\n{title}{'target':>8}   rounds")
        ref = rates[f"untwine betavae {args.precisions.split(',')[0]}"]
        for m in methods:
            r = ref if m == "betavae" else rates[f"untwine {m} auto"]
            per_step = 64 * METHODS.get(m).batches_per_step
            cost = [b * per_step / (x * 64) for b, x in zip(ref, r, strict=True)]
            steps = statistics.median(r) / per_step
            shown = ", ".join(f"{c:.2f}" for c in cost)
            target = f"<= {TARGETS[m]:g}" if m in TARGETS else ""
            print(f"{m:<40}{steps:>18.2f}{statistics.median(cost):>22.3f}{target:>8}   {shown}")
    if args.levers:
        levers(args.steps, args.rounds)


if __name__ == "__main__":
    main()
