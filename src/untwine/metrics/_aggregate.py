"""Log-density of the aggregate posterior q(z) = (1/N) sum_n q(z | x_n), streamed over N.

The full-dataset estimators of Chen et al. (2018) need, for S sampled codes ``z_s`` and all N
diagonal-Gaussian posteriors, ``log q(z_s) = logsumexp_n log q(z_s | x_n) - log N`` and the
same per dimension, ``log q(z_sj)``: S x N x D Gaussian log-densities and exponentials
(7.4e10 for dSprites with S = 10,000). They are computed in float32 blocks small enough to stay
in cache, with sums accumulated in float64, by a few batched torch operations per block of
(dimensions x samples x posteriors):

    u = z_s * sqrt(h_n) - mu_n * sqrt(h_n)      (bmm, all dims)   h_n = 1 / (2 var_n)
    a = c_n - u * u                              (addcmul)         c_n = -log(2 pi var_n) / 2
    sum_n exp(max(a, -87)), and the same for the joint sum_d a

Why no running maximum: a one-dimensional Gaussian log-density never exceeds ``c_n`` and the
largest term of each sum is at least the sample's own posterior density, so the per-dimension
sums stay inside float32 for any sane posterior. The joint ``sum_d a`` is shifted by the
sample's own log-density (the caller knows it), making its largest term >= 1. The clamp at -87
keeps exponentials out of float32's subnormal range, where CPU ``exp`` is 100x slower; the
clamped terms are below 1e-37 each and change no sum that matters. Samples whose float32 sum
still looks under- or overflowed (posterior variances spanning ~70 nats) are recomputed
exactly in float64. ``u`` is formed without expanding the square; its float32 rounding error is
~1e-7 x max(|z|, |mu|) / sigma, so posteriors narrower than ~1/1000 of the codes' range
(``FLOAT32_RANGE``) switch the whole computation to float64 (about twice as slow).

Blocks are spread over Python threads running single-threaded torch operations (torch
releases the GIL): on a busy machine OpenMP's spinning workers collapse, Python threads don't.
The Gaussian log-density itself is :func:`untwine.models.normal.log_normal` where it is
evaluated directly (the exact fallback); the blocks use its expanded form above.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from untwine.models.normal import LOG_2PI, log_normal

#: Block of posteriors x samples; with D = 10 a float32 block is ~650 KB (cache-sized).
BLOCK_POINTS = 2048
BLOCK_SAMPLES = 8
#: Exponent floors: exp(-87) ~ 1.6e-38 is still a normal float32; float64's limit is ~-708.
EXP_FLOOR = {torch.float32: -87.0, torch.float64: -700.0}
#: Largest |z - mu| / sigma resolvable in float32 to ~1e-4 in ``u`` (see _precision_dtype).
FLOAT32_RANGE = 1e3
#: A float32 sum below this is treated as underflowed and recomputed exactly.
TINY_SUM = 1e-25


def log_aggregate(
    z: np.ndarray,
    mu: np.ndarray,
    logvar: np.ndarray,
    own_log_density: np.ndarray | None = None,
    *,
    num_threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``log q(z_sj)`` (S, D) and, if ``own_log_density`` is given, ``log q(z_s)`` (S,).

    Args:
        z: (S, D) sampled codes.
        mu, logvar: (N, D) parameters of the N diagonal-Gaussian posteriors forming q.
        own_log_density: (S,) ``log q(z_s | x_{n(s)})`` under the posterior each sample was
            drawn from; it keeps the joint sum in float32 range. None skips the joint.
        num_threads: worker threads (default: torch's intra-op thread count); each runs
            single-threaded torch operations (see :func:`single_threaded_torch`).

    Returns:
        float64 arrays in nats, each including the ``- log N``: per-dimension
        ``log q(z_sj)`` and the joint ``log q(z_s)`` (None without ``own_log_density``).
        In float32 (the usual case) they agree with a float64 log-sum-exp to ~1e-5 nats.
    """
    want_joint = own_log_density is not None
    workers = num_threads or torch.get_num_threads()
    with torch.no_grad():
        z64, mu64, logvar64 = (
            torch.as_tensor(np.asarray(a), dtype=torch.float64) for a in (z, mu, logvar)
        )
        terms = _BlockTerms.of(z64, mu64, logvar64)
        shift = torch.zeros(len(z64), dtype=torch.float64)
        if want_joint:
            shift = _joint_shift(torch.as_tensor(np.asarray(own_log_density)), terms)
        sums, joint_sums = _sum_blocks(terms, shift, want_joint, workers)
        log_n = math.log(len(mu64))
        log_dims = (torch.log(sums) - log_n).T.contiguous()
        log_joint = torch.log(joint_sums) + shift - log_n
        bad = ~torch.isfinite(log_dims).all(dim=1) | (sums < TINY_SUM).any(dim=0)
        if want_joint:
            bad |= ~torch.isfinite(log_joint) | (joint_sums < TINY_SUM)
        redo = torch.nonzero(bad).flatten()
        if len(redo):
            log_dims[redo], log_joint[redo] = _exact(z64[redo], mu64, logvar64)
    return log_dims.numpy(), (log_joint.numpy() if want_joint else None)


