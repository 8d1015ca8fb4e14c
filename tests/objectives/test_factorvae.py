"""FactorVAE: permute-dims, the density-ratio TC estimate, and the alternating update."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from untwine.config import ModelConfig, OptimConfig
from untwine.models import build
from untwine.nets.discriminator import Discriminator
from untwine.objectives import METHODS
from untwine.objectives.factorvae import DiscriminatorBatch, permute_dims


@pytest.fixture(autouse=True)
def _one_thread():
    """Small tensors: one thread is faster, and far faster on a loaded machine (no OpenMP
    barriers waiting for a descheduled second thread)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def correlated(n: int, rho: float, g: torch.Generator) -> torch.Tensor:
    x = torch.randn(n, 2, generator=g)
    return torch.stack([x[:, 0], rho * x[:, 0] + math.sqrt(1 - rho * rho) * x[:, 1]], 1)


def test_permute_dims_keeps_each_marginal_and_destroys_dependence():
    g = torch.Generator().manual_seed(0)
    z = correlated(4096, 0.95, g)
    p = permute_dims(z, g)
    for j in range(2):  # each column is a permutation of the original column
        assert torch.equal(p[:, j].sort().values, z[:, j].sort().values)
    assert torch.corrcoef(z.T)[0, 1] > 0.94
    assert abs(torch.corrcoef(p.T)[0, 1]) < 0.05
    # and the two columns were shuffled independently, not by one shared permutation
    assert not torch.equal(p[:, 0].argsort(), p[:, 1].argsort())


def test_the_discriminator_has_the_papers_shape():
    d = Discriminator(10)
    linear = [m for m in d.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == (
        [(10, 1000)] + [(1000, 1000)] * 5 + [(1000, 2)]
    )
    slopes = {m.negative_slope for m in d.modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.2}


def factorvae(z_dim: int = 2, **params):
    model = build("gaussian", (1, 64, 64), ModelConfig(z_dim=z_dim))
    cls = METHODS.get("factorvae")
    return cls(cls.Params(**params), model, 1000, OptimConfig(batch_size=8)), model


def train_on(rho: float, steps: int = 100, seed: int = 0) -> float:
    """Drive FactorVAE.update with samples of a 2-D Gaussian; return the TC estimate after."""
    torch.manual_seed(seed)
    obj, _ = factorvae()
    # a smaller discriminator and a faster rate than the paper's keep this test quick; the
    # update under test (targets, loss, optimizer) is the objective's own
    obj.discriminator = Discriminator(2, hidden=64, layers=3)
    obj.optimizers["discriminator"] = torch.optim.Adam(obj.discriminator.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        real, permuted = correlated(256, rho, g), permute_dims(correlated(256, rho, g), g)
        obj.update(step, DiscriminatorBatch(real, permuted))
    with torch.no_grad():
        return obj.discriminator.log_density_ratio(correlated(8192, rho, g)).mean().item()


def test_discriminator_estimates_the_total_correlation_of_a_gaussian():
    rho = 0.9
    closed_form = -0.5 * math.log(1 - rho * rho)  # 0.830 nats
    tc = train_on(rho)
    assert 0.6 * closed_form < tc < 1.3 * closed_form
    assert abs(train_on(0.0)) < 0.1


def test_vae_gradients_do_not_reach_the_discriminator_and_vice_versa():
    obj, model = factorvae(z_dim=3, gamma=10.0)
    x = torch.rand(16, 1, 64, 64)  # two batches of 8
    result = obj(model, x, 0, torch.Generator().manual_seed(0))
    terms = result.terms
    terms["loss"].backward()
    assert all(p.grad is None for p in obj.discriminator.parameters())
    assert all(p.requires_grad for p in obj.discriminator.parameters())  # restored
    vae_grads = [p.grad.clone() for p in model.parameters()]
    before = [p.detach().clone() for p in model.parameters()]
    out = obj.update(0, result.handoff)
    assert set(out) == {"discriminator_loss", "discriminator_accuracy"}
    assert all(p.grad is not None for p in obj.discriminator.parameters())
    # the discriminator's step touched neither the VAE's weights nor its gradients
    assert all(torch.equal(a, p.grad) for a, p in zip(vae_grads, model.parameters(), strict=True))
    assert all(torch.equal(a, p) for a, p in zip(before, model.parameters(), strict=True))
    assert obj.optimizers["discriminator"].state_dict()["state"][0]["step"].item() == 1


def test_the_tc_term_reaches_the_encoder():
    obj, model = factorvae(z_dim=3, gamma=100.0)
    x = torch.rand(16, 1, 64, 64)
    obj(model, x, 0, torch.Generator().manual_seed(0)).terms["loss"].backward()
    with_tc = model.encoder[0].weight.grad.clone()
    model.zero_grad()
    obj.params = obj.Params(gamma=0.0)
    obj(model, x, 0, torch.Generator().manual_seed(0)).terms["loss"].backward()
    assert not torch.allclose(with_tc, model.encoder[0].weight.grad)


@pytest.mark.parametrize("step", [0, 5])
def test_loss_is_recon_plus_kl_plus_gamma_tc(step):
    obj, model = factorvae(z_dim=3, gamma=10.0, kl_warmup_steps=10)
    t = obj(model, torch.rand(16, 1, 64, 64), step, torch.Generator().manual_seed(0)).terms
    w = min(1.0, step / 10)
    want = t["recon"] + w * (t["kl"] + 10.0 * t["tc_estimate"])
    assert t["loss"].item() == pytest.approx(want.item(), rel=1e-6)
