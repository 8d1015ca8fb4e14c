"""What every objective shares: the contract with the training loop, KL warm-up, free bits.

An objective is an ``nn.Module`` (so auxiliary networks such as FactorVAE's discriminator are
saved with it) that trains a model of one latent family, named by ``family`` (the loop builds
that model from :data:`untwine.models.MODELS`). One training step is, in this order::

    out = objective(model, x, step, generator)       # forward: an Output
    out.terms["loss"].backward(); optimizer.step()   # the model's own Adam
    extra = objective.update(step, out.handoff)      # auxiliary networks, own optimizers

``out.terms`` holds the loss terms (``"loss"`` is minimised); ``out.handoff`` is whatever the
objective's :meth:`Objective.update` needs from that forward pass (FactorVAE: the detached
codes for its discriminator), passed back by the loop explicitly, so no state is kept between
the two calls. Auxiliary optimizers live in ``self.optimizers`` and the loop checkpoints them.

Aggressive inference (He et al. 2019, "Lagging Inference Networks and Posterior Collapse in
Variational Autoencoders", algorithm 1), ``encoder_steps = n > 1``: each step draws n parts of
a batch; before the step above, :meth:`Objective.train_encoder` takes n - 1 encoder-only
updates (its own Adam, ``optimizers["encoder"]``) on parts 2..n with the objective's own loss,
and the step above runs on part 1. So the encoder is updated n times per decoder update (the
last update joint, where He et al. freeze the encoder: here the loop's one optimizer steps
the whole model). Their stopping rule (``aggressive_check_every``) ends the phase when the
minibatch estimate of I(x; z) stops rising; the phase flag and the estimate's window are
buffers of the objective, so they are checkpointed and a resumed run repeats them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from untwine import nets
from untwine.config import MethodConfig, OptimConfig
from untwine.errors import ConfigError
from untwine.models import DiagonalGaussian, GaussianVAE, LatentModel
from untwine.models.normal import index_code_mi


@dataclass
class Output:
    """What one forward call of an objective gives the training loop."""

    #: batch means in nats; ``"loss"`` is minimised, every term is logged (``"kl_dims"``: (D,))
    terms: dict[str, Tensor]
    #: handed unchanged to :meth:`Objective.update` after the model's optimizer step
    handoff: Any = None


@dataclass
class ForwardPass:
    """One pass of a batch through a Gaussian-family model, per-example terms in nats."""

    posterior: DiagonalGaussian
    z: Tensor  # (N, D) reparameterised sample
    recon: Tensor  # (N,) -log p(x|z), summed over pixels
    kl_dims: Tensor  # (N, D) KL(q(z_j|x) || p(z_j))


def forward_pass(model: GaussianVAE, x: Tensor, generator: torch.Generator | None) -> ForwardPass:
    """Encode ``x``, draw one z per image, decode: the terms of the ELBO (Kingma & Welling 2014)."""
    posterior = model.encode(x)
    z = posterior.rsample(generator)
    recon = -model.log_prob_x_given_z(x, z, generator)
    return ForwardPass(posterior, z, recon, posterior.kl_per_dim())


class Objective(nn.Module):
    """Base class; subclasses set ``Params`` and ``family`` and implement :meth:`forward`."""

    Params: ClassVar[type[MethodConfig]]
    #: the latent family of the model this objective trains (a key of ``untwine.models.MODELS``)
    family: ClassVar[str]
    #: the networks of the method's papers, in order of preference: ``network: auto`` trains
    #: the first that takes the dataset's images (:func:`untwine.nets.choose`)
    networks: ClassVar[tuple[str, ...]] = nets.DEFAULT
    #: what the method trains on: a dataset whose ``holds`` is this (images; the code maps of
    #: a VQ run for its prior)
    reads: ClassVar[str] = "images"
    #: how many independent batches of ``batch_size`` one step consumes (FactorVAE: 2).
    batches_per_step: ClassVar[int] = 1

    def __init__(
        self, params: MethodConfig, model: LatentModel, dataset_size: int, optim: OptimConfig
    ):
        super().__init__()
        self.params = params
        self.dataset_size = dataset_size
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        if params.encoder_steps > 1:
            self._setup_aggressive(model, optim)

    def forward(
        self, model: LatentModel, x: Tensor, step: int, generator: torch.Generator | None = None
    ) -> Output:
        """Loss terms for batch ``x`` (``batches_per_step`` batches, concatenated) at ``step``
        (0-based), and the handoff for :meth:`update`.

        Scalar terms are batch means in nats; ``"kl_dims"`` (D,) is logged per dimension.
        """
        raise NotImplementedError

    def update(self, step: int, handoff: Any) -> dict[str, Tensor]:
        """Train auxiliary networks after the model's step, from what :meth:`forward` handed
        off; returns extra terms to log. Objectives without auxiliary networks do nothing."""
        return {}

    # -- shared remedies for posterior collapse ---------------------------------------
    def _setup_aggressive(self, model: LatentModel, optim: OptimConfig) -> None:
        if not isinstance(getattr(model, "encoder", None), nn.Module):
            raise ConfigError(
                f"method.encoder_steps: a {model.family!r} model has no encoder to update "
                f"aggressively (got {self.params.encoder_steps}; expected 1)"
            )
        # n independent batches' worth per step: part 1 for the step, the rest for the encoder
        self.batches_per_step = type(self).batches_per_step * self.params.encoder_steps
        self.optimizers["encoder"] = torch.optim.Adam(
            model.encoder.parameters(),
            lr=optim.lr,
            betas=(optim.adam_beta1, optim.adam_beta2),
            eps=optim.eps,
        )
        self.register_buffer("aggressive", torch.tensor(True))
        # the stopping rule's running window: sum and count of minibatch I(x; z), and the
        # previous window's mean
        self.register_buffer("mi_window", torch.zeros(2, dtype=torch.float64))
        self.register_buffer("mi_previous", torch.tensor(float("-inf"), dtype=torch.float64))

    def train_encoder(
        self, model: LatentModel, batch: Tensor, step: int, generator: torch.Generator | None
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """Aggressive inference's encoder-only updates (see the module docstring) on all but
        the first of the ``encoder_steps`` parts of ``batch``; returns the first part, for the
        step's own forward, and terms to log. With ``encoder_steps = 1``: (batch, {})."""
        n = self.params.encoder_steps
        if n == 1:
            return batch, {}
        x, *parts = batch.chunk(n)
        if not bool(self.aggressive):
            return x, {"aggressive": batch.new_tensor(0.0)}
        weights = list(model.encoder.parameters())
        losses = []
        for part in parts:
            loss = self(model, part, step, generator).terms["loss"]
            # gradients of the encoder only: the decoder's stay untouched for the step's own
            grads = torch.autograd.grad(loss, weights, allow_unused=True)
            for w, g in zip(weights, grads, strict=True):
                w.grad = g
            self.optimizers["encoder"].step()
            losses.append(loss.detach())
        terms = {"aggressive": batch.new_tensor(1.0), "encoder_loss": torch.stack(losses).mean()}
        if self.params.aggressive_check_every:
            terms["mi"] = self._watch_mi(model, torch.cat(parts), step, generator)
        return x, terms

    @torch.no_grad()
    def _watch_mi(
        self, model: LatentModel, x: Tensor, step: int, generator: torch.Generator | None
    ) -> Tensor:
        """He et al.'s stopping rule: the minibatch I(x; z) (aggregate posterior over ``x``)
        averaged over windows of ``aggressive_check_every`` steps; the aggressive phase ends
        when a window's mean is no higher than the one before. Returns the estimate."""
        post = model.encode(x)
        mi = index_code_mi(post.mu, post.logvar, post.rsample(generator))
        self.mi_window += torch.stack([mi.double(), mi.new_tensor(1.0, dtype=torch.float64)])
        if (step + 1) % self.params.aggressive_check_every == 0:
            mean = self.mi_window[0] / self.mi_window[1]
            self.aggressive.copy_(mean > self.mi_previous)
            self.mi_previous.copy_(mean)
            self.mi_window.zero_()
        return mi.detach()

    def warmup(self, step: int) -> float:
        """Weight of the regulariser: linear from 0 to 1 over ``kl_warmup_steps``."""
        n = self.params.kl_warmup_steps
        return 1.0 if n == 0 else min(1.0, step / n)

    def free_bits_kl(self, kl_dims: Tensor) -> Tensor:
        """KL summed over dimensions, each batch-averaged dimension floored at ``free_bits``.

        Kingma et al. (2016), eq. 15: below the floor a dimension's KL has no gradient, so the
        optimiser has no reason to collapse it further.
        """
        per_dim = kl_dims.mean(dim=0)
        if self.params.free_bits > 0:
            per_dim = per_dim.clamp(min=self.params.free_bits)
        return per_dim.sum()


