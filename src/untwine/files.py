"""Atomic file writes: a reader (or a crash) never sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    """Write ``payload`` to a temporary file beside ``path``, fsync it, then rename over."""
    atomic_write_parts(path, [payload])


def atomic_write_parts(path: str | Path, parts: Iterable[bytes | memoryview]) -> None:
    """Write the concatenation of ``parts`` atomically, as :func:`atomic_write_bytes` does;
    for payloads too large to join into one ``bytes`` first (a header, then an array's
    buffer)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")
