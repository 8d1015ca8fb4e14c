"""Presets: valid settings, published grids, applied beneath explicit settings."""

from __future__ import annotations

import pytest
import yaml
from typer.testing import CliRunner

import untwine
from untwine.config import TrainConfig
from untwine.errors import ConfigError
from untwine.objectives import METHODS, presets

EXPECTED = {
    "betavae-dsprites": ("betavae", {"beta": [1, 2, 4, 6, 8, 16]}),
    "annealedvae-dsprites": ("annealedvae", {"c_max": [5, 10, 25, 50, 75, 100]}),
    "betatcvae-dsprites": ("betatcvae", {"beta": [1, 2, 4, 6, 8, 10]}),
    "betatcvae-dsprites-chen": ("betatcvae", {"beta": [1, 2, 4, 6, 8, 10]}),
    "factorvae-dsprites": ("factorvae", {"gamma": [10, 20, 30, 40, 50, 100]}),
    "dipvae-i-dsprites": ("dipvae", {"lambda_od": [1, 2, 5, 10, 20, 50]}),
    "dipvae-ii-dsprites": ("dipvae", {"lambda_od": [1, 2, 5, 10, 20, 50]}),
    "vqvae-dsprites": ("vqvae", {"beta": [0.1, 0.25, 0.5, 1.0, 2.0]}),
    "vqvae-mnist5k": ("vqvae", {"beta": [0.1, 0.25, 0.5, 1.0, 2.0]}),
    "vqvae2-dsprites": ("vqvae2", {"beta": [0.1, 0.25, 0.5, 1.0, 2.0]}),
    "aae-dsprites": ("aae", {"disc_lr": [1e-5, 1e-4, 1e-3]}),
    "ibpvae-dsprites": ("ibpvae", {"alpha": [2, 5, 10, 20]}),
}


def test_names_and_grids():
    assert presets.names() == sorted(EXPECTED)
    for name, (method, grid) in EXPECTED.items():
        p = presets.get(name)
        assert p["settings"]["method"] == method and p["grid"] == grid and p["source"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_grid_point_is_a_valid_config(tmp_path, name):
    p = presets.get(name)
    assert set(p["grid"]) <= set(METHODS.get(p["settings"]["method"]).Params.model_fields)
    ((key, values),) = p["grid"].items()
    for value in values:
        settings = {**p["settings"], key: value, "dataset": "test-squares", "out": tmp_path}
        cfg = TrainConfig.from_flat(**settings)
        assert getattr(cfg.method, key) == value


def test_locatello_settings_and_the_dip_rule():
    s = presets.get("factorvae-dsprites")["settings"]
    assert (s["batch_size"], s["lr"], s["steps"], s["z_dim"]) == (64, 1e-4, 300_000, 10)
    assert (s["disc_lr"], s["disc_adam_beta1"], s["disc_adam_beta2"]) == (1e-4, 0.5, 0.9)
    for name, factor in [("dipvae-i-dsprites", 10), ("dipvae-ii-dsprites", 1)]:
        s = presets.get(name)["settings"]
        assert "lambda_d" not in s  # so that it follows lambda_od across the grid
        cfg = TrainConfig.from_flat(**{**s, "lambda_od": 20, "dataset": "test-squares", "out": "x"})
        assert cfg.method.lambda_d == factor * 20


def test_ibpvae_preset_is_the_released_configuration():
    s = presets.get("ibpvae-dsprites")["settings"]
    assert (s["z_dim"], s["alpha"], s["batch_size"], s["lr"], s["beta"]) == (
        10,
        10.0,
        512,
        5e-4,
        5.0,
    )
    assert s["steps"] * s["batch_size"] == 60 * 737_280  # 60 epochs of dSprites
    assert (s["temperature"], s["prior_temperature"]) == (1.0, 0.5)


def test_get_returns_a_copy_and_unknown_names_list_the_known():
    presets.get("betavae-dsprites")["settings"]["beta"] = 99
    assert presets.get("betavae-dsprites")["settings"]["beta"] == 4.0
    with pytest.raises(
        ConfigError, match="unknown preset 'nope'; expected one of: aae-dsprites, annealedvae"
    ):
        presets.get("nope")


def test_train_applies_a_preset_beneath_explicit_settings(tmp_path):
    run = untwine.train(
        "test-squares",  # overrides the preset's dataset
        preset="betatcvae-dsprites",
        beta=2.0,
        steps=1,
        batch_size=8,
        out=tmp_path / "r",
        progress=False,
        threads=1,
    )
    cfg = run.config
    assert cfg.dataset.name == "test-squares" and cfg.method.beta == 2.0
    assert cfg.optim.batch_size == 8 and cfg.steps == 1
    assert cfg.optim.lr == 1e-4 and cfg.method.tc_estimator == "mss"  # from the preset
    with pytest.raises(ConfigError, match="preset 'betatcvae-dsprites' is for method 'betatcvae'"):
        untwine.train(preset="betatcvae-dsprites", method="dipvae", out=tmp_path / "x")


def test_cli_preset_supplies_method_and_steps(tmp_path):
    from untwine.cli import app

    out = tmp_path / "r"
    args = ["train", "--preset", "dipvae-ii-dsprites", "--dataset", "test-squares", "--out"]
    result = CliRunner().invoke(
        app, [*args, str(out), "--steps", "1", "--batch-size", "8", "--lambda-od", "3", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["method"] == {
        "name": "dipvae",
        "kl_warmup_steps": 0,
        "free_bits": 0.0,
        "encoder_steps": 1,
        "aggressive_check_every": 0,
        "dip_type": "ii",
        "lambda_od": 3.0,
        "lambda_d": 3.0,
    }
    assert saved["optim"]["lr"] == 1e-4 and saved["steps"] == 1
