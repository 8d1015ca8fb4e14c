"""FactorVAE: the VAE plus a total-correlation penalty estimated by a discriminator.

Kim & Mnih (2018), "Disentangling by Factorising". Eq. 2 adds gamma * KL(q(z) || q_bar(z)) to
the VAE loss, where q_bar(z) = prod_j q(z_j) and the KL is the total correlation (TC). Eq. 3
estimates it by the density-ratio trick: a discriminator D(z) ~ P(z came from q(z)), trained to
tell samples of q(z) from samples of q_bar(z), gives

    TC = E_q(z)[log q(z) / q_bar(z)] ~ E_q(z)[log D(z) / (1 - D(z))]

which with two logits is logit 0 minus logit 1. Samples of q_bar(z) come from Algorithm 1
(:func:`permute_dims`): permute each dimension independently across a batch of codes.

Algorithm 2 alternates, each step on two independent batches (``batches_per_step = 2``):

1. VAE update on batch 1: loss = recon + KL + gamma * TC estimate, the TC term differentiated
   through z into the encoder but not into the discriminator (its parameters are frozen while
   the VAE graph is built, so the VAE's backward leaves their gradients untouched);
2. discriminator update (:meth:`FactorVAE.update`, after the VAE's optimizer step): cross-entropy
   of the detached codes of batch 1 (class 0) against permuted codes of batch 2 (class 1), which
   ``forward`` hands to the loop as :class:`DiscriminatorBatch` and the loop passes back, with
   its own Adam (Locatello et al. 2019: lr 1e-4, betas 0.5, 0.9), kept in
   ``self.optimizers["discriminator"]`` so that the training loop checkpoints it.

The codes of batch 2 are encoded before the VAE step, in the same forward call, as the
paper's Algorithm 2 does with the parameters of the current iteration. KL warm-up scales the
whole regulariser (KL and TC); free bits floor the KL term as for the beta-VAE.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, NamedTuple

import torch
from pydantic import Field
from torch import Tensor, nn

from untwine.config import MethodConfig, OptimConfig
from untwine.models import GaussianVAE
from untwine.nets.discriminator import Discriminator
from untwine.objectives.base import (
    Objective,
    Output,
    discriminator_step,
    forward_pass,
    standard_terms,
)
from untwine.registry import register_method


def permute_dims(z: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Kim & Mnih (2018), Algorithm 1: each column of ``z`` (N, D) shuffled independently.

    Each marginal is kept exactly (a column is a permutation of itself) while the dependence
    between columns is destroyed, so the rows are samples of prod_j q(z_j).
    """
    keys = torch.rand(z.shape, generator=generator, device=z.device)
    return z.gather(0, keys.argsort(dim=0))


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Build graphs through ``module`` without making its parameters part of them."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(module.parameters(), flags, strict=True):
            p.requires_grad_(flag)


class DiscriminatorBatch(NamedTuple):
    """The discriminator's training batch, handed from ``forward`` to ``update``."""

    real: Tensor  # (B, D) detached samples of q(z): class 0
    permuted: Tensor  # (B, D) samples of prod_j q(z_j) from the second batch: class 1


class FactorVAEParams(MethodConfig):
    name: Literal["factorvae"] = "factorvae"
    gamma: float = Field(
        35.0, ge=0, description="TC weight (Kim & Mnih on dSprites: ~35; Locatello grid 10-100)"
    )
    disc_lr: float = Field(1e-4, gt=0, description="discriminator Adam learning rate")
    disc_adam_beta1: float = Field(0.5, ge=0, lt=1)
    disc_adam_beta2: float = Field(0.9, ge=0, lt=1)


@register_method("factorvae")
class FactorVAE(Objective):
    Params = FactorVAEParams
    family = "gaussian"
    batches_per_step = 2

    def __init__(
        self, params: FactorVAEParams, model: GaussianVAE, dataset_size: int, optim: OptimConfig
    ):
        super().__init__(params, model, dataset_size, optim)
        self.discriminator = Discriminator(model.z_dim)
        self.optimizers["discriminator"] = torch.optim.Adam(
            self.discriminator.parameters(),
            lr=params.disc_lr,
            betas=(params.disc_adam_beta1, params.disc_adam_beta2),
            # one kernel over all 5M parameters: about half the time of the foreach update
            fused=True,
        )

    def forward(
        self, model: GaussianVAE, x: Tensor, step: int, generator: torch.Generator | None = None
    ) -> Output:
        half = x.shape[0] // 2
        fp = forward_pass(model, x[:half], generator)
        terms = standard_terms(fp)
        with torch.no_grad():  # batch 2 only feeds the discriminator
            z2 = model.encode(x[half:]).rsample(generator)
            z_perm = permute_dims(z2, generator)
        with frozen(self.discriminator):
            tc = self.discriminator.log_density_ratio(fp.z).mean()
        reg = self.free_bits_kl(fp.kl_dims) + self.params.gamma * tc
        terms["loss"] = terms["recon"] + self.warmup(step) * reg
        terms["tc_estimate"] = tc.detach()
        return Output(terms, DiscriminatorBatch(fp.z.detach(), z_perm))

    def update(self, step: int, handoff: DiscriminatorBatch) -> dict[str, Tensor]:
        """One Adam step of the discriminator on ``handoff``; its loss and accuracy."""
        z_real, z_perm = handoff
        # the loss averages both halves = 0.5 * (CE on q(z) samples + CE on permuted samples)
        return discriminator_step(
            self.discriminator, self.optimizers["discriminator"], z_real, z_perm
        )
