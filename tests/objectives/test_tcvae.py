"""beta-TCVAE: the minibatch ELBO decomposition against closed forms and the full-dataset value.

The test posteriors: N means drawn from a 2-D Gaussian N(0, Sigma) (correlation rho), re-coloured
so that their empirical covariance is exactly Sigma, each with the same variance s^2. The
aggregate posterior is then close to N(0, C) with C = Sigma + s^2 I, and (Chen et al. 2018, eq. 2)

    MI  = E[log q(z|n) - log q(z)] = 0.5 (log det C - D log s^2)
    TC  = 0.5 (sum_j log C_jj - log det C)               (-0.5 log(1 - r^2), r = C_12 / C_11)
    dKL = sum_j 0.5 (C_jj - 1 - log C_jj)

which sum to E[KL(q(z|n) || p(z))] = 0.5 sum_j (Sigma_jj + s^2 - 1 - log s^2).
"""

from __future__ import annotations

import math

import pytest
import torch

from untwine.config import ModelConfig, OptimConfig, TrainConfig
from untwine.errors import ConfigError
from untwine.metrics.elbo import elbo_decomposition
from untwine.models import build
from untwine.models.normal import log_normal
from untwine.objectives import METHODS
from untwine.objectives.tcvae import decompose_kl, log_importance_weights


