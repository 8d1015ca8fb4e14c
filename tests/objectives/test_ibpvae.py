"""IBP-VAE's loss: its KL terms, their weights, and its settings' checks."""

from __future__ import annotations

import pytest
import torch

import untwine
from untwine.config import ModelConfig, OptimConfig
from untwine.errors import ConfigError
from untwine.models import build
from untwine.objectives import METHODS


def ibpvae(dataset_size: int = 1000, **params):
    torch.manual_seed(0)
    model = build("ibp", (1, 64, 64), ModelConfig(z_dim=5))
    cls = METHODS.get("ibpvae")
    return cls(cls.Params(**params), model, dataset_size, OptimConfig()), model


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_terms_add_up_and_beta_weighs_the_whole_kl():
    x = torch.rand(8, 1, 64, 64, generator=_gen())
    objective, model = ibpvae(beta=3.0, alpha=2.0)
    t = objective(model, x, 0, _gen()).terms
    kl = t["kl_gaussian"] + t["kl_mask"] + t["kl_sticks"]
    assert t["kl"].item() == pytest.approx(kl.item(), rel=1e-5)
    assert t["loss"].item() == pytest.approx((t["recon"] + 3.0 * t["kl"]).item(), rel=1e-5)
    assert t["elbo"].item() == pytest.approx(-(t["recon"] + t["kl"]).item(), rel=1e-5)
    assert t["kl_dims"].shape == t["usage"].shape == (5,)
    assert 0 <= t["active_features"].item() <= 5


def test_sticks_kl_is_counted_once_per_dataset():
    x = torch.rand(8, 1, 64, 64, generator=_gen())
    small, model = ibpvae(dataset_size=10, alpha=2.0)
    large, _ = ibpvae(dataset_size=1000, alpha=2.0)
    with torch.no_grad():  # move q(v) off the prior so that its KL is not 0
        model.kuma_b_raw.add_(1.0)
    a = small(model, x, 0, _gen()).terms["kl_sticks"]
    b = large(model, x, 0, _gen()).terms["kl_sticks"]
    assert a.item() > 0 and a.item() == pytest.approx(100 * b.item(), rel=1e-5)


def test_mask_kl_is_zero_where_posterior_and_prior_concretes_coincide():
    """Encoder logits 0 and equal temperatures: q(b|x) = p(b|pi), so log q - log p = 0."""
    x = torch.rand(8, 1, 64, 64, generator=_gen())
    objective, model = ibpvae(temperature=0.7, prior_temperature=0.7)
    with torch.no_grad():
        model.encoder[-1].weight[:5] = 0
        model.encoder[-1].bias[:5] = 0
    assert objective(model, x, 0, _gen()).terms["kl_mask"].abs().item() < 1e-4
    objective, _ = ibpvae(temperature=1.0, prior_temperature=0.5)
    assert objective(model, x, 0, _gen()).terms["kl_mask"].abs().item() > 1e-2


@pytest.mark.parametrize(
    ("setting", "value", "field"),
    [
        ("alpha", 0.0, "alpha"),
        ("alpha", -1.0, "alpha"),
        ("temperature", 0.0, "temperature"),
        ("prior_temperature", -0.5, "prior_temperature"),
        ("z_dim", 0, "z_dim"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, setting, value, field):
    with pytest.raises(ConfigError, match=field) as e:
        untwine.train(
            "test-squares", method="ibpvae", steps=1, out=tmp_path / "r", **{setting: value}
        )
    assert "\n" not in str(e.value)
    assert not (tmp_path / "r").exists()
