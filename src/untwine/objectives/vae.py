"""VAE, beta-VAE and the capacity-annealed beta-VAE.

- VAE (Kingma & Welling 2014, eq. 3): loss = E_q[-log p(x|z)] + KL(q(z|x) || p(z)).
- beta-VAE (Higgins et al. 2017, eq. 4): loss = E_q[-log p(x|z)] + beta * KL.
- AnnealedVAE (Burgess et al. 2018, eq. 8): loss = E_q[-log p(x|z)] + gamma * |KL - C|, with
  the capacity C rising linearly from 0 to ``c_max`` nats over ``c_steps`` steps.

All terms in nats: reconstruction summed over pixels, KL summed over dimensions, each
averaged over the batch.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from untwine.config import MethodConfig
from untwine.objectives.base import Objective, Output, forward_pass, standard_terms
from untwine.registry import register_method


class VAEParams(MethodConfig):
    name: Literal["vae"] = "vae"


class BetaVAEParams(MethodConfig):
    name: Literal["betavae"] = "betavae"
    beta: float = Field(4.0, ge=0)


class AnnealedVAEParams(MethodConfig):
    name: Literal["annealedvae"] = "annealedvae"
    c_max: float = Field(25.0, ge=0, description="final capacity in nats")
    gamma: float = Field(1000.0, ge=0)
    c_steps: int = Field(100_000, ge=1, description="steps over which C rises to c_max")


@register_method("betavae")
class BetaVAE(Objective):
    Params = BetaVAEParams
    family = "gaussian"

    @property
    def beta(self) -> float:
        return self.params.beta

    def forward(self, model, x, step, generator=None) -> Output:
        fp = forward_pass(model, x, generator)
        terms = standard_terms(fp)
        terms["loss"] = terms["recon"] + self.warmup(step) * self.beta * self.free_bits_kl(
            fp.kl_dims
        )
        return Output(terms)


@register_method("vae")
class VAEObjective(BetaVAE):
    Params = VAEParams

    @property
    def beta(self) -> float:
        return 1.0


@register_method("annealedvae")
class AnnealedVAE(Objective):
    Params = AnnealedVAEParams
    family = "gaussian"

    def capacity(self, step: int) -> float:
        p = self.params
        return min(p.c_max, p.c_max * step / p.c_steps)

    def forward(self, model, x, step, generator=None) -> Output:
        fp = forward_pass(model, x, generator)
        terms = standard_terms(fp)
        c = self.capacity(step)
        penalty = self.params.gamma * (self.free_bits_kl(fp.kl_dims) - c).abs()
        terms["loss"] = terms["recon"] + self.warmup(step) * penalty
        terms["capacity"] = fp.kl_dims.new_tensor(c)
        return Output(terms)
