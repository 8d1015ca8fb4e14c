"""VQ-VAE (van den Oord et al. 2017) and VQ-VAE-2 (Razavi et al. 2019): discrete latents.

Eq. 3 of the VQ-VAE paper, per example in nats and squared norms summed over the code map:

    loss = -log p(x | z_q(x)) + ||sg[z_e(x)] - e||^2 + beta ||z_e(x) - sg[e]||^2,  beta = 0.25

With EMA codebooks (``codebook_ema``, the default; appendix A.1) the middle term is dropped
from the loss (it is still logged) and the codes move by moving averages instead, in
:meth:`VQVAE.update` after the optimizer step; dead-code restarts happen there too, with the
loop's generator, so a resumed run makes the same draws. VQ-VAE-2 has the same loss summed
over its two levels (Razavi et al. 2019, eq. 2-3). The PixelCNN priors over the code maps are
second-stage runs of their own (:mod:`untwine.train.prior`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from pydantic import Field
from torch import Tensor

from untwine.config import MethodConfig
from untwine.models.codebook import CodebookModel, CodePosterior
from untwine.objectives.base import Objective, Output
from untwine.registry import register_method


class VQVAEParams(MethodConfig):
    name: Literal["vqvae"] = "vqvae"
    beta: float = Field(0.25, ge=0, description="commitment weight (paper: 0.25)")


class VQVAE2Params(VQVAEParams):
    name: Literal["vqvae2"] = "vqvae2"  # type: ignore[assignment]


@dataclass
class CodebookHandoff:
    """What the codebooks learn from after the step: the batch's encoder outputs and codes."""

    model: CodebookModel
    posterior: CodePosterior
    generator: torch.Generator | None


@register_method("vqvae")
class VQVAE(Objective):
    Params = VQVAEParams
    family = "codebook"
    networks = ()  # the family builds its own networks; ``network`` is not read

    def forward(self, model: CodebookModel, x, step, generator=None) -> Output:
        post = model.encode(x, generator)
        recon = -model.log_prob(x, model.decode(post.z))
        commitment = post.commitment().mean()
        codebook = post.codebook_loss().mean()
        loss = recon.mean() + self.params.beta * commitment
        if not model.quantisers[0].ema:
            loss = loss + codebook
        terms = {
            "loss": loss,
            "recon": recon.mean().detach(),
            "commitment": commitment.detach(),
            "codebook": codebook.detach(),
        }
        return Output(terms, CodebookHandoff(model, post, generator))

    def update(self, step: int, handoff: CodebookHandoff) -> dict[str, Tensor]:
        return handoff.model.update_codebooks(handoff.posterior, handoff.generator)


@register_method("vqvae2")
class VQVAE2(VQVAE):
    Params = VQVAE2Params
    family = "codebook2"
