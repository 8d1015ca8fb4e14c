"""Each disentangling method trains on test-squares and resumes bit for bit, in float32 and in
bfloat16 (where the CPU lacks bf16 units, emulated: slower, the same guarantees).

A run of 2K steps and a run of K steps resumed to 2K end with identical tensors: the model,
the VAE's Adam, and the objective's own state (FactorVAE's discriminator and its Adam).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import untwine
from untwine.train import checkpoint

METHODS = {
    "betatcvae": dict(method="betatcvae", beta=6.0),
    "factorvae": dict(method="factorvae", gamma=10.0),
    "dipvae-i": dict(method="dipvae", dip_type="i", lambda_od=2.0),
    "dipvae-ii": dict(method="dipvae", dip_type="ii", lambda_od=2.0),
}
COMMON = dict(batch_size=8, seed=0, lr=1e-3, log_every=4, progress=False, threads=1)
STEPS = 16


def _train(out: Path, steps: int, resume: bool = False, **settings):
    return untwine.train(
        "test-squares",
        steps=steps,
        out=out,
        checkpoint_every=STEPS // 2,
        resume=resume,
        **COMMON,
        **settings,
    )


def _log(run_dir: Path) -> list[dict]:
    return [
        {k: v for k, v in json.loads(x).items() if k != "images_per_s"}
        for x in (run_dir / "log.jsonl").read_text().splitlines()
    ]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("name", list(METHODS))
def test_method_learns_and_resumes_bit_for_bit(tmp_path, name, precision):
    settings = {**METHODS[name], "precision": precision}
    full = _train(tmp_path / "full", STEPS, **settings)
    _train(tmp_path / "half", STEPS // 2, **settings)
    resumed = _train(tmp_path / "half", STEPS, resume=True, **settings)

    log = full.log()
    assert log[-1]["elbo"] > log[0]["elbo"] + 100  # nats: it learns
    assert log[-1]["loss"] < log[0]["loss"]
    assert full.config.precision == precision  # recorded in config.yaml
    expected = {
        "betatcvae": {"index_code_mi", "total_correlation", "dimwise_kl"},
        "factorvae": {"tc_estimate", "discriminator_loss", "discriminator_accuracy"},
        "dipvae": {"dip_penalty"},
    }[settings["method"]]
    assert expected <= set(log[-1])

    a = load_file(str(checkpoint.latest(full.path) / checkpoint.TENSORS))
    b = load_file(str(checkpoint.latest(resumed.path) / checkpoint.TENSORS))
    assert a.keys() == b.keys()
    if settings["method"] == "factorvae":  # the discriminator and its Adam are in the checkpoint
        assert any(k.startswith("s.objective.discriminator.") for k in a)
        assert any(k.startswith("s.aux_optimizers.discriminator.") for k in a)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ after resume: {different[:5]}"
    assert _log(full.path) == _log(resumed.path)
