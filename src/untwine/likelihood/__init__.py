"""How good a model is as a density model: log p(x), the IWAE bounds and bits per dimension.

``likelihood.estimate(run, k=5000, split="test")`` returns, for the held-out images::

    {"log_px": L_5000 (nats, mean over examples), "stderr": its standard error over examples,
     "mc_stderr": the Monte Carlo standard error of that mean (delta method, see mc_variance),
     "elbo": L_1, "bounds": {"1": L_1, "5": L_5, "50": L_50, ..., "5000": L_5000},
     "bits_per_dim": ..., "k": 5000, "n": examples, "active_units": ..., "kl": ...,
     "mutual_information": I(x; z), "kl_per_dim": [...],
     "per_image": {"index": [...], "log_px": [...], "elbo": [...]}}

``per_image`` keeps each image's L_k and L_1 with its index in the split, so that two runs
estimated on the same images compare image by image: :func:`paired_difference` gives the
mean difference with its paired standard error, far smaller than either run's ``stderr``
(which is mostly the spread of the images, shared by both).

The collapse diagnostics beside log p(x): active units (Burda et al. 2015), the mean KL and
I(x; z) under the aggregate posterior of the evaluated images (the index-code MI of Chen et
al. 2018; at most log n). A collapsed posterior has all three near 0.

One code path serves every model with a density: it uses only the posterior's samples and
log-density, the prior's log-density and the decoder's log-likelihood
(see :mod:`untwine.models.density`).
Estimators: :mod:`untwine.likelihood.importance`; bits/dim and dequantisation:
:mod:`untwine.likelihood.bits`; models with exact likelihoods for checking them:
:mod:`untwine.likelihood.exact`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from untwine import rundir
from untwine.errors import ConfigError
from untwine.likelihood.bits import bits_per_dim, uniform_dequantise
from untwine.likelihood.importance import (
    COMPILE_MIN_ROWS,
    CompiledLogLikelihood,
    LogLikelihood,
    bound,
    log_mean_exp,
    log_weights,
)
from untwine.models import density as _model
from untwine.models.gaussian import index_code_mi
from untwine.nets.precision import networks_in
from untwine.train import runtime as _runtime
from untwine.train.runtime import channels_last

__all__ = [
    "active_units",
    "bits_per_dim",
    "bound",
    "estimate",
    "estimate_model",
    "examples",
    "log_mean_exp",
    "log_weights",
    "mc_variance",
    "paired_difference",
]

#: What the networks may run in during an estimate (``auto``: see :func:`resolve_precision`).
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

    ``precision`` (``fp32``, ``bf16`` or ``auto``: see :func:`resolve_precision`) is what the
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
    precision = resolve_precision(precision, device)
    if compile is None:
        compile = len(images) * k >= COMPILE_MIN_ROWS
    likelihood: LogLikelihood = CompiledLogLikelihood() if compile else _model.log_likelihood
    try:
        with networks_in(model, precision, device.type, channels_last=channels_last(precision)):
            out = _estimate_model(
                model, images, k, max_value, batch_size, seed, chunk, device, likelihood
            )
    finally:
        if compile:
            torch.compiler.reset()
    out["precision"] = precision
    out["compiled"] = isinstance(likelihood, CompiledLogLikelihood) and likelihood.failed is None
    return out


def resolve_precision(requested: str, device: torch.device) -> str:
    """What the networks run in for an estimate on ``device``: ``fp32`` or ``bf16`` as asked,
    ``auto`` as a training run resolves it (bf16 where the device has bfloat16 units, see
    :func:`untwine.train.runtime.resolve_precision`).

    bf16 is safe here because only the networks' matrix products are rounded: on a conv64
    VAE trained on binarised mnist5k at 64x64 (20 test images, k = 5,000, the same samples),
    log p(x) moved from its fp32 value by +0.009 nats after 1,000 training steps and by -0.001
    after 2,000 (ELBO: +0.064 and +0.007); bench/likelihood_speed.py prints it on every run.
    """
    check_precision(requested)
    return _runtime.resolve_precision(requested, device)


def check_precision(requested: str) -> None:
    """A one-line ConfigError unless ``requested`` is one of :data:`LIKELIHOOD_PRECISIONS`."""
    if requested not in LIKELIHOOD_PRECISIONS:
        raise ConfigError(
            f"precision: expected one of {', '.join(LIKELIHOOD_PRECISIONS)} (got {requested!r})"
        )


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


#: Seed of the fixed random subset ``max_examples`` picks: the same images for every run and
#: every importance-sampling seed, so that runs compare on equal examples.
SUBSET_SEED = 20151101


def resolve_split(data: Any, split: str | None) -> str | None:
    """``split`` with ``"auto"`` resolved: the test split where ``data`` has one, else the
    training images (see :func:`examples`)."""
    if split != "auto":
        return split
    return "test" if "test" in getattr(data, "splits", ()) else "train"


def examples(data: Any, split: str | None, max_examples: int | None) -> tuple[Any, np.ndarray]:
    """The dataset of ``split`` and the indices of the images an estimate evaluates.

    ``split="test"`` (or another held-out split) must exist: a dataset without it raises a
    one-line DataError. ``split="train"`` is the training images, also for a dataset that has
    no named splits (a factor grid such as dSprites, whose every image is a training image);
    ``split=None`` takes ``data`` as given. ``max_examples`` below the split's size picks a
    fixed random subset (:data:`SUBSET_SEED`, in index order): the first images of a factor
    grid all share the slowest factor's first value.
    ``split="auto"`` is ``"test"`` where the dataset has a test split and ``"train"``
    elsewhere; the dataset returned says which (``data.split_name`` for a labelled one; the
    result of :func:`estimate` names it).
    """
    split = resolve_split(data, split)
    if split == "train" and "train" not in getattr(data, "splits", ()):
        split = None  # no named splits: the dataset is its training images
    if split is not None:
        data = data.split(split)
    n = len(data)
    if max_examples is None or max_examples >= n:
        return data, np.arange(n)
    if max_examples < 1:
        raise ConfigError(f"max_examples: expected an integer >= 1 (got {max_examples!r})")
    rng = np.random.default_rng(SUBSET_SEED)
    return data, np.sort(rng.choice(n, size=max_examples, replace=False))


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
    from untwine.train.run import Run

    check_precision(precision)
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
    from untwine.train import prior as code_prior

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


RESULT_FILE = rundir.LIKELIHOOD


def run_dirs(path: str | Path) -> list[Path]:
    """``path`` if it is a run directory, else every run directory below it, sorted."""
    path = Path(path)
    if (path / "config.yaml").is_file():
        return [path]
    found = sorted(
        p.parent for p in path.rglob("config.yaml") if (p.parent / "checkpoints").is_dir()
    )
    if not found:
        raise ConfigError(f"{path}: not a run directory and no run directories below it")
    return found


def estimate_and_save(run_dir: str | Path, **options: Any) -> dict[str, Any]:
    """:func:`estimate`, then ``likelihood.json`` in the run directory (written atomically,
    so a failed estimate never replaces a good one)."""
    result = estimate(run_dir, **options)
    rundir.write_likelihood(run_dir, result)
    return result


def _each_run(path: str | Path, fn: Any) -> list[dict[str, Any]]:
    """``fn(run)`` for the run directory ``path``, or for every run below the folder ``path``:
    there, a run for which it raises gives a row ``{"run": ..., "error": ...}`` and the
    others go on; a single run raises."""
    from untwine.errors import UntwineError

    dirs = run_dirs(path)
    if dirs == [Path(path)]:
        return [fn(Path(path))]
    results = []
    for run in dirs:
        try:
            results.append(fn(run))
        except UntwineError as e:
            results.append({"run": str(run), "error": str(e)})
    return results


def estimate_path(path: str | Path, **options: Any) -> list[dict[str, Any]]:
    """:func:`estimate_and_save` for a run directory, or for every run below a folder (a run
    that cannot be estimated there, with no density, no test split or no checkpoint, is a
    row of its own; see :func:`_each_run`)."""
    check_precision(options.get("precision", DEFAULT_PRECISION))
    return _each_run(path, lambda run: estimate_and_save(run, **options))


def read_saved(run: str | Path) -> dict[str, Any]:
    """The estimate saved in ``run``'s likelihood.json, as :func:`estimate` returned it (its
    ``run`` the directory as given now); a one-line ConfigError where there is none."""
    saved = rundir.read_likelihood(run)
    if "log_px" not in saved:
        path = Path(run) / RESULT_FILE
        raise ConfigError(f"{path}: no saved estimate (run 'untwine likelihood {run}')")
    return {**saved, "run": str(run)}


def saved_path(path: str | Path) -> list[dict[str, Any]]:
    """:func:`read_saved` for a run directory, or for every run below a folder (one without
    an estimate is a row of its own there): :func:`estimate_path`'s rows, estimating nothing."""
    return _each_run(path, read_saved)


