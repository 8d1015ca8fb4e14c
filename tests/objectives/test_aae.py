"""The adversarial autoencoder: on 2-D toy data its codes take the prior's moments."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from untwine.config import OptimConfig
from untwine.errors import ConfigError
from untwine.models.normal import DiagonalGaussian
from untwine.objectives import METHODS


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


class Toy(nn.Module):
    """A 2-D autoencoder with a unit-variance Gaussian likelihood: what the objective calls."""

    z_dim = 2

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 4))
        self.decoder = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 2))

    def encode(self, x: Tensor) -> DiagonalGaussian:
        return DiagonalGaussian(*self.encoder(x).chunk(2, dim=1))

    def decode(self, z: Tensor) -> Tensor:
        return self.decoder(z)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        return -0.5 * ((x - params) ** 2).sum(dim=1)


def toy_data(n: int, g: torch.Generator) -> Tensor:
    """Correlated, shifted 2-D Gaussian points: far from N(0, I) as they come."""
    u = torch.randn(n, 2, generator=g)
    return torch.stack([3.0 + 2.0 * u[:, 0], -1.0 + 0.75 * u[:, 0] + 0.5 * u[:, 1]], dim=1)


def train_toy(steps: int, lr: float = 1e-3, batch: int = 256, **params):
    """Train on toy data as the loop does; the codes of fresh points, the discriminator's
    mean accuracy over the last 200 steps, and the last step's terms."""
    torch.manual_seed(0)
    model = Toy()
    cls = METHODS.get("aae")
    settings = dict(disc_hidden=64, disc_layers=2, disc_lr=lr, **params)
    objective = cls(cls.Params(**settings), model, 10_000, OptimConfig(lr=lr))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(0)
    accuracy = []
    for step in range(steps):
        out = objective(model, toy_data(batch, g), step, g)
        opt.zero_grad(set_to_none=True)
        out.terms["loss"].backward()
        opt.step()
        terms = {**out.terms, **objective.update(step, out.handoff)}
        accuracy.append(terms["discriminator_accuracy"].item())
    with torch.no_grad():
        codes = model.encode(toy_data(20_000, g)).mu
    return codes, sum(accuracy[-200:]) / 200, terms


def _near_prior(codes: Tensor, tol: float) -> bool:
    mean_off = codes.mean(dim=0).abs().max().item()
    cov_off = (torch.cov(codes.T) - torch.eye(2)).abs().max().item()
    return mean_off < tol and cov_off < tol


def test_codes_take_the_priors_moments_and_the_discriminator_is_fooled():
    """The paper's separate phases (the joint mode trains the same way in the resume test)."""
    codes, accuracy, terms = train_toy(1500, phases="separate")
    assert {"loss", "recon", "generator_loss", "discriminator_loss"} <= set(terms)
    assert 0.35 < accuracy < 0.65
    assert _near_prior(codes, 0.2)
    assert terms["recon"] < 0.1  # and the codes still reconstruct (noise floor 0)


def test_without_the_adversarial_term_the_codes_stay_off_the_prior():
    codes, accuracy, _ = train_toy(300, phases="joint", adversarial_scale=0.0)
    assert accuracy > 0.8
    assert not _near_prior(codes, 0.5)


def test_gaussian_encoder_draws_codes_and_uniform_prior_is_used():
    g = torch.Generator().manual_seed(1)
    cls = METHODS.get("aae")
    model = Toy()
    objective = cls(cls.Params(encoder="gaussian", prior="uniform"), model, 100, OptimConfig())
    x = toy_data(512, g)
    handoff = objective(model, x, 0, g).handoff
    z = objective._codes(model, x, handoff.eps).detach()
    assert handoff.eps is not None and not torch.equal(z, model.encode(x).mu.detach())
    z_prior = handoff.z_prior
    assert z_prior.abs().max() <= 3**0.5 and z_prior.var().item() == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("prior", "cauchy", "unknown prior 'cauchy'"),
        ("free_bits", 1.0, "has none"),
        ("adversarial_scale", 2.0, "adversarial_scale weigh the losses of phases='joint'"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, field, value, match):
    import untwine

    with pytest.raises(ConfigError, match=match) as e:
        untwine.train("test-squares", method="aae", steps=1, out=tmp_path / "r", **{field: value})
    assert "\n" not in str(e.value)
    assert not (tmp_path / "r").exists()
