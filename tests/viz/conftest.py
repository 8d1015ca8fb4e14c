"""A small trained run of the test-squares dataset (x 8, y 8, side 2), shared by the viz tests.

Trained once per session for a few steps: enough for the KL of its dimensions to differ and
for its log to have several records; the pictures do not need it to disentangle.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

import untwine

RUN_SETTINGS = dict(
    method="betavae",
    beta=1.0,
    batch_size=16,
    lr=1e-3,
    steps=30,
    log_every=10,
    checkpoint_every=30,
    z_dim=4,
    seed=0,
    progress=False,
    threads=1,
)


@pytest.fixture(scope="session")
def trained_run_dir(tmp_path_factory) -> Path:
    """A finished run directory (never modified by tests: copy it with ``run_copy``)."""
    out = tmp_path_factory.mktemp("viz") / "trained"
    untwine.train("test-squares", out=out, **RUN_SETTINGS)
    return out


@pytest.fixture
def run_copy(trained_run_dir, tmp_path) -> Path:
    """A private copy of the trained run directory."""
    target = tmp_path / "run"
    shutil.copytree(trained_run_dir, target)
    return target


@pytest.fixture
def folder_of_runs(trained_run_dir, tmp_path) -> dict[str, Path]:
    """``tmp_path/runs``: a folder of runs in every state a report must survive, by role
    (done, unevaluated, crashed, interrupted, died, pending)."""
    from untwine.metrics import evaluate_run

    root, trained = tmp_path / "runs", trained_run_dir
    runs = {}
    runs["done"] = root / "sweep" / "b1"
    shutil.copytree(trained, runs["done"])
    evaluate_run(runs["done"], ["mig"], seed=0, num_points=256)

    runs["unevaluated"] = root / "sweep" / "b2"
    shutil.copytree(trained, runs["unevaluated"])
    config = yaml.safe_load((trained / "config.yaml").read_text())
    config["method"]["beta"] = 2.0
    (runs["unevaluated"] / "config.yaml").write_text(yaml.safe_dump(config))

    # Crashed half-way: config and a few log lines, a torn last line, no checkpoint.
    runs["crashed"] = root / "sweep" / "b4"
    runs["crashed"].mkdir(parents=True)
    config["method"]["beta"] = 4.0
    config["dataset"]["options"] = {"note": "<script>alert('x')</script>"}
    (runs["crashed"] / "config.yaml").write_text(yaml.safe_dump(config))
    log = (trained / "log.jsonl").read_text().splitlines()[:2]
    (runs["crashed"] / "log.jsonl").write_text("\n".join(log) + '\n{"step": 3')
    status = {"state": "failed", "step": 20, "error": 'non-finite loss at step 20: <b>&"nan"'}
    (runs["crashed"] / "status.json").write_text(json.dumps(status))

    # Interrupted after a checkpoint (Ctrl-C), and a study cell whose worker died while the
    # loop's own status still says running.
    runs["interrupted"] = root / "sweep" / "b6"
    shutil.copytree(trained, runs["interrupted"])
    (runs["interrupted"] / "status.json").write_text(json.dumps({"state": "interrupted"}))
    runs["died"] = root / "study" / "runs" / "betavae-abc123"
    shutil.copytree(trained, runs["died"])
    shutil.rmtree(runs["died"] / "checkpoints")
    (runs["died"] / "status.json").write_text(json.dumps({"state": "running", "step": 5}))
    (runs["died"] / "cell.json").write_text(json.dumps({"state": "failed", "error": "killed"}))
    runs["pending"] = root / "study" / "runs" / "betavae-def456"
    runs["pending"].mkdir(parents=True)
    (runs["pending"] / "cell.json").write_text(json.dumps({"state": "pending"}))
    (root / "study" / "index.sqlite").write_bytes(b"")  # other files of a study are ignored
    return runs
