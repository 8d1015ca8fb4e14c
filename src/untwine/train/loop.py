"""The training loop: plain PyTorch, one function, top to bottom.

``train(data, method="betavae", beta=4, steps=2000, seed=0, out="runs/b4")`` trains a model,
writing into ``out``: ``config.yaml`` (the complete configuration), ``log.jsonl`` (loss terms
every ``log_every`` steps), ``status.json`` and ``checkpoints/`` (every ``checkpoint_every``
steps and at the end). ``resume=True`` continues from the newest checkpoint, and ends with
the same weights, bit for bit, as an uninterrupted run. A config's ``pretrain`` runs its first
steps under another method's objective (:class:`untwine.config.PretrainConfig`): the loop
goes through phases (:class:`Phase`), each an objective and its batch stream.
"""

from __future__ import annotations

import contextlib
import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from untwine import data as datasets
from untwine import models, nets, rundir
from untwine.config import TrainConfig, nest, validate
from untwine.data import GroundTruthData
from untwine.errors import CheckpointError, ConfigError, TrainingError
from untwine.files import WriteError, write_error
from untwine.nets.precision import recorded_precision, resolve_precision, run_networks_in
from untwine.objectives import METHODS
from untwine.train import checkpoint
from untwine.train.data import BatchStream
from untwine.train.run import Run
from untwine.train.runtime import configure_threads, select_device, tune_allocator
from untwine.train.signals import RunInterrupted, StopSignals


def train(
    data: GroundTruthData | str | None = None,
    *,
    config: TrainConfig | str | Path | None = None,
    preset: str | None = None,
    resume: bool = False,
    threads: int | None = None,
    progress: bool = True,
    **settings: Any,
) -> Run:
    """Train the model the method's objective asks for and return its :class:`Run`.

    ``data`` is a dataset object (from :func:`untwine.data.load`) or a registered name;
    ``config`` a :class:`TrainConfig` or a path to a ``config.yaml``; ``settings`` are flat
    settings (``method``, the method's hyperparameters, ``steps``, ``seed``, ``out``,
    ``z_dim``, ``lr``, ``batch_size`` ...) that override the config; ``preset`` names a set of
    settings (:mod:`untwine.objectives.presets`) applied beneath ``settings``.
    """
    cfg = _resolve_config(data, config, settings, preset)
    out = Path(cfg.out)
    # Everything that can fail on bad input happens before the run directory is touched.
    if not isinstance(data, GroundTruthData):
        data = datasets.load(cfg.dataset.name, **cfg.dataset.options)
    cfg = _fit_to_data(cfg, data)
    device = select_device(cfg.device)
    with rundir.owned(out):  # one training process per run folder, for its whole life
        cfg, resume_from = _prepare_run_dir(cfg, out, resume, device)
        return _train(cfg, data, out, resume_from, threads, progress, device)


