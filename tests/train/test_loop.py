"""The training loop: it learns, it resumes bit for bit, it fails cleanly."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

import untwine
from untwine.config import TrainConfig
from untwine.errors import CheckpointError, ConfigError, TrainingError
from untwine.models import GaussianVAE, register_model
from untwine.objectives import register_method
from untwine.objectives.vae import BetaVAE, BetaVAEParams
from untwine.train import checkpoint

SMALL = dict(method="betavae", beta=1.0, batch_size=8, seed=0, progress=False, threads=1)


def test_training_decreases_the_loss(tmp_path):
    run = untwine.train(
        "test-squares", steps=60, lr=1e-3, log_every=10, out=tmp_path / "r", **SMALL
    )
    log = run.log()
    assert [r["step"] for r in log] == [10, 20, 30, 40, 50, 60]
    assert log[-1]["loss"] < 0.5 * log[0]["loss"]
    assert run.status["state"] == "done"
    codes = run.representation(untwine.data.load("test-squares").images(range(16)))
    assert codes.shape == (16, 10) and codes.dtype.name == "float32"


def test_representation_accepts_uint8_and_float_alike(tmp_path, squares):
    run = untwine.train(squares, steps=4, out=tmp_path / "r", **SMALL)
    u8 = squares.images(range(8))
    assert (run.representation(u8) == run.representation(u8.astype("float32"))).all()
    again = untwine.load_run(tmp_path / "r")
    assert (again.representation(u8) == run.representation(u8)).all()
    mu, logvar = again.encode(u8)
    assert mu.shape == logvar.shape == (8, 10)


def test_same_seed_same_weights_different_seed_different(tmp_path):
    a = untwine.train("test-squares", steps=5, out=tmp_path / "a", **SMALL)
    b = untwine.train("test-squares", steps=5, out=tmp_path / "b", **SMALL)
    c = untwine.train("test-squares", steps=5, out=tmp_path / "c", **{**SMALL, "seed": 1})
    wa, wb, wc = (load_file(str(r.checkpoint_path / checkpoint.TENSORS)) for r in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa if k.startswith("s.model"))


WORKER = textwrap.dedent(
    """
    import sys, time
    import untwine
    from untwine.train import checkpoint
    out, resume, slow, precision = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1", sys.argv[4]
    if slow:  # widen the checkpoint-writing window so that kills land inside it
        write = checkpoint.write_synced
        def slow_write(path, payload):
            print("WRITING", flush=True)
            time.sleep(0.15)
            write(path, payload)
        checkpoint.write_synced = slow_write
    print("READY", flush=True)
    untwine.train("test-squares", method="betavae", beta=4.0, batch_size=8, seed=3, steps=48,
                  lr=1e-3, out=out, checkpoint_every=4, log_every=2, threads=1, progress=False,
                  resume=resume, precision=precision)
    print("DONE", flush=True)
    """
)


def _final_state(run_dir: Path) -> dict[str, torch.Tensor]:
    latest = checkpoint.latest(run_dir)
    assert latest is not None and latest.name == "step-00000048"
    return load_file(str(latest / checkpoint.TENSORS))


def _log_without_timing(run_dir: Path) -> list[dict]:
    return [
        {k: v for k, v in json.loads(x).items() if k != "images_per_s"}
        for x in (run_dir / "log.jsonl").read_text().splitlines()
    ]


@pytest.mark.slow
# one precision: killing a process is the same in either, and the bf16 resume is held bit for
# bit by tests/train/test_methods.py (every method, resumed in bf16)
@pytest.mark.parametrize("precision", ["fp32"])
def test_sigkilled_runs_resume_to_bit_identical_weights(tmp_path, plugin_env, precision):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    ref, run = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(
        [sys.executable, str(script), str(ref), "0", "0", precision],
        env=plugin_env,
        check=True,
        capture_output=True,
    )

    rng = random.Random(0)
    kills = kills_in_checkpoint = launches = 0
    while True:
        launches += 1
        assert launches < 30, "the run never finished"
        resume = checkpoint.latest(run) is not None
        slow = kills < 4 and kills % 2 == 1
        proc = subprocess.Popen(
            [sys.executable, str(script), str(run), str(int(resume)), str(int(slow)), precision],
            env=plugin_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        if kills >= 4:  # enough: let it finish
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
            break
        assert proc.stdout.readline().strip() == "READY"
        if slow:
            assert proc.stdout.readline().strip() == "WRITING"
            time.sleep(0.05)
            kills_in_checkpoint += 1
        else:
            time.sleep(rng.uniform(0.2, 1.2))
        proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        kills += 1

    assert kills_in_checkpoint >= 2
    a, b = _final_state(ref), _final_state(run)
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"tensors differ after resume: {different[:5]}"
    assert _log_without_timing(run) == _log_without_timing(ref)
    assert not list((run / "checkpoints").glob(".tmp-*"))


def test_resume_without_checkpoint_is_an_error_and_writes_nothing(tmp_path):
    out = tmp_path / "r"
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        untwine.train("test-squares", steps=4, out=out, resume=True, **SMALL)
    assert not out.exists()


def test_an_existing_run_is_never_overwritten(tmp_path):
    out = tmp_path / "r"
    untwine.train("test-squares", steps=4, out=out, **SMALL)
    before = load_file(str(checkpoint.latest(out) / checkpoint.TENSORS))
    with pytest.raises(CheckpointError, match="already holds a run"):
        untwine.train("test-squares", steps=8, out=out, **SMALL)
    after = load_file(str(checkpoint.latest(out) / checkpoint.TENSORS))
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_resume_may_extend_steps_but_not_change_the_model(tmp_path):
    out = tmp_path / "r"
    untwine.train("test-squares", steps=4, out=out, **SMALL)
    with pytest.raises(ConfigError, match="cannot resume with different method"):
        untwine.train("test-squares", steps=8, out=out, resume=True, **{**SMALL, "beta": 2.0})
    run = untwine.train(config=out / "config.yaml", steps=8, resume=True, progress=False, threads=1)
    assert run.step == 8 and run.config.steps == 8


# -- precision ------------------------------------------------------------------------------
def _cpu_with_bf16_units(monkeypatch, present: bool) -> None:
    caps = {"amx_bf16": present, "avx512_bf16": present}
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: caps)


def test_auto_precision_is_resolved_recorded_and_kept_on_resume(tmp_path, monkeypatch):
    out = tmp_path / "r"
    _cpu_with_bf16_units(monkeypatch, True)
    untwine.train("test-squares", steps=2, out=out, precision="auto", **SMALL)
    assert TrainConfig.load(out / "config.yaml").precision == "bf16"
    # resumed where there are no bf16 units: 'auto' is not a changed setting, bf16 is kept
    _cpu_with_bf16_units(monkeypatch, False)
    run = untwine.train("test-squares", steps=4, out=out, resume=True, precision="auto", **SMALL)
    assert run.step == 4 and run.config.precision == "bf16"
    with pytest.raises(ConfigError, match="cannot resume with different precision"):
        untwine.train("test-squares", steps=6, out=out, resume=True, precision="fp32", **SMALL)
    fresh = untwine.train("test-squares", steps=2, out=tmp_path / "new", **SMALL)
    assert fresh.config.precision == "fp32"


def test_a_run_recorded_before_precision_existed_resumes_in_fp32(tmp_path):
    out = tmp_path / "r"
    untwine.train("test-squares", steps=2, out=out, precision="fp32", **SMALL)
    doc = yaml.safe_load((out / "config.yaml").read_text())
    del doc["precision"]
    (out / "config.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="cannot resume with different precision"):
        untwine.train("test-squares", steps=4, out=out, resume=True, precision="bf16", **SMALL)
    run = untwine.train("test-squares", steps=4, out=out, resume=True, **SMALL)
    assert run.step == 4 and run.config.precision == "fp32"


def test_inference_runs_in_fp32_or_in_the_runs_precision(tmp_path, squares):
    untwine.train(squares, steps=8, lr=1e-3, out=tmp_path / "r", precision="bf16", **SMALL)
    images = squares.images(range(0, 128, 4))
    fp32 = untwine.load_run(tmp_path / "r").representation(images)
    own = untwine.load_run(tmp_path / "r", precision="run")
    assert own.precision == "bf16"
    bf16 = own.representation(images)
    assert fp32.dtype == bf16.dtype == np.float32
    assert not np.array_equal(fp32, bf16)  # bf16 matmuls did run
    # bfloat16 keeps 8 bits of mantissa: codes agree to a few parts in a hundred
    np.testing.assert_allclose(bf16, fp32, atol=0.05 * np.abs(fp32).max())
    with pytest.raises(ConfigError, match="precision: expected one of fp32, run"):
        untwine.load_run(tmp_path / "r", precision="bf17")


class NanParams(BetaVAEParams):
    name: Literal["test-nan-at-5"] = "test-nan-at-5"


@register_method("test-nan-at-5", overwrite=True)
class NanAtFive(BetaVAE):
    Params = NanParams

    def forward(self, model, x, step, generator=None):
        out = super().forward(model, x, step, generator)
        if step == 5:
            out.terms["kl"] = out.terms["kl"] * float("nan")
            out.terms["loss"] = out.terms["recon"] + out.terms["kl"]
        return out


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_non_finite_loss_names_step_and_term_and_keeps_the_last_checkpoint(tmp_path, precision):
    out = tmp_path / "r"
    settings = {**SMALL, "method": "test-nan-at-5", "precision": precision}
    with pytest.raises(
        TrainingError, match=r"non-finite loss at step 5: term 'kl' is nan.*step-00000004 is intact"
    ):
        untwine.train("test-squares", steps=20, out=out, checkpoint_every=2, **settings)
    assert checkpoint.latest(out).name == "step-00000004"
    step, state = checkpoint.load(checkpoint.latest(out))
    assert step == 4 and all(torch.isfinite(v).all() for v in state["model"].values())
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and "step 5" in status["error"]


# -- the loop builds the model its objective's family names --------------------------------
@register_model("test-wide-gaussian", overwrite=True)
class WideGaussian(GaussianVAE):
    """A family of its own for the test: the Gaussian VAE with the latent doubled."""

    family = "test-wide-gaussian"

    @classmethod
    def from_config(cls, observation_shape, cfg, likelihood):
        return cls(observation_shape, likelihood, z_dim=2 * cfg.z_dim, network=cfg.network)


class WideParams(BetaVAEParams):
    name: Literal["test-wide"] = "test-wide"


@register_method("test-wide", overwrite=True)
class WideBetaVAE(BetaVAE):
    Params = WideParams
    family = "test-wide-gaussian"


def test_the_loop_and_run_build_the_family_the_objective_names(tmp_path, squares):
    settings = {**SMALL, "method": "test-wide", "z_dim": 3, "network": "mlp200"}
    run = untwine.train(squares, steps=2, out=tmp_path / "r", **settings)
    again = untwine.load_run(tmp_path / "r")
    assert type(again.model) is WideGaussian
    assert again.representation(squares.images(range(4))).shape == (4, 6)
    assert len(run.log()[-1]["kl_dims"]) == 6
