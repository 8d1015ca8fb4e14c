"""Second-stage priors over the code maps of a VQ run: training, sampling and the bound.

A prior is a run of its own in ``<run>/prior/`` (config, checkpoints, log, status), trained by
the one training loop (:func:`untwine.train`) with the ``codeprior`` objective on the
``codes`` dataset: the code maps of the VQ run's training images, encoded once with the
checkpoint of step ``step`` and cached in ``<run>/prior/codes-<step>.npy``, so every step
(and every resume) reads the same codes. Each example is an (L, H, W) canvas of int16 code
indices, one channel per level (top first), each level in the top-left corner
(:class:`untwine.models.code_prior.CodeMapPrior`).

- :func:`train_prior`: ``untwine train-prior RUN --steps N`` (``--resume`` continues it).
- :func:`sample_images`: codes from the prior, decoded by the VQ model (``untwine sample RUN
  --n 64`` draws them as ``<run>/prior/samples.png``, :func:`untwine.viz.samples.prior_samples`).
- :func:`nll_bound`: -log p(x) <= -log p(x | z_q) - log p_prior(codes) per image, in nats, with
  the learnt prior or the uniform one (positions * log K).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch

from untwine.data import ArrayData, register_dataset
from untwine.data.base import about
from untwine.errors import CheckpointError, ConfigError
from untwine.files import atomic_write_bytes
from untwine.models import MODELS
from untwine.models.code_prior import CodeMapPrior
from untwine.models.codebook import CodebookModel
from untwine.objectives import METHODS
from untwine.train.run import Run

PRIOR_DIR = "prior"


def prior_dir(run: str | Path) -> Path:
    return Path(run) / PRIOR_DIR


def codebook_run(path: str | Path) -> Run:
    """The run at ``path``, checked to be of a codebook family (VQ-VAE, VQ-VAE-2)."""
    run = Run(path)
    method = run.config.method.name
    family = METHODS.get(method).family
    if not issubclass(MODELS.get(family), CodebookModel):
        raise ConfigError(
            f"{path}: method {method!r} trains a {family!r} model; a prior over codes needs a "
            "run of a codebook method (vqvae, vqvae2)"
        )
    return run


# -- the dataset of code maps ---------------------------------------------------------------
@torch.no_grad()
def encode_codes(run: Run, images: int | None = None, seed: int = 0) -> np.ndarray:
    """Code canvases (N, L, H, W) int16 of the run's training images (all, or ``images`` of
    them drawn without replacement with ``seed``), encoded with its newest checkpoint."""
    data = run.dataset()
    model: CodebookModel = run.model
    n = len(data)
    order = np.arange(n) if images is None else np.random.default_rng(seed).permutation(n)
    order = np.sort(order[: images or n])
    shapes = model.code_shapes()
    canvas = np.zeros((len(order), len(shapes), *shapes[-1]), np.int16)
    device = next(model.parameters()).device
    for start in range(0, len(order), 512):
        idx = order[start : start + 512]
        x = torch.from_numpy(data.images(idx)).to(device).float() / data.max_value
        for level, (codes, (h, w)) in enumerate(zip(model.encode(x).indices, shapes, strict=True)):
            canvas[start : start + len(idx), level, :h, :w] = codes.cpu().numpy()
    return canvas


@register_dataset("codes")
@about((), (), "code maps of VQ run run= at step=, for its prior (untwine train-prior)")
def load_codes(run: str, step: int, images: int | None = None, seed: int = 0) -> ArrayData:
    """The code maps of VQ run ``run`` at checkpoint ``step`` (cached after the first call)."""
    subset = "" if images is None else f"-{images}-{seed}"
    cache = prior_dir(run) / f"codes-{step:08d}{subset}.npy"
    if cache.is_file():
        canvas = np.load(cache, allow_pickle=False)
    else:
        vq = codebook_run(run)
        if vq.step != step:
            raise CheckpointError(
                f"{cache}: no cached codes for step {step}, and {run} is now at step "
                f"{vq.step}; train a new prior (untwine train-prior {run})"
            )
        canvas = encode_codes(vq, images, seed)
        buf = io.BytesIO()
        np.save(buf, canvas, allow_pickle=False)
        atomic_write_bytes(cache, buf.getvalue())
    codes = ArrayData("codes", ("example",), (len(canvas),), canvas.shape[1:], canvas, max_value=1)
    codes.holds = "codes"
    return codes


# -- training, sampling, bound ---------------------------------------------------------------
def train_prior(
    run: str | Path,
    steps: int,
    *,
    resume: bool = False,
    images: int | None = None,
    progress: bool = True,
    threads: int | None = None,
    **settings: Any,
) -> Run:
    """Train (or with ``resume``, continue) the PixelCNN prior of VQ run ``run`` for ``steps``
    steps in total; ``settings`` are flat settings of the prior run (``prior_channels``,
    ``prior_layers``, ``prior_kernel``, ``lr``, ``batch_size``, ``seed`` ...)."""
    from untwine.train.loop import train

    vq = codebook_run(run)
    out = prior_dir(run)
    if resume:
        return train(
            config=out / "config.yaml",
            resume=True,
            steps=steps,
            progress=progress,
            threads=threads,
            **settings,
        )
    options = {"run": str(Path(run).resolve()), "step": _checkpoint_step(vq)}
    if images is not None:
        options["images"] = images
    base = {
        "dataset": "codes",
        "dataset_options": options,
        "method": "codeprior",
        "codebook_size": vq.config.model.codebook_size,
        "lr": 3e-4,
        "batch_size": 32,
        "log_every": 50,
        "out": str(out),
        "steps": steps,
    }
    return train(progress=progress, threads=threads, **{**base, **settings})


def _checkpoint_step(run: Run) -> int:
    """The step of the run's newest checkpoint (a one-line error when it has none)."""
    return int(run.checkpoint_path.name.split("-")[1])


