"""What every objective shares: the VAE forward pass, KL warm-up and free bits.

An objective is an ``nn.Module`` (so auxiliary networks such as FactorVAE's discriminator
are saved with it) that maps a batch to a dict of loss terms. The training loop minimises
``terms["loss"]`` with the VAE's optimizer and then calls :meth:`Objective.update`, where an
adversarial method trains its own networks with its own optimizers (``self.optimizers``,
checkpointed by the loop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from untwine.config import MethodConfig, OptimConfig
from untwine.models import VAE, Posterior


@dataclass
class ForwardPass:
    """One pass of a batch through the VAE, with the per-example terms in nats."""

    posterior: Posterior
    z: Tensor  # (N, D) reparameterised sample
    recon: Tensor  # (N,) -log p(x|z), summed over pixels
    kl_dims: Tensor  # (N, D) KL(q(z_j|x) || p(z_j))


def forward_pass(model: VAE, x: Tensor, generator: torch.Generator | None) -> ForwardPass:
    posterior = model.encode(x)
    z = posterior.rsample(generator)
    recon = model.reconstruction_nll(model.decode(z), x)
    return ForwardPass(posterior, z, recon, posterior.kl_per_dim())


class Objective(nn.Module):
    """Base class; subclasses set ``Params`` and implement :meth:`forward`."""

    Params: ClassVar[type[MethodConfig]]
    #: how many independent batches of ``batch_size`` one step consumes (FactorVAE: 2).
    batches_per_step: ClassVar[int] = 1

    def __init__(self, params: MethodConfig, model: VAE, dataset_size: int, optim: OptimConfig):
        super().__init__()
        self.params = params
        self.dataset_size = dataset_size
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    def forward(
        self, model: VAE, x: Tensor, step: int, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """Loss terms for batch ``x`` at ``step`` (0-based); ``"loss"`` is minimised.

        Scalar terms are batch means in nats; ``"kl_dims"`` (D,) is logged per dimension.
        """
        raise NotImplementedError

    def update(self, step: int) -> dict[str, Tensor]:
        """Train auxiliary networks after the VAE step; returns extra terms to log."""
        return {}

    # -- shared remedies for posterior collapse ---------------------------------------
    def warmup(self, step: int) -> float:
        """Weight of the regulariser: linear from 0 to 1 over ``kl_warmup_steps``."""
        n = self.params.kl_warmup_steps
        return 1.0 if n == 0 else min(1.0, step / n)

    def free_bits_kl(self, kl_dims: Tensor) -> Tensor:
        """KL summed over dimensions, each batch-averaged dimension floored at ``free_bits``.

        Kingma et al. (2016), eq. 15: below the floor a dimension's KL has no gradient, so the
        optimiser has no reason to collapse it further.
        """
        per_dim = kl_dims.mean(dim=0)
        if self.params.free_bits > 0:
            per_dim = per_dim.clamp(min=self.params.free_bits)
        return per_dim.sum()


def standard_terms(fp: ForwardPass) -> dict[str, Tensor]:
    """The terms every VAE logs: reconstruction, KL, ELBO and per-dimension KL (detached)."""
    recon = fp.recon.mean()
    kl_dims = fp.kl_dims.mean(dim=0)
    kl = kl_dims.sum()
    return {
        "recon": recon,
        "kl": kl.detach(),
        "elbo": -(recon + kl).detach(),
        "kl_dims": kl_dims.detach(),
    }
