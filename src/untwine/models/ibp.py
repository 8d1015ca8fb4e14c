"""The IBP family: a binary feature mask times Gaussian features, under an Indian Buffet Process.

Gyawali et al. (2019, arXiv 1909.01839), after Singh, Ling & Doshi-Velez (2017). With
truncation K (``z_dim``), the generative model is

    v_k ~ Beta(alpha, 1),  pi_k = prod_{j<=k} v_j,  b_k ~ Bernoulli(pi_k),  s ~ N(0, I),
    z = b * s,  x ~ p(x | z),

so feature k is used by a share pi_k of images, falling with k, and the number of features
in use is learnt. Inference (:class:`IBPPosterior`):

- q(v_k) = Kumaraswamy(a_k, b_k), global: a_k, b_k are learnt parameters of the model
  (softplus of free parameters, plus 0.01 as in the public code), drawn afresh per image by
  the inverse CDF;
- q(b_k | x) = binary Concrete with logit = encoder logit + logit(pi_k) (the prior's odds
  corrected by the image), relaxed at the posterior temperature;
- q(s | x) = N(mu, diag(exp(logvar))).

The encoder network is the configured one with its last linear layer widened from 2K to 3K
outputs: logits, means, log-variances. The maths lives in :mod:`untwine.models.ibp_math`.

Representation: the metrics score z = round(q(b_k = 1 | x)) * mu_k, the mask rounded at
evaluation as in the public code, with pi at its geometric mean under q(v)
(log pi_k = sum_{j<=k} E_q[log v_j], in closed form), so the codes are deterministic. A
feature's *usage* is the share of images whose rounded mask has it on
(:meth:`IBPVAE.usage`); the *active* features are those used by at least
:data:`untwine.models.base.ACTIVE_USAGE` of the images (:meth:`IBPVAE.active_features`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from untwine import nets
from untwine.errors import ConfigError
from untwine.models import ibp_math
from untwine.models.base import ACTIVE_USAGE, LatentModel
from untwine.models.normal import kl_standard_normal
from untwine.registry import register_model

if TYPE_CHECKING:
    from untwine.config import ModelConfig
    from untwine.models.likelihoods import Likelihood

#: the prior's alpha q(v) starts at until an objective sets its own (Gyawali et al.'s value)
DEFAULT_ALPHA = 10.0
#: floor on the Kumaraswamy parameters, so that neither reaches 0 (the public code's choice)
_KUMA_FLOOR = 0.01


def _inverse_softplus(y: float) -> float:
    return y + math.log(-math.expm1(-y))


@dataclass
class IBPSample:
    """One reparameterised draw from :class:`IBPPosterior`, all (N, K)."""

    log_pi: Tensor  # stick-breaking weights from v ~ q(v), one draw per image
    logits: Tensor  # posterior logits of q(b | x): encoder logit + logit(pi)
    mask_logit: Tensor  # Y = logit of the relaxed mask (the Concrete sample)
    z: Tensor  # sigmoid(Y) * s


@dataclass
class IBPPosterior:
    """q(v) q(b | x) q(s | x): encoder outputs (N, K) and the global Kumaraswamy (K,)."""

    encoder_logits: Tensor
    mu: Tensor
    logvar: Tensor
    kuma_a: Tensor
    kuma_b: Tensor

    def rsample(self, temperature: float, generator: torch.Generator | None = None) -> IBPSample:
        """v ~ q(v) per image, then b ~ BinConcrete(logits, temperature), s ~ q(s|x), z = b s."""
        n, k = self.mu.shape
        log_v = ibp_math.kumaraswamy_log_rsample(self.kuma_a, self.kuma_b, (n, k), generator)
        log_pi = ibp_math.stick_breaking_log_pi(log_v)
        logits = self.encoder_logits + ibp_math.logit_from_log(log_pi)
        y = ibp_math.concrete_logit_rsample(logits, temperature, generator)
        eps = torch.randn(self.mu.shape, generator=generator, device=self.mu.device)
        s = self.mu + torch.exp(0.5 * self.logvar) * eps
        return IBPSample(log_pi, logits, y, torch.sigmoid(y) * s)

    def kl_gaussian_per_dim(self) -> Tensor:
        """KL(q(s_k|x) || N(0, 1)), (N, K), nats: for every feature, on or off (as published)."""
        return kl_standard_normal(self.mu, self.logvar)

    def kl_mask_per_dim(
        self, sample: IBPSample, temperature: float, prior_temperature: float
    ) -> Tensor:
        """One-sample estimate of KL(q(b_k|x) || p(b_k|pi)), (N, K), nats.

        log q(Y) - log p(Y) at the drawn Y, both binary Concretes in logit space: the
        posterior's with ``logits`` at ``temperature``, the prior's with logit(pi) at
        ``prior_temperature``, both at the image's drawn pi (the relaxed objective of Maddison
        et al. 2017, with separate temperatures as in the public IBP code).
        """
        prior_logits = ibp_math.logit_from_log(sample.log_pi)
        log_q = ibp_math.concrete_logit_log_prob(sample.mask_logit, sample.logits, temperature)
        log_p = ibp_math.concrete_logit_log_prob(sample.mask_logit, prior_logits, prior_temperature)
        return log_q - log_p

    def kl_sticks(self, alpha: float) -> Tensor:
        """KL(q(v_k) || Beta(alpha, 1)), (K,), nats, exact (Nalisnick & Smyth 2017, eq. 12)."""
        return ibp_math.kl_kumaraswamy_beta(self.kuma_a, self.kuma_b, alpha)

    def expected_log_pi(self) -> Tensor:
        """sum_{j<=k} E_q[log v_j], (K,): log of pi's geometric mean under q(v).

        E[log v] = (psi(1) - psi(1 + b)) / a for v ~ Kumaraswamy(a, b) (v^a is Beta(1, b)).
        """
        e_log_v = torch.digamma(torch.ones_like(self.kuma_b)) - torch.digamma(1 + self.kuma_b)
        return ibp_math.stick_breaking_log_pi(e_log_v / self.kuma_a)

    def mask_probability(self) -> Tensor:
        """q(b_k = 1 | x) with pi at its geometric mean under q(v), (N, K)."""
        return torch.sigmoid(self.encoder_logits + ibp_math.logit_from_log(self.expected_log_pi()))

    def code(self) -> Tensor:
        """The representation: round(q(b = 1 | x)) * mu, (N, K)."""
        return (self.mask_probability() > 0.5).to(self.mu.dtype) * self.mu


@register_model("ibp")
class IBPVAE(LatentModel):
    """Encoder (logits, mu, logvar), decoder on z = b * s, and the global q(v) parameters."""

    family = "ibp"

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        likelihood: Likelihood,
        truncation: int = 10,
        network: str = "conv64",
    ) -> None:
        super().__init__()
        self.observation_shape = tuple(observation_shape)  # type: ignore[assignment]
        self.z_dim = truncation
        self.likelihood = likelihood
        self.encoder, self.decoder = nets.build(
            network, self.observation_shape, truncation, observation_shape[0]
        )
        last = self.encoder[-1] if isinstance(self.encoder, nn.Sequential) else None
        if not isinstance(last, nn.Linear):
            raise ConfigError(
                f"network {network!r}: the IBP family needs an encoder that ends in a linear "
                "layer, to widen it to logits, means and log-variances"
            )
        self.encoder[-1] = nn.Linear(last.in_features, 3 * truncation)
        self.kuma_a_raw = nn.Parameter(torch.empty(truncation))
        self.kuma_b_raw = nn.Parameter(torch.empty(truncation))
        self.reset_sticks(DEFAULT_ALPHA)

    @classmethod
    def from_config(
        cls, observation_shape: tuple[int, int, int], cfg: ModelConfig, likelihood: Likelihood
    ) -> IBPVAE:
        return cls(observation_shape, likelihood, truncation=cfg.z_dim, network=cfg.network)

    def kumaraswamy(self) -> tuple[Tensor, Tensor]:
        """q(v)'s parameters (a, b), each (K,), floored at 0.01."""
        a = F.softplus(self.kuma_a_raw) + _KUMA_FLOOR
        b = F.softplus(self.kuma_b_raw) + _KUMA_FLOOR
        return a, b

    def reset_sticks(self, alpha: float) -> None:
        """Set q(v) to the prior Beta(alpha, 1) = Kumaraswamy(alpha, 1) (CDF v^alpha).

        The objective calls this once, before training, with its prior's alpha (the public
        code starts q(v) there too); an alpha below the 0.01 floor starts q(v) at the floor.
        """
        with torch.no_grad():
            self.kuma_a_raw.fill_(_inverse_softplus(max(alpha - _KUMA_FLOOR, 1e-4)))
            self.kuma_b_raw.fill_(_inverse_softplus(1.0 - _KUMA_FLOOR))

    def encode(self, x: Tensor) -> IBPPosterior:
        logits, mu, logvar = self.encoder(x).chunk(3, dim=1)
        a, b = self.kumaraswamy()
        return IBPPosterior(logits, mu, logvar, a, b)

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def representation(self, x: Tensor) -> Tensor:
        """round(q(b = 1 | x)) * mu, (N, K): see the module docstring."""
        return self.encode(x).code()

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.mean(self.decode(self.representation(x)))

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` mean images: pi from q(v) (the learnt sticks), b ~ Bernoulli(pi), s ~ N(0, I)."""
        a, b = self.kumaraswamy()
        k = self.z_dim
        log_v = ibp_math.kumaraswamy_log_rsample(a, b, (n, k), generator)
        pi = ibp_math.stick_breaking_log_pi(log_v).exp()
        u = torch.rand((n, k), generator=generator, device=a.device)
        s = torch.randn((n, k), generator=generator, device=a.device)
        return self.mean(self.decode((u < pi).to(s.dtype) * s))

    @torch.no_grad()
    def usage(self, x: Tensor) -> Tensor:
        """Per feature, the share of images ``x`` whose rounded mask has it on, (K,)."""
        return (self.encode(x).mask_probability() > 0.5).float().mean(dim=0)

    @torch.no_grad()
    def active_features(self, x: Tensor, threshold: float = ACTIVE_USAGE) -> list[int]:
        """The features on for at least ``threshold`` of images ``x``, most used first."""
        usage = self.usage(x)
        order = torch.argsort(usage, descending=True, stable=True)
        return [int(k) for k in order if usage[k] >= threshold]
