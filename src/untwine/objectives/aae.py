"""Adversarial autoencoder: the aggregate posterior matched to the prior by a discriminator.

Makhzani et al. (2015), "Adversarial Autoencoders", section 2. An autoencoder whose code
distribution q(z) = E_x[q(z|x)] is pushed towards a prior p(z) by a GAN on the codes: a
discriminator D(z) learns to tell prior samples ("real") from codes of the data ("fake"),
and the encoder, the GAN's generator, learns to fool it. Each step has

1. a reconstruction phase: encoder and decoder minimise -log p(x|z) (the model's Adam);
2. a regularisation phase (:meth:`AAE.update`, after the model's step): the discriminator
   minimises the cross-entropy of prior samples (class 0) against the codes of the batch
   under the updated encoder (class 1), with its own Adam; then the encoder minimises the
   non-saturating generator loss -log D(E(x)) against the updated discriminator, with its
   own Adam (the model's learning rate and betas). Both optimizers are in
   ``self.optimizers``, so the loop checkpoints them.

That is ``phases="separate"``, the paper's. ``phases="joint"`` is the common public
implementation's: one Adam step of the model on ``recon_scale * recon + adversarial_scale *
generator`` (defaults 1 and 0.5), then the discriminator's step. Because reconstruction is
summed over pixels (hundreds of nats) and the generator loss is one cross-entropy, the joint
step's adversarial gradient is small beside reconstruction's; separate phases, each with its
own Adam, give the regulariser steps of its own size. Under Adam a constant weight on a
phase's own loss changes almost nothing, so the two scales are settings of the joint mode
only, and setting them with separate phases is an error.

The encoder is ``deterministic`` (z = mu, the paper's main choice) or ``gaussian`` (z drawn
from q(z|x) with the reparameterisation, the paper's second variant); the encoder network's
log-variance outputs are unused in the first case. The representation the metrics score is
the code mu in both. The prior is a registered sampler (:data:`PRIORS`); the model's own
``sample`` draws N(0, I), which has the same first two moments as every prior here. Prior
samples and the encoder's noise are drawn in the forward call from the loop's generator, so
that a resumed run draws the same numbers. KL warm-up, when set, ramps the adversarial term
(joint: its weight; separate: the encoder phase's learning rate).
The discriminator's parameters are frozen while the encoder's generator graph is built.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator
from torch import Tensor

from untwine.config import MethodConfig, OptimConfig
from untwine.models import LatentModel
from untwine.nets.discriminator import Discriminator
from untwine.objectives.base import Objective, Output, discriminator_step
from untwine.objectives.factorvae import frozen
from untwine.registry import register_method

PriorSampler = Callable[[tuple[int, int], torch.device, torch.Generator | None], Tensor]


def _normal(shape, device, generator) -> Tensor:
    return torch.randn(shape, generator=generator, device=device)


def _uniform(shape, device, generator) -> Tensor:
    # U(-sqrt 3, sqrt 3): zero mean and unit variance, like the standard normal
    u = torch.rand(shape, generator=generator, device=device)
    return math.sqrt(3.0) * (2.0 * u - 1.0)


#: p(z) samplers by name: each draws (N, D) codes with zero mean and unit variance.
PRIORS: dict[str, PriorSampler] = {"normal": _normal, "uniform": _uniform}

#: the discriminator's classes
PRIOR, CODE = 0, 1


class AAEParams(MethodConfig):
    name: Literal["aae"] = "aae"
    phases: Literal["separate", "joint"] = Field(
        "separate", description="the paper's two phases, or one weighted step (see the module)"
    )
    encoder: Literal["deterministic", "gaussian"] = Field(
        "deterministic", description="z = mu, or z drawn from q(z|x) (Makhzani et al., sec. 2)"
    )
    prior: str = Field("normal", description=f"p(z): one of {', '.join(PRIORS)}")
    recon_scale: float = Field(1.0, gt=0, description="joint phases: weight of -log p(x|z)")
    adversarial_scale: float = Field(
        0.5, ge=0, description="joint phases: weight of the generator loss"
    )
    disc_lr: float = Field(1e-4, gt=0, description="discriminator Adam learning rate")
    disc_adam_beta1: float = Field(0.9, ge=0, lt=1)
    disc_adam_beta2: float = Field(0.999, ge=0, lt=1)
    disc_hidden: int = Field(1000, ge=1, description="units per discriminator layer (paper: 1000)")
    disc_layers: int = Field(2, ge=1, description="hidden layers of the discriminator (paper: 2)")

    @field_validator("prior")
    @classmethod
    def _known_prior(cls, name: str) -> str:
        if name not in PRIORS:
            raise ValueError(f"unknown prior {name!r}; expected one of: {', '.join(PRIORS)}")
        return name

    @field_validator("free_bits")
    @classmethod
    def _no_free_bits(cls, value: float) -> float:
        if value != 0:
            raise ValueError("free_bits floors a KL term, and the adversarial autoencoder has none")
        return value

    @model_validator(mode="after")
    def _scales_need_joint_phases(self) -> AAEParams:
        given = {"recon_scale", "adversarial_scale"} & self.model_fields_set
        changed = [
            k for k in sorted(given) if getattr(self, k) != AAEParams.model_fields[k].default
        ]
        if self.phases == "separate" and changed:
            raise ValueError(
                f"{', '.join(changed)} weigh the losses of phases='joint'; with separate phases "
                "each has its own Adam, which undoes a constant weight"
            )
        return self


@dataclass
class Handoff:
    """What the regularisation phase needs from the forward call: the model and the batch,
    and the random numbers it will use, drawn there from the loop's generator."""

    model: LatentModel
    x: Tensor
    z_prior: Tensor  # (N, D) samples of p(z)
    eps: Tensor | None  # (N, D) N(0, I) noise of a Gaussian encoder's codes
    codes: Tensor | None  # joint phases: the step's codes, detached