def compare_to(results: list[dict[str, Any]], baseline: Mapping[str, Any]) -> None:
    """Give every result without an error a ``vs_base``: its :func:`paired_difference` from
    ``baseline``, or ``{"error": ...}`` saying why there is none."""
    for r in results:
        if "error" not in r:
            try:
                r["vs_base"] = paired_difference(r, baseline)
            except ConfigError as e:
                r["vs_base"] = {"error": str(e)}


def paired_difference(result: Mapping[str, Any], baseline: Mapping[str, Any]) -> dict[str, Any]:
    """``result``'s log p(x) minus ``baseline``'s, image by image, for two estimates (results of
    :func:`estimate`, or likelihood.json documents) of the same images: the mean difference
    in nats, its standard error over the images (the paired one: the spread of the
    differences, not of the images) and their number. A ConfigError names what does not
    match: the dataset, the split or the images themselves, or an estimate saved before
    per-image values were kept."""
    name, base = result.get("run", "result"), baseline.get("run", "baseline")
    for r, who in ((result, name), (baseline, base)):
        if "log_px" not in r.get("per_image", {}):
            raise ConfigError(
                f"{who}: its estimate has no per-image values (saved by an older untwine): "
                "estimate it again"
            )
    for key in ("dataset", "split"):
        if result.get(key) != baseline.get(key):
            raise ConfigError(
                f"{name}: estimated on {key} {result.get(key)!r}, {base} on "
                f"{baseline.get(key)!r}: a paired difference needs the same images"
            )
    a, b = result["per_image"], baseline["per_image"]
    if list(a.get("index", [])) != list(b.get("index", [])):
        raise ConfigError(
            f"{name}: estimated on other images of the split than {base} ({len(a['log_px'])} "
            f"and {len(b['log_px'])} images): estimate both with the same max_examples"
        )
    d = np.asarray(a["log_px"], dtype=np.float64) - np.asarray(b["log_px"], dtype=np.float64)
    n = len(d)
    return {
        "difference": float(d.mean()),
        "stderr": float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan"),
        "n": n,
        "baseline": base,
    }


