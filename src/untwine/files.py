"""Writing and reading small files safely: a reader (or a crash) never sees half a file.

Every module writes through here: single files with :func:`atomic_write_bytes` (and its text
and JSON forms), directories of files with :func:`atomic_directory`. Both write beside the
target, fsync, then rename, so the target is either the old one whole or the new one whole.
A failed write (a full disk, a read-only folder) removes what it had written and raises a
one-line :class:`WriteError` naming the file and the free space left.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from untwine.errors import UntwineError


class WriteError(UntwineError):
    """A file could not be written (disk full, no permission, ...); nothing was replaced."""


def write_error(path: str | Path, error: OSError) -> WriteError:
    """The one-line error for ``error`` while writing ``path``, with the free space there."""
    path = Path(path)
    folder = next((p for p in [path.parent, *path.parents] if p.exists()), Path("."))
    try:
        free = f"{shutil.disk_usage(folder).free / 2**20:.1f} MiB free there"
    except OSError:
        free = "free space unknown"
    return WriteError(f"{path}: cannot write it ({error.strerror or error}); {free}")


def write_synced(path: str | Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` and fsync it (a file inside a not-yet-renamed folder)."""
    write_parts_synced(path, [payload])


def write_parts_synced(path: str | Path, parts: Iterable[bytes | memoryview]) -> None:
    """Write the concatenation of ``parts`` to ``path`` and fsync it."""
    try:
        with open(path, "wb") as f:
            for part in parts:
                f.write(part)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:  # a failed write() names no file; say which one it was
        if e.errno is None:
            raise
        raise OSError(e.errno, e.strerror, str(path)) from None


def fsync_dir(path: str | Path) -> None:
    """Make a folder's entries (a rename into it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, payload: bytes) -> None:
    """Write ``payload`` to a temporary file beside ``path``, fsync it, then rename over."""
    atomic_write_parts(path, [payload])


def atomic_write_parts(path: str | Path, parts: Iterable[bytes | memoryview]) -> None:
    """Write the concatenation of ``parts`` atomically, as :func:`atomic_write_bytes` does;
    for payloads too large to join into one ``bytes`` first (a header, then an array's
    buffer)."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        write_parts_synced(tmp, parts)
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise write_error(path, e) from None
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any, *, sort_keys: bool = False) -> None:
    """``obj`` as indented JSON. It is serialised completely before the file is opened, so a
    value JSON cannot hold (NaN, an object) raises and leaves the old file as it was."""
    text = json.dumps(obj, indent=2, allow_nan=False, sort_keys=sort_keys) + "\n"
    atomic_write_text(path, text)


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; when the block ends without an
    exception, the folder is fsynced and renamed to ``path`` (replacing an older one whole),
    otherwise removed. Write its files with :func:`write_synced`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=path.parent))
    except OSError as e:
        raise write_error(path, e) from None
    try:
        yield tmp
        fsync_dir(tmp)
        if path.exists():  # re-writing the same folder: replace it whole
            shutil.rmtree(path)
        os.rename(tmp, path)
        fsync_dir(path.parent)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            inside = Path(e.filename) if e.filename else None
            named = path / inside.name if inside and inside.parent == tmp else path
            raise write_error(named, e) from None
        raise


def read_json_dict(path: str | Path) -> dict[str, Any]:
    """The JSON object in ``path``, or ``{}`` when it is missing, unreadable or not an object
    (the files of a run folder may be absent or half-written by a process that died)."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
