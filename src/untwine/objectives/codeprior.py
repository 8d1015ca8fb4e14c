"""The prior over a VQ model's code maps, trained by maximum likelihood (cross-entropy).

van den Oord et al. (2017), section 3.3: after the VQ-VAE is trained, an autoregressive
PixelCNN is fit to the codes of the training images; Razavi et al. (2019), section 3.2: with
two levels, a top prior and a bottom prior conditioned on the top codes, trained together
here (their losses add, and neither sees the other's parameters). A batch is a set of code
canvases (:mod:`untwine.train.prior`); the loss is -log p(codes) per map in nats, averaged
over the batch; ``bits_per_code`` is the same per position in bits.
"""

from __future__ import annotations

import math
from typing import Literal

from untwine.config import MethodConfig
from untwine.models.code_prior import CodeMapPrior
from untwine.objectives.base import Objective, Output
from untwine.registry import register_method


class CodePriorParams(MethodConfig):
    name: Literal["codeprior"] = "codeprior"


@register_method("codeprior")
class CodePriorObjective(Objective):
    Params = CodePriorParams
    family = "codeprior"
    networks = ()  # the family builds its own networks; ``network`` is not read
    reads = "codes"

    def forward(self, model: CodeMapPrior, x, step, generator=None) -> Output:
        nll = model.nll(model.split(x)).mean()
        bits = nll.detach() / (model.positions() * math.log(2))
        return Output({"loss": nll, "nll": nll.detach(), "bits_per_code": bits})
