"""A run folder under faults: two writers, a corrupt checkpoint, SIGTERM, a full disk.

Each fault ends in a known state: a one-line error, a checkpoint and an "interrupted"
status, or a fallback that says what it did; never a silent load of damaged weights.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from cli_helpers import untwine as untwine_cli
from safetensors.torch import load_file

import untwine
from untwine import rundir
from untwine.errors import CheckpointError
from untwine.files import WriteError
from untwine.train import checkpoint
from untwine.train.check import check

SMALL = dict(method="betavae", beta=1.0, batch_size=8, seed=0, progress=False, threads=1)


def _one_line_error(proc) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("untwine: error: "), proc.stderr
    return lines[0]


def _spawn(code: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


# -- 1. two writers, one folder -------------------------------------------------------------
HOLDER = """
    import sys, time
    from untwine import rundir
    with rundir.owned(sys.argv[1]):
        print("HOLDING", flush=True)
        time.sleep(600)
"""


def test_a_second_writer_is_refused_by_name_and_readers_go_on(tmp_path, plugin_env):
    out = tmp_path / "dup"
    untwine.train("test-squares", steps=2, out=out, **SMALL)
    holder = _spawn(HOLDER, plugin_env, str(out))
    try:
        assert holder.stdout.readline().strip() == "HOLDING"
        with pytest.raises(rundir.RunBusyError, match=rf"pid {holder.pid} on "):
            untwine.train("test-squares", steps=4, out=out, resume=True, **SMALL)
        proc = untwine_cli(
            "train", "--dataset", "test-squares", "--method", "betavae", "--steps", "4",
            "--out", str(out), "--resume", "--quiet", env=plugin_env, cwd=tmp_path,
        )  # fmt: skip
        line = _one_line_error(proc)
        assert f"pid {holder.pid} on {socket.gethostname()}" in line
        # Readers take no lock: status, check and the run itself still read.
        assert rundir.lock_holder(out)["pid"] == holder.pid
        problems, notes = check(out)
        assert not problems and any(f"pid {holder.pid}" in n for n in notes)
        assert untwine.load_run(out).step == 2
        assert len(rundir.read_log(out)) == 1  # nothing was appended by the refused runs
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
        holder.stderr.close()
    # The kernel released the lock of the killed holder: training goes on.
    assert rundir.lock_holder(out) is None
    assert untwine.train("test-squares", steps=4, out=out, resume=True, **SMALL).step == 4


def test_the_lock_is_reentrant_in_one_process_and_leaves_no_folder_on_failure(tmp_path):
    out = tmp_path / "r"
    with rundir.owned(out), rundir.owned(out):  # a study worker around train()
        assert rundir.lock_holder(out)["pid"] == os.getpid()
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        untwine.train("test-squares", steps=4, out=out / "new", resume=True, **SMALL)
    assert not (out / "new").exists()


# -- 2. a corrupt checkpoint ------------------------------------------------------------------
def _flip(path: Path, offset: int = 4096, count: int = 64) -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + count] = bytes(b ^ 0xFF for b in data[offset : offset + count])
    path.write_bytes(bytes(data))


def test_a_corrupt_checkpoint_is_named_and_resume_falls_back_bit_exactly(tmp_path, plugin_env):
    ref = untwine.train("test-squares", steps=8, out=tmp_path / "ref", **SMALL)
    out = tmp_path / "c"
    settings = dict(out=out, checkpoint_every=2, keep_checkpoints=3, **SMALL)
    untwine.train("test-squares", steps=6, **settings)
    bad = checkpoint.latest(out) / checkpoint.TENSORS
    _flip(bad)
    with pytest.raises(CheckpointError, match=rf"{bad}: corrupt checkpoint file"):
        untwine.load_run(out).model  # noqa: B018 - report and evaluate load this way
    proc = untwine_cli("check", str(out), env=plugin_env, cwd=tmp_path)
    assert proc.returncode == 1 and f"PROBLEM  {bad}: corrupt" in proc.stdout, proc.stdout

    with pytest.warns(checkpoint.RunWarning, match=r"step-00000006.*resuming from step-00000004"):
        run = untwine.train("test-squares", steps=8, resume=True, **settings)
    a = load_file(str(checkpoint.latest(ref.path) / checkpoint.TENSORS))
    b = load_file(str(checkpoint.latest(out) / checkpoint.TENSORS))
    assert run.step == 8 and all(torch.equal(a[k], b[k]) for k in a)
    assert (out / "checkpoints" / "corrupt-step-00000006").is_dir()  # kept, not loaded

    for cp in checkpoint.complete_checkpoints(out):
        _flip(cp / checkpoint.STATE, offset=10, count=4)
    with pytest.raises(CheckpointError, match="no checkpoint verifies, cannot resume"):
        untwine.train("test-squares", steps=10, resume=True, **settings)


def test_the_non_finite_message_says_intact_only_after_verifying(tmp_path, monkeypatch):
    from untwine.train import loop

    out = tmp_path / "n"
    untwine.train("test-squares", steps=2, out=out, **SMALL)
    terms = {"loss": torch.tensor(float("nan")), "kl": torch.tensor(float("nan"))}
    assert "is intact (checksums verified)" in loop._non_finite_message(2, terms, out)
    _flip(checkpoint.latest(out) / checkpoint.TENSORS)
    message = loop._non_finite_message(2, terms, out)
    assert "intact" not in message and "damaged" in message


# -- 3. SIGTERM -------------------------------------------------------------------------------
TRAINER = """
    import sys, time
    import untwine
    from untwine.train import checkpoint
    out = sys.argv[1]
    write = checkpoint.write_synced
    def slow_write(path, payload):  # hold the checkpoint write open for a second signal
        print("WRITING", flush=True)
        time.sleep(30)
        write(path, payload)
    checkpoint.write_synced = slow_write
    untwine.train("test-squares", method="betavae", batch_size=8, steps=100000, out=out,
                  log_every=1, checkpoint_every=100000, threads=1, progress=False)
