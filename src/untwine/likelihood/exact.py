"""Latent-variable models whose log p(x) is exact, to check the estimators against the truth.

- :class:`GaussianMixture`: a discrete latent z in {1..K}, p(x) = sum_z pi_z N(x; mu_z, S_z).
  The sum over z is the exact marginal likelihood; fitted by maximum likelihood with EM
  (Dempster, Laird & Rubin 1977; Bishop 2006, section 9.2), each step of which cannot lower it.
- :class:`LinearGaussianVAE`: probabilistic PCA (Tipping & Bishop 1999) written as a VAE,
  z ~ N(0, I_q), x | z ~ N(W z + b, s^2 I_d), so p(x) = N(x; b, W W^T + s^2 I) in closed form,
  with a diagonal-Gaussian encoder q(z|x) = N(A (x - b), diag(exp(logvar))). It has the
  methods the likelihood estimators use (``encode``, ``decode``, ``log_prob``,
  ``prior_log_prob``).

Values in nats.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn

from untwine.models.likelihoods import Likelihood
from untwine.models.normal import LOG_2PI, DiagonalGaussian, log_standard_normal


# -- a Gaussian mixture: the latent is summed out exactly -----------------------------------
class GaussianMixture:
    """K full-covariance Gaussian components in d dimensions, fitted by EM (numpy, float64)."""

    def __init__(self, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> None:
        self.weights = np.asarray(weights, dtype=np.float64)
        self.means = np.asarray(means, dtype=np.float64)
        self.covariances = np.asarray(covariances, dtype=np.float64)

    def log_joint(self, x: np.ndarray) -> np.ndarray:
        """log p(x, z) for every component z, (N, K)."""
        x = np.asarray(x, dtype=np.float64)
        d = x.shape[1]
        out = np.empty((x.shape[0], len(self.weights)))
        for j, (m, s) in enumerate(zip(self.means, self.covariances, strict=True)):
            chol = np.linalg.cholesky(s)
            sol = np.linalg.solve(chol, (x - m).T)  # L^-1 (x - m)
            log_det = 2.0 * np.log(np.diag(chol)).sum()
            out[:, j] = -0.5 * (d * LOG_2PI + log_det + (sol**2).sum(0)) + math.log(self.weights[j])
        return out

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """Exact log p(x) = log sum_z p(x, z) per example, (N,) nats."""
        lj = self.log_joint(x)
        top = lj.max(axis=1, keepdims=True)
        return (top + np.log(np.exp(lj - top).sum(axis=1, keepdims=True)))[:, 0]

    def posterior(self, x: np.ndarray) -> np.ndarray:
        """p(z|x), (N, K): the responsibilities."""
        lj = self.log_joint(x)
        return np.exp(lj - self.log_prob(x)[:, None])

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` draws (x (n, d), z (n,))."""
        z = rng.choice(len(self.weights), size=n, p=self.weights)
        x = np.empty((n, self.means.shape[1]))
        for j in range(len(self.weights)):
            idx = np.flatnonzero(z == j)
            x[idx] = rng.multivariate_normal(self.means[j], self.covariances[j], size=len(idx))
        return x, z

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        k: int,
        rng: np.random.Generator,
        steps: int = 200,
        tol: float = 1e-8,
        reg: float = 1e-6,
    ) -> tuple[GaussianMixture, list[float]]:
        """Maximum likelihood by EM from k-means++-style seeds; returns the model and the
        mean log-likelihood after each step (non-decreasing, the EM guarantee)."""
        x = np.asarray(x, dtype=np.float64)
        n, d = x.shape
        centres = [x[rng.integers(n)]]
        for _ in range(1, k):  # spread the seeds: each new one far from the chosen
            d2 = np.min([((x - c) ** 2).sum(1) for c in centres], axis=0)
            centres.append(x[rng.choice(n, p=d2 / d2.sum())])
        cov = np.cov(x.T) + reg * np.eye(d)
        model = cls(np.full(k, 1.0 / k), np.array(centres), np.stack([cov] * k))
        history: list[float] = []
        for _ in range(steps):
            r = model.posterior(x)  # E step
            nk = r.sum(0) + 1e-12  # M step: weighted moments
            means = (r.T @ x) / nk[:, None]
            covs = np.stack(
                [((r[:, j, None] * (x - means[j])).T @ (x - means[j])) / nk[j] for j in range(k)]
            ) + reg * np.eye(d)
            model = cls(nk / n, means, covs)
            history.append(float(model.log_prob(x).mean()))
            if len(history) > 1 and abs(history[-1] - history[-2]) < tol:
                break
        return model, history


