"""A run directory, read back: ``untwine.load_run(path)``."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from untwine import data as datasets
from untwine import models, rundir
from untwine.config import TrainConfig
from untwine.data import GroundTruthData
from untwine.data.base import to_float
from untwine.errors import CheckpointError, ConfigError, DataError
from untwine.models import LatentModel
from untwine.nets.precision import check_precision, recorded_precision, run_networks_in
from untwine.objectives import METHODS
from untwine.train import checkpoint
from untwine.train.runtime import select_device, tune_allocator

#: What :class:`Run` may run inference in: float32, or ``"run"``, the precision the run trained
#: in. float32 is the default because the metrics are compared across runs and machines:
#: bfloat16 rounds the networks' products to 8 bits of mantissa, so codes move by up to a few
#: hundredths of their range, and bench/precision_metrics.py measures how far MIG, SAP, DCI
#: and the FactorVAE score move; bf16 inference becomes the default only where they stay within
#: 0.005 of float32.
INFERENCE_PRECISIONS = ("fp32", "run")


class Run:
    """A trained (or training) model's directory: config, newest checkpoint, log and status."""

    def __init__(self, path: str | Path, device: str = "auto", precision: str = "fp32") -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise CheckpointError(f"{self.path}: no such run directory")
        if not (self.path / rundir.CONFIG).is_file():
            raise CheckpointError(f"{self.path}: not a run directory (no {rundir.CONFIG})")
        self.config = TrainConfig.load(self.path / rundir.CONFIG)
        self._device = select_device(device)
        check_precision(precision, INFERENCE_PRECISIONS)
        #: what inference runs the networks in: ``"run"`` (the precision the run trained in)
        #: or ``"fp32"`` (see :data:`INFERENCE_PRECISIONS`)
        self.precision = (
            recorded_precision(self.config.precision) if precision == "run" else precision
        )
        # inference batches' activations (1,024 conv64 images: ~130 MB a layer) would otherwise
        # be mmap-ed and page-faulted afresh on every call (see tune_allocator)
        tune_allocator()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, method={self.config.method.name!r}, step={self.step})"

    # -- state ---------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        found = checkpoint.latest(self.path)
        if found is None:
            raise CheckpointError(f"{self.path}: the run has no checkpoint yet")
        return found

    @cached_property
    def _meta(self) -> dict[str, Any]:
        return checkpoint.read_meta(self.checkpoint_path)

    @property
    def step(self) -> int:
        """The step of the newest checkpoint (0 before the first)."""
        found = checkpoint.latest(self.path)
        return 0 if found is None else checkpoint.step_of(found)

    @property
    def status(self) -> dict[str, Any]:
        """status.json (``{"state", "step", "pid", "host", "time", "error"?}``) with ``state``
        as :func:`untwine.rundir.run_state` reads it (a "running" run whose process
        is gone is "interrupted")."""
        doc = rundir.read_status(self.path)
        state = rundir.run_state(doc, rundir.read_cell(self.path))
        return {**doc, "state": state, "step": doc.get("step", self.step)}

    def log(self) -> list[dict[str, Any]]:
        """The records of ``log.jsonl`` (a torn last line is skipped)."""
        return rundir.read_log(self.path)

    @cached_property
    def model(self) -> LatentModel:
        """The model of the family the run's method trains, with the newest checkpoint's
        weights, in eval mode."""
        _, state = checkpoint.load(self.checkpoint_path)
        family = METHODS.get(self.config.method.name).family
        shape = tuple(self._meta["observation_shape"])
        model = models.build(family, shape, self.config.model)
        model.load_state_dict(checkpoint.model_weights(state))
        model = model.to(self._device).eval()
        run_networks_in(model, self.precision, self._device.type)
        return model

    def dataset(self) -> GroundTruthData:
        """The dataset the run was trained on, loaded by its registered name and options."""
        ds = self.config.dataset
        return datasets.load(ds.name, **ds.options)

    # -- inference -----------------------------------------------------------------------
    def _float_batches(
        self, images: np.ndarray | torch.Tensor, batch_size: int
    ) -> Iterator[torch.Tensor]:
        """``images`` checked against the model's shape, then converted to float on the
        model's device one batch at a time: the whole of dSprites as uint8 (3 GB) would be
        12 GB as float32."""
        x = torch.as_tensor(images)  # no copy for a numpy array
        expected = tuple(self.model.observation_shape)
        if x.ndim == len(expected) - 1 and expected[0] == 1:
            x = x.unsqueeze(1)  # (N, H, W) grayscale
        if tuple(x.shape[1:]) != expected:
            raise DataError(
                f"images must have shape (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}"
            )
        max_value = self._meta["max_value"]
        for chunk in x.split(batch_size):
            yield to_float(chunk.to(self._device), max_value)

    def float_images(self, images: np.ndarray | torch.Tensor) -> np.ndarray:
        """``images`` (uint8 or float) as the float32 array in [0, 1] the model sees."""
        return torch.cat([b.cpu() for b in self._float_batches(images, 1024)]).numpy()

    @property
    def has_gaussian_posterior(self) -> bool:
        """Whether the model's posterior is a diagonal Gaussian, so that :meth:`encode` and the
        metrics that read posteriors (``mig_full``, ``elbo``) apply."""
        return isinstance(self.model, models.GaussianVAE)

    @torch.no_grad()
    def encode(self, images, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and log-variances, each (N, z) float32, for uint8 or float images:
        the ``mu`` and ``logvar`` of a family whose posterior has a Gaussian part (the
        Gaussian family; IBP-VAE's q(s|x)). A family without one (VQ) is a one-line error."""
        mus, logvars = [], []
        for chunk in self._float_batches(images, batch_size):
            post = self.model.encode(chunk)
            if not (hasattr(post, "mu") and hasattr(post, "logvar")):
                raise ConfigError(
                    f"{self.path}: a {self.model.family!r} model has no Gaussian posterior "
                    "(mu, logvar) to encode into"
                )
            mus.append(post.mu.cpu())
            logvars.append(post.logvar.cpu())
        if not mus:
            empty = np.zeros((0, self.model.z_dim), np.float32)
            return empty, empty.copy()
        return torch.cat(mus).numpy(), torch.cat(logvars).numpy()

    @torch.no_grad()
    def representation(self, images, batch_size: int = 1024) -> np.ndarray:
        """The model's codes (N, D), float32, for uint8 or float images: what the metrics score
        (Gaussian family: the posterior means)."""
        batches = self._float_batches(images, batch_size)  # an empty input gives one empty batch
        return torch.cat([self.model.representation(c).cpu() for c in batches]).numpy()

    @torch.no_grad()
    def usage(self, images, batch_size: int = 1024) -> np.ndarray | None:
        """Per latent dimension, the share of ``images`` that switch it on, (D,) float64, for
        families whose dimensions can be off (IBP); None otherwise (``LatentModel.usage``)."""
        total, count = None, 0
        for chunk in self._float_batches(images, batch_size):
            u = self.model.usage(chunk)
            if u is None:
                return None
            part = u.double().cpu().numpy() * len(chunk)
            total, count = (part if total is None else total + part), count + len(chunk)
        return None if total is None or count == 0 else total / count

    @torch.no_grad()
    def reconstruct(self, images, batch_size: int = 1024) -> np.ndarray:
        """Mean reconstructions in [0, 1], float32 (the model's ``reconstruct``: for the
        Gaussian family, the decoded posterior means)."""
        outs = [self.model.reconstruct(c).cpu() for c in self._float_batches(images, batch_size)]
        return torch.cat(outs).numpy()

    @torch.no_grad()
    def decode(self, z: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Mean images in [0, 1] for latent codes (N, z)."""
        zt = torch.as_tensor(np.asarray(z, dtype=np.float32))
        return torch.cat(
            [
                self.model.mean(self.model.decode(c.to(self._device))).cpu()
                for c in zt.split(batch_size)
            ]
        ).numpy()


def load_run(path: str | Path, device: str = "auto", precision: str = "fp32") -> Run:
    """Open the run directory at ``path`` (raises CheckpointError if it is not one); inference
    runs the networks in ``precision``: ``"fp32"`` or ``"run"`` (the run's own)."""
    return Run(path, device=device, precision=precision)