@dataclass(frozen=True)
class _BlockTerms:
    """What every block needs, in the working dtype: ``u = [z, 1] @ rhs[d]`` for each
    dimension d, with ``rhs[d] = [sqrt(h); -mu sqrt(h)]`` (D, 2, N), and ``a = c - u^2``."""

    zt: Tensor  # (D, S) sampled codes, transposed
    rhs: Tensor  # (D, 2, N)
    c: Tensor  # (D, 1, N): -log(2 pi var_n) / 2
    dtype: torch.dtype

    @classmethod
    def of(cls, z64: Tensor, mu64: Tensor, logvar64: Tensor) -> _BlockTerms:
        sqrt_h64 = torch.exp(-0.5 * logvar64) / math.sqrt(2.0)
        dtype = _precision_dtype(z64, mu64, sqrt_h64)
        rhs = torch.stack([sqrt_h64.T, -(mu64 * sqrt_h64).T], dim=1).to(dtype).contiguous()
        c = (-0.5 * (LOG_2PI + logvar64)).T.contiguous().to(dtype)[:, None, :]
        return cls(z64.T.contiguous().to(dtype), rhs, c, dtype)

    @property
    def floor(self) -> float:
        return EXP_FLOOR[self.dtype]


def _joint_shift(own_log_density: Tensor, terms: _BlockTerms) -> Tensor:
    """Per-sample shift of the joint terms: the sample's own log-density, but at least
    ``sum_d max_n c_n - 70``, so that no term exceeds exp(70) and up to ~1e8 of them still
    sum inside float32."""
    upper = float(terms.c.double().amax(dim=2).sum())
    return torch.clamp_min(own_log_density.to(torch.float64), upper - 70.0)


def _sum_blocks(
    terms: _BlockTerms, shift: Tensor, want_joint: bool, workers: int
) -> tuple[Tensor, Tensor]:
    """``sum_n exp(a)`` per (dimension, sample) (D, S) and of the shifted joint (S,),
    float64, with blocks of samples spread over ``workers`` threads."""
    num_dims, num_samples = terms.zt.shape
    sums = torch.zeros(num_dims, num_samples, dtype=torch.float64)
    joint_sums = torch.zeros(num_samples, dtype=torch.float64)
    shift_block = shift.to(terms.dtype)

    def run(s0: int) -> None:
        s1 = min(s0 + BLOCK_SAMPLES, num_samples)
        sums[:, s0:s1], joint_sums[s0:s1] = _sample_block(terms, shift_block[s0:s1], s0, want_joint)

    threads = max(1, min(workers, os.cpu_count() or 1))
    with single_threaded_torch(), ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(run, range(0, num_samples, BLOCK_SAMPLES)))
    return sums, joint_sums


