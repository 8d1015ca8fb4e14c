"""DIP-VAE: the covariance penalty in closed form, the covariance estimates, lambda_d defaults."""

from __future__ import annotations

import math

import pytest
import torch

from untwine.config import ModelConfig, OptimConfig, TrainConfig
from untwine.models import build
from untwine.objectives import METHODS
from untwine.objectives.dipvae import dip_covariance, dip_penalty


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one thread is faster, and far faster on a loaded machine (no OpenMP
    barriers waiting for a descheduled second thread)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


D = 5


def test_identity_covariance_costs_nothing():
    assert dip_penalty(torch.eye(D), 7.0, 70.0).item() == 0.0


@pytest.mark.parametrize("c", [0.0, 0.5, 2.0, 3.0])
def test_scaled_identity_costs_lambda_d_times_d_times_squared_gap(c):
    got = dip_penalty(c * torch.eye(D, dtype=torch.float64), 7.0, 70.0).item()
    assert got == pytest.approx(70.0 * D * (c - 1) ** 2, rel=1e-12)


@pytest.mark.parametrize("a", [0.1, -0.3, 0.9])
def test_equicorrelated_covariance_costs_lambda_od_times_off_diagonal_count(a):
    # unit diagonal, every off-diagonal entry a: D (D - 1) entries of a^2, no diagonal cost
    cov = (1 - a) * torch.eye(D, dtype=torch.float64) + a
    got = dip_penalty(cov, 7.0, 70.0).item()
    assert got == pytest.approx(7.0 * D * (D - 1) * a * a, rel=1e-12)
    # and both parts at once: diagonal 2, off-diagonal a
    cov2 = cov + torch.eye(D, dtype=torch.float64)
    want = 7.0 * D * (D - 1) * a * a + 70.0 * D * 1.0
    assert dip_penalty(cov2, 7.0, 70.0).item() == pytest.approx(want, rel=1e-12)


def _with_covariance(cov: torch.Tensor, n: int = 500) -> torch.Tensor:
    x = torch.randn(n, len(cov), generator=torch.Generator().manual_seed(0), dtype=cov.dtype)
    x = x - x.mean(0)
    x = x @ torch.linalg.inv(torch.linalg.cholesky(x.T @ x / n)).T
    return x @ torch.linalg.cholesky(cov).T + 3.0  # the mean must not matter


def test_type_i_is_the_batch_covariance_of_the_means_and_type_ii_adds_mean_variances():
    cov = torch.tensor([[2.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 0.5]], dtype=torch.float64)
    mu = _with_covariance(cov)
    logvar = torch.log(torch.rand(mu.shape, generator=torch.Generator().manual_seed(1)))
    logvar = logvar.to(torch.float64)
    assert torch.allclose(dip_covariance(mu, logvar, "i"), cov, atol=1e-10)
    want_ii = cov + torch.diag(logvar.exp().mean(0))
    assert torch.allclose(dip_covariance(mu, logvar, "ii"), want_ii, atol=1e-10)


@pytest.mark.parametrize(("dip_type", "factor"), [("i", 10.0), ("ii", 1.0)])
def test_lambda_d_defaults_to_the_papers_rule_and_is_written_down(tmp_path, dip_type, factor):
    cfg = TrainConfig.from_flat(
        method="dipvae",
        dip_type=dip_type,
        lambda_od=5,
        steps=1,
        out=tmp_path,
        dataset="test-squares",
    )
    assert cfg.method.lambda_d == factor * 5
    assert f"lambda_d: {factor * 5}" in cfg.to_yaml()
    explicit = TrainConfig.from_flat(
        method="dipvae", lambda_od=5, lambda_d=3, steps=1, out=tmp_path, dataset="test-squares"
    )
    assert explicit.method.lambda_d == 3.0


class Constant(torch.nn.Module):
    """Every image encoded to mu = 1, logvar = 0; decoder logits 0."""

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


@pytest.mark.parametrize(("dip_type", "penalty"), [("i", 4 * 20.0), ("ii", 0.0)])
def test_objective_adds_the_penalty_to_the_vae_loss(dip_type, penalty):
    # constant means: Cov[mu] = 0, so type i pays lambda_d * D * 1; type ii sees E[Sigma] = I
    model = build("gaussian", (1, 64, 64), ModelConfig(z_dim=4))
    model.encoder, model.decoder = Constant(4), Constant(4, decode=True)
    cls = METHODS.get("dipvae")
    obj = cls(
        cls.Params(dip_type=dip_type, lambda_od=2.0, lambda_d=20.0), model, 100, OptimConfig()
    )
    t = obj(model, torch.zeros(8, 1, 64, 64), 0, torch.Generator().manual_seed(0)).terms
    recon = 4096 * math.log(2)
    assert t["dip_penalty"].item() == pytest.approx(penalty, abs=1e-6)
    assert t["loss"].item() == pytest.approx(recon + 0.5 * 4 + penalty, rel=1e-6)