def _train(
    cfg: TrainConfig,
    data: GroundTruthData,
    out: Path,
    resume_from: Path | None,
    threads: int | None,
    progress: bool,
    device: torch.device,
) -> Run:
    """The body of :func:`train`, run while the run folder's lock is held."""
    # -- set-up ------------------------------------------------------------------------
    configure_threads(threads)
    tune_allocator()  # measured 1.34x on the bare conv loop here (bench/train_throughput.py)
    torch.manual_seed(cfg.seed)  # network initialisation
    method = METHODS.get(cfg.method.name)
    model = models.build(method.family, data.observation_shape, cfg.model).to(device)
    # a pretraining phase's objective is built first, as in a run of that method alone, so
    # that the run is that run, bit for bit, until its own method takes over
    pretrain = None
    if cfg.pretrain is not None:
        first = METHODS.get(cfg.pretrain.method.name)
        pretrain = first(cfg.pretrain.method, model, len(data), cfg.optim).to(device)
    objective = method(cfg.method, model, len(data), cfg.optim).to(device)
    # the networks in cfg.precision, the loss in float32
    for module in [m for m in (model, objective, pretrain) if m is not None]:
        run_networks_in(module, cfg.precision, device.type)
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=cfg.optim.lr,
        betas=(cfg.optim.adam_beta1, cfg.optim.adam_beta2),
        eps=cfg.optim.eps,
    )
    noise = torch.Generator(device=device)
    noise.manual_seed(cfg.seed)

    def new_phase(first_step: int, loss: torch.nn.Module, after: Phase | None = None) -> Phase:
        per_step = cfg.optim.batch_size * loss.batches_per_step
        start = 0 if after is None else after.stream.position(first_step)
        stream = BatchStream(data, per_step, cfg.seed, device, first_step=first_step, start=start)
        return Phase(first_step, loss, stream)

    if pretrain is None:
        phases = [new_phase(0, objective)]
    else:
        first = new_phase(0, pretrain)
        phases = [first, new_phase(cfg.pretrain.steps, objective, after=first)]

    start = 0
    if resume_from is not None:
        start, state = checkpoint.load(resume_from)
        checkpoint.restore(state, model, objective, optimizer, noise, pretrain)
        rundir.truncate_log(out, start)
    if start >= cfg.steps:
        return Run(out)

    def save(step: int) -> None:
        state = checkpoint.gather(model, objective, optimizer, noise, data, pretrain)
        checkpoint.save(out, step, state, keep=cfg.keep_checkpoints)

    # -- the loop ----------------------------------------------------------------------
    model.train()
    log = open(out / rundir.LOG, "a")  # noqa: SIM115 - closed in finally
    meter = Meter()
    bar = tqdm(
        total=cfg.steps, initial=start, disable=not progress, unit="step", dynamic_ncols=True
    )
    t_last, images_since = time.perf_counter(), 0
    rundir.write_status(out, "running", start)
    stop = StopSignals()  # SIGTERM/SIGINT: finish the step, checkpoint, stop
    stop.install()
    step = start
    try:
        for step in range(start, cfg.steps):
            phase = next(p for p in reversed(phases) if step >= p.first_step)
            loss, local = phase.objective, step - phase.first_step
            batch = phase.stream.batch(step)
            # aggressive inference (He et al. 2019): encoder-only updates on the batch's other
            # parts first; x is the whole batch unless the method's encoder_steps > 1
            x, encoder_terms = loss.train_encoder(model, batch, local, noise)
            result = loss(model, x, local, noise)
            terms = {**result.terms, **encoder_terms}
            if not torch.isfinite(terms["loss"]):
                raise TrainingError(_non_finite_message(step, terms, out))
            optimizer.zero_grad(set_to_none=True)
            terms["loss"].backward()
            optimizer.step()
            # auxiliary networks (FactorVAE's discriminator) learn from what forward handed off
            terms.update(loss.update(local, result.handoff))
            meter.add(terms)
            images_since += batch.shape[0]
            bar.update(1)

            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                now = time.perf_counter()
                record = {
                    "step": done,
                    "epoch": round(phase.stream.epoch(done), 4),
                    "images_per_s": round(images_since / (now - t_last), 1),
                    **meter.means(),
                }
                try:
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                except OSError as e:
                    raise write_error(out / rundir.LOG, e) from None
                bar.set_postfix(_postfix(record), refresh=False)
                t_last, images_since = now, 0
            if done % cfg.checkpoint_every == 0 or done == cfg.steps:
                save(done)
                rundir.write_status(out, "running" if done < cfg.steps else "done", done)
            elif stop.signum is not None:
                save(done)
            if stop.signum is not None and done < cfg.steps:
                rundir.write_status(out, "interrupted", done)
                name = signal.Signals(stop.signum).name
                raise RunInterrupted(
                    f"{name} at step {done}: checkpoint written; continue with --resume",
                    stop.signum,
                )
    except (TrainingError, WriteError) as e:
        with contextlib.suppress(WriteError):  # the disk may be too full even for this
            rundir.write_status(out, "failed", step, str(e))
        raise
    except RunInterrupted:
        raise
    except KeyboardInterrupt:
        rundir.write_status(out, "interrupted", step)
        raise
    finally:
        stop.restore()
        bar.close()
        log.close()
    return Run(out)


# -- helpers ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Phase:
    """A stretch of a run under one objective, from ``first_step`` on: the objective sees
    steps counted from there; its batches carry on the run's one order of images from where
    the phase before it stopped (augmentation noise is keyed by the run's step)."""

    first_step: int
    objective: torch.nn.Module
    stream: BatchStream


