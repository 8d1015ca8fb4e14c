"""Run registered metrics on a representation of a ground-truth dataset, or on a trained run.

Every metric is registered by name (``untwine.registry.METRICS``) as an *adapter*
``adapter(ctx: EvalContext, *, setting=default, ...) -> dict``; its keyword-only parameters are
the settings :func:`evaluate` accepts as overrides and records. A user metric registers the
same way and is then evaluated by name like the built-in ones.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from untwine import rundir
from untwine.errors import CheckpointError, ConfigError
from untwine.metrics._validate import MetricInputError
from untwine.metrics.context import (
    EncoderFn,
    EvalContext,
    RepresentationFn,
    accepts_reduced,
    reads_labels,
)
from untwine.nets.precision import FULL_PRECISION, check_precision
from untwine.registry import METRICS

#: Every built-in metric, in the order :func:`evaluate_run` computes them by default.
BUILTIN_METRICS = (
    "mig",
    "sap",
    "dci",
    "modularity",
    "factor_vae_score",
    "beta_vae_score",
    "mig_full",
    "elbo",
    "unsupervised",
)
#: the metrics that read Gaussian posteriors (mu, logvar) rather than a representation
POSTERIOR_METRICS = ("mig_full", "elbo")
#: What :func:`evaluate_run` encodes in: ``"auto"``, each metric in the lowest precision it
#: accepts (the run's own for those declared with ``accepts_reduced_precision``, float32 for
#: the rest); ``"fp32"``, every metric in float32.
EVAL_PRECISIONS = ("auto", "fp32")


def metric_settings(name: str) -> dict[str, Any]:
    """The settings (keyword-only parameters) of a registered metric, with their defaults."""
    adapter = METRICS.get(name)
    return {
        p.name: p.default
        for p in inspect.signature(adapter).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    }


#: Settings renamed so that each name says what it counts: old name -> {metric: new name}.
#: ``num_train`` meant points for some metrics and votes for others, so it maps per metric.
RENAMED_SETTINGS: dict[str, dict[str, str]] = {
    "num_train": {
        **dict.fromkeys(("mig", "sap", "dci", "modularity"), "num_points"),
        **dict.fromkeys(("factor_vae_score", "beta_vae_score"), "num_votes"),
    },
    "num_test": dict.fromkeys(("sap", "dci", "modularity"), "num_test_points"),
    "num_eval": dict.fromkeys(("factor_vae_score", "beta_vae_score"), "num_eval_votes"),
    "batch_size": dict.fromkeys(("factor_vae_score", "beta_vae_score"), "vote_batch_size"),
    "num_variance_estimate": {"factor_vae_score": "num_variance_points"},
}


def _renamed(key: str) -> str | None:
    """A one-line hint naming the new name(s) of an old setting (plain or prefixed), or None."""
    for old, new in RENAMED_SETTINGS.items():
        if key == old:
            targets = sorted(set(new.values()))
            where = ", ".join(f"{name} for {metric}" for metric, name in new.items())
            return f"setting {key!r} was renamed to {' / '.join(map(repr, targets))} ({where})"
        for metric, name in new.items():
            if key == f"{metric}_{old}":
                return f"setting {key!r} was renamed to {f'{metric}_{name}'!r}"
    return None


def resolve_settings(
    names: Iterable[str], overrides: Mapping[str, Any]
) -> dict[str, dict[str, Any]]:
    """Settings per metric: defaults, then plain overrides, then ``<metric>_<setting>`` ones.

    A plain key (``num_points``) applies to every selected metric having that setting; a
    prefixed key (``dci_model``) to that metric only. A key that applies to none is an error
    (a ``ConfigError``), which names the new name when the key is an old one
    (:data:`RENAMED_SETTINGS`). Unknown metric names raise too, listing the known ones.
    """
    names = list(names)
    settings = {name: metric_settings(name) for name in names}
    used: set[str] = set()
    for key, value in overrides.items():
        for params in settings.values():
            if key in params:
                params[key] = value
                used.add(key)
    for key, value in overrides.items():
        for name, params in settings.items():
            prefix = name + "_"
            if key.startswith(prefix) and key[len(prefix) :] in params:
                params[key[len(prefix) :]] = value
                used.add(key)
    unknown = sorted(set(overrides) - used)
    renamed = [hint for hint in map(_renamed, unknown) if hint]
    if renamed:
        raise ConfigError("; ".join(renamed))
    if unknown:
        known = sorted(
            {k for params in settings.values() for k in params}
            | {f"{name}_{k}" for name, params in settings.items() for k in params}
        )
        raise ConfigError(
            f"unknown option(s) {', '.join(map(repr, unknown))} for metrics "
            f"{', '.join(names)}; accepted: {', '.join(known)}"
        )
    return settings


def evaluate(
    representation_fn: RepresentationFn | None,
    data: Any,
    names: Iterable[str],
    seed: int = 0,
    *,
    encoder_fn: EncoderFn | None = None,
    reduced: tuple[str, RepresentationFn] | None = None,
    **overrides: Any,
) -> dict[str, dict]:
    """Compute the named metrics of a representation of ``data``; ``{name: result}``.

    Array-level metrics (``mig``, ``sap``, ``dci``, ``modularity``) share one draw of
    ``num_points`` train and ``num_test_points`` test points from
    ``numpy.random.default_rng(seed)`` (defaults 10,000 / 5,000, mean representation), encoded
    once. ``factor_vae_score`` and
    ``beta_vae_score`` draw their own points from the same seed (their numbers equal the
    stand-alone functions'); every image is encoded at most about once across them.
    ``mig_full`` and ``elbo`` need ``encoder_fn`` (images -> ``(mu, logvar)``) and share the
    posteriors of the whole grid. Given only ``encoder_fn``, every metric reads one table of
    means and log-variances: no image is encoded twice in the call. Given ``reduced``, the
    metrics declared with :func:`untwine.metrics.context.accepts_reduced_precision` (the
    FactorVAE and beta-VAE scores) read its codes instead, from a table of their own.

    Args:
        representation_fn: float32 images (N, C, H, W) -> codes (N, D); deterministic, in
            full precision (fp32). If None, the mean returned by ``encoder_fn`` is used.
        reduced: ``(precision, representation_fn)``, the same representation in a reduced
            inference precision (e.g. ``("bf16", fn)``), for the metrics that accept it.
        data: a ground-truth dataset (:class:`untwine.data.GroundTruthData` protocol).
        names: registered metric names, e.g. ``["mig", "dci"]``.
        overrides: settings such as ``num_points=2000`` (every metric that has it) or
            ``dci_model="fast"`` (one metric); unknown or renamed settings raise
            ``ConfigError`` (see :func:`resolve_settings`).

    Returns:
        Each metric's result dict (see :mod:`untwine.metrics`) plus ``settings`` (all values
        used), ``codes_precision`` (the precision of the codes it read: ``"fp32"`` or
        ``reduced``'s name), ``seed``, ``untwine_version``, ``dataset`` and ``seconds``.
    """
    from untwine.version import __version__

    names = list(names)
    for name in names:
        METRICS.get(name)  # unknown names fail before any work, listing the known ones
    _check_labels(data, names)
    settings = resolve_settings(names, overrides)
    ctx = EvalContext(
        data, seed, representation_fn=representation_fn, encoder_fn=encoder_fn, reduced=reduced
    )
    results: dict[str, dict] = {}
    for name in names:
        adapter = METRICS.get(name)
        precision = ctx.precision_for(adapter)
        start = time.perf_counter()
        result = dict(adapter(ctx.using(precision), **settings[name]))
        result.update(
            settings=settings[name],
            codes_precision=precision,
            seed=seed,
            untwine_version=__version__,
            dataset=getattr(data, "name", type(data).__name__),
            seconds=round(time.perf_counter() - start, 3),
        )
        results[name] = result
    return results


def _check_labels(data: Any, names: list[str]) -> None:
    """Unlabelled images (no factor table) take only the metrics that read no labels."""
    if getattr(data, "labelled", True):
        return
    supervised = [n for n in names if reads_labels(METRICS.get(n))]
    if supervised:
        free = [n for n in METRICS.names() if not reads_labels(METRICS.get(n))]
        raise MetricInputError(
            f"metric(s) {', '.join(supervised)} compare codes with factor labels, and dataset "
            f"{getattr(data, 'name', '?')!r} has none; label-free: {', '.join(free)}, and "
            "'untwine select --by udr'"
        )


def evaluate_run(
    run_dir: str | os.PathLike,
    names: Iterable[str] | None = None,
    seed: int = 0,
    precision: str = "auto",
    **overrides: Any,
) -> dict[str, dict]:
    """Evaluate a trained run and merge the results into ``run_dir/metrics.json``.

    Loads the run with :func:`untwine.load_run` (mean representation via
    ``run.representation``, posteriors via ``run.encode``, dataset via ``run.dataset()``),
    calls :func:`evaluate` (``names`` defaults to every built-in metric, less
    ``POSTERIOR_METRICS`` for a model without a Gaussian posterior such as VQ-VAE; pass
    ``dci_model="fast"`` for the fast DCI) and writes the file atomically: results of
    metrics not recomputed are kept, and if anything fails nothing is written. Unknown
    metric names, a missing run and a run without checkpoints fail before any work.

    ``precision`` (:data:`EVAL_PRECISIONS`): with ``"auto"``, the metrics that accept reduced
    precision (the FactorVAE and beta-VAE scores) read codes of the run's own inference
    precision (``load_run(path, precision="run")``: bf16 for a run trained in bf16), which
    keeps them within 0.005 of float32 at a fraction of the encoding time; every other
    metric, and every metric of an fp32 run, reads float32 codes. ``"fp32"``: all float32.
    """
    from untwine import load_run  # deferred: the training stack is heavy and optional here

    check_precision(precision, EVAL_PRECISIONS)
    selected = list(BUILTIN_METRICS if names is None else names)
    for name in selected:
        METRICS.get(name)  # an unknown name fails first, listing the known ones
    run = load_run(run_dir)
    run.checkpoint_path  # noqa: B018 - a run without checkpoints fails here, before the data
    encoder_fn = run.encode if run.has_gaussian_posterior else None
    if names is None and encoder_fn is None:  # e.g. VQ-VAE: score its representation only
        selected = [n for n in selected if n not in POSTERIOR_METRICS]
    data = run.dataset()
    if names is None and not getattr(data, "labelled", True):  # what images alone allow
        selected = [n for n in selected if not reads_labels(METRICS.get(n))]
    reduced = None
    if precision == "auto" and any(accepts_reduced(METRICS.get(n)) for n in selected):
        own = load_run(run_dir, precision="run")
        if own.precision != FULL_PRECISION:
            reduced = (own.precision, own.representation)
    results = evaluate(
        run.representation,
        data,
        selected,
        seed,
        encoder_fn=encoder_fn,
        reduced=reduced,
        **overrides,
    )
    rundir.merge_metrics(run_dir, results)
    return results


def evaluate_folder(
    folder: str | os.PathLike,
    names: Iterable[str] | None = None,
    seed: int = 0,
    precision: str = "auto",
    **overrides: Any,
) -> list[dict[str, Any]]:
    """Evaluate every run folder at or below ``folder`` (one run, a sweep, a study).

    Returns one row per run: ``{"run": name relative to folder, "step", "error"?,
    <headline score>: value, ...}`` with the scores of the metrics just computed. When
    ``folder`` is itself a run folder its errors propagate (a run without checkpoints is a
    one-line error); below a folder of runs, such a run is reported in its row (``error``)
    and the others still run. A folder holding no run folder is a one-line error.
    ``precision``: as for :func:`evaluate_run`.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"{folder}: no such run directory or folder")
    selected = list(BUILTIN_METRICS if names is None else names)
    for name in selected:
        METRICS.get(name)
    resolve_settings(selected, overrides)  # a bad setting fails before the first run is loaded
    check_precision(precision, EVAL_PRECISIONS)
    run_dirs = rundir.find_run_dirs(folder)
    if not run_dirs:
        raise ConfigError(f"{folder}: no run folders (with config.yaml) at or below it")
    rows = []
    for run_dir in run_dirs:
        name = str(run_dir.relative_to(folder)) if run_dir != folder else run_dir.name
        row: dict[str, Any] = {"run": name, "step": rundir.step(run_dir)}
        try:
            results = evaluate_run(run_dir, selected, seed, precision, **overrides)
        except CheckpointError as e:
            if run_dir == folder:
                raise
            row["error"] = str(e)
        else:
            row.update(rundir.headline_scores(results))
        rows.append(row)
    return rows
