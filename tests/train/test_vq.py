"""VQ-VAE, VQ-VAE-2 and their PixelCNN priors through the training loop: they learn, resume
bit for bit, sample, give the bound, and refuse bad input with one-line errors."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import untwine as run_cli
from safetensors.torch import load_file
from train_helpers import COMMON, STEPS, log_records, train_small

import untwine
from untwine.errors import CheckpointError, ConfigError
from untwine.train import checkpoint, prior
from untwine.viz.samples import prior_samples

SMALL = dict(
    z_dim=8,
    codebook_size=16,
    hidden=16,
    res_hidden=8,
    res_blocks=1,
    restart_after=2,
    kmeans_init=True,
)
PRIOR = dict(prior_channels=8, prior_layers=2, prior_kernel=3, log_every=4, threads=1)


def _train(out: Path, steps: int, resume: bool = False, **settings):
    return train_small(out, steps, resume, **{**SMALL, **settings})


def _same(a: Path, b: Path) -> None:
    ta = load_file(str(checkpoint.latest(a) / checkpoint.TENSORS))
    tb = load_file(str(checkpoint.latest(b) / checkpoint.TENSORS))
    assert ta.keys() == tb.keys()
    different = [k for k in ta if not torch.equal(ta[k], tb[k])]
    assert not different, f"tensors differ after resume: {different[:5]}"
    assert log_records(a) == log_records(b)


@pytest.mark.parametrize("method", ["vqvae", "vqvae2"])
def test_vq_and_its_prior_learn_and_resume_bit_for_bit(tmp_path, method, squares):
    full = _train(tmp_path / "full", STEPS, method=method)
    _train(tmp_path / "half", STEPS // 2, method=method)
    resumed = _train(tmp_path / "half", STEPS, resume=True, method=method)
    log = full.log()
    assert log[-1]["recon"] < log[0]["recon"]
    assert any(k.startswith("perplexity") for k in log[-1])
    assert any(
        k.startswith("s.model.quantisers.0.code_sum")
        for k in load_file(str(checkpoint.latest(full.path) / checkpoint.TENSORS))
    )
    _same(full.path, resumed.path)
    # the representation the metrics score: quantised vectors averaged over positions
    levels = 1 if method == "vqvae" else 2
    assert full.representation(squares.images(range(5))).shape == (5, 8 * levels)

    # the prior: 8 steps, or 4 then resumed to 8, on the same cached codes
    a = prior.train_prior(full.path, 8, progress=False, checkpoint_every=4, **PRIOR)
    prior.train_prior(resumed.path, 4, progress=False, checkpoint_every=4, **PRIOR)
    b = prior.train_prior(resumed.path, 8, resume=True, progress=False, threads=1)
    assert len(list(a.path.glob("codes-*.npy"))) == 1  # encoded once
    assert a.log()[-1]["nll"] < a.log()[0]["nll"]
    _same(a.path, b.path)

    png = prior_samples(full.path, 4)
    assert png.is_file() and png.stat().st_size > 0
    x = squares.images(range(6))
    learnt, uniform = prior.nll_bound(full.path, x), prior.nll_bound(full.path, x, False)
    positions = 16 * 16 if levels == 1 else 16 * 16 + 8 * 8
    recon = uniform - positions * np.log(16)
    assert np.all(learnt > recon)  # the learnt prior's code NLL is positive
    assert learnt.shape == (6,)


def test_bad_input_gives_one_line_errors(tmp_path):
    with pytest.raises(ConfigError, match="codebook_size"):
        _train(tmp_path / "k1", 2, method="vqvae", codebook_size=1)
    vae = untwine.train("test-squares", method="vae", steps=1, out=tmp_path / "vae", **COMMON)
    with pytest.raises(ConfigError, match="codebook method"):
        prior.train_prior(vae.path, 2, progress=False)
    vq = _train(tmp_path / "vq", 2, method="vqvae")
    with pytest.raises(CheckpointError, match="no trained prior yet"):
        prior_samples(vq.path, 4)


def test_cli_train_prior_and_sample(tmp_path, plugin_env):
    vq = _train(tmp_path / "vq", 4, method="vqvae")
    r = run_cli("sample", str(vq.path), "--n", "4", env=plugin_env, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "no trained prior" in r.stderr
    r = run_cli(
        "train-prior",
        str(vq.path),
        "--steps",
        "2",
        "--quiet",
        "--prior-channels",
        "8",
        "--prior-layers",
        "1",
        env=plugin_env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    r = run_cli("sample", str(vq.path), "--n", "4", env=plugin_env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert Path(r.stdout.strip()).is_file()


def test_evaluate_run_scores_the_representation_of_a_vq_run(tmp_path, monkeypatch):
    from untwine.metrics import MetricInputError

    ev = importlib.import_module("untwine.metrics.evaluate")  # the module, not the function

    vq = _train(tmp_path / "vq", 2, method="vqvae")
    assert not vq.has_gaussian_posterior
    with pytest.raises(ConfigError, match="no Gaussian posterior"):
        vq.encode(np.zeros((1, 1, 64, 64), np.uint8))
    results = ev.evaluate_run(vq.path, ["mig"], num_points=128)
    assert 0 <= results["mig"]["mig"] <= 1
    with pytest.raises(MetricInputError, match="encoder_fn"):
        ev.evaluate_run(vq.path, ["elbo"])
    chosen = []
    monkeypatch.setattr(
        ev, "evaluate", lambda rep, data, names, *a, **k: chosen.extend(names) or {}
    )
    ev.evaluate_run(vq.path)  # by default, every metric that reads a representation
    assert chosen and not set(chosen) & set(ev.POSTERIOR_METRICS)
