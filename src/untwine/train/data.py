"""Batches drawn by index from an in-memory dataset, in a resumable order.

Epoch ``e`` visits the dataset in the order ``default_rng([seed, e]).permutation(N)``, and
step ``s`` takes the next ``k`` positions of that stream. The order is therefore a pure
function of (seed, step): resuming at step ``s`` continues exactly where the interrupted run
would have gone, with no sampler state to save beyond the step itself.
"""

from __future__ import annotations

import numpy as np
import torch

from untwine.data import GroundTruthData
from untwine.data.base import to_float


class BatchStream:
    def __init__(
        self,
        data: GroundTruthData,
        per_step: int,
        seed: int,
        device: torch.device,
        *,
        first_step: int = 0,
        start: int = 0,
    ):
        """``per_step`` images a step from the run's ``first_step`` on, taken from position
        ``start`` of the run's one sequence of shuffled epochs (the images an earlier phase
        drew come before it), so that a phase that draws more a step carries the order on."""
        self.data = data
        self.n = len(data)
        self.per_step = per_step
        self.first_step = first_step
        self.start = start
        self.seed = seed
        self.device = device
        self._epoch = -1
        self._order: np.ndarray | None = None

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
            self._epoch = epoch
        return self._order

    def position(self, step: int) -> int:
        """How many images the run has drawn before ``step`` (0-based)."""
        return self.start + (step - self.first_step) * self.per_step

    def indices(self, step: int) -> np.ndarray:
        """Dataset indices for ``step`` (0-based), ``per_step`` of them."""
        start = self.position(step)
        parts, remaining = [], self.per_step
        while remaining:
            epoch, offset = divmod(start, self.n)
            take = min(remaining, self.n - offset)
            parts.append(self._permutation(epoch)[offset : offset + take])
            start += take
            remaining -= take
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def epoch(self, step: int) -> float:
        """Passes over the data drawn before ``step``."""
        return self.position(step) / self.n

    def batch(self, step: int) -> torch.Tensor:
        """float32 (per_step, C, H, W) in [0, 1] on the training device."""
        rng = np.random.default_rng([self.seed, step, 1])  # a pure function of (seed, step)
        images = torch.from_numpy(self.data.training_images(self.indices(step), rng))
        # converted on the device: a quarter of the bytes cross to it as uint8
        return to_float(images.to(self.device, non_blocking=True), self.data.max_value)