def full_dataset_log_qz(mu: torch.Tensor, logvar: torch.Tensor, num_samples: int, seed: int):
    """E[log q(z)] over ``num_samples`` codes, q the aggregate of every posterior (nats)."""
    result = elbo_decomposition(mu.numpy(), logvar.numpy(), num_samples=num_samples, seed=seed)
    return result["log_qz"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one thread is faster, and far faster on a loaded machine (no OpenMP
    barriers waiting for a descheduled second thread)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


TERMS = ("index_code_mi", "total_correlation", "dimwise_kl")


def gaussian_posteriors(n: int, rho: float, s: float, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64)
    x = x - x.mean(0)
    x = x @ torch.linalg.inv(torch.linalg.cholesky(x.T @ x / n)).T  # whiten exactly
    sigma = torch.tensor([[1.0, rho], [rho, 1.0]], dtype=torch.float64)
    mu = x @ torch.linalg.cholesky(sigma).T
    return mu, torch.full_like(mu, math.log(s * s)), sigma


def closed_forms(sigma: torch.Tensor, s: float) -> dict[str, float]:
    c = sigma + s * s * torch.eye(2, dtype=sigma.dtype)
    d = torch.diagonal(c)
    return {
        "index_code_mi": 0.5 * (torch.logdet(c) - 2 * math.log(s * s)).item(),
        "total_correlation": 0.5 * (d.log().sum() - torch.logdet(c)).item(),
        "dimwise_kl": 0.5 * (d - 1 - d.log()).sum().item(),
    }


def batch_average(mu, logvar, batch: int, estimator: str, samples: int, seed: int = 1):
    """Mean of decompose_kl over batches drawn without replacement, ``samples`` codes in all."""
    g = torch.Generator().manual_seed(seed)
    n = len(mu)
    reps = max(1, samples // batch)
    total = {k: 0.0 for k in (*TERMS, "log_qz")}
    for _ in range(reps):
        idx = torch.randperm(n, generator=g)[:batch]
        m, lv = mu[idx], logvar[idx]
        z = m + torch.exp(0.5 * lv) * torch.randn(m.shape, generator=g, dtype=m.dtype)
        for k, v in decompose_kl(z, m, lv, n, estimator).items():
            total[k] += v.item() / reps
    return total


# MWS (Chen et al. 2018, sec. 4.1) weights every pair 1/(N B): its log q(z) is a lower bound that
# stays up to log N below the truth however large the batch. With the whole dataset as the batch
# it is exactly log q(z) - log N, so MI + log N, TC + (D - 1) log N, dKL - D log N. Adding back
# log N per density (the plain batch average of q(z|n_j)) gives a consistent estimator, which is
# what we check converges; the offsets themselves are exact at B = N (last assertion below).
def mws_offsets(n: int, d: int = 2) -> dict[str, float]:
    return {
        "index_code_mi": math.log(n),
        "total_correlation": (d - 1) * math.log(n),
        "dimwise_kl": -d * math.log(n),
    }


N = 1024
BATCHES = (16, 128, N)


@pytest.mark.parametrize("estimator", ["mss", "mws"])
@pytest.mark.parametrize("rho", [0.8, 0.0])
def test_terms_approach_closed_forms_as_the_batch_grows(estimator, rho):
    s = 0.3
    mu, logvar, sigma = gaussian_posteriors(N, rho, s)
    want = closed_forms(sigma, s)
    offset = mws_offsets(N) if estimator == "mws" else dict.fromkeys(TERMS, 0.0)
    errors = {}
    for b in BATCHES:
        got = batch_average(mu, logvar, b, estimator, samples=2048)
        errors[b] = {k: got[k] - offset[k] - want[k] for k in TERMS}
    # the dominant error (MI, via the bias of log q(z)) shrinks with the batch ...
    assert abs(errors[N]["index_code_mi"]) < abs(errors[128]["index_code_mi"])
    assert abs(errors[128]["index_code_mi"]) < abs(errors[16]["index_code_mi"])
    assert abs(errors[16]["index_code_mi"]) > 0.1  # (so the test can tell)
    # ... and at the full batch every term is within the finite-N / Monte Carlo error
    for k in TERMS:
        assert abs(errors[N][k]) < 0.04, (k, errors)
    if rho == 0.0:
        assert abs(errors[N]["total_correlation"] + want["total_correlation"]) < 0.03


@pytest.mark.parametrize("estimator", ["mss", "mws"])
def test_the_three_terms_sum_to_the_sampled_kl(estimator):
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(32, 5, generator=g, dtype=torch.float64)
    logvar = torch.randn(32, 5, generator=g, dtype=torch.float64) - 1
    z = mu + torch.exp(0.5 * logvar) * torch.randn(32, 5, generator=g, dtype=torch.float64)
    parts = decompose_kl(z, mu, logvar, 1000, estimator)
    sampled_kl = (log_normal(z, mu, logvar).sum(1) - log_normal(z, 0 * z, 0 * z).sum(1)).mean()
    total = sum(parts[k] for k in TERMS)
    assert total.item() == pytest.approx(sampled_kl.item(), abs=1e-10)


def test_mss_weights_follow_the_paper_not_the_copied_matrix():
    b, n = 5, 100
    m = b - 1
    w = log_importance_weights(b, n, "mss", dtype=torch.float64).exp()
    for i in range(b):
        for j in range(b):
            if j == i:
                want = 1 / n  # the sample's own posterior stands for itself
            elif j == (i + 1) % b:
                want = (n - m) / (n * m)  # the rest of its stratum
            else:
                want = 1 / m  # one of the other M - 1 strata
            assert w[i, j].item() == pytest.approx(want, rel=1e-12), (i, j)
    assert torch.allclose(w.sum(1), torch.ones(b, dtype=torch.float64))

    # the matrix of the authors' code fills columns 0 and 1 (a flat stride of M + 1 = B)
    copied = torch.full((b, b), 1 / m, dtype=torch.float64)
    copied.view(-1)[:: m + 1] = 1 / n
    copied.view(-1)[1 :: m + 1] = (n - m) / (n * m)
    copied[m - 1, 0] = (n - m) / (n * m)
    assert (copied[:, 0] == 1 / n).sum() == b - 1 and not torch.allclose(w, copied)
    own = torch.full((b,), 1 / n, dtype=torch.float64)
    assert torch.allclose(w.diagonal(), own) and not torch.allclose(copied.diagonal(), own)

    mws = log_importance_weights(b, n, "mws", dtype=torch.float64).exp()
    assert torch.allclose(mws, torch.full((b, b), 1 / (n * b), dtype=torch.float64))


def _log_qz_with(weights: torch.Tensor, z, mu, logvar) -> float:
    pairs = log_normal(z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0)).sum(2)
    return torch.logsumexp(pairs + weights.log(), dim=1).mean().item()


def test_the_derived_matrix_matches_the_full_dataset_estimate_and_the_copied_one_does_not():
    # narrow posteriors: log q(z_i) is dominated by q(z_i | n_i) / N, so the weight a sample's
    # own posterior gets is what matters; the copied matrix gives it 1/M for rows 2..B-1.
    n, b, s = 2048, 32, 0.002  # about 0.03 other means within 2 s of each z
    mu, logvar, _ = gaussian_posteriors(n, 0.5, s)
    g = torch.Generator().manual_seed(3)
    full = full_dataset_log_qz(mu, logvar, num_samples=n, seed=3)
    m = b - 1
    correct = log_importance_weights(b, n, "mss", dtype=torch.float64).exp()
    copied = torch.full((b, b), 1 / m, dtype=torch.float64)
    copied.view(-1)[:: m + 1] = 1 / n
    copied.view(-1)[1 :: m + 1] = (n - m) / (n * m)
    copied[m - 1, 0] = (n - m) / (n * m)
    est = {"correct": 0.0, "copied": 0.0}
    reps = 32
    for _ in range(reps):
        idx = torch.randperm(n, generator=g)[:b]
        z = mu[idx] + s * torch.randn(b, 2, generator=g, dtype=torch.float64)
        est["correct"] += _log_qz_with(correct, z, mu[idx], logvar[idx]) / reps
        est["copied"] += _log_qz_with(copied, z, mu[idx], logvar[idx]) / reps
    assert abs(est["correct"] - full) < 0.1
    # the copied matrix overweights the own posterior N/M-fold: about log(N/M) = 4.2 nats high
    assert est["copied"] - full > 0.8 * math.log(n / m)


@pytest.mark.parametrize("s", [0.002, 0.05, 0.3, 1.0])
def test_mss_is_closer_to_the_full_dataset_log_qz_than_mws(s):
    """Finding: MSS's estimate of q(z_i) is unbiased (its weights sum to 1) and entrywise at least
    MWS's, so E[log] puts MSS between MWS and the truth at every batch size, in every regime; the
    margin is log B .. log N nats. (MSS is not always closer than a plain batch average: see
    the module docstring of untwine.objectives.tcvae.)"""
    n, b = 2048, 64
    mu, logvar, _ = gaussian_posteriors(n, 0.8, s)
    full = full_dataset_log_qz(mu, logvar, num_samples=n, seed=2)
    mss = batch_average(mu, logvar, b, "mss", samples=1024)["log_qz"]
    mws = batch_average(mu, logvar, b, "mws", samples=1024)["log_qz"]
    assert abs(mss - full) < abs(mws - full)
    assert mws < mss <= full + 0.05  # both low (Jensen), MWS lower


def test_mss_log_qz_is_at_least_mws_on_every_batch():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(16, 3, generator=g), torch.randn(16, 3, generator=g)
    z = mu + torch.exp(0.5 * logvar) * torch.randn(16, 3, generator=g)
    assert (
        decompose_kl(z, mu, logvar, 500, "mss")["log_qz"]
        > (decompose_kl(z, mu, logvar, 500, "mws")["log_qz"])
    )


def test_full_batch_mws_is_the_full_dataset_value_minus_log_n():
    n = 256
    mu, logvar, _ = gaussian_posteriors(n, 0.5, 0.3)
    z = mu + 0.3 * torch.randn(n, 2, generator=torch.Generator().manual_seed(0), dtype=mu.dtype)
    got = decompose_kl(z, mu, logvar, n, "mws")
    pairs = log_normal(z.unsqueeze(1), mu.unsqueeze(0), logvar.unsqueeze(0))
    log_qz = torch.logsumexp(pairs.sum(2), 1) - math.log(n)
    marginals = (torch.logsumexp(pairs, 1) - math.log(n)).sum(1)
    assert got["log_qz"].item() == pytest.approx(log_qz.mean().item() - math.log(n), abs=1e-9)
    tc = (log_qz - marginals).mean().item()
    assert got["total_correlation"].item() == pytest.approx(tc + math.log(n), abs=1e-9)


# -- the objective ---------------------------------------------------------------------------
class Fixed(torch.nn.Module):
    """Every image encoded to mu = 1, logvar = 0 (identical posteriors); decoder logits 0."""

    def __init__(self, z: int, decode: bool = False):
        super().__init__()
        self.z, self.decode = z, decode
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x):
        if self.decode:
            return torch.zeros(x.shape[0], 1, 64, 64) + self.dummy
        out = torch.zeros(x.shape[0], 2 * self.z) + self.dummy
        out[:, : self.z] += 1.0
        return out


