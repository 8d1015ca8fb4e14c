"""The vector quantiser of VQ-VAE (van den Oord et al. 2017), written once.

Each encoder output vector z_e (one per position of a feature map) is replaced by its nearest
code e_k of a codebook of K vectors (squared Euclidean distance). The decoder's gradient is
copied straight through to z_e (section 3.2: z_q = z_e + sg[e - z_e]). The loss terms per
example, summed over positions and channels (the paper's squared norms), are

- codebook term ||sg[z_e] - e||^2, which moves the codes towards the encoder outputs;
- commitment term ||z_e - sg[e]||^2, weighted by beta = 0.25, which keeps the encoder close
  to the codes it chose.

With ``ema=True`` the codebook is not learnt by gradient but by exponential moving averages
(the paper's appendix A.1; decay gamma = 0.99): per code i, with n_i the number of vectors
assigned to it in the batch,

    N_i <- gamma N_i + (1 - gamma) n_i,        m_i <- gamma m_i + (1 - gamma) sum_{z -> i} z_e,
    e_i = m_i / N~_i,   N~_i = (N_i + eps) / (sum_j N_j + K eps) * sum_j N_j   (Laplace smoothing)

and the codebook term of the loss is dropped. N starts at 1 and m at the initial codes, as if
each code had been seen once at its initial value, so e = m / N holds from the first step
(starting N at 0 would divide the initial codes of unused entries by eps).

Two remedies for codebook collapse, both off by default: k-means initialisation of the codebook
from the first training batch, and dead-code restarts (a code unused for ``restart_after``
consecutive training steps is replaced by an encoder output of the current batch, drawn with
the caller's ``torch.Generator``). All state (codebook, EMA sums, unused-step counters) lives in
buffers or parameters, so it is saved and restored with ``state_dict``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class Quantised:
    """The quantiser's output for a feature map z_e of shape (N, D, *spatial)."""

    z_e: Tensor  # (N, D, *S) encoder output
    z_q: Tensor  # (N, D, *S) quantised, with the straight-through gradient to z_e
    indices: Tensor  # (N, *S) int64 code index per position
    codes: Tensor  # (N, D, *S) the chosen codebook vectors e (gradient to the codebook only)

    def commitment(self) -> Tensor:
        """||z_e - sg[e]||^2 per example, (N,), summed over positions and channels."""
        return (self.z_e - self.codes.detach()).pow(2).flatten(1).sum(dim=1)

    def codebook_loss(self) -> Tensor:
        """||sg[z_e] - e||^2 per example, (N,), summed over positions and channels."""
        return (self.z_e.detach() - self.codes).pow(2).flatten(1).sum(dim=1)


def code_usage(indices: Tensor, num_codes: int) -> dict[str, Tensor]:
    """Perplexity exp(-sum_i p_i log p_i) of the code histogram of ``indices`` (in 1..K; it
    depends on the number of indices) and the share of the K codes used at least once."""
    counts = torch.bincount(indices.flatten(), minlength=num_codes).float()
    p = counts / counts.sum()
    entropy = -(p * torch.log(p.clamp_min(1e-30))).sum()
    return {"perplexity": entropy.exp(), "codes_used": (counts > 0).float().mean()}