def _sample_block(
    terms: _BlockTerms, shift: Tensor, s0: int, want_joint: bool
) -> tuple[Tensor, Tensor]:
    """The sums of :func:`_sum_blocks` for samples ``s0 .. s0 + len(shift)``, streamed over
    the posteriors in blocks of ``BLOCK_POINTS``: float32 within a block, float64 across."""
    num_dims, rows = terms.zt.shape[0], len(shift)
    num_points = terms.rhs.shape[2]
    ones = torch.ones(num_dims, rows, dtype=terms.dtype)
    lhs = torch.stack([terms.zt[:, s0 : s0 + rows], ones], dim=2)  # (D, S_b, 2)
    u = torch.empty(num_dims, rows, BLOCK_POINTS, dtype=terms.dtype)
    joint = torch.empty(rows, BLOCK_POINTS, dtype=terms.dtype)
    part = torch.empty(num_dims, rows, dtype=terms.dtype)
    joint_part = torch.empty(rows, dtype=terms.dtype)
    sums = torch.zeros(num_dims, rows, dtype=torch.float64)
    joint_sums = torch.zeros(rows, dtype=torch.float64)
    for n0 in range(0, num_points, BLOCK_POINTS):
        n1 = min(n0 + BLOCK_POINTS, num_points)
        a, joint_a = u[:, :, : n1 - n0], joint[:, : n1 - n0]
        torch.bmm(lhs, terms.rhs[:, :, n0:n1], out=a)
        torch.addcmul(terms.c[:, :, n0:n1], a, a, value=-1.0, out=a)  # log-densities
        if want_joint:
            torch.sum(a, dim=0, out=joint_a)
        torch.sum(a.clamp_min_(terms.floor).exp_(), dim=2, out=part)
        sums += part
        if want_joint:
            joint_a.sub_(shift[:, None])
            torch.sum(joint_a.clamp_min_(terms.floor).exp_(), dim=1, out=joint_part)
            joint_sums += joint_part
    return sums, joint_sums


@contextmanager
def single_threaded_torch() -> Iterator[None]:
    """Torch's intra-op parallelism set to 1 for the threads started inside the block.

    Torch applies its thread count to each thread on that thread's first parallel operation,
    so the worker threads started here run single-threaded; the count in force before is
    restored on exit, error or not. (threadpoolctl limits OpenMP for the calling thread only,
    which does not reach new threads.)
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _precision_dtype(z: Tensor, mu: Tensor, sqrt_h: Tensor) -> torch.dtype:
    """float32 unless some posterior is too narrow for float32 to resolve ``z - mu``."""
    magnitude = torch.maximum(z.abs().amax(dim=0), mu.abs().amax(dim=0))  # (D,)
    scale = float((magnitude * sqrt_h.amax(dim=0)).max())
    return torch.float32 if scale <= FLOAT32_RANGE else torch.float64


def _exact(z: Tensor, mu: Tensor, logvar: Tensor) -> tuple[Tensor, Tensor]:
    """float64 logsumexp with a running maximum, for the rare samples that need it."""
    log_n = math.log(mu.shape[0])
    dims, joints = [], []
    for s0 in range(0, z.shape[0], 64):  # (64, 4096, D) float64 blocks: ~20 MB at D = 10
        zs = z[s0 : s0 + 64, None, :]
        dim = torch.full((zs.shape[0], z.shape[1]), -math.inf, dtype=torch.float64)
        joint = torch.full((zs.shape[0],), -math.inf, dtype=torch.float64)
        for n0 in range(0, mu.shape[0], 4096):
            a = log_normal(zs, mu[None, n0 : n0 + 4096], logvar[None, n0 : n0 + 4096])
            dim = torch.logaddexp(dim, torch.logsumexp(a, dim=1))
            joint = torch.logaddexp(joint, torch.logsumexp(a.sum(dim=2), dim=1))
        dims.append(dim)
        joints.append(joint)
    return torch.cat(dims) - log_n, torch.cat(joints) - log_n
