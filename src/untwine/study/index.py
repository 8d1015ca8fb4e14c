"""The results index of a study: ``<study>/index.sqlite``, a cache of the run folders.

The run folders are the source of truth: ``runs/<id>/cell.json`` (the driver's record of the
cell: state, error, attempts, wall time), ``config.yaml``, ``status.json`` and
``metrics.json``; ``study.yaml`` lists the cells of the current spec. The index is filled
only from what :func:`untwine.rundir.read_record` reads there — live, by the driver
after each change, and by :func:`rebuild` — so a rebuilt index equals the live one. Only the
driver writes it (workers never open it); every change is one SQLite transaction, so a kill
at any moment leaves either the old or the new state. A missing, corrupt or outdated index
is rebuilt.

Tables::

    runs(id, status, method, seed, params JSON, step, steps, error, wall_s, attempts,
         threads, in_spec, p_<setting>...)     -- one p_ column per hyperparameter, flattened
    metrics(run_id, metric, key, value)        -- every scalar of metrics.json
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from untwine.rundir import RunRecord, metric_scalars, read_record

#: Bumped when the schema changes; an index of another version is rebuilt.
SCHEMA_VERSION = 1
INDEX_NAME = "index.sqlite"
STUDY_FILE = "study.yaml"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    method TEXT,
    seed INTEGER,
    params TEXT NOT NULL DEFAULT '{}',
    step INTEGER NOT NULL DEFAULT 0,
    steps INTEGER,
    error TEXT,
    wall_s REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    threads INTEGER,
    in_spec INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE metrics (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    metric TEXT NOT NULL,
    key TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (run_id, metric, key)
);
"""


# -- reading the folders (the source of truth) -----------------------------------------------
def read_study_file(study_dir: Path) -> dict[str, Any]:
    """``study.yaml``: ``{"spec": ..., "cells": [{"id", "settings"}, ...]}`` or ``{}``."""
    try:
        doc = yaml.safe_load((Path(study_dir) / STUDY_FILE).read_text())
    except (OSError, yaml.YAMLError):
        return {}
    return doc if isinstance(doc, dict) else {}


def read_folders(study_dir: Path) -> list[RunRecord]:
    """Records of every run folder under ``<study>/runs`` plus the current spec's cells that
    have no folder yet (``pending``), with ``in_spec`` from ``study.yaml``."""
    study_dir = Path(study_dir)
    cells = {c["id"]: c.get("settings", {}) for c in read_study_file(study_dir).get("cells", [])}
    records = {}
    runs = study_dir / "runs"
    if runs.is_dir():
        for run_dir in sorted(p for p in runs.iterdir() if p.is_dir()):
            record = read_record(run_dir, settings=cells.get(run_dir.name))
            record.in_spec = run_dir.name in cells
            records[record.id] = record
    for cid, settings in cells.items():
        if cid not in records:
            records[cid] = read_record(runs / cid, settings=settings)
    return list(records.values())