# -- probabilistic PCA as a VAE: log p(x) in closed form -----------------------------------
class _RealVectors(Likelihood):
    """Marks p(x|z) as a density on R^d (the model computes it itself)."""

    name = "gaussian_vectors"


class LinearGaussianVAE(nn.Module):
    """z ~ N(0, I_q); x | z ~ N(W z + b, s^2 I_d); q(z|x) = N(A (x - b), diag(exp(logvar)))."""

    likelihood = _RealVectors()

    def __init__(self, weight: Tensor, bias: Tensor, log_sigma: float) -> None:
        super().__init__()
        d, q = weight.shape
        self.z_dim = q
        self.weight = nn.Parameter(weight.clone().double())
        self.bias = nn.Parameter(bias.clone().double())
        self.log_sigma = nn.Parameter(torch.tensor(float(log_sigma), dtype=torch.float64))
        self.enc = nn.Parameter(torch.zeros(q, d, dtype=torch.float64))
        self.enc_logvar = nn.Parameter(torch.zeros(q, dtype=torch.float64))

    # the interface of the estimators
    def encode(self, x: Tensor) -> DiagonalGaussian:
        mu = (x - self.bias) @ self.enc.T
        return DiagonalGaussian(mu, self.enc_logvar.expand_as(mu))

    def decode(self, z: Tensor) -> Tensor:
        return z @ self.weight.T + self.bias

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """log N(x; params, s^2 I) summed over dimensions, (N,)."""
        s2 = torch.exp(2 * self.log_sigma)
        return -0.5 * (((x - params) ** 2) / s2 + LOG_2PI + 2 * self.log_sigma).sum(-1)

    def log_prob_x_given_z(self, x: Tensor, z: Tensor, generator=None) -> Tensor:
        return self.log_prob(x, self.decode(z))

    def prior_log_prob(self, z: Tensor) -> Tensor:
        return log_standard_normal(z).sum(-1)

    # the truth
    def covariance(self) -> Tensor:
        d = self.weight.shape[0]
        return self.weight @ self.weight.T + torch.exp(2 * self.log_sigma) * torch.eye(
            d, dtype=torch.float64
        )

    def log_px(self, x: Tensor) -> Tensor:
        """Exact log p(x) = log N(x; b, W W^T + s^2 I), (N,) nats."""
        dist = torch.distributions.MultivariateNormal(self.bias, self.covariance())
        return dist.log_prob(x)

    def elbo(self, x: Tensor) -> Tensor:
        """The exact ELBO of the current encoder, (N,): E_q[log p(x|z)] - KL(q || p)."""
        post = self.encode(x)
        var = torch.exp(post.logvar)
        s2 = torch.exp(2 * self.log_sigma)
        resid = x - self.decode(post.mu)
        # E_q ||x - W z - b||^2 = ||x - W mu - b||^2 + sum_j var_j ||W_:j||^2
        sq = (resid**2).sum(-1) + (var * (self.weight**2).sum(0)).sum(-1)
        d = x.shape[-1]
        recon = -0.5 * (sq / s2 + d * (LOG_2PI + 2 * self.log_sigma))
        return recon - post.kl_per_dim().sum(-1)

    @torch.no_grad()
    def use_mean_field_posterior(self, widen: float = 1.0) -> None:
        """Set the encoder to the exact posterior mean and the marginal posterior variances
        (times ``widen``): a good but imperfect proposal when W's columns are not orthogonal,
        since the true posterior is then correlated."""
        q = self.z_dim
        s2 = torch.exp(2 * self.log_sigma)
        m = self.weight.T @ self.weight + s2 * torch.eye(q, dtype=torch.float64)
        m_inv = torch.linalg.inv(m)
        self.enc.copy_(m_inv @ self.weight.T)
        self.enc_logvar.copy_(torch.log(widen * s2 * torch.diagonal(m_inv)))
