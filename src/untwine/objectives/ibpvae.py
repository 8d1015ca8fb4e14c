"""IBP-VAE: the ELBO of a model whose number of active latent features is learnt.

Gyawali et al. (2019, arXiv 1909.01839), eq. 4, after Singh, Ling & Doshi-Velez (2017):

    loss = -log p(x | b * s)
           + beta * [ KL(q(s|x) || N(0, I))
                      + KL(q(b|x) || p(b|pi))                 (one-sample Concrete estimate)
                      + KL(q(v) || prod_k Beta(alpha, 1)) / N ]

per image, averaged over the batch, in nats; N is the dataset size, because q(v) is global
and its KL is counted once per dataset, not once per image. The model is the ``"ibp"`` family
(:mod:`untwine.models.ibp`, where the distributions are documented); beta weighs the whole KL,
as in the paper's experiments. The mask's KL is estimated at the drawn relaxed mask, with the
posterior Concrete at ``temperature`` (public code: 1.0) and the prior's at
``prior_temperature`` (public code: 0.5). KL warm-up scales the whole KL; free bits floor
each feature's KL (Gaussian + mask) as for the beta-VAE.

Logged besides the ELBO's terms: ``usage`` (K,), per feature the share of the batch whose
posterior mask probability exceeds 1/2, and ``active_features``, how many features have a
usage of at least :data:`untwine.models.base.ACTIVE_USAGE`.
"""

from __future__ import annotations

from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from untwine.config import MethodConfig, OptimConfig
from untwine.models.base import ACTIVE_USAGE
from untwine.models.ibp import IBPVAE
from untwine.objectives.base import Objective, Output
from untwine.registry import register_method


class IBPVAEParams(MethodConfig):
    """The truncation K is the model's ``z_dim``."""

    name: Literal["ibpvae"] = "ibpvae"
    alpha: float = Field(10.0, gt=0, description="IBP prior concentration: v_k ~ Beta(alpha, 1)")
    beta: float = Field(1.0, ge=0, description="weight of the whole KL (paper: about 5)")
    temperature: float = Field(1.0, gt=0, description="posterior Concrete temperature")
    prior_temperature: float = Field(0.5, gt=0, description="prior Concrete temperature")


@register_method("ibpvae")
class IBPVAEObjective(Objective):
    Params = IBPVAEParams
    family = "ibp"

    def __init__(self, params: IBPVAEParams, model: IBPVAE, dataset_size: int, optim: OptimConfig):
        super().__init__(params, model, dataset_size, optim)
        model.reset_sticks(params.alpha)

    def forward(
        self, model: IBPVAE, x: Tensor, step: int, generator: torch.Generator | None = None
    ) -> Output:
        p = self.params
        posterior = model.encode(x)
        sample = posterior.rsample(p.temperature, generator)
        recon = -model.log_prob(x, model.decode(sample.z)).mean()
        kl_gauss = posterior.kl_gaussian_per_dim()
        kl_mask = posterior.kl_mask_per_dim(sample, p.temperature, p.prior_temperature)
        kl_sticks = posterior.kl_sticks(p.alpha).sum() / self.dataset_size
        kl_dims = kl_gauss + kl_mask
        kl = kl_dims.sum(dim=1).mean() + kl_sticks
        reg = self.free_bits_kl(kl_dims) + kl_sticks
        usage = (sample.logits.detach() > 0).float().mean(dim=0)  # sigmoid(logit) > 1/2
        terms = {
            "loss": recon + self.warmup(step) * p.beta * reg,
            "recon": recon.detach(),
            "kl": kl.detach(),
            "elbo": -(recon + kl).detach(),
            "kl_gaussian": kl_gauss.sum(dim=1).mean().detach(),
            "kl_mask": kl_mask.sum(dim=1).mean().detach(),
            "kl_sticks": kl_sticks.detach(),
            "kl_dims": kl_dims.mean(dim=0).detach(),
            "usage": usage,
            "active_features": (usage >= ACTIVE_USAGE).sum().float(),
        }
        return Output(terms)
