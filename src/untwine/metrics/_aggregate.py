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
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

LOG_2PI = math.log(2.0 * math.pi)

#: Block of posteriors x samples; with D = 10 a float32 block is ~650 KB (cache-sized).
BLOCK_POINTS = 2048
BLOCK_SAMPLES = 8
#: Exponent floors: exp(-87) ~ 1.6e-38 is still a normal float32; float64's limit is ~-708.
EXP_FLOOR = {"float32": -87.0, "float64": -700.0}
#: Largest |z - mu| / sigma resolvable in float32 to ~1e-4 in ``u`` (see _precision_dtype).
FLOAT32_RANGE = 1e3
#: A float32 sum below this is treated as underflowed and recomputed exactly.
TINY_SUM = 1e-25


def gaussian_log_density(z: np.ndarray, mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """Elementwise log N(z; mu, exp(logvar)) in nats (float64)."""
    z, mu, logvar = (np.asarray(a, dtype=np.float64) for a in (z, mu, logvar))
    return -0.5 * (LOG_2PI + logvar + (z - mu) ** 2 * np.exp(-logvar))


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
        num_threads: worker threads (default: torch's intra-op thread count). While they
            run, torch's own intra-op parallelism is set to 1 process-wide (then restored).

    Returns:
        float64 arrays in nats, each including the ``- log N``: per-dimension
        ``log q(z_sj)`` and the joint ``log q(z_s)`` (None without ``own_log_density``).
        In float32 (the usual case) they agree with a float64 log-sum-exp to ~1e-5 nats.
    """
    import torch  # deferred: only the full-dataset estimators need torch

    num_samples, num_dims = z.shape
    num_points = mu.shape[0]
    want_joint = own_log_density is not None
    workers = num_threads or torch.get_num_threads()
    with torch.no_grad():
        logvar64 = torch.as_tensor(np.asarray(logvar), dtype=torch.float64)
        mu64 = torch.as_tensor(np.asarray(mu), dtype=torch.float64)
        sqrt_h64 = torch.exp(-0.5 * logvar64) / math.sqrt(2.0)
        # rhs[d] = [sqrt(h); -mu sqrt(h)] (2, N) so that [z, 1] @ rhs[d] = u for every d.
        z64 = torch.as_tensor(np.asarray(z), dtype=torch.float64)
        dtype = _precision_dtype(z64, mu64, sqrt_h64)
        floor = EXP_FLOOR[str(dtype).removeprefix("torch.")]
        rhs = torch.stack([sqrt_h64.T, -(mu64 * sqrt_h64).T], dim=1).to(dtype).contiguous()
        c = (-0.5 * (LOG_2PI + logvar64)).T.contiguous().to(dtype)[:, None, :]  # (D, 1, N)
        zt = z64.T.contiguous().to(dtype)  # (D, S)
        shift = torch.zeros(num_samples, dtype=torch.float64)
        if want_joint:
            shift = torch.as_tensor(np.asarray(own_log_density), dtype=torch.float64)
            # Terms never exceed sum_d max_n c_n; keep them below exp(70) so that up to ~1e8
            # of them still sum inside float32.
            upper = float(c.double().amax(dim=2).sum())
            shift = torch.clamp_min(shift, upper - 70.0)
        shift_block = shift.to(dtype)
        sums = torch.zeros(num_dims, num_samples, dtype=torch.float64)
        joint_sums = torch.zeros(num_samples, dtype=torch.float64)

        def run_block(s0: int) -> None:
            s1 = min(s0 + BLOCK_SAMPLES, num_samples)
            rows = s1 - s0
            ones = torch.ones(num_dims, rows, dtype=dtype)
            lhs = torch.stack([zt[:, s0:s1], ones], dim=2)  # (D, S_b, 2)
            u = torch.empty(num_dims, rows, BLOCK_POINTS, dtype=dtype)
            j = torch.empty(rows, BLOCK_POINTS, dtype=dtype)
            part = torch.empty(num_dims, rows, dtype=dtype)
            joint_part = torch.empty(rows, dtype=dtype)
            block_sums = torch.zeros(num_dims, rows, dtype=torch.float64)
            block_joint = torch.zeros(rows, dtype=torch.float64)
            for n0 in range(0, num_points, BLOCK_POINTS):
                n1 = min(n0 + BLOCK_POINTS, num_points)
                uv, jv = u[:, :, : n1 - n0], j[:, : n1 - n0]
                torch.bmm(lhs, rhs[:, :, n0:n1], out=uv)
                torch.addcmul(c[:, :, n0:n1], uv, uv, value=-1.0, out=uv)  # log-densities
                if want_joint:
                    torch.sum(uv, dim=0, out=jv)
                torch.sum(uv.clamp_min_(floor).exp_(), dim=2, out=part)
                block_sums += part  # float32 within a block, float64 across blocks
                if want_joint:
                    jv.sub_(shift_block[s0:s1, None])
                    torch.sum(jv.clamp_min_(floor).exp_(), dim=1, out=joint_part)
                    block_joint += joint_part
            sums[:, s0:s1] = block_sums
            joint_sums[s0:s1] = block_joint

        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with ThreadPoolExecutor(max_workers=max(1, min(workers, os.cpu_count() or 1))) as pool:
                list(pool.map(run_block, range(0, num_samples, BLOCK_SAMPLES)))
        finally:
            torch.set_num_threads(previous)

        log_n = math.log(num_points)
        log_dims = (torch.log(sums) - log_n).T.contiguous()
        bad = ~torch.isfinite(log_dims).all(dim=1) | (sums < TINY_SUM).any(dim=0)
        log_joint = torch.log(joint_sums) + shift - log_n
        if want_joint:
            bad |= ~torch.isfinite(log_joint) | (joint_sums < TINY_SUM)
        redo = torch.nonzero(bad).flatten()
        if len(redo):
            exact_dims, exact_joint = _exact(z64[redo], mu64, logvar64)
            log_dims[redo] = exact_dims
            log_joint[redo] = exact_joint
    return log_dims.numpy(), (log_joint.numpy() if want_joint else None)


def _precision_dtype(z, mu, sqrt_h):
    """float32 unless some posterior is too narrow for float32 to resolve ``z - mu``."""
    import torch

    magnitude = torch.maximum(z.abs().amax(dim=0), mu.abs().amax(dim=0))  # (D,)
    scale = float((magnitude * sqrt_h.amax(dim=0)).max())
    return torch.float32 if scale <= FLOAT32_RANGE else torch.float64


def _exact(z, mu, logvar):
    """float64 logsumexp with a running maximum, for the rare samples that need it."""
    import torch

    log_n = math.log(mu.shape[0])
    dims, joints = [], []
    for s0 in range(0, z.shape[0], 64):  # (64, 4096, D) float64 blocks: ~20 MB at D = 10
        zs = z[s0 : s0 + 64, None, :]
        dim = torch.full((zs.shape[0], z.shape[1]), -math.inf, dtype=torch.float64)
        joint = torch.full((zs.shape[0],), -math.inf, dtype=torch.float64)
        for n0 in range(0, mu.shape[0], 4096):
            m, lv = mu[None, n0 : n0 + 4096], logvar[None, n0 : n0 + 4096]
            a = -0.5 * (LOG_2PI + lv + (zs - m) ** 2 * torch.exp(-lv))
            dim = torch.logaddexp(dim, torch.logsumexp(a, dim=1))
            joint = torch.logaddexp(joint, torch.logsumexp(a.sum(dim=2), dim=1))
        dims.append(dim)
        joints.append(joint)
    return torch.cat(dims) - log_n, torch.cat(joints) - log_n
