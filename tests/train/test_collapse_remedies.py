"""The PixelCNN decoder and aggressive inference through the loop: bit-exact resume, and
aggressive inference's encoder-only updates and stopping rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import untwine
from untwine import models
from untwine.config import ModelConfig, OptimConfig
from untwine.objectives.vae import VAEObjective, VAEParams
from untwine.train import checkpoint

COMMON = dict(
    method="vae", network="mlp200", z_dim=3, batch_size=4, seed=0, lr=1e-3, log_every=2,
    progress=False, threads=1,
)  # fmt: skip
CASES = {
    "pixelcnn": dict(decoder="pixelcnn", decoder_channels=4, decoder_layers=2, decoder_kernel=3,
                     decoder_dropout=0.2, decoder_receptive_field=2),
    "aggressive": dict(encoder_steps=3, aggressive_check_every=2),
}  # fmt: skip
STEPS = 8


def _train(out: Path, steps: int, resume: bool = False, **settings):
    return untwine.train(
        "test-squares", steps=steps, out=out, checkpoint_every=STEPS // 2, resume=resume,
        **{**COMMON, **settings},
    )  # fmt: skip


def _log(run_dir: Path) -> list[dict]:
    return [
        {k: v for k, v in json.loads(x).items() if k != "images_per_s"}
        for x in (run_dir / "log.jsonl").read_text().splitlines()
    ]


@pytest.mark.parametrize("case", list(CASES))
def test_resume_is_bit_exact(tmp_path, case):
    full = _train(tmp_path / "full", STEPS, **CASES[case])
    _train(tmp_path / "half", STEPS // 2, **CASES[case])
    resumed = _train(tmp_path / "half", STEPS, resume=True, **CASES[case])
    a = load_file(str(checkpoint.latest(full.path) / checkpoint.TENSORS))
    b = load_file(str(checkpoint.latest(resumed.path) / checkpoint.TENSORS))
    assert a.keys() == b.keys()
    if case == "aggressive":  # the encoder's Adam and the stopping rule's state are saved
        assert any(k.startswith("s.aux_optimizers.encoder.") for k in a)
        assert {"s.objective.aggressive", "s.objective.mi_window"} <= set(a)
        assert {"aggressive", "encoder_loss", "mi"} <= set(full.log()[0])
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ after resume: {different[:5]}"
    assert _log(full.path) == _log(resumed.path)


def _objective(**params):
    torch.manual_seed(0)
    cfg = ModelConfig(network="mlp200", z_dim=2)
    model = models.build("gaussian", (1, 8, 8), cfg)
    objective = VAEObjective(VAEParams(**params), model, 100, OptimConfig(lr=1e-2))
    return model, objective


def test_encoder_updates_move_only_the_encoder_and_return_the_first_part():
    model, objective = _objective(encoder_steps=3)
    assert objective.batches_per_step == 3
    batch = torch.rand(12, 1, 8, 8)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, terms = objective.train_encoder(model, batch, 0, torch.Generator().manual_seed(0))
    assert torch.equal(x, batch[:4]) and terms["aggressive"] == 1
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before if k.startswith("decoder."))
    assert all(not torch.equal(before[k], after[k]) for k in before if k.startswith("encoder."))
    assert all(p.grad is None for p in model.decoder.parameters())


def test_one_encoder_step_changes_nothing():
    model, objective = _objective()
    batch = torch.rand(4, 1, 8, 8)
    x, terms = objective.train_encoder(model, batch, 0, None)
    assert x is batch and terms == {} and objective.optimizers == {}
    assert not any(k for k, _ in objective.named_buffers())


def test_aggressive_phase_ends_when_the_windowed_mi_stops_rising(monkeypatch):
    """Windows of 2 steps: means 1.5, 3.5, 3.0 -> on after the 2nd, off after the 3rd."""
    import untwine.objectives.base as base

    model, objective = _objective(encoder_steps=2, aggressive_check_every=2)
    values = iter([1.0, 2.0, 3.0, 4.0, 3.0, 3.0])
    monkeypatch.setattr(base, "index_code_mi", lambda *a: torch.tensor(next(values)))
    states = []
    for step in range(6):
        objective._watch_mi(model, torch.rand(4, 1, 8, 8), step, None)
        states.append(bool(objective.aggressive))
    assert states == [True, True, True, True, True, False]
    x, terms = objective.train_encoder(model, torch.rand(8, 1, 8, 8), 6, None)
    assert len(x) == 4 and terms == {"aggressive": 0}


# -- a pretraining phase under another method ----------------------------------------------
COLLAPSE = dict(method="betavae", beta=50.0)
PIXELCNN = CASES["pixelcnn"]


def _tensors(run) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint.latest(run.path) / checkpoint.TENSORS))


def test_a_pretrained_run_is_the_pretraining_methods_run_until_the_switch(tmp_path):
    """Until step ``pretrain.steps`` the run is the pretraining method's own run, bit for bit:
    the same weights, optimiser state, noise and log."""
    alone = _train(tmp_path / "alone", STEPS // 2, **{**PIXELCNN, **COLLAPSE})
    pre = _train(
        tmp_path / "pre", STEPS // 2, pretrain={**COLLAPSE, "steps": STEPS // 2}, **PIXELCNN
    )
    a, b = _tensors(alone), _tensors(pre)
    assert a.keys() == b.keys()  # neither objective holds tensors here
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ at the switch: {different[:5]}"
    assert _log(alone.path) == _log(pre.path)
    assert pre.config.method.name == "vae" and pre.config.pretrain.method.beta == 50


@pytest.mark.parametrize("switch", [STEPS // 4, 3 * STEPS // 4])  # resumed after / before it
def test_resume_across_the_switch_is_bit_exact(tmp_path, switch):
    settings = dict(
        pretrain={**COLLAPSE, "steps": switch}, kl_warmup_steps=3, **CASES["aggressive"]
    )
    full = _train(tmp_path / "full", STEPS, **settings)
    _train(tmp_path / "half", STEPS // 2, **settings)
    resumed = _train(tmp_path / "half", STEPS, resume=True, **settings)
    a, b = _tensors(full), _tensors(resumed)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ after resume: {different[:5]}"
    assert _log(full.path) == _log(resumed.path)
    # aggressive inference starts with the run's own method: encoder-only updates only after
    assert [r.get("aggressive") for r in full.log()] == [None] * (switch // 2) + [1.0] * (
        (STEPS - switch) // 2
    )


def test_step_based_schedules_count_from_the_switch(tmp_path):
    """KL warm-up starts at weight 0 when the run's method takes over, not at switch / warm-up."""
    run = untwine.train(
        "test-squares", steps=6, out=tmp_path / "w", checkpoint_every=6,
        **{**COMMON, "log_every": 1}, pretrain={"method": "vae", "steps": 3}, kl_warmup_steps=4,
    )  # fmt: skip
    log = run.log()
    assert all(r["loss"] > r["recon"] for r in log[:3])  # plain ELBO while pretraining
    assert log[3]["loss"] == log[3]["recon"]  # weight 0 at the run's own step 0
    assert log[4]["recon"] < log[4]["loss"] < log[4]["recon"] + log[4]["kl"]  # 1/4


