"""VQ throughput: untwine's VQ-VAE step and PixelCNN prior step vs bare PyTorch loops.

The bare loops use the same networks (the residual conv encoder/decoder of
``untwine.nets.vqconv`` and the gated PixelCNN of ``untwine.nets.pixelcnn``) but none of
untwine's training code: the quantiser (nearest code, straight-through, EMA codebook) and the
prior's cross-entropy are written inline here. untwine is timed through ``untwine.train`` and
``train_prior`` themselves (their logs' images/s: data loading, the step, the codebook update,
logging, loss checks), steady state after a warm-up interval. Rounds alternate the two so that
drift in machine load hits both alike. The target is untwine >= 0.9x the bare loop.

    python bench/vq_throughput.py [--steps 40] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import untwine
from untwine.data import ArrayData, register_dataset
from untwine.models.code_prior import CodeMapPrior
from untwine.nets.vqconv import Decoder, Encoder
from untwine.train import prior as prior_runs
from untwine.train.runtime import tune_allocator


@register_dataset("bench-vq-random")
def random_binary() -> ArrayData:
    """Random binary 64x64 images: a stand-in of dSprites' shape when it is not available."""
    rng = np.random.default_rng(0)
    store = rng.integers(0, 256, size=(1024, 512), dtype=np.uint8)
    return ArrayData(
        "bench-vq-random", ("a", "b"), (32, 32), (1, 64, 64), store, packed=True, max_value=1
    )


def bare_vq(data: ArrayData, steps: int, a: argparse.Namespace) -> float:
    """Images/s of a plain VQ-VAE loop (EMA codebook, decay 0.99, beta 0.25)."""
    torch.manual_seed(0)
    k, d = a.codebook, a.code_dim
    enc = Encoder(1, d, a.hidden, a.res_hidden, 2, stride=4)
    dec = Decoder(d, 1, a.hidden, a.res_hidden, 2, stride=4)
    book = (torch.rand(k, d) * 2 - 1) / k
    size, total = torch.ones(k), book.clone()
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-4)
    rng = np.random.default_rng(0)
    warm, t0 = 5, 0.0
    for i in range(steps + warm):
        if i == warm:
            t0 = time.perf_counter()
        x = torch.from_numpy(data.images(rng.integers(0, len(data), a.batch))).float()
        z = enc(x)
        flat = z.movedim(1, -1).reshape(-1, d)
        idx = ((book * book).sum(1) - 2 * flat.detach() @ book.t()).argmin(1)
        e = book[idx].view(z.shape[0], *z.shape[2:], d).movedim(-1, 1)
        zq = z + (e - z).detach()
        recon = F.binary_cross_entropy_with_logits(dec(zq, (64, 64)), x, reduction="sum")
        loss = (recon + 0.25 * (z - e).pow(2).sum()) / len(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            n = torch.bincount(idx, minlength=k).float()
            size.mul_(0.99).add_(n, alpha=0.01)
            total.mul_(0.99).add_(torch.zeros_like(total).index_add_(0, idx, flat), alpha=0.01)
            s = (size + 1e-5) / (size.sum() + k * 1e-5) * size.sum()
            book = total / s[:, None]
    return steps * a.batch / (time.perf_counter() - t0)


def bare_prior(codes: np.ndarray, steps: int, a: argparse.Namespace) -> float:
    """Images/s of a plain loop training the same PixelCNN prior network by cross-entropy."""
    torch.manual_seed(0)
    levels, h, w = codes.shape[1:]
    net = CodeMapPrior([a.codebook] * levels, [(h, w)], a.prior_channels, a.prior_layers, 5)
    opt = torch.optim.Adam(net.parameters(), lr=3e-4)
    rng = np.random.default_rng(0)
    warm, t0 = 5, 0.0
    for i in range(steps + warm):
        if i == warm:
            t0 = time.perf_counter()
        c = torch.from_numpy(codes[rng.integers(0, len(codes), a.batch), 0]).long()
        logits = net.levels[0].logits(c)
        loss = F.cross_entropy(logits, c, reduction="sum") / len(c)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return steps * a.batch / (time.perf_counter() - t0)


def _rate(run: untwine.Run, batch: int) -> float:
    log = run.log()[1:]  # the first interval includes the warm-up
    seconds = sum(5 * batch / r["images_per_s"] for r in log)
    return len(log) * 5 * batch / seconds


def untwine_vq(data: ArrayData, steps: int, a: argparse.Namespace, out: Path) -> untwine.Run:
    return untwine.train(
        data, method="vqvae", steps=5 + steps - steps % 5, batch_size=a.batch, out=out,
        log_every=5, checkpoint_every=10**9, progress=False, threads=torch.get_num_threads(),
        z_dim=a.code_dim, codebook_size=a.codebook, hidden=a.hidden, res_hidden=a.res_hidden,
    )  # fmt: skip


def untwine_prior(run: Path, steps: int, a: argparse.Namespace) -> untwine.Run:
    return prior_runs.train_prior(
        run, 5 + steps - steps % 5, batch_size=a.batch, log_every=5, checkpoint_every=10**9,
        progress=False, threads=torch.get_num_threads(), prior_channels=a.prior_channels,
        prior_layers=a.prior_layers, prior_kernel=5,
    )  # fmt: skip


def table(rates: dict[str, list[float]], pairs: list[tuple[str, str]]) -> None:
    print(f"\n{'loop':<28}{'images/s (median)':>18}   rounds")
    for name, r in rates.items():
        print(f"{name:<28}{statistics.median(r):>18.1f}   {', '.join(f'{x:.0f}' for x in r)}")
    for ours, bare in pairs:
        ratio = [u / b for u, b in zip(rates[ours], rates[bare], strict=True)]
        print(f"{ours} / {bare}: {statistics.median(ratio):.3f}x (per round: "
              f"{', '.join(f'{x:.2f}' for x in ratio)}); target >= 0.9x")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--codebook", type=int, default=512)
    ap.add_argument("--code-dim", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--res-hidden", type=int, default=32)
    ap.add_argument("--prior-channels", type=int, default=64)
    ap.add_argument("--prior-layers", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="a smoke run with tiny settings")
    a = ap.parse_args()
    if a.quick:
        a.steps, a.rounds, a.batch, a.codebook, a.code_dim = 10, 1, 8, 16, 8
        a.hidden, a.res_hidden, a.prior_channels, a.prior_layers = 16, 8, 8, 2
    tune_allocator()  # untwine.train applies it to the process; the bare loops get it too
    data = random_binary()
    print(f"dataset: {data.name}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    rates: dict[str, list[float]] = {"bare VQ-VAE": [], "untwine vqvae": []}
    rates.update({"bare PixelCNN prior": [], "untwine codeprior": []})
    for r in range(a.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            rates["bare VQ-VAE"].append(bare_vq(data, a.steps, a))
            run = untwine_vq(data, a.steps, a, Path(tmp) / "vq")
            rates["untwine vqvae"].append(_rate(run, a.batch))
            codes = prior_runs.encode_codes(run)
            rates["bare PixelCNN prior"].append(bare_prior(codes, a.steps, a))
            rates["untwine codeprior"].append(_rate(untwine_prior(run.path, a.steps, a), a.batch))
        print(f"round {r + 1}/{a.rounds} done")
    table(
        rates,
        [("untwine vqvae", "bare VQ-VAE"), ("untwine codeprior", "bare PixelCNN prior")],
    )


if __name__ == "__main__":
    main()