@register_method("aae")
class AAE(Objective):
    """Makhzani et al. (2015): reconstruction + adversarial matching of q(z) to p(z)."""

    Params = AAEParams
    family = "gaussian"

    def __init__(
        self, params: AAEParams, model: LatentModel, dataset_size: int, optim: OptimConfig
    ):
        super().__init__(params, model, dataset_size, optim)
        # ReLU hidden layers as in the paper's MNIST networks (a leaky slope of 0)
        self.discriminator = Discriminator(
            model.z_dim, hidden=params.disc_hidden, layers=params.disc_layers, negative_slope=0.0
        )
        self.optimizers["discriminator"] = torch.optim.Adam(
            self.discriminator.parameters(),
            lr=params.disc_lr,
            betas=(params.disc_adam_beta1, params.disc_adam_beta2),
        )
        self._encoder_lr = optim.lr
        if params.phases == "separate":
            self.optimizers["encoder"] = torch.optim.Adam(
                model.encoder.parameters(),
                lr=optim.lr,
                betas=(optim.adam_beta1, optim.adam_beta2),
                eps=optim.eps,
            )
        self._prior = PRIORS[params.prior]

    def _codes(self, model: LatentModel, x: Tensor, eps: Tensor | None) -> Tensor:
        posterior = model.encode(x)
        if eps is None:
            return posterior.mu
        return posterior.mu + torch.exp(0.5 * posterior.logvar) * eps

    def _generator_loss(self, z: Tensor) -> Tensor:
        """-log D(z), D(z) = P(class PRIOR | z): the non-saturating generator loss."""
        with frozen(self.discriminator):
            logits = self.discriminator(z)
        fooled = torch.full((len(z),), PRIOR, dtype=torch.long, device=z.device)
        return F.cross_entropy(logits, fooled)

    def forward(
        self, model: LatentModel, x: Tensor, step: int, generator: torch.Generator | None = None
    ) -> Output:
        p = self.params
        shape = (len(x), model.z_dim)
        eps = None
        if p.encoder == "gaussian":
            eps = torch.randn(shape, generator=generator, device=x.device)
        z_prior = self._prior(shape, x.device, generator)
        z = self._codes(model, x, eps)
        recon = -model.log_prob(x, model.decode(z)).mean()
        terms = {"recon": recon.detach()}
        if p.phases == "joint":
            generator_loss = self._generator_loss(z)
            adversarial = self.warmup(step) * p.adversarial_scale * generator_loss
            terms["loss"] = p.recon_scale * recon + adversarial
            terms["generator_loss"] = generator_loss.detach()
            return Output(terms, Handoff(model, x, z_prior, eps, z.detach()))
        terms["loss"] = recon
        # the second phase encodes with the weights after this step: no codes handed off
        return Output(terms, Handoff(model, x, z_prior, eps, None))

    def update(self, step: int, handoff: Handoff) -> dict[str, Tensor]:
        """The regularisation phase: the discriminator's step, then (separate phases) the
        encoder's step against the updated discriminator."""
        z = handoff.codes
        if z is None:
            z = self._codes(handoff.model, handoff.x, handoff.eps)
        terms = self._discriminator_step(handoff.z_prior, z.detach())
        if handoff.codes is None:
            generator_loss = self._generator_loss(z)
            opt = self.optimizers["encoder"]
            # warm-up ramps this phase's learning rate: Adam would undo a weight on its loss
            for group in opt.param_groups:
                group["lr"] = self._encoder_lr * self.warmup(step)
            opt.zero_grad(set_to_none=True)
            generator_loss.backward()
            opt.step()
            terms["generator_loss"] = generator_loss.detach()
        return terms

    def _discriminator_step(self, z_prior: Tensor, codes: Tensor) -> dict[str, Tensor]:
        """One Adam step of the discriminator: prior samples (class 0) against codes (1)."""
        # prior samples first: PRIOR is class 0 and CODE class 1, as discriminator_step labels
        return discriminator_step(
            self.discriminator, self.optimizers["discriminator"], z_prior, codes
        )
