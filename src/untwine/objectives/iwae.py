"""Importance-weighted autoencoder (Burda, Grosse & Salakhutdinov 2015).

loss = -L_k, L_k = log (1/k) sum_i w_i (eq. 8), with k samples z_i ~ q(z|x) per example and
log w_i = log p(x|z_i) + beta * (log p(z_i) - log q(z_i|x)), built from per-sample
log-densities and combined with one log-sum-exp; never from the analytic KL.

**beta and k.** beta weights the log-density ratio inside every log-weight, so the objective
is the k-sample bound on log E_q[p(x|z) (p(z)/q(z|x))^beta]. With beta = 1 this is the IWAE
bound on log p(x); with k = 1 it is exactly the beta-VAE loss with the KL estimated from the
sample, recon + beta * (log q - log p), whose expectation is the beta-VAE loss with the
analytic KL. (Some libraries drop beta when k > 1; here it is never dropped.) The KL
warm-up scales beta the same way; free bits have no per-sample form and are rejected.

**Gradient estimators** (``estimator``):

- ``standard``: the gradient of L_k itself, sum_i w~_i grad log w_i with w~ the normalised
  weights (eq. 14). Its signal-to-noise ratio for the encoder falls as k grows (Rainforth et
  al. 2018).
- ``dreg``: doubly reparameterised (Tucker, Lawson, Gu & Maddison 2019, eq. 5): the encoder
  gets sum_i w~_i^2 d log w_i / d z_i * d z_i / d phi, with log q evaluated at stop-gradient
  parameters: the score-function term is rewritten, by reparameterising it a second time, as
  a pathwise one; the decoder gets the standard gradient. Implemented by evaluating log q at
  detached parameters and scaling the gradient that reaches z_i by w~_i, so the loss value is
  still -L_k. With a weight c = beta (times the warm-up) on log p(z) - log q(z|x), the score
  term carries c, and the same rewriting gives the factor (1 - c) w~_i + c w~_i^2 in place
  of w~_i^2; the scale applied at z_i is therefore 1 - c + c w~_i.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from pydantic import Field, model_validator

from untwine.config import MethodConfig
from untwine.models import density as _model
from untwine.objectives.base import Objective, Output
from untwine.registry import register_method


class IWAEParams(MethodConfig):
    name: Literal["iwae"] = "iwae"
    k: int = Field(5, ge=1, description="importance samples per example")
    estimator: Literal["standard", "dreg"] = "standard"
    beta: float = Field(1.0, ge=0, description="weight of log p(z) - log q(z|x) in each log w")

    @model_validator(mode="after")
    def _no_free_bits(self) -> IWAEParams:
        if self.free_bits:
            raise ValueError("free_bits has no per-sample form; iwae needs free_bits = 0")
        return self


@register_method("iwae")
class IWAE(Objective):
    Params = IWAEParams
    family = "gaussian"

    def forward(self, model, x, step, generator=None) -> Output:
        p = self.params
        posterior = model.encode(x)
        z = _model.draw(posterior, p.k, generator)  # (k, N, D)
        dreg = p.estimator == "dreg"
        log_lik = _model.log_likelihood(model, x, z)  # (k, N)
        ratio = _model.log_prior(model, z) - _model.log_q(posterior, z, detach_params=dreg)
        c = self.warmup(step) * p.beta
        log_w = log_lik + c * ratio
        if dreg and torch.is_grad_enabled():
            scale = (1.0 - c + c * torch.softmax(log_w.detach(), dim=0)).unsqueeze(-1)
            z.register_hook(lambda g: g * scale)
        bound = torch.logsumexp(log_w, dim=0) - math.log(p.k)  # (N,)
        kl_dims = _model.kl_per_dim(posterior).mean(dim=0).detach()
        recon = -log_lik.mean()
        terms = {
            "loss": -bound.mean(),
            "L_k": bound.mean().detach(),
            "recon": recon.detach(),
            "kl": kl_dims.sum(),
            "elbo": -(recon.detach() + kl_dims.sum()),
            "kl_dims": kl_dims,
        }
        return Output(terms)
