"""The likelihood of a VQ run: the deterministic bound recon NLL + code NLL, learnt vs uniform."""

from __future__ import annotations

import math

import numpy as np
import torch

import untwine
from untwine import likelihood as lk
from untwine.train import prior

SMALL = dict(z_dim=8, codebook_size=16, hidden=16, res_hidden=8, res_blocks=1, restart_after=2)


def test_vq_bound_with_a_learnt_prior_beats_the_uniform_prior(tmp_path, squares):
    run = untwine.train(
        "test-squares",
        method="vqvae",
        steps=30,
        out=tmp_path / "vq",
        batch_size=16,
        lr=2e-3,
        progress=False,
        threads=1,
        **SMALL,
    )
    only_uniform = lk.estimate(run, squares, split=None, max_examples=32)
    assert only_uniform["prior"] == "uniform"
    prior.train_prior(
        run.path,
        60,
        progress=False,
        threads=1,
        lr=1e-2,
        batch_size=32,
        prior_channels=16,
        prior_layers=3,
        prior_kernel=3,
    )
    out = lk.estimate(run, squares, split=None, max_examples=32)
    assert out["prior"] == "learnt" and out["n"] == 32
    assert math.isclose(out["log_px_uniform_prior"], only_uniform["log_px"], rel_tol=1e-6)
    # the uniform prior costs exactly positions * log K nats over the reconstruction
    x = squares.images(lk.examples(squares, None, 32)[1])  # the fixed subset it evaluated
    f = torch.from_numpy(run.float_images(x))
    with torch.no_grad():
        recon = -run.model.log_prob(f, run.model.decode(run.model.encode(f).z))
    want = -(recon.mean().item() + 16 * 16 * math.log(16))
    assert math.isclose(out["log_px_uniform_prior"], want, rel_tol=1e-5)
    # a prior fit to the codes gives a tighter bound, and bits/dim follow (binary data)
    assert out["log_px"] > out["log_px_uniform_prior"]
    assert out["bits_per_dim"] < out["bits_per_dim_uniform_prior"]
    assert math.isclose(out["bits_per_dim"], -out["log_px"] / (64 * 64 * math.log(2)))
    assert np.isfinite(out["stderr"])
    assert "-" in lk.format_table([out])
