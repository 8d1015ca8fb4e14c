"""One writer at a time: the lock a training process holds on its run folder.

Readers take no lock; only a process that trains (or a study worker around it) does, for as
long as it trains, so two never write the same folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from untwine.errors import CheckpointError
from untwine.files import read_json_dict
from untwine.rundir.layout import LOCK
from untwine.rundir.state import owner, owner_alive


class RunBusyError(CheckpointError):
    """Another process is training this run folder."""


#: Run folders this process holds, so nested holders (a study worker around ``train``)
#: share one lock: flock would refuse a second descriptor even in the same process.
_held: dict[Path, int] = {}
#: Width of the lock file's note (JSON padded with spaces; a host name is at most 64 bytes).
_NOTE_BYTES = 256


@contextlib.contextmanager
def owned(run_dir: str | Path) -> Iterator[None]:
    """Hold ``run_dir``'s lock (created with the folder if need be) for the block's life.

    An OS advisory lock (flock) on ``<run>/.lock``: the kernel releases it when the process
    ends in any way, SIGKILL included, so a stale lock cannot outlive its holder. A second
    process gets :class:`RunBusyError` naming the holder's pid and host. If this call created
    the folder and the block fails with nothing else written, the folder is removed again.
    """
    path = Path(run_dir)
    key = Path(os.path.abspath(path))  # no syscalls: taking the lock stays a few microseconds
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    created = not path.exists()
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = read_json_dict(path / LOCK)
        os.close(fd)
        raise RunBusyError(
            f"{path}: another process is training this run (pid {holder.get('pid', '?')} on "
            f"{holder.get('host', '?')}); wait for it to end or stop it"
        ) from None
    # A fixed-width note written in place: ftruncate costs ~50x the rest of taking the lock.
    os.pwrite(fd, json.dumps(owner()).encode().ljust(_NOTE_BYTES), 0)
    _held[key] = 1
    try:
        yield
    except BaseException:
        if created and [p.name for p in path.iterdir()] == [LOCK]:
            (path / LOCK).unlink()
            path.rmdir()
        raise
    finally:
        del _held[key]
        os.close(fd)  # releases the lock


def lock_holder(run_dir: str | Path) -> dict[str, Any] | None:
    """``{"pid", "host"}`` of the process training the run, or None; reads the lock file's
    note without taking the lock (a note whose owner is gone means nobody holds it)."""
    note = read_json_dict(Path(run_dir) / LOCK)
    return note if note and owner_alive(note) else None
