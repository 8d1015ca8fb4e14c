"""Importance-sampled log p(x) and the IWAE bounds (Burda, Grosse & Salakhutdinov 2015).

With proposal q(z|x) and log-weights log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x),
z_i ~ q(z|x):

- L_k = E[log (1/k) sum_i w_i] (eq. 8) is a lower bound on log p(x) that rises with k
  (theorem 1): ELBO = L_1 <= L_k <= L_{k+1} <= log p(x); L_k -> log p(x) as k grows.
- log p(x) is reported as L_5000 (section 5): all 5,000 log-weights of an example go into
  ONE log-sum-exp. The sampling is chunked to bound memory; the log-sum-exp is not.
  Averaging per-chunk log-sum-exps would estimate L_chunk, a looser bound.

All values are in nats per example. Log-weights are built from per-sample log-densities,
never from the analytic KL (which is the expectation of log q - log p, not a per-sample value).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import torch
from torch import Tensor, nn

from untwine.models import density as _model

#: elements of the decoder's output per chunk (2 MB of float32). Small enough that a chunk's
#: temporaries stay in cache: on a 2-core Xeon, 100 images x 1,000 samples with the mlp200
#: net took 4.9 s at 2^24 elements, 2.6 s at 2^19 and 3.2 s at 2^17 (one thread).
CHUNK_ELEMENTS = 1 << 19
#: fewest decoder rows (images x samples) per call. A conv decoder's output is large (4,096
#: elements at 64x64), so the element budget alone would give it small calls when few images
#: are left in a batch. The conv64 decoder in bf16 on a 2-core Xeon with AMX: ~75 us per row
#: from 100 to 500 rows, 138 us at 2,000 (fp32: 343 us at 100, 522 at 500); the whole
#: estimate at 300 rows a call ran ~5 % faster than at 100 (the per-call weight casts).
MIN_ROWS = 300
#: decoder rows (images x samples) from which an estimate compiles log p(x|z) by default:
#: compiling takes 5-15 s per shape on 2 cores; the conv64 decoder in bf16 then decodes and
#: scores a row in ~41 us instead of ~60 (its ReLUs fused into the convolutions, the
#: log-density, the float32 casts and the expanded images into one loop), so it pays from
#: well under a million rows. 2,000,000 is 400 images at k = 5,000.
COMPILE_MIN_ROWS = 2_000_000

#: log p(x|z) for samples z (k, N, D) of a batch x: (k, N) nats
LogLikelihood = Callable[[nn.Module, Tensor, Tensor], Tensor]


class CompiledLogLikelihood:
    """:func:`untwine.models.density.log_likelihood` through ``torch.compile``, for one
    model and one chunk size.

    Compiled code is specialised to its input shapes, so a short last chunk of samples is
    padded to the chunk size (with copies of its first sample, whose rows are dropped): the
    estimate compiles once per batch size of images, not once per remainder. Where
    compilation fails (no C++ compiler, an operation the compiler does not know), a warning
    says so and the estimate goes on uncompiled: the same numbers, only slower.
    """

    def __init__(self) -> None:
        self._fn = torch.compile(_model.log_likelihood, dynamic=False)
        self._samples: dict[int, int] = {}  # images in the batch -> samples per chunk
        self.failed: str | None = None

    def __call__(self, model: nn.Module, x: Tensor, z: Tensor) -> Tensor:
        if self.failed is not None:
            return _model.log_likelihood(model, x, z)
        k, n = z.shape[:2]
        full = self._samples.setdefault(n, k)
        if k < full:
            z = torch.cat([z, z[:1].expand(full - k, *z.shape[1:])])
        try:
            return self._fn(model, x, z)[:k]
        except Exception as err:  # any compiler failure: evaluate uncompiled
            self.failed = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
            warnings.warn(
                f"compiling log p(x|z) failed ({self.failed}); evaluating uncompiled",
                RuntimeWarning,
                stacklevel=2,
            )
            return _model.log_likelihood(model, x, z[:k])


def log_mean_exp(a: Tensor, dim: int = -1) -> Tensor:
    """log (1/n) sum exp(a) along ``dim``, stable (the maximum is subtracted by logsumexp)."""
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


def log_weights(
    model: nn.Module,
    x: Tensor,
    k: int,
    *,
    generator: torch.Generator | None = None,
    chunk: int | None = None,
    z: Tensor | None = None,
    log_likelihood: LogLikelihood = _model.log_likelihood,
) -> Tensor:
    """Log importance weights (N, k) in nats for a batch x, sampled ``chunk`` at a time.

    ``z`` (k, N, D) gives the samples instead of drawing them from q(z|x) (tests use it to
    compare chunkings on the same samples). ``chunk`` defaults to as many samples as keep the
    decoder's output within :data:`CHUNK_ELEMENTS`, but at least :data:`MIN_ROWS` rows per
    decoder call. The posterior is computed once for all k samples. ``log_likelihood``
    computes log p(x|z) (a :class:`CompiledLogLikelihood`, say).
    """
    posterior = model.encode(x)
    n = x.shape[0]
    if chunk is None:
        rows = max(MIN_ROWS, CHUNK_ELEMENTS // max(1, x[0].numel()))
        chunk = max(1, rows // n)
    out = []
    for start in range(0, k, chunk):
        c = min(chunk, k - start)
        zc = _model.draw(posterior, c, generator) if z is None else z[start : start + c]
        lw = (
            log_likelihood(model, x, zc) + _model.log_prior(model, zc) - _model.log_q(posterior, zc)
        )
        out.append(lw)
    return torch.cat(out, dim=0).T.contiguous()


def bound(log_w: Tensor, k: int | None = None) -> Tensor:
    """Per-example estimate (N,) of L_k from log-weights (N, K).

    ``k`` = K (default): one log-mean-exp over all K samples. A smaller ``k`` dividing K:
    the mean of the K / k group estimates of L_k (unbiased for L_k, lower variance than one
    group). k = 1 gives the Monte Carlo ELBO.
    """
    big_k = log_w.shape[1]
    k = big_k if k is None else k
    if big_k % k:
        raise ValueError(f"k={k} must divide the number of samples {big_k}")
    return log_mean_exp(log_w.view(log_w.shape[0], big_k // k, k), dim=2).mean(dim=1)


def mc_variance(log_w: torch.Tensor) -> torch.Tensor:
    """Per example (N,), the Monte Carlo variance (nats^2) of log (1/k) sum_i w_i from its k
    log-weights (N, k), by the delta method: Var[mean w] / (mean w)^2 with Var[mean w] =
    Var[w] / k. Computed on w / max w, so no weight overflows. An estimate from the same
    samples: with heavy-tailed weights (a poor proposal) it is too small."""
    w = torch.exp(log_w - log_w.max(dim=1, keepdim=True).values)
    k = log_w.shape[1]
    if k < 2:
        return torch.full((log_w.shape[0],), float("nan"))
    return w.var(dim=1) / (k * w.mean(dim=1) ** 2)