"""


def test_sigterm_finishes_the_step_checkpoints_and_exits_143(tmp_path, plugin_env):
    out = tmp_path / "t"
    args = ["train", "--dataset", "test-squares", "--method", "betavae", "--steps", "100000",
            "--batch-size", "8", "--log-every", "1", "--threads", "1", "--quiet",
            "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "untwine", *args],
        env=plugin_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(lambda: len(rundir.read_log(out)) >= 3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err and "checkpoint written; continue with --resume" in err
    status = rundir.read_status(out)
    assert status["state"] == "interrupted"
    latest = checkpoint.latest(out)
    assert checkpoint.step_of(latest) == status["step"] == rundir.read_log(out)[-1]["step"]
    checkpoint.verify(latest)
    assert rundir.read_record(out).state == "interrupted"


def test_a_second_signal_exits_at_once(tmp_path, plugin_env):
    out = tmp_path / "t2"
    proc = _spawn(TRAINER, plugin_env, str(out))
    _wait_for(lambda: len(rundir.read_log(out)) >= 2)
    proc.send_signal(signal.SIGTERM)
    assert proc.stdout.readline().strip() == "WRITING"  # stopping: the checkpoint is written
    started = time.time()
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=20)
    assert proc.returncode == -signal.SIGTERM and time.time() - started < 10
    assert checkpoint.latest(out) is None  # the half-written checkpoint never appeared
    assert rundir.read_record(out).state == "interrupted"  # its owner is gone


# -- 4. a full disk ---------------------------------------------------------------------------
def test_a_failed_checkpoint_write_is_one_line_and_keeps_the_previous(tmp_path, monkeypatch):
    out = tmp_path / "f"
    write = checkpoint.write_synced

    def full_disk(path, payload):
        if "step-00000004" in str(Path(path).parent) or ".tmp-" in str(path):
            if checkpoint.latest(out) is not None:  # the first checkpoint goes through
                write(path, payload[: len(payload) // 2])  # a partial file, then ENOSPC
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        write(path, payload)

    monkeypatch.setattr(checkpoint, "write_synced", full_disk)
    with pytest.raises(WriteError) as caught:
        untwine.train("test-squares", steps=6, out=out, checkpoint_every=2, **SMALL)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{out / 'checkpoints' / 'step-00000004' / checkpoint.TENSORS}: ")
    assert "No space left on device" in message and "MiB free there" in message
    assert rundir.read_status(out)["state"] == "failed"
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["step-00000002"]
    checkpoint.verify(out / "checkpoints" / "step-00000002")
    monkeypatch.undo()
    assert untwine.train("test-squares", steps=6, out=out, resume=True, **SMALL).step == 6


@pytest.fixture
def small_filesystem(tmp_path):
    """A 4 MiB tmpfs (a checkpoint of the test model is about 9 MB), where mounting is
    allowed (root on Linux); skipped elsewhere."""
    where = tmp_path / "small"
    where.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root on Linux")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(where)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    yield where
    subprocess.run(["umount", str(where)], check=True)


def test_a_full_disk_is_one_line_from_the_command_line(small_filesystem, plugin_env, tmp_path):
    out = small_filesystem / "run"
    args = ["train", "--dataset", "test-squares", "--method", "betavae", "--steps", "4",
            "--batch-size", "8", "--checkpoint-every", "2", "--threads", "1", "--quiet",
            "--out", str(out)]  # fmt: skip
    line = _one_line_error(untwine_cli(*args, env=plugin_env, cwd=tmp_path))
    assert f"{out / 'checkpoints' / 'step-00000002'}" in line
    assert "No space left on device" in line and "MiB free there" in line
    assert rundir.read_status(out)["state"] == "failed"
    assert not list((out / "checkpoints").iterdir())  # no partial checkpoint left
    line = _one_line_error(untwine_cli(*args, "--resume", env=plugin_env, cwd=tmp_path))
    assert "no checkpoint to resume from" in line
    assert json.loads((out / "status.json").read_text())["state"] == "failed"