# -- the SQLite index ----------------------------------------------------------------------------
class StudyIndex:
    """``<study>/index.sqlite``: open with :meth:`open`, which rebuilds it when needed."""

    def __init__(self, study_dir: str | Path, conn: sqlite3.Connection) -> None:
        self.study_dir = Path(study_dir)
        self.conn = conn

    @property
    def path(self) -> Path:
        return self.study_dir / INDEX_NAME

    @classmethod
    def open(cls, study_dir: str | Path, *, rebuild: bool = False) -> StudyIndex:
        """Open the index, (re)building it from the folders if asked, missing, corrupt or of
        another schema version."""
        study_dir = Path(study_dir)
        path = study_dir / INDEX_NAME
        if not rebuild and path.exists():
            try:
                conn = _connect(path)
            except sqlite3.DatabaseError:  # not a database at all
                return cls.rebuild(study_dir)
            if _healthy(conn):
                return cls(study_dir, conn)
            conn.close()
        return cls.rebuild(study_dir)

    @classmethod
    def rebuild(cls, study_dir: str | Path) -> StudyIndex:
        """Build a fresh index from the run folders and swap it in atomically."""
        study_dir = Path(study_dir)
        study_dir.mkdir(parents=True, exist_ok=True)
        path = study_dir / INDEX_NAME
        tmp = path.with_name(f".{INDEX_NAME}.rebuild")
        for stale in (tmp, tmp.with_name(tmp.name + "-journal")):
            stale.unlink(missing_ok=True)
        conn = _connect(tmp)
        with conn:
            conn.executescript(_SCHEMA)
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        index = cls(study_dir, conn)
        index.put(read_folders(study_dir))
        conn.close()
        tmp.replace(path)  # readers see the old file or the complete new one
        path.with_name(INDEX_NAME + "-journal").unlink(missing_ok=True)
        return cls(study_dir, _connect(path))

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> StudyIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing (driver only) --------------------------------------------------------------
    def put(self, records: Iterable[RunRecord]) -> None:
        """Insert or replace runs and their metrics, all in one transaction."""
        records = list(records)
        with self.conn:
            self._add_param_columns({k for r in records for k in r.settings})
            for r in records:
                self._put_one(r)

    def _put_one(self, r: RunRecord) -> None:
        columns = {
            "id": r.id,
            "status": r.state,
            "method": r.method,
            "seed": r.seed,
            "params": json.dumps(r.settings, sort_keys=True),
            "step": r.step or 0,
            "steps": r.steps,
            "error": r.error,
            "wall_s": r.wall_s,
            "attempts": r.attempts,
            "threads": r.threads,
            "in_spec": int(r.in_spec),
        }
        for key, value in r.settings.items():
            columns[_param_column(key)] = _sql_value(value)
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        self.conn.execute("DELETE FROM metrics WHERE run_id = ?", (r.id,))
        self.conn.execute(
            f"INSERT OR REPLACE INTO runs ({names}) VALUES ({marks})", list(columns.values())
        )
        self.conn.executemany(
            "INSERT INTO metrics VALUES (?, ?, ?, ?)",
            [
                (r.id, m, k, v)
                for m, scores in metric_scalars(r.metrics).items()
                for k, v in scores.items()
            ],
        )

    def set_in_spec(self, ids: Iterable[str]) -> None:
        """Mark exactly ``ids`` as the current spec's cells."""
        ids = list(ids)
        with self.conn:
            self.conn.execute("UPDATE runs SET in_spec = 0")
            self.conn.executemany("UPDATE runs SET in_spec = 1 WHERE id = ?", [(i,) for i in ids])

    def _add_param_columns(self, keys: set[str]) -> None:
        have = {row[1] for row in self.conn.execute("PRAGMA table_info(runs)")}
        for key in sorted(keys):
            column = _param_column(key)
            if column not in have:
                self.conn.execute(f'ALTER TABLE runs ADD COLUMN "{column}"')

    # -- reading ----------------------------------------------------------------------------
    def records(self, *, in_spec_only: bool = True) -> list[RunRecord]:
        """Every run (of the current spec unless ``in_spec_only=False``), ordered by id."""
        where = "WHERE in_spec = 1" if in_spec_only else ""
        rows = self.conn.execute(
            "SELECT id, status, method, seed, params, step, steps, error, wall_s, attempts, "
            f"threads, in_spec FROM runs {where} ORDER BY id"
        ).fetchall()
        metrics: dict[str, dict[str, dict[str, float | None]]] = {}
        for run_id, metric, key, value in self.conn.execute(
            "SELECT run_id, metric, key, value FROM metrics ORDER BY run_id, metric, key"
        ):
            metrics.setdefault(run_id, {}).setdefault(metric, {})[key] = value
        return [
            RunRecord(
                path=self.study_dir / "runs" / row[0],
                state=row[1],
                method=row[2],
                seed=row[3],
                settings=json.loads(row[4]),
                step=row[5],
                steps=row[6],
                error=row[7],
                wall_s=row[8],
                attempts=row[9],
                threads=row[10],
                in_spec=bool(row[11]),
                metrics=metrics.get(row[0], {}),
            )
            for row in rows
        ]

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
        """Run a read-only SQL query (for users who want the index directly)."""
        return iter(self.conn.execute(sql, params).fetchall())


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30)
    conn.execute("PRAGMA foreign_keys = ON")
    # The default rollback journal with full sync: a commit is durable and a kill mid-write is
    # rolled back on the next open (WAL would be faster but misbehaves on network filesystems,
    # where studies often live).
    conn.execute("PRAGMA synchronous = FULL")
    return conn


def _healthy(conn: sqlite3.Connection) -> bool:
    with contextlib.suppress(sqlite3.DatabaseError):
        if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
            return False
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        return version is not None and version[0] == str(SCHEMA_VERSION)
    return False


def _param_column(key: str) -> str:
    return "p_" + "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in key)


def _sql_value(value: Any) -> Any:
    """Scalars as themselves; anything else (a dict of dataset options) as JSON text."""
    if value is None or isinstance(value, int | float | str):
        return value
    return json.dumps(value, sort_keys=True)