def standard_terms(fp: ForwardPass) -> dict[str, Tensor]:
    """The terms every VAE logs: reconstruction, KL, ELBO and per-dimension KL (detached)."""
    recon = fp.recon.mean()
    kl_dims = fp.kl_dims.mean(dim=0)
    kl = kl_dims.sum()
    return {
        "recon": recon,
        "kl": kl.detach(),
        "elbo": -(recon + kl).detach(),
        "kl_dims": kl_dims.detach(),
    }


def discriminator_step(
    discriminator: nn.Module, optimizer: torch.optim.Optimizer, first: Tensor, second: Tensor
) -> dict[str, Tensor]:
    """One optimizer step of a two-class discriminator: ``first`` is class 0, ``second``
    class 1 (FactorVAE: codes vs permuted codes; AAE: prior samples vs codes). The loss is
    the cross-entropy averaged over both sets; returns it and the accuracy, detached."""
    logits = discriminator(torch.cat([first, second]))
    target = torch.cat(
        [
            torch.zeros(len(first), dtype=torch.long, device=logits.device),
            torch.ones(len(second), dtype=torch.long, device=logits.device),
        ]
    )
    loss = F.cross_entropy(logits, target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    accuracy = (logits.detach().argmax(dim=1) == target).float().mean()
    return {"discriminator_loss": loss.detach(), "discriminator_accuracy": accuracy}