def format_table(results: list[dict[str, Any]], baseline: Mapping[str, Any] | None = None) -> str:
    """One aligned text row per result: the run, log p(x) +- s.e., the bounds, diagnostics;
    with a ``baseline``, each row's :func:`paired_difference` from it (see :func:`compare_to`)."""
    failed = [r for r in results if "error" in r]
    results = [r for r in results if "error" not in r]
    ks = sorted({int(j) for r in results for j in r["bounds"]})
    head = ["run", "log p(x)", "+-", "ELBO", *[f"L_{j}" for j in ks if j not in (1,)]]
    head += ["bits/dim", "active", "KL", "I(x;z)", "n"]
    if baseline is not None:
        head += ["vs base", "+-"]
        compare_to(results, baseline)
    rows = [head]
    for r in results:
        bpd = "-" if r["bits_per_dim"] is None else f"{r['bits_per_dim']:.4f}"
        paired = []
        if baseline is not None:
            d = r["vs_base"]
            if "error" in d:
                paired = ["-", "-"]
                failed.append({"run": r["run"], "error": f"vs base: {d['error']}"})
            else:
                paired = [f"{d['difference']:+.3f}", f"{d['stderr']:.3f}"]
        rows.append(
            [
                r["run"],
                f"{r['log_px']:.2f}",
                f"{r['stderr']:.2f}",
                f"{r['elbo']:.2f}",
                *[
                    f"{r['bounds'][str(j)]:.2f}" if str(j) in r["bounds"] else "-"
                    for j in ks
                    if j != 1
                ],
                bpd,
                "-" if r["active_units"] is None else f"{r['active_units']}/{len(r['kl_per_dim'])}",
                "-" if r["kl"] is None else f"{r['kl']:.2f}",
                "-" if r.get("mutual_information") is None else f"{r['mutual_information']:.2f}",
                str(r["n"]),
                *paired,
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    errors = "".join(f"{r['run']}  error: {r['error']}\n" for r in failed)
    table = "".join(
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        + "\n"
        for row in rows
    )
    note = ""
    if baseline is not None:
        note = (
            f"vs base: log p(x) minus that of {baseline.get('run')} on the same images, "
            "+- its paired standard error\n"
        )
    return table + note + errors
