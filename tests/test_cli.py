"""The command line: it trains and resumes, and bad input is one clean line."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import yaml
from cli_helpers import untwine


def assert_one_line_error(proc: subprocess.CompletedProcess, pattern: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("untwine: error: ")
    import re

    assert re.search(pattern, lines[0]), lines[0]


TRAIN = [
    "train",
    "--dataset",
    "test-squares",
    "--steps",
    "4",
    "--batch-size",
    "8",
    "--threads",
    "1",
    "--quiet",
]


def test_train_then_resume_from_the_config_file(tmp_path, plugin_env):
    out = tmp_path / "b4"
    proc = untwine(
        *TRAIN,
        "--method",
        "betavae",
        "--beta",
        "4",
        "--out",
        str(out),
        "--checkpoint-every",
        "2",
        "--log-every",
        "2",
        env=plugin_env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "step 4" in proc.stdout
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["method"] == {
        "name": "betavae",
        "kl_warmup_steps": 0,
        "free_bits": 0.0,
        "encoder_steps": 1,
        "aggressive_check_every": 0,
        "beta": 4.0,
    }
    assert cfg["out"] == str(out) and cfg["checkpoint_every"] == 2
    proc = untwine(
        "train",
        "--config",
        str(out / "config.yaml"),
        "--resume",
        "--steps",
        "6",
        "--quiet",
        env=plugin_env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "step 6" in proc.stdout
    steps = [yaml.safe_load(x)["step"] for x in (out / "log.jsonl").read_text().splitlines()]
    assert steps == [2, 4, 6]


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--method", "nope"], r"unknown method 'nope'; expected one of: .*betavae"),
        (["--method", "betavae", "--beta", "-1"], r"method\.beta: .*greater than or equal to 0"),
        (["--method", "betavae", "--bta", "2"], r"unknown setting\(s\) 'bta'.*allowed: .*beta"),
        (["--method", "betavae", "--resume"], r"no checkpoint to resume from"),
        # no silent slowdown: a CPU has no float16 matrix units for autocast to use
        (["--method", "betavae", "--precision", "fp16"], r"precision: 'fp16' .* on cpu: .*fp32"),
        (["--method", "betavae", "--precision", "fp64"], r"precision: .*'auto', 'fp32', 'bf16'"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, plugin_env, args, pattern):
    out = tmp_path / "run"
    proc = untwine(*TRAIN, "--out", str(out), *args, env=plugin_env, cwd=tmp_path)
    assert_one_line_error(proc, pattern)
    assert not out.exists()


def test_unknown_config_key_is_one_line(tmp_path, plugin_env):
    doc = {
        "method": {"name": "betavae", "beta": 4},
        "steps": 3,
        "out": str(tmp_path / "r"),
        "dataset": {"name": "test-squares"},
        "optimiser": {"lr": 1},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(doc))
    proc = untwine("train", "--config", str(tmp_path / "c.yaml"), env=plugin_env, cwd=tmp_path)
    assert_one_line_error(proc, r"c\.yaml: unknown key 'optimiser'")
    assert not (tmp_path / "r").exists()


def test_a_wrong_npz_is_one_line_and_writes_nothing(tmp_path, plugin_env):
    bad = tmp_path / "dsprites.npz"
    np.savez(bad, images=np.zeros((2, 64, 64), np.uint8))  # the official key is 'imgs'
    out = tmp_path / "run"
    proc = untwine(
        "train",
        "--dataset",
        "dsprites",
        "--dataset-options",
        f"{{path: {bad}}}",
        "--method",
        "vae",
        "--steps",
        "2",
        "--out",
        str(out),
        env=plugin_env,
        cwd=tmp_path,
    )
    assert_one_line_error(proc, r"dsprites\.npz.*imgs")
    assert not out.exists()


def test_an_existing_run_is_not_overwritten(tmp_path, plugin_env):
    out = tmp_path / "run"
    assert (
        untwine(
            *TRAIN, "--method", "vae", "--out", str(out), env=plugin_env, cwd=tmp_path
        ).returncode
        == 0
    )
    # Every file of the run, not the lock's note of who last trained it.
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    proc = untwine(*TRAIN, "--method", "vae", "--out", str(out), env=plugin_env, cwd=tmp_path)
    assert_one_line_error(proc, r"already holds a run .*--resume")
    after = {p: p.read_bytes() for p in out.rglob("*") if p.is_file() and p.name != ".lock"}
    assert before == after