class Meter:
    """Running sums of loss terms between two log lines (tensors, so no sync per step); a
    term logged only on some steps (aggressive inference's) is averaged over those."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, terms: dict[str, torch.Tensor]) -> None:
        for k, v in terms.items():
            v = v.detach()
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict[str, Any]:
        out = {}
        for k, v in self.sums.items():
            mean = (v / self.counts[k]).cpu()
            out[k] = mean.item() if mean.numel() == 1 else [round(x, 5) for x in mean.tolist()]
        self.sums, self.counts = {}, {}
        return out


def _postfix(record: dict[str, Any]) -> dict[str, str]:
    shown = {k: f"{v:.4g}" for k, v in record.items() if isinstance(v, float) and k != "epoch"}
    shown["img/s"] = f"{record['images_per_s']:.0f}"
    shown.pop("images_per_s", None)
    return shown


def _non_finite_message(step: int, terms: dict[str, torch.Tensor], out: Path) -> str:
    bad = [k for k, v in terms.items() if k != "loss" and not torch.isfinite(v).all()] or ["loss"]
    last = checkpoint.latest(out)
    kept = "; no checkpoint was written"
    if last is not None:
        try:  # say it is intact only once its checksums say so
            checkpoint.verify(last)
            kept = f"; the last good checkpoint {last} is intact (checksums verified)"
        except CheckpointError as e:
            kept = f"; the last checkpoint is damaged too ({e})"
    value = terms[bad[0]].detach().flatten()[0].item()
    return f"non-finite loss at step {step}: term {bad[0]!r} is {value}{kept}"


def _resolve_config(data, config, settings, preset=None) -> TrainConfig:
    base: dict[str, Any] = {}
    if config is not None:
        cfg = config if isinstance(config, TrainConfig) else TrainConfig.load(config)
        base = cfg.model_dump(mode="json")
    if isinstance(data, GroundTruthData):
        settings.setdefault("dataset", data.name)
        settings.setdefault("dataset_options", getattr(data, "load_options", {}))
    elif isinstance(data, str):
        settings.setdefault("dataset", data)
    if preset is not None:  # the preset's settings lie beneath the explicit ones
        from untwine.objectives import presets

        below = presets.get(preset)["settings"]
        if settings.get("method", below["method"]) != below["method"]:
            raise ConfigError(f"preset {preset!r} is for method {below['method']!r}")
        settings = {**below, **{k: v for k, v in settings.items() if v is not None}}
    return validate(nest(settings, base), source=str(config) if config else "settings")


def _fit_to_data(cfg: TrainConfig, data: GroundTruthData) -> TrainConfig:
    """``cfg`` with ``network: auto`` resolved to the method's papers' network for the
    dataset's images (so config.yaml names it); a named network is checked to fit them, and
    the method to read what the dataset holds."""
    method = METHODS.get(cfg.method.name)
    if method.reads != data.holds:
        raise ConfigError(
            f"method {cfg.method.name!r} trains on {method.reads}, dataset "
            f"{cfg.dataset.name!r} holds {data.holds}"
        )
    shape, preferred = data.observation_shape, method.networks
    if not preferred:  # a family that builds its own networks
        return cfg
    if cfg.model.network == nets.AUTO:
        chosen = nets.choose(preferred, shape)
        return cfg.model_copy(update={"model": cfg.model.model_copy(update={"network": chosen})})
    if not nets.fits(cfg.model.network, shape):
        size = "x".join(map(str, nets.NETWORKS.get(cfg.model.network).image_size))
        raise ConfigError(
            f"network {cfg.model.network!r} needs {size} images, dataset "
            f"{cfg.dataset.name!r} has {tuple(shape)}; leave network out (auto) to train "
            f"{nets.choose(preferred, shape)!r}"
        )
    return cfg


def _prepare_run_dir(
    cfg: TrainConfig, out: Path, resume: bool, device: torch.device
) -> tuple[TrainConfig, Path | None]:
    """Check ``out`` against the request and write config.yaml. Returns ``cfg`` with its
    precision resolved (a resumed run keeps the precision it trained in unless another is
    asked for explicitly, which is refused like any other changed setting) and the checkpoint
    to resume from (the newest that verifies), or None for a new run."""
    checkpoint.clean_partial(out)
    existing = checkpoint.latest(out)
    if resume:
        if existing is None:
            raise CheckpointError(
                f"{out}: no checkpoint to resume from (nothing under {out / 'checkpoints'})"
            )
        saved = TrainConfig.load(out / rundir.CONFIG).model_dump(mode="json")
        saved["precision"] = recorded_precision(saved["precision"])
        if cfg.precision == "auto":
            cfg = cfg.model_copy(update={"precision": saved["precision"]})
        wanted = cfg.model_dump(mode="json")
        changed = sorted(
            k for k in wanted if wanted[k] != saved.get(k) and k not in rundir.RESUMABLE
        )
        if changed:
            raise ConfigError(
                f"{out}: cannot resume with different {', '.join(changed)} than config.yaml; "
                f"only {', '.join(sorted(rundir.RESUMABLE))} may change"
            )
    elif existing is not None:
        raise CheckpointError(
            f"{out} already holds a run (checkpoint {existing.name}); pass --resume to continue "
            "it or choose another output directory"
        )
    cfg = cfg.model_copy(update={"precision": resolve_precision(cfg.precision, device)})
    out.mkdir(parents=True, exist_ok=True)
    resume_from = checkpoint.resume_checkpoint(out) if resume else None
    cfg.save(out / rundir.CONFIG)
    if not resume:
        (out / rundir.LOG).unlink(missing_ok=True)
    return cfg, resume_from


__all__ = ["train"]
