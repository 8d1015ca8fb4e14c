"""A run directory, read back: ``untwine.load_run(path)``."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch

from untwine import data as datasets
from untwine import models
from untwine.config import TrainConfig
from untwine.data import GroundTruthData
from untwine.data.base import to_float
from untwine.errors import CheckpointError, DataError
from untwine.models import LatentModel
from untwine.objectives import METHODS
from untwine.train import checkpoint, runfolder
from untwine.train.runtime import select_device


class Run:
    """A trained (or training) model's directory: config, newest checkpoint, log and status."""

    def __init__(self, path: str | Path, device: str = "auto") -> None:
        self.path = Path(path)
        if not self.path.is_dir():
            raise CheckpointError(f"{self.path}: no such run directory")
        if not (self.path / runfolder.CONFIG).is_file():
            raise CheckpointError(f"{self.path}: not a run directory (no {runfolder.CONFIG})")
        self.config = TrainConfig.load(self.path / runfolder.CONFIG)
        self._device = select_device(device)

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
        as :func:`untwine.train.runfolder.run_state` reads it (a "running" run whose process
        is gone is "interrupted")."""
        doc = runfolder.read_status(self.path)
        state = runfolder.run_state(doc, runfolder.read_cell(self.path))
        return {**doc, "state": state, "step": doc.get("step", self.step)}

    def log(self) -> list[dict[str, Any]]:
        """The records of ``log.jsonl`` (a torn last line is skipped)."""
        return runfolder.read_log(self.path)

    @cached_property
    def model(self) -> LatentModel:
        """The model of the family the run's method trains, with the newest checkpoint's
        weights, in eval mode."""
        _, state = checkpoint.load(self.checkpoint_path)
        family = METHODS.get(self.config.method.name).family
        shape = tuple(self._meta["observation_shape"])
        model = models.build(family, shape, self.config.model)
        model.load_state_dict(checkpoint.model_weights(state))
        return model.to(self._device).eval()

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

    @torch.no_grad()
    def encode(self, images, batch_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
        """Posterior means and log-variances, each (N, z) float32, for uint8 or float images
        (Gaussian family: the posterior's ``mu`` and ``logvar``)."""
        mus, logvars = [], []
        for chunk in self._float_batches(images, batch_size):
            post = self.model.encode(chunk)
            mus.append(post.mu.cpu())
            logvars.append(post.logvar.cpu())
        return torch.cat(mus).numpy(), torch.cat(logvars).numpy()

    @torch.no_grad()
    def representation(self, images, batch_size: int = 1024) -> np.ndarray:
        """The model's codes (N, D), float32, for uint8 or float images: what the metrics score
        (Gaussian family: the posterior means)."""
        batches = self._float_batches(images, batch_size)  # an empty input gives one empty batch
        return torch.cat([self.model.representation(c).cpu() for c in batches]).numpy()

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


def load_run(path: str | Path, device: str = "auto") -> Run:
    """Open the run directory at ``path`` (raises CheckpointError if it is not one)."""
    return Run(path, device=device)