def fixed_terms(estimator: str, beta: float, step: int = 0, **params):
    model = build("gaussian", (1, 64, 64), ModelConfig(z_dim=4))
    model.encoder, model.decoder = Fixed(4), Fixed(4, decode=True)
    cls = METHODS.get("betatcvae")
    obj = cls(
        cls.Params(beta=beta, tc_estimator=estimator, **params),
        model,
        1000,
        OptimConfig(batch_size=8),
    )
    return obj(model, torch.zeros(8, 1, 64, 64), step, torch.Generator().manual_seed(0)).terms


RECON = 4096 * math.log(2)


@pytest.mark.parametrize("beta", [1.0, 6.0])
def test_identical_posteriors_carry_no_mi_and_no_tc(beta):
    # q(z) = q(z|n) = N(1, I): MI = 0 and TC = 0 exactly under MSS (weights sum to 1), and the
    # loss is the VAE's whatever beta; MWS is off by exactly log N per density.
    t = fixed_terms("mss", beta)
    assert abs(t["index_code_mi"].item()) < 1e-5 and abs(t["total_correlation"].item()) < 1e-5
    assert t["loss"].item() == pytest.approx(RECON + 0.5 * 4, rel=1e-6)
    w = fixed_terms("mws", beta)
    assert w["index_code_mi"].item() == pytest.approx(math.log(1000), abs=1e-4)
    assert w["total_correlation"].item() == pytest.approx(3 * math.log(1000), abs=1e-4)
    assert (w["dimwise_kl"] - t["dimwise_kl"]).item() == pytest.approx(-4 * math.log(1000), 1e-5)


def test_warmup_scales_the_whole_regulariser():
    t = fixed_terms("mws", 6.0, step=0, kl_warmup_steps=10)
    assert t["loss"].item() == pytest.approx(RECON, rel=1e-7)


def test_free_bits_are_rejected_with_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="free_bits is not defined for betatcvae"):
        TrainConfig.from_flat(
            method="betatcvae", free_bits=0.5, steps=1, out=tmp_path, dataset="test-squares"
        )


def test_mss_rejects_a_batch_larger_than_the_dataset():

    cls = METHODS.get("betatcvae")
    with pytest.raises(ConfigError, match="batch_size"):
        model = build("gaussian", (1, 64, 64), ModelConfig())
        cls(cls.Params(), model, 10, OptimConfig(batch_size=64))