class VectorQuantiser(nn.Module):
    """K codes of dimension D; see the module docstring for the maths and options.

    ``restart_after``: steps a code may go unused before it is restarted (0: never).
    ``kmeans_init``: run ``kmeans_iters`` Lloyd iterations on the first training batch's
    encoder outputs and start the codebook from their centres.
    """

    def __init__(
        self,
        num_codes: int,
        code_dim: int,
        *,
        ema: bool = True,
        decay: float = 0.99,
        eps: float = 1e-5,
        restart_after: int = 0,
        kmeans_init: bool = False,
        kmeans_iters: int = 10,
    ) -> None:
        super().__init__()
        self.num_codes, self.code_dim = num_codes, code_dim
        self.ema, self.decay, self.eps = ema, decay, eps
        self.restart_after, self.kmeans_init, self.kmeans_iters = (
            restart_after,
            kmeans_init,
            kmeans_iters,
        )
        # the paper's initialisation scale for the codebook: uniform in +-1/K
        init = (torch.rand(num_codes, code_dim) * 2 - 1) / num_codes
        if ema:
            self.register_buffer("codebook", init)
            self.register_buffer("cluster_size", torch.ones(num_codes))
            self.register_buffer("code_sum", init.clone())
        else:
            self.codebook = nn.Parameter(init)
        self.register_buffer("unused_steps", torch.zeros(num_codes, dtype=torch.long))
        self.register_buffer("initialised", torch.tensor(not kmeans_init))

    # -- quantisation --------------------------------------------------------------------
    def nearest(self, flat: Tensor) -> Tensor:
        """Index of the nearest code (squared distance) for each row of ``flat`` (M, D)."""
        e = self.codebook
        # ||z||^2 is the same for every code, so argmin of ||e||^2 - 2 z.e suffices
        dist = (e * e).sum(dim=1) - 2 * flat @ e.t()
        return dist.argmin(dim=1)

    def forward(self, z_e: Tensor, generator: torch.Generator | None = None) -> Quantised:
        """Quantise the feature map ``z_e`` (N, D, *spatial), channels first."""
        flat = _flatten(z_e)
        if self.training and not bool(self.initialised):
            self._kmeans(flat.detach(), generator)
        indices = self.nearest(flat.detach())
        codes = self.lookup(indices.view(z_e.shape[0], *z_e.shape[2:]))
        z_q = z_e + (codes - z_e).detach()
        return Quantised(z_e, z_q, indices.view(z_e.shape[0], *z_e.shape[2:]), codes)

    def lookup(self, indices: Tensor) -> Tensor:
        """Codebook vectors for an index map (N, *S) -> (N, D, *S)."""
        codes = self.codebook[indices]  # (N, *S, D); a copy, safe from in-place updates
        return codes.movedim(-1, 1)

    # -- codebook learning -----------------------------------------------------------------
    @torch.no_grad()
    def update(self, q: Quantised, generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """After a training step: the EMA update (if on) and dead-code restarts (if on).

        Returns the batch's code usage (perplexity, share of codes used, restarted codes).
        """
        flat = _flatten(q.z_e.detach())
        idx = q.indices.flatten()
        counts = torch.bincount(idx, minlength=self.num_codes).to(flat.dtype)
        if self.ema:
            sums = torch.zeros_like(self.code_sum).index_add_(0, idx, flat)
            g = self.decay
            self.cluster_size.mul_(g).add_(counts, alpha=1 - g)
            self.code_sum.mul_(g).add_(sums, alpha=1 - g)
            total = self.cluster_size.sum()
            smoothed = (self.cluster_size + self.eps) / (total + self.num_codes * self.eps) * total
            self.codebook.copy_(self.code_sum / smoothed.unsqueeze(1))
        self.unused_steps.add_(1).masked_fill_(counts > 0, 0)
        restarted = torch.zeros((), device=flat.device)
        if self.restart_after > 0:
            restarted = self._restart(flat, generator)
        return {**code_usage(idx, self.num_codes), "codes_restarted": restarted}

    def _restart(self, flat: Tensor, generator: torch.Generator | None) -> Tensor:
        dead = (self.unused_steps >= self.restart_after).nonzero().flatten()
        if len(dead) == 0:
            return torch.zeros((), device=flat.device)
        pick = torch.randint(len(flat), (len(dead),), generator=generator, device=flat.device)
        self._set_codes(dead, flat[pick])
        return torch.tensor(float(len(dead)), device=flat.device)

    def _set_codes(self, which: Tensor, vectors: Tensor) -> None:
        self.codebook.data[which] = vectors
        if self.ema:  # as if each new code had been seen once at its new value
            self.cluster_size[which] = 1.0
            self.code_sum[which] = vectors
        self.unused_steps[which] = 0

    @torch.no_grad()
    def _kmeans(self, flat: Tensor, generator: torch.Generator | None) -> None:
        """Lloyd's k-means on the rows of ``flat``, started from K rows drawn at random."""
        pick = torch.randint(len(flat), (self.num_codes,), generator=generator, device=flat.device)
        centres = flat[pick].clone()
        for _ in range(self.kmeans_iters):
            d = (centres * centres).sum(1) - 2 * flat @ centres.t()
            assign = d.argmin(dim=1)
            counts = torch.bincount(assign, minlength=self.num_codes).to(flat.dtype)
            sums = torch.zeros_like(centres).index_add_(0, assign, flat)
            used = counts > 0  # an empty cluster keeps its centre
            centres[used] = sums[used] / counts[used].unsqueeze(1)
        self._set_codes(torch.arange(self.num_codes, device=flat.device), centres)
        self.initialised.fill_(True)


def _flatten(z: Tensor) -> Tensor:
    """(N, D, *S) -> (N * prod(S), D), positions in raster order."""
    return z.movedim(1, -1).reshape(-1, z.shape[1])
