"""Adversarial autoencoder: the aggregate posterior matched to the prior by a discriminator.

Makhzani et al. (2015), "Adversarial Autoencoders", section 2. An autoencoder whose code
distribution q(z) = E_x[q(z|x)] is pushed towards a prior p(z) by a GAN on the codes: a
discriminator D(z) learns to tell prior samples ("real") from codes of the data ("fake"),
and the encoder, the GAN's generator, learns to fool it. Each step has

1. a reconstruction phase: encoder and decoder minimise -log p(x|z);
2. a regularisation phase: the discriminator minimises the cross-entropy of prior samples
   (class 0) against the detached codes (class 1), and the encoder minimises the
   non-saturating generator loss -log D(E(x)) (eq. 1's min-max, as GANs train it).

The encoder's two losses are taken in one Adam step on their weighted sum
``recon_scale * recon + adversarial_scale * generator`` (the model's optimizer), and the
discriminator's in :meth:`AAE.update` with its own Adam (``self.optimizers``, checkpointed by
the loop), two Adam optimisers as in the common public implementation, whose defaults
(adversarial scale 0.5, reconstruction scale 1) are ours. The discriminator's parameters are
frozen while the model's graph is built, so the model's backward leaves them untouched, and
it then learns from codes of the weights before that step, as in FactorVAE's alternation.

The encoder is ``deterministic`` (z = mu, the paper's main choice) or ``gaussian`` (z drawn
from q(z|x) with the reparameterisation, the paper's second variant); the encoder network's
log-variance outputs are unused in the first case. The representation the metrics score is
the code mu in both. The prior is a registered sampler (:data:`PRIORS`); the model's own
``sample`` draws N(0, I), which has the same first two moments as every prior here.
KL warm-up, when set, ramps the adversarial term.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import Tensor

from untwine.config import MethodConfig, OptimConfig
from untwine.models import LatentModel
from untwine.nets.discriminator import Discriminator
from untwine.objectives.base import Objective, Output
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
    encoder: Literal["deterministic", "gaussian"] = Field(
        "deterministic", description="z = mu, or z drawn from q(z|x) (Makhzani et al., sec. 2)"
    )
    prior: str = Field("normal", description=f"p(z): one of {', '.join(PRIORS)}")
    recon_scale: float = Field(1.0, gt=0, description="weight of -log p(x|z)")
    adversarial_scale: float = Field(0.5, ge=0, description="weight of the generator loss")
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
        self._prior = PRIORS[params.prior]

    def forward(
        self, model: LatentModel, x: Tensor, step: int, generator: torch.Generator | None = None
    ) -> Output:
        posterior = model.encode(x)
        z = posterior.mu if self.params.encoder == "deterministic" else posterior.rsample(generator)
        recon = -model.log_prob(x, model.decode(z)).mean()
        with frozen(self.discriminator):
            logits = self.discriminator(z)
        # non-saturating generator loss: -log D(z), D(z) = P(class PRIOR | z)
        fooled = torch.full((len(z),), PRIOR, dtype=torch.long, device=z.device)
        generator_loss = F.cross_entropy(logits, fooled)
        p = self.params
        loss = p.recon_scale * recon + self.warmup(step) * p.adversarial_scale * generator_loss
        z_prior = self._prior(tuple(z.shape), z.device, generator)
        terms = {"loss": loss, "recon": recon.detach(), "generator_loss": generator_loss.detach()}
        return Output(terms, handoff=(z.detach(), z_prior))

    def update(self, step: int, handoff: Any) -> dict[str, Tensor]:
        """The discriminator's step: prior samples (class 0) against the step's codes (class 1)."""
        codes, z_prior = handoff
        logits = self.discriminator(torch.cat([z_prior, codes]))
        target = torch.cat(
            [
                torch.full((len(z_prior),), PRIOR, dtype=torch.long, device=logits.device),
                torch.full((len(codes),), CODE, dtype=torch.long, device=logits.device),
            ]
        )
        loss = F.cross_entropy(logits, target)
        opt = self.optimizers["discriminator"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        accuracy = (logits.detach().argmax(dim=1) == target).float().mean()
        return {"discriminator_loss": loss.detach(), "discriminator_accuracy": accuracy}
