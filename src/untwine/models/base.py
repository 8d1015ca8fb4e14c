"""The contract every latent-variable model in untwine meets, whatever its kind of latent.

A *family* is a kind of latent: ``"gaussian"`` (diagonal-Gaussian posterior, standard-normal
prior: the VAE and every method built on it, :mod:`untwine.models.gaussian`), ``"codebook"``
and ``"codebook2"`` (VQ-VAE and VQ-VAE-2, :mod:`untwine.models.codebook`), ``"codeprior"``
(a PixelCNN prior over a VQ run's code maps, :mod:`untwine.models.code_prior`) and ``"ibp"``
(IBP-VAE, :mod:`untwine.models.ibp`).
Each objective names the family it trains (``Objective.family``) and the training loop builds
that family's model from the ``MODELS`` registry (:func:`untwine.models.build`), so no code
branches on method names.

A model (a :class:`LatentModel`, hence an ``nn.Module``) gives:

- ``encode(x) -> posterior``: a family-specific object that knows its own maths. The Gaussian
  one (:class:`untwine.models.normal.DiagonalGaussian`) has ``mu``, ``logvar``,
  ``rsample(generator)``, ``log_prob(z)``, ``kl()`` and ``kl_per_dim()``; a codebook
  posterior would carry indices, quantised vectors and commitment terms instead. Objectives
  of a family rely on its posterior's attributes; the loop never looks inside.
- ``decode(z) -> params``: the likelihood's parameters, shaped like the images.
- ``log_prob(x, params) -> (N,)``: log p(x|z) in nats, summed over dimensions, and
  ``mean(params)``: the mean image in [0, 1]. Both come from ``self.likelihood``
  (:mod:`untwine.models.likelihoods`), which every family shares.
- ``log_prob_x_given_z(x, z, generator) -> (N,)``: log p(x|z) in nats for images ``x`` and
  latents ``z``: what training and the density estimators call. By default
  ``log_prob(x, decode(z))``; an autoregressive decoder (the Gaussian family's PixelCNN)
  overrides it, because its parameters for pixel i depend on the pixels before i (teacher
  forcing: all of them at once, from ``x``). ``generator`` draws any training-time noise of
  the decoder (dropout), so that resumed runs repeat it.
- ``representation(x) -> (N, D)``: the float codes the metrics score (Gaussian: the posterior
  mean; a discrete or IBP family documents its choice here).
- ``reconstruct(x)``: the mean image decoded from the representation's point of the posterior.
- ``sample(n, generator)``: ``n`` mean images of latents drawn from the prior.
- ``usage(x)``: for families whose latent dimensions can be off (IBP), the share of images
  using each one; None otherwise. Reports show and traverse the active ones.

Families with a density also give ``prior_log_prob(z) -> (N,)``; with the posterior's
``log_prob(z)`` and ``log_prob_x_given_z(x, z)`` that is everything an importance-sampled
log p(x) needs (log p(x) ~ logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K,
Burda et al. 2016), one code path for all families with a density:
:func:`untwine.likelihood.estimate_model`, not a method of each model.

Precision
---------
The loop (and :class:`untwine.train.Run` for inference) runs every *network* of a model and of
an objective (each direct child module with parameters: ``encoder``, ``decoder``, FactorVAE's
``discriminator``) in the run's precision through :func:`untwine.nets.precision.run_networks_in`:
bfloat16 matrix products under autocast, float32 outputs. A family's own maths (posteriors,
log-densities, KL, estimators) therefore always sees float32 tensors and needs no code for it;
a child module that must stay float32 (a codebook compared by distance) is named in the
class attribute ``full_precision_children``.

Adding a family
---------------
1. Write ``models/<family>.py`` with its posterior class and a ``LatentModel`` subclass,
   decorated ``@register_model("<family>")`` and with ``family = "<family>"``. Build the
   networks in ``__init__`` (as ``self.encoder`` / ``self.decoder``: the weight names are
   the checkpoint's keys) and keep the likelihood it is given as ``self.likelihood``;
   ``from_config`` reads the settings the family needs from ``ModelConfig`` (new settings,
   such as a codebook size, are fields there).
2. Add the module to the ``MODELS`` registry's built-in list in :mod:`untwine.registry`,
   which imports it on the first lookup of a family.
3. Give its objectives (``objectives/<method>.py``) ``family = "<family>"``; an objective with
   auxiliary networks returns ``Output(terms, handoff)`` and trains them in
   ``update(step, handoff)`` (see :mod:`untwine.objectives.base`). Everything else (the loop,
   checkpoints, ``Run.representation`` / ``reconstruct`` / ``decode``, the metrics) works
   through this contract; ``Run.encode`` returns (mu, logvar) and is for the Gaussian family.
4. A new likelihood is a ``Likelihood`` subclass in :mod:`untwine.models.likelihoods`,
   ``@register_likelihood("<name>")``, selected by ``ModelConfig.likelihood``.
5. Test it as ``tests/models/test_gaussian.py`` does the Gaussian family: build, forward,
   save/reload, representation and the log-densities against closed forms.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

if TYPE_CHECKING:
    from untwine.config import ModelConfig
    from untwine.models.likelihoods import Likelihood


#: a latent dimension is active when at least this share of images switches it on
ACTIVE_USAGE = 0.01


class LatentModel(nn.Module, ABC):
    """Base class of every model family; see the module docstring for the contract."""

    #: the family's registered name (``@register_model``), also named by its objectives
    family: ClassVar[str]
    #: (C, H, W) of the images the model reads and writes
    observation_shape: tuple[int, int, int]
    #: p(x|z); parameterless, so it adds nothing to the state dict
    likelihood: Likelihood

    @classmethod
    @abstractmethod
    def from_config(
        cls, observation_shape: tuple[int, int, int], cfg: ModelConfig, likelihood: Likelihood
    ) -> LatentModel:
        """The untrained model for images of ``observation_shape``, the settings ``cfg`` and
        the decoder distribution ``likelihood`` (built from ``cfg`` by :func:`build`)."""

    @abstractmethod
    def encode(self, x: Tensor) -> Any:
        """The family's posterior q(z|x) for images ``x`` (N, C, H, W) in [0, 1]."""

    @abstractmethod
    def decode(self, z: Tensor) -> Tensor:
        """Likelihood parameters (N, C, H, W) for latents ``z``."""

    @abstractmethod
    def representation(self, x: Tensor) -> Tensor:
        """(N, D) float codes of images ``x``: what the disentanglement metrics score."""

    @abstractmethod
    def reconstruct(self, x: Tensor) -> Tensor:
        """Mean images in [0, 1] decoded from the posterior's point estimate of ``x``."""

    @abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` mean images in [0, 1] decoded from latents drawn from the prior."""

    def usage(self, x: Tensor) -> Tensor | None:
        """Per latent dimension, the share of images ``x`` that switch it on, (D,); None for
        families whose dimensions are always on (the Gaussian). A dimension is *active* when
        its usage is at least :data:`ACTIVE_USAGE`; reports traverse only active dimensions."""
        return None

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """log p(x|z) in nats, summed over all dimensions of an image, (N,)."""
        return self.likelihood.log_prob(x, params)

    def log_prob_x_given_z(
        self, x: Tensor, z: Tensor, generator: torch.Generator | None = None
    ) -> Tensor:
        """log p(x|z) in nats, summed over all dimensions of an image, (N,), for images ``x``
        and latents ``z`` (one per image). A decoder whose parameters depend on x itself
        (autoregressive) overrides this; ``generator`` draws its training-time noise."""
        return self.log_prob(x, self.decode(z))

    def mean(self, params: Tensor) -> Tensor:
        """The likelihood's mean image in [0, 1] for decoder output ``params``."""
        return self.likelihood.mean(params)
