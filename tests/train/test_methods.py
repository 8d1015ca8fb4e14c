"""Each disentangling method trains on test-squares and resumes bit for bit, in float32 and in
bfloat16 (where the CPU lacks bf16 units, emulated: slower, the same guarantees).

A run of 2K steps and a run of K steps resumed to 2K end with identical tensors: the model,
the VAE's Adam, and the objective's own state (FactorVAE's and the AAE's discriminator and
its Adam; IBP-VAE's global stick parameters, which are the model's).
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file
from train_helpers import STEPS, log_records, train_small

from untwine.train import checkpoint

METHODS = {
    "betatcvae": dict(method="betatcvae", beta=6.0),
    "factorvae": dict(method="factorvae", gamma=10.0),
    "dipvae-i": dict(method="dipvae", dip_type="i", lambda_od=2.0),
    "dipvae-ii": dict(method="dipvae", dip_type="ii", lambda_od=2.0),
    "iwae-dreg": dict(method="iwae", k=4, estimator="dreg"),
    "aae": dict(method="aae", disc_hidden=64),
    "aae-joint": dict(
        method="aae", phases="joint", encoder="gaussian", prior="uniform", disc_hidden=64
    ),
    "ibpvae": dict(method="ibpvae", alpha=5.0, beta=2.0),
}


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("name", list(METHODS))
def test_method_learns_and_resumes_bit_for_bit(tmp_path, name, precision):
    settings = {**METHODS[name], "precision": precision}
    full = train_small(tmp_path / "full", STEPS, **settings)
    train_small(tmp_path / "half", STEPS // 2, **settings)
    resumed = train_small(tmp_path / "half", STEPS, resume=True, **settings)

    log = full.log()
    # nats: it learns (the AAE has no ELBO; its reconstruction term shows it)
    key = "elbo" if "elbo" in log[-1] else "recon"
    assert abs(log[-1][key] - log[0][key]) > 100
    assert (log[-1][key] > log[0][key]) == (key == "elbo")
    assert log[-1]["loss"] < log[0]["loss"]
    assert full.config.precision == precision  # recorded in config.yaml
    expected = {
        "betatcvae": {"index_code_mi", "total_correlation", "dimwise_kl"},
        "factorvae": {"tc_estimate", "discriminator_loss", "discriminator_accuracy"},
        "dipvae": {"dip_penalty"},
        "iwae": {"L_k"},
        "aae": {"recon", "generator_loss", "discriminator_loss", "discriminator_accuracy"},
        "ibpvae": {"kl_gaussian", "kl_mask", "kl_sticks", "usage", "active_features"},
    }[settings["method"]]
    assert expected <= set(log[-1])

    a = load_file(str(checkpoint.latest(full.path) / checkpoint.TENSORS))
    b = load_file(str(checkpoint.latest(resumed.path) / checkpoint.TENSORS))
    assert a.keys() == b.keys()
    if settings["method"] in ("factorvae", "aae"):  # the discriminator and its Adam are saved
        assert any(k.startswith("s.objective.discriminator.") for k in a)
        assert any(k.startswith("s.aux_optimizers.discriminator.") for k in a)
    if name == "aae":  # and the encoder's own Adam of the regularisation phase
        assert any(k.startswith("s.aux_optimizers.encoder.") for k in a)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ after resume: {different[:5]}"
    assert log_records(full.path) == log_records(resumed.path)