def _prior(run: str | Path) -> tuple[Run, Run]:
    """The VQ run and its trained prior run, checked to belong together."""
    vq = codebook_run(run)
    path = prior_dir(run)
    if not (path / "config.yaml").is_file() or Run(path).step == 0:
        raise CheckpointError(
            f"{run}: no trained prior yet (nothing in {path}); train one with "
            f"`untwine train-prior {run} --steps N`"
        )
    prior = Run(path)
    trained_on = prior.config.dataset.options["step"]
    if trained_on != vq.step:
        raise CheckpointError(
            f"{path}: the prior was trained on the codes of step {trained_on} but {run} is now at "
            f"step {vq.step}; train a new prior"
        )
    return vq, prior


@torch.no_grad()
def sample_images(run: str | Path, n: int, seed: int = 0) -> np.ndarray:
    """``n`` mean images (n, C, H, W) in [0, 1]: codes drawn from the prior (top level first,
    each position in raster order), decoded by the VQ model."""
    vq, prior = _prior(run)
    model: CodeMapPrior = prior.model
    generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    codes = model.sample(n, generator)
    return vq.model.decode_indices(codes).cpu().numpy()


@torch.no_grad()
def nll_bound(
    run: str | Path, images: np.ndarray, learnt_prior: bool = True, batch_size: int = 256
) -> np.ndarray:
    """Upper bound on -log p(x) per image (N,), nats: -log p(x | z_q(x)) - log p(codes), with
    the learnt prior (``learnt_prior``) or the uniform prior over codes. Divide by
    D ln 2 (D = C * H * W) for bits per dimension."""
    vq, prior = _prior(run) if learnt_prior else (codebook_run(run), None)
    model: CodebookModel = vq.model
    out = []
    floats = torch.from_numpy(vq.float_images(images))
    device = next(model.parameters()).device
    for x in floats.split(batch_size):
        x = x.to(device)
        prior_nll = None
        if prior is not None:
            prior_nll = prior.model.nll([c.to(x.device) for c in model.encode(x).indices])
        out.append(model.nll_bound(x, prior_nll).cpu())
    return torch.cat(out).numpy()
