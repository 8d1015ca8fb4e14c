"""log p(x) of a model, and of a run on its dataset's images: the importance-sampled estimate
with its bounds and collapse diagnostics (:func:`estimate_model`, :func:`estimate`), and the
deterministic code bound of a VQ run (:func:`estimate_code_bound`).

(Named ``estimator`` rather than ``estimate`` so that the module does not share its name with
the function :func:`estimate` the package re-exports.)
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from untwine.errors import ConfigError
from untwine.likelihood.bits import bits_per_dim, uniform_dequantise
from untwine.likelihood.importance import (
    COMPILE_MIN_ROWS,
    CompiledLogLikelihood,
    LogLikelihood,
    bound,
    log_weights,
    mc_variance,
)
from untwine.likelihood.splits import examples, resolve_split
from untwine.models import density as _model
from untwine.models.normal import index_code_mi
from untwine.nets.precision import check_precision, networks_in, resolve_precision
from untwine.train import prior as code_prior
from untwine.train.run import Run

#: What the networks may run in during an estimate (``auto`` as
#: :func:`untwine.nets.precision.resolve_precision` resolves it for the device: bf16 where it
#: has bfloat16 units). bf16 is safe here because only the networks' matrix products are
#: rounded: on a conv64 VAE trained on binarised mnist5k at 64x64 (20 test images,
#: k = 5,000, the same samples), log p(x) moved from its fp32 value by +0.009 nats after
#: 1,000 training steps and by -0.001 after 2,000 (ELBO: +0.064 and +0.007);
#: bench/likelihood_speed.py prints it on every run.
LIKELIHOOD_PRECISIONS = ("auto", "fp32", "bf16")
#: What :func:`estimate`, a study and the command line run the networks in unless told
#: otherwise; :func:`estimate_model`, which exactness checks call, stays fp32 by default.
DEFAULT_PRECISION = "auto"

#: Burda et al. (2015), appendix: unit u is active if Cov_x(E_q[z_u]) exceeds this.
ACTIVE_THRESHOLD = 0.01


def active_units(means: np.ndarray | torch.Tensor, threshold: float = ACTIVE_THRESHOLD) -> int:
    """Number of latent dimensions whose posterior mean varies across examples (N, D)."""
    m = torch.as_tensor(means, dtype=torch.float64)
    return int((m.var(dim=0, unbiased=True) > threshold).sum())


def _cpu_generator(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def _report_ks(k: int) -> list[int]:
    """k itself and the smaller IWAE-table sample counts that divide it."""
    return sorted({j for j in (1, 5, 50, 500) if j <= k and k % j == 0} | {k})


@torch.no_grad()
def estimate_model(
    model: torch.nn.Module,
    images: np.ndarray | torch.Tensor,
    *,
    k: int = 5000,
    max_value: int = 255,
    batch_size: int = 100,
    seed: int = 0,
    chunk: int | None = None,
    precision: str = "fp32",
    compile: bool | None = None,
) -> dict[str, Any]:
    """log p(x), the L_k bounds and collapse diagnostics of ``model`` on uint8 ``images``.

    Examples are processed ``batch_size`` at a time, their ``k`` samples ``chunk`` at a
    time; each example's k log-weights meet in one log-sum-exp. Continuous likelihoods are
    evaluated on uniformly dequantised images (x + u) / L, L = max_value + 1, so that their
    bits/dim bounds that of the discrete data; see :mod:`untwine.likelihood.bits`.

    ``precision`` (:data:`LIKELIHOOD_PRECISIONS`: ``fp32``, ``bf16`` or ``auto``) is what the
    model's networks run in for the estimate; every density, log-weight and log-sum-exp is
    float32 either way (:mod:`untwine.nets.precision`). The model's own setting is restored
    afterwards. The result names the precision used.

    ``compile`` runs log p(x|z) (decoder and log-density) through ``torch.compile``
    (:class:`~untwine.likelihood.importance.CompiledLogLikelihood`); ``None`` compiles when
    the estimate decodes at least :data:`~untwine.likelihood.importance.COMPILE_MIN_ROWS`
    rows (images x k). Compiled and uncompiled estimates draw the same samples and agree to
    float32 rounding (tested); the result says which ran (``compiled``). The compiled code
    is discarded afterwards (``torch.compiler.reset``).
    """
    if not isinstance(k, int) or k < 1:
        raise ConfigError(f"k: expected an integer >= 1 (got {k!r})")
    if not _model.has_density(model):
        raise ConfigError(f"model {type(model).__name__} has no density p(x); no log p(x)")
    device = next(model.parameters()).device
    precision = resolve_precision(precision, device, LIKELIHOOD_PRECISIONS)
    if compile is None:
        compile = len(images) * k >= COMPILE_MIN_ROWS
    likelihood: LogLikelihood = CompiledLogLikelihood() if compile else _model.log_likelihood
    try:
        with networks_in(model, precision, device.type):
            out = _estimate_model(
                model, images, k, max_value, batch_size, seed, chunk, device, likelihood
            )
    finally:
        if compile:
            torch.compiler.reset()
    out["precision"] = precision
    out["compiled"] = isinstance(likelihood, CompiledLogLikelihood) and likelihood.failed is None
    return out


def _estimate_model(
    model: torch.nn.Module,
    images: np.ndarray | torch.Tensor,
    k: int,
    max_value: int,
    batch_size: int,
    seed: int,
    chunk: int | None,
    device: torch.device,
    likelihood: LogLikelihood,
) -> dict[str, Any]:
    x_all = torch.as_tensor(np.asarray(images))
    n = x_all.shape[0]
    if n == 0:
        raise ConfigError("no images to evaluate")
    levels = max_value + 1
    model_levels = _model.levels(model)
    continuous = model_levels is None
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    ks = _report_ks(k)
    per_k: dict[int, list[torch.Tensor]] = {j: [] for j in ks}
    means, logvars, kls, mc_vars = [], [], [], []
    t0 = time.perf_counter()
    for xb in x_all.split(batch_size):
        xb = xb.to(device)
        x = uniform_dequantise(xb, levels, gen) if continuous else xb.float() / max_value
        lw = log_weights(model, x, k, generator=gen, chunk=chunk, log_likelihood=likelihood)
        mc_vars.append(mc_variance(lw))
        for j in ks:
            per_k[j].append(bound(lw, j))
        posterior = model.encode(x)
        means.append(_model.posterior_mean(posterior).cpu())
        logvars.append(posterior.logvar.cpu())
        kls.append(_model.kl_per_dim(posterior).sum(0).cpu())
    seconds = time.perf_counter() - t0
    values = {j: torch.cat(v).double().cpu() for j, v in per_k.items()}
    log_px = values[k]
    dims = int(np.prod(x_all.shape[1:]))
    bpd = None  # a Bernoulli on grey levels, say, is not a probability of them: no bits/dim
    if continuous or model_levels == levels:
        bpd = float(bits_per_dim(log_px.mean().item(), dims, levels if continuous else None))
    kl_dims = (torch.stack(kls).sum(0) / n).tolist()
    mu, logvar = torch.cat(means).double(), torch.cat(logvars).double()
    z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=_cpu_generator(seed))
    mi = index_code_mi(mu, logvar, z).item()
    return {
        "log_px": log_px.mean().item(),
        "stderr": (log_px.std().item() / math.sqrt(n)) if n > 1 else float("nan"),
        "mc_stderr": math.sqrt(torch.cat(mc_vars).double().sum().item()) / n,
        "elbo": values[1].mean().item(),
        "bounds": {str(j): values[j].mean().item() for j in ks},
        "bits_per_dim": bpd,
        "k": k,
        "n": n,
        "dims": dims,
        "dequantised": continuous,
        "active_units": active_units(torch.cat(means)),
        "kl": float(sum(kl_dims)),
        "mutual_information": mi,
        "kl_per_dim": kl_dims,
        "seconds": seconds,
        "per_image": {"log_px": log_px.tolist(), "elbo": values[1].tolist()},
    }


def estimate(
    run: Any,
    data: Any = None,
    k: int = 5000,
    split: str | None = "test",
    *,
    max_examples: int | None = None,
    batch_size: int = 100,
    seed: int = 0,
    precision: str = DEFAULT_PRECISION,
    compile: bool | None = None,
) -> dict[str, Any]:
    """:func:`estimate_model` for a run (a :class:`untwine.Run` or its directory) on the
    ``split`` of ``data`` (default: the run's own dataset), all of it or a fixed random subset
    of ``max_examples`` images (see :func:`examples`). The result names the split, the
    number of images it holds (``split_size``) and the precision the networks ran in."""
    check_precision(precision, LIKELIHOOD_PRECISIONS)
    run = run if isinstance(run, Run) else Run(Path(run))
    data = run.dataset() if data is None else data
    settings = {"k": k, "split": split, "max_examples": max_examples, "seed": seed}
    settings["precision"] = precision
    split = resolve_split(data, split)
    data, idx = examples(data, split, max_examples)
    images = data.images(idx)
    if not _model.has_density(run.model) and hasattr(run.model, "nll_bound"):
        # a discrete-latent model (VQ-VAE): a deterministic bound instead of importance sampling
        out = estimate_code_bound(run, images, data.max_value, batch_size, seed)
    else:
        out = estimate_model(
            run.model,
            images,
            k=k,
            max_value=data.max_value,
            batch_size=batch_size,
            seed=seed,
            precision=precision,
            compile=compile,
        )
    out["per_image"] = {"index": idx.tolist(), **out["per_image"]}
    out.update(
        {
            "run": str(run.path),
            "split": split,
            "split_size": len(data),
            "dataset": data.name,
            "settings": settings,  # as asked; a study compares them to its own
        }
    )
    return out


@torch.no_grad()
def estimate_code_bound(
    run: Any, images: np.ndarray, max_value: int, batch_size: int = 100, seed: int = 0
) -> dict[str, Any]:
    """The bound -log p(x) <= -log p(x | z_q(x)) - log p(codes) of a VQ run, in nats, with its
    learnt PixelCNN prior (``<run>/prior``) when it has one, and with the uniform prior
    (positions * log K) always (van den Oord et al. 2017; the posterior is a point mass, so
    this is the ELBO). ``log_px`` is minus the bound with the best prior available; images are
    dequantised first for a continuous likelihood, as in :func:`estimate_model`."""
    model = run.model
    device = next(model.parameters()).device
    levels = max_value + 1
    model_levels = _model.levels(model)
    continuous = model_levels is None
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    x_all = torch.as_tensor(np.asarray(images))
    x = torch.cat(
        [
            uniform_dequantise(xb.to(device), levels, gen) if continuous else xb.float() / max_value
            for xb in x_all.split(batch_size)
        ]
    ).cpu()
    t0 = time.perf_counter()
    has_prior = (code_prior.prior_dir(run.path) / "config.yaml").is_file()
    uniform = torch.as_tensor(code_prior.nll_bound(run.path, x, False, batch_size))
    learnt = None
    if has_prior:
        learnt = torch.as_tensor(code_prior.nll_bound(run.path, x, True, batch_size))
    best = (learnt if learnt is not None else uniform).double()
    n, dims = len(best), int(np.prod(x_all.shape[1:]))

    def bpd(nll: torch.Tensor) -> float | None:
        if continuous or model_levels == levels:
            return float(bits_per_dim(-nll.mean().item(), dims, levels if continuous else None))
        return None

    return {
        "log_px": -best.mean().item(),
        "stderr": (best.std().item() / math.sqrt(n)) if n > 1 else float("nan"),
        "elbo": -best.mean().item(),
        "bounds": {"1": -best.mean().item()},
        "prior": "learnt" if learnt is not None else "uniform",
        "log_px_uniform_prior": -uniform.double().mean().item(),
        "bits_per_dim": bpd(best),
        "bits_per_dim_uniform_prior": bpd(uniform.double()),
        "k": 1,
        "n": n,
        "dims": dims,
        "dequantised": continuous,
        "active_units": None,
        "kl": None,
        "mutual_information": None,
        "kl_per_dim": [],
        "seconds": time.perf_counter() - t0,
        "precision": run.precision,
        "per_image": {"log_px": (-best).tolist(), "elbo": (-best).tolist()},
    }
