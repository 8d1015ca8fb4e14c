"""DIP-VAE-I and DIP-VAE-II: match the covariance of the aggregate posterior to the identity.

Kumar, Sattigeri & Balakrishnan (2018), "Variational Inference of Disentangled Latent Concepts
from Unlabeled Observations". The disentangled inferred prior (DIP) objective adds to the VAE
loss a penalty on the moments of q(z) = E_p(x)[q(z|x)], whose covariance is (section 3)

    Cov_q(z)[z] = E_p(x)[Sigma(x)] + Cov_p(x)[mu(x)].

DIP-VAE-I (eq. 6) penalises Cov_p(x)[mu(x)] only; DIP-VAE-II (eq. 7) the full Cov_q(z)[z]::

    lambda_od * sum_{i != j} Cov_ij^2 + lambda_d * sum_i (Cov_ii - 1)^2

Both covariances are estimated on the batch (the population form, dividing by B). The authors
and Locatello et al. (2019) tie lambda_d to lambda_od: 10 * lambda_od for DIP-VAE-I and
lambda_od for DIP-VAE-II; leaving ``lambda_d`` unset applies that rule when the settings are
validated, so ``config.yaml`` records the number used. KL warm-up scales the whole regulariser
(KL and penalty); free bits floor the KL term as for the beta-VAE.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field, model_validator
from torch import Tensor

from untwine.config import MethodConfig
from untwine.models import GaussianVAE
from untwine.objectives.base import Objective, Output, forward_pass, standard_terms
from untwine.registry import register_method

DipType = Literal["i", "ii"]

#: lambda_d / lambda_od when lambda_d is not given (Kumar et al. 2018; Locatello et al. 2019)
DEFAULT_DIAGONAL_FACTOR = {"i": 10.0, "ii": 1.0}


def dip_covariance(mu: Tensor, logvar: Tensor, dip_type: DipType) -> Tensor:
    """(D, D) batch estimate of Cov_p(x)[mu(x)] (type "i") or Cov_q(z)[z] (type "ii")."""
    centred = mu - mu.mean(dim=0, keepdim=True)
    cov = centred.T @ centred / mu.shape[0]
    if dip_type == "ii":
        cov = cov + torch.diag(torch.exp(logvar).mean(dim=0))
    return cov


def dip_penalty(cov: Tensor, lambda_od: float, lambda_d: float) -> Tensor:
    """lambda_od * sum_{i != j} cov_ij^2 + lambda_d * sum_i (cov_ii - 1)^2 (eqs. 6 and 7)."""
    diag = torch.diagonal(cov)
    off_diagonal = (cov**2).sum() - (diag**2).sum()
    return lambda_od * off_diagonal + lambda_d * ((diag - 1) ** 2).sum()


class DIPVAEParams(MethodConfig):
    name: Literal["dipvae"] = "dipvae"
    dip_type: DipType = Field("i", description="'i': Cov[mu]; 'ii': E[Sigma] + Cov[mu]")
    lambda_od: float = Field(10.0, ge=0, description="weight of the off-diagonal penalty")
    lambda_d: float | None = Field(
        None,
        ge=0,
        description="weight of the diagonal penalty; unset: 10*lambda_od (i), lambda_od (ii)",
    )

    @model_validator(mode="after")
    def _resolve_lambda_d(self) -> DIPVAEParams:
        if self.lambda_d is None:
            # validate_assignment re-runs this validator once, with lambda_d now set
            self.lambda_d = DEFAULT_DIAGONAL_FACTOR[self.dip_type] * self.lambda_od
        return self


@register_method("dipvae")
class DIPVAE(Objective):
    Params = DIPVAEParams
    family = "gaussian"

    def forward(
        self, model: GaussianVAE, x: Tensor, step: int, generator: torch.Generator | None = None
    ) -> Output:
        p = self.params
        fp = forward_pass(model, x, generator)
        terms = standard_terms(fp)
        cov = dip_covariance(fp.posterior.mu, fp.posterior.logvar, p.dip_type)
        penalty = dip_penalty(cov, p.lambda_od, p.lambda_d)
        terms["loss"] = terms["recon"] + self.warmup(step) * (
            self.free_bits_kl(fp.kl_dims) + penalty
        )
        terms["dip_penalty"] = penalty.detach()
        return Output(terms)
