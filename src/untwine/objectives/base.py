"""What every objective shares: the contract with the training loop, KL warm-up, free bits.

An objective is an ``nn.Module`` (so auxiliary networks such as FactorVAE's discriminator are
saved with it) that trains a model of one latent family, named by ``family`` (the loop builds
that model from :data:`untwine.models.MODELS`). One training step is, in this order::

    out = objective(model, x, step, generator)       # forward: an Output
    out.terms["loss"].backward(); optimizer.step()   # the model's own Adam
    extra = objective.update(step, out.handoff)      # auxiliary networks, own optimizers

``out.terms`` holds the loss terms (``"loss"`` is minimised); ``out.handoff`` is whatever the
objective's :meth:`Objective.update` needs from that forward pass (FactorVAE: the detached
codes for its discriminator), passed back by the loop explicitly, so no state is kept between
the two calls. Auxiliary optimizers live in ``self.optimizers`` and the loop checkpoints them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from untwine.config import MethodConfig, OptimConfig
from untwine.models import DiagonalGaussian, GaussianVAE, LatentModel


@dataclass
class Output:
    """What one forward call of an objective gives the training loop."""

    #: batch means in nats; ``"loss"`` is minimised, every term is logged (``"kl_dims"``: (D,))
    terms: dict[str, Tensor]
    #: handed unchanged to :meth:`Objective.update` after the model's optimizer step
    handoff: Any = None


@dataclass
class ForwardPass:
    """One pass of a batch through a Gaussian-family model, per-example terms in nats."""

    posterior: DiagonalGaussian
    z: Tensor  # (N, D) reparameterised sample
    recon: Tensor  # (N,) -log p(x|z), summed over pixels
    kl_dims: Tensor  # (N, D) KL(q(z_j|x) || p(z_j))


def forward_pass(model: GaussianVAE, x: Tensor, generator: torch.Generator | None) -> ForwardPass:
    """Encode ``x``, draw one z per image, decode: the terms of the ELBO (Kingma & Welling 2014)."""
    posterior = model.encode(x)
    z = posterior.rsample(generator)
    recon = -model.log_prob(x, model.decode(z))
    return ForwardPass(posterior, z, recon, posterior.kl_per_dim())


class Objective(nn.Module):
    """Base class; subclasses set ``Params`` and ``family`` and implement :meth:`forward`."""

    Params: ClassVar[type[MethodConfig]]
    #: the latent family of the model this objective trains (a key of ``untwine.models.MODELS``)
    family: ClassVar[str]
    #: how many independent batches of ``batch_size`` one step consumes (FactorVAE: 2).
    batches_per_step: ClassVar[int] = 1

    def __init__(
        self, params: MethodConfig, model: LatentModel, dataset_size: int, optim: OptimConfig
    ):
        super().__init__()
        self.params = params
        self.dataset_size = dataset_size
        self.optimizers: dict[str, torch.optim.Optimizer] = {}

    def forward(
        self, model: LatentModel, x: Tensor, step: int, generator: torch.Generator | None = None
    ) -> Output:
        """Loss terms for batch ``x`` (``batches_per_step`` batches, concatenated) at ``step``
        (0-based), and the handoff for :meth:`update`.

        Scalar terms are batch means in nats; ``"kl_dims"`` (D,) is logged per dimension.
        """
        raise NotImplementedError

    def update(self, step: int, handoff: Any) -> dict[str, Tensor]:
        """Train auxiliary networks after the model's step, from what :meth:`forward` handed
        off; returns extra terms to log. Objectives without auxiliary networks do nothing."""
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