def test_pretrain_settings_are_checked_in_one_line():
    from untwine.config import TrainConfig
    from untwine.errors import ConfigError

    base = dict(dataset="test-squares", method="vae", steps=10, out="x")
    nested = TrainConfig.from_flat(
        **base, pretrain={"steps": 3, "method": {"name": "betavae", "beta": 50}}
    )
    flat = TrainConfig.from_flat(**base, pretrain={"method": "betavae", "beta": 50, "steps": 3})
    assert nested == flat and TrainConfig.from_flat(**base).pretrain is None
    with pytest.raises(
        ConfigError, match=r"pretrain\.method 'vqvae' trains a 'codebook'.*'gaussian'"
    ) as e:
        TrainConfig.from_flat(**base, pretrain={"method": "vqvae", "steps": 3})
    assert "\n" not in str(e.value)
    with pytest.raises(ConfigError, match=r"pretrain\.steps.*greater than or equal to 1"):
        TrainConfig.from_flat(**base, pretrain={"method": "betavae", "steps": 0})
    with pytest.raises(ConfigError, match=r"pretrain\.method.*unknown key 'bta'|bta"):
        TrainConfig.from_flat(**base, pretrain={"method": "betavae", "bta": 50, "steps": 3})


def test_the_epoch_counts_the_images_drawn_across_the_switch(tmp_path):
    """Aggressive inference draws encoder_steps batches a step; after a pretraining phase of
    one batch a step, the logged epoch is the images drawn over the data, not step x 3."""
    run = _train(tmp_path / "e", STEPS, pretrain={**COLLAPSE, "steps": 4}, **CASES["aggressive"])
    n = len(untwine.data.load("test-squares"))
    drawn = {4: 4 * 4, 8: 4 * 4 + 4 * 4 * 3}  # batch 4; 3 batches a step after the switch
    assert {r["step"]: r["epoch"] for r in run.log() if r["step"] in drawn} == {
        s: round(d / n, 4) for s, d in drawn.items()
    }
