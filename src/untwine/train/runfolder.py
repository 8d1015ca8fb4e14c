"""The run folder: its files, their states, and how every part of untwine reads them.

A run folder holds::

    config.yaml      the complete TrainConfig (written by the training loop)
    status.json      the training loop's state: {"state", "step", "pid", "host", "time", "error"?}
    log.jsonl        one JSON record of loss terms per ``log_every`` steps
    checkpoints/     step-00001000/ ... (untwine.train.checkpoint owns their layout)
    metrics.json     {metric: result} written by untwine.metrics.evaluate_run
    likelihood.json  log p(x), the IWAE bounds, bits/dim ... written by untwine.likelihood
    cell.json        a study driver's record of the cell (state, settings, attempts, ...)
    .lock            locked (flock) by the one process that trains the run (:func:`owned`)

Training, studies, reports and ``untwine evaluate`` all read the folder through this module,
so they agree on what state a run is in (:func:`run_state`) and what its hyperparameters are
(:data:`NOT_HYPERPARAMETERS`). Readers never fail on a missing or half-written file: a run
folder may belong to a process that died at any moment. Readers take no lock; only a
training process does, for as long as it trains, so two never write the same folder.

Faults end in a known state: SIGTERM or SIGINT stops after the current step with a
checkpoint (:class:`StopSignals`), a corrupt newest checkpoint is set aside on resume
(:func:`resume_checkpoint`), and a failed write is a one-line error
(:class:`untwine.files.WriteError`). :func:`check` reports what is wrong with a folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import signal
import socket
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from untwine.errors import CheckpointError, UntwineError
from untwine.files import atomic_write_json, atomic_write_text, read_json_dict
from untwine.train import checkpoint

CONFIG = "config.yaml"
STATUS = "status.json"
CELL = "cell.json"
METRICS = "metrics.json"
LIKELIHOOD = "likelihood.json"
LOG = "log.jsonl"
CHECKPOINTS = checkpoint.ROOT
LOCK = ".lock"

#: Files whose presence makes a folder a run folder (any one of them).
RUN_MARKERS = (CONFIG, STATUS, CELL)

#: States of a run. "running" is only believed while the process that wrote it lives.
STATES = ("done", "running", "failed", "interrupted", "pending")

#: Top-level settings of a TrainConfig that say where and how a run is carried out, not what
#: it computes: the weights at every step are the same whatever their values. They are left
#: out of a study cell's id (changing them neither retrains nor duplicates a cell; the ids of
#: existing studies depend on exactly this set), are not shown as hyperparameters in reports,
#: and may change when a run is resumed (so may ``steps``: see :data:`RESUMABLE`). ``out``
#: may change on resume because a run folder can be moved (a renamed study folder).
NOT_HYPERPARAMETERS = ("out", "log_every", "checkpoint_every", "keep_checkpoints", "device")

#: Settings that may differ from config.yaml on resume: the above plus ``steps``, which
#: extends (or ends earlier) the same trajectory without changing the weights at a step.
RESUMABLE = frozenset(NOT_HYPERPARAMETERS) | {"steps"}

#: Entries of a metric's result that are bookkeeping, not scores.
NOT_SCORES = frozenset({"seed", "seconds"})


# -- finding run folders ------------------------------------------------------------------
def is_run_dir(path: str | Path) -> bool:
    path = Path(path)
    return any((path / marker).is_file() for marker in RUN_MARKERS)


def find_run_dirs(folder: str | Path) -> list[Path]:
    """Every run folder at or below ``folder``, sorted by path. Run folders do not nest, so
    the search does not descend into one (nor into hidden folders such as a study's ``.jobs``)."""
    found = []
    for root, dirs, files in os.walk(Path(folder)):
        if any(marker in files for marker in RUN_MARKERS):
            found.append(Path(root))
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found)


# -- status.json and cell.json --------------------------------------------------------------
def _owner() -> dict[str, Any]:
    """Who writes a state: the process and machine, so readers can tell whether it lives."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


def read_status(run_dir: str | Path) -> dict[str, Any]:
    """status.json, or ``{}``."""
    return read_json_dict(Path(run_dir) / STATUS)


def write_status(run_dir: str | Path, state: str, step: int, error: str | None = None) -> None:
    """Record the training loop's ``state`` at ``step`` (with this process as its owner)."""
    doc = {"state": state, "step": step, **_owner(), "time": time.time()}
    if error:
        doc["error"] = error
    atomic_write_json(Path(run_dir) / STATUS, doc)


def read_cell(run_dir: str | Path) -> dict[str, Any]:
    """cell.json (a study driver's record of the cell), or ``{}``."""
    return read_json_dict(Path(run_dir) / CELL)


def write_cell(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Write a study driver's record of the cell, with the driver as its owner."""
    atomic_write_json(Path(run_dir) / CELL, {**record, **_owner()})


def owner_alive(doc: Mapping[str, Any]) -> bool:
    """Whether the process that wrote ``doc`` may still be running: True on another host
    (nothing here can tell), False when no owner is recorded or its pid is gone here."""
    pid, host = doc.get("pid"), doc.get("host")
    if not isinstance(pid, int):
        return False
    if host is not None and host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def run_state(status: Mapping[str, Any], cell: Mapping[str, Any]) -> str:
    """The one rule for a run's state, from its status.json and cell.json documents.

    A study driver's record (cell.json) wins when there is one: it covers the whole cell,
    training and evaluation, and knows when a worker died without updating status.json.
    Otherwise the training loop's status.json; with neither, "pending". A "running" state is
    believed only while the process that wrote it lives (:func:`owner_alive`); a dead owner
    means the run was stopped without a chance to say so: "interrupted".
    """
    doc = cell if cell.get("state") else status
    state = str(doc.get("state") or "pending")
    if state == "running" and not owner_alive(doc):
        return "interrupted"
    return state


def step(run_dir: str | Path) -> int:
    """The step a run has reached: status.json's, else cell.json's, else its newest
    checkpoint's (0 for none)."""
    for doc in (read_status(run_dir), read_cell(run_dir)):
        if isinstance(doc.get("step"), int):
            return doc["step"]
    latest = checkpoint.latest(Path(run_dir))
    return 0 if latest is None else checkpoint.step_of(latest)


# -- log.jsonl -----------------------------------------------------------------------------
def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """The records of log.jsonl, up to the first unreadable line (a torn last line, written
    by a process killed mid-write, is skipped)."""
    records = []
    try:
        lines = (Path(run_dir) / LOG).read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            break
        if not isinstance(record, dict):
            break
        records.append(record)
    return records


def truncate_log(run_dir: str | Path, last_step: int) -> None:
    """Drop the log records after ``last_step`` (the checkpoint a run resumes from) and any
    torn last line, so the resumed run's log equals an uninterrupted one's."""
    path = Path(run_dir) / LOG
    if path.exists():
        kept = [r for r in read_log(run_dir) if int(r.get("step", 0)) <= last_step]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))


# -- likelihood.json -----------------------------------------------------------------------
#: The entries of likelihood.json that tables and plots show as the run's scores (under the
#: name ``likelihood``: columns ``likelihood.log_px`` ...): the density and the bound, with the
#: collapse diagnostics beside them (KL, I(x; z), active units); the rest is detail for its page.
LIKELIHOOD_SCORES = ("log_px", "elbo", "kl", "mutual_information", "bits_per_dim", "active_units")


def read_likelihood(run_dir: str | Path) -> dict[str, Any]:
    """likelihood.json (:func:`untwine.likelihood.estimate_and_save`), or ``{}``."""
    return read_json_dict(Path(run_dir) / LIKELIHOOD)


def write_likelihood(run_dir: str | Path, result: Mapping[str, Any]) -> None:
    """Replace likelihood.json with ``result``, atomically (non-finite numbers as null)."""
    atomic_write_json(Path(run_dir) / LIKELIHOOD, _jsonable(dict(result)))


def likelihood_scores(result: Mapping[str, Any]) -> dict[str, Any]:
    """A likelihood.json document as a metric result: its :data:`LIKELIHOOD_SCORES` and the
    settings it was estimated with; ``{}`` for an empty document."""
    if not result or "log_px" not in result:
        return {}
    settings = {k: result.get(k) for k in ("k", "n", "split", "precision")}
    return {**{k: result.get(k) for k in LIKELIHOOD_SCORES}, "settings": settings}


# -- metrics.json --------------------------------------------------------------------------
def read_metrics(run_dir: str | Path) -> dict[str, Any]:
    """metrics.json as ``{metric: result}``, or ``{}``."""
    return read_json_dict(Path(run_dir) / METRICS)


def merge_metrics(run_dir: str | Path, results: Mapping[str, Any]) -> dict[str, Any]:
    """Add ``results`` to metrics.json, keeping the other metrics there; returns the whole.

    The merged document is serialised completely before the file is replaced atomically, so
    a failure leaves the previous file as it was. Non-finite numbers (undefined scores)
    are written as null.
    """
    merged = {**read_metrics(run_dir), **_jsonable(dict(results))}
    atomic_write_json(Path(run_dir) / METRICS, merged, sort_keys=True)
    return merged


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _scalar(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))


def metric_scalars(metrics: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """Every scalar score of a metrics.json document: ``{metric: {key: value}}``. Lists,
    settings and bookkeeping are left out; a null (undefined score) stays None, so a table
    still shows the metric was computed."""
    out: dict[str, dict[str, float | None]] = {}
    for metric, result in metrics.items():
        if isinstance(result, dict):
            scalars = {
                k: (None if v is None else float(v))
                for k, v in result.items()
                if k not in NOT_SCORES and _scalar(v)
            }
            if scalars:
                out[metric] = scalars
    return out


def headline_scores(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """Headline numbers of a metrics.json: ``{metric: value}`` where the result has an entry
    named like the metric (``mig``, ``sap`` ...), else ``{metric.key: value}`` for each of its
    scalar scores (``dci.disentanglement`` ...) — the columns of a study's results table.
    Non-finite values (undefined scores) are None."""
    out: dict[str, float | None] = {}
    for name, scores in metric_scalars(metrics).items():
        if name in scores:
            out[name] = _finite(scores[name])
        else:
            out.update({f"{name}.{k}": _finite(v) for k, v in scores.items()})
    return out


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


# -- config.yaml ----------------------------------------------------------------------------
def flat_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters of a raw config mapping, flat: the method's settings (``beta``),
    the model's and optimiser's (``z_dim``, ``lr``), ``steps`` and ``seed``, plus the
    ``method`` and ``dataset`` names; :data:`NOT_HYPERPARAMETERS` are left out."""
    out: dict[str, Any] = {}
    method = config.get("method")
    if isinstance(method, dict):
        out["method"] = method.get("name")
        out.update({k: v for k, v in method.items() if k != "name"})
    elif isinstance(method, str):
        out["method"] = method
    dataset = config.get("dataset")
    if isinstance(dataset, dict):
        out["dataset"] = dataset.get("name")
    for section in ("model", "optim"):
        values = config.get(section)
        if isinstance(values, dict):
            out.update(values)
    for key, value in config.items():
        if key not in {"method", "dataset", "model", "optim", *NOT_HYPERPARAMETERS}:
            out[key] = value
    return out


# -- one record of a run folder -----------------------------------------------------------
@dataclass
class RunRecord:
    """What untwine knows of one run folder without loading its model.

    ``state`` follows :func:`run_state`; ``settings`` are the flat settings a study chose for
    the cell (without method and seed); ``params`` the flat hyperparameters of config.yaml;
    ``metrics`` the metrics.json document (from a study's index: its scalar scores only);
    ``marks`` say what else is missing (``no checkpoint``, ``not evaluated``, ...).
    """

    path: Path
    state: str
    name: str = ""
    method: str | None = None
    seed: int | None = None
    step: int | None = None
    steps: int | None = None
    error: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    config_text: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    has_checkpoint: bool = False
    updated: float | None = None
    marks: list[str] = field(default_factory=list)
    # A study driver's bookkeeping (cell.json).
    wall_s: float | None = None
    attempts: int = 0
    threads: int | None = None
    in_spec: bool = True

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.name = self.name or self.path.name

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def evaluated(self) -> bool:
        return bool(self.metrics)

    @property
    def scores(self) -> dict[str, float | None]:
        return headline_scores(self.metrics)


def read_record(
    path: str | Path, *, root: str | Path | None = None, settings: dict[str, Any] | None = None
) -> RunRecord:
    """Read a run folder into a :class:`RunRecord` (the folder need not exist).

    ``root`` names the record relative to a folder of runs; ``settings`` are a study cell's
    flat settings, used when the folder has no cell.json yet.
    """
    path = Path(path)
    name = str(path.relative_to(root)) if root is not None else path.name
    if name == ".":
        name = path.resolve().name
    config, config_text, marks = _read_config(path)
    status, cell = read_status(path), read_cell(path)
    state = run_state(status, cell)
    settings = cell.get("settings") or settings or {}
    method = config.get("method")
    method = method.get("name") if isinstance(method, dict) else method
    run_step = status.get("step", cell.get("step"))
    error = cell.get("error") or status.get("error")
    has_checkpoint = checkpoint.latest(path) is not None
    metrics = read_metrics(path)
    if not has_checkpoint:
        marks.append("no checkpoint")
    if (path / METRICS).exists() and not metrics:
        marks.append(f"unreadable {METRICS}")
    if not metrics:
        marks.append("not evaluated")
    scores = likelihood_scores(read_likelihood(path))
    if scores:  # shown beside the metrics: log p(x) against beta beside MIG against beta
        metrics = {**metrics, "likelihood": scores}
    seed = config.get("seed", settings.get("seed"))
    steps = config.get("steps", settings.get("steps"))
    return RunRecord(
        path=path,
        name=name,
        state=state,
        method=method or settings.get("method"),
        seed=seed if isinstance(seed, int) else None,
        step=run_step if isinstance(run_step, int) else None,
        steps=steps if isinstance(steps, int) else None,
        error=str(error) if error and state != "done" else None,
        settings={k: v for k, v in settings.items() if k not in ("method", "seed")},
        params=flat_params(config),
        config=config,
        config_text=config_text,
        metrics=metrics,
        has_checkpoint=has_checkpoint,
        updated=status.get("time"),
        marks=marks,
        wall_s=cell.get("wall_s"),
        attempts=len(cell.get("attempts", [])),
        threads=cell.get("threads"),
    )


def read_records(folder: str | Path) -> list[RunRecord]:
    """A :class:`RunRecord` for every run folder at or below ``folder``, named relative to it
    (a study reads its cells through its index instead: :func:`untwine.study.report_records`)."""
    folder = Path(folder)
    return [read_record(p, root=folder) for p in find_run_dirs(folder)]


def _read_config(path: Path) -> tuple[dict[str, Any], str, list[str]]:
    """config.yaml as a raw mapping (a run of a plugin method not loaded here still reads),
    its text, and a mark if it is missing or unreadable."""
    try:
        text = (path / CONFIG).read_text()
    except OSError:
        return {}, "", ["no config"]
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        doc = None
    if not isinstance(doc, dict):
        return {}, text, [f"unreadable {CONFIG}"]
    return doc, text, []


# -- one writer at a time ---------------------------------------------------------------------
class RunBusyError(CheckpointError):
    """Another process is training this run folder."""


class RunWarning(UserWarning):
    """Something about a run folder the user should know, which did not stop the work."""


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
    os.pwrite(fd, json.dumps(_owner()).encode().ljust(_NOTE_BYTES), 0)
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


# -- resuming from a checkpoint that verifies ----------------------------------------------
def resume_checkpoint(run_dir: str | Path) -> Path:
    """The newest checkpoint of the run whose files match their checksums.

    Newer ones that do not verify are set aside (renamed ``corrupt-step-...``, kept for
    inspection) with a :class:`RunWarning` naming each; with none left, a one-line
    :class:`CheckpointError` naming the first problem.
    """
    found = checkpoint.complete_checkpoints(Path(run_dir))
    if not found:
        raise CheckpointError(f"{run_dir}: no checkpoint to resume from")
    problems = []
    for path in reversed(found):
        try:
            checkpoint.verify(path)
        except CheckpointError as e:
            problems.append((path, str(e)))
            continue
        for bad, why in problems:
            aside = checkpoint.set_aside(bad)
            warnings.warn(
                f"{why}; resuming from {path.name} instead (the corrupt one is kept as "
                f"{aside.name})",
                RunWarning,
                stacklevel=2,
            )
        return path
    raise CheckpointError(
        f"{run_dir}: no checkpoint verifies, cannot resume ({problems[0][1]}"
        + (f"; and {len(problems) - 1} older" if len(problems) > 1 else "")
        + ")"
    )


# -- stopping on a signal ---------------------------------------------------------------------
class RunInterrupted(KeyboardInterrupt):
    """Training stopped on a signal after writing a checkpoint; ``exit_code`` is 128+signum."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + signum


class StopSignals:
    """SIGTERM and SIGINT while training: the first asks the loop to stop after the current
    step (:attr:`signum` is set; the loop checkpoints and marks the run interrupted), a
    second ends the process at once by the signal's default action. Schedulers (Slurm,
    Kubernetes, Ray) send SIGTERM before they take a machine back. Handlers can only be
    installed from the main thread; elsewhere this does nothing."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: Any) -> None:
        self.signum = signum
        # The second signal is left to the kernel's default action: a Python handler would
        # run only when the main thread next executes bytecode, which may be after a long
        # write, or after a sleep another thread received the signal for.
        for sig in self.SIGNALS:
            signal.signal(sig, signal.SIG_DFL)


# -- checking a run folder ------------------------------------------------------------------
def check(run_dir: str | Path) -> tuple[list[str], list[str]]:
    """``(problems, notes)`` about a run folder: config.yaml valid, status.json readable,
    log.jsonl parsed line by line with increasing steps, every checkpoint verified against
    its checksums. Takes no lock: it may run beside training."""
    from untwine.config import TrainConfig

    path = Path(run_dir)
    if not path.is_dir():
        raise CheckpointError(f"{path}: no such run directory")
    problems: list[str] = []
    notes: list[str] = []
    try:
        config = TrainConfig.load(path / CONFIG)
        notes.append(f"{CONFIG}: valid ({config.method.name}, {config.steps} steps)")
    except UntwineError as e:
        problems.append(str(e))
    if (path / STATUS).exists() and not read_status(path):
        problems.append(f"{path / STATUS}: unreadable")
    record = read_record(path)
    notes.append(f"state: {record.state}" + (f" at step {record.step}" if record.step else ""))
    holder = lock_holder(path)
    if holder:
        notes.append(f"being trained by pid {holder['pid']} on {holder.get('host')}")
    _check_log(path, problems, notes)
    found = checkpoint.complete_checkpoints(path)
    if not found:
        notes.append("no checkpoint")
    for cp in found:
        try:
            checkpoint.verify(cp)
            notes.append(f"{CHECKPOINTS}/{cp.name}: checksums match")
        except CheckpointError as e:
            problems.append(str(e))
    root = path / CHECKPOINTS
    if root.is_dir():
        aside = sorted(p.name for p in root.glob(checkpoint.SET_ASIDE + "*"))
        partial = sorted(p.name for p in root.glob(".tmp-*"))
        if aside:
            notes.append(f"set aside as corrupt earlier: {', '.join(aside)}")
        if partial:
            notes.append(f"partial checkpoint left by a killed process: {', '.join(partial)}")
    return problems, notes


def _check_log(path: Path, problems: list[str], notes: list[str]) -> None:
    try:
        lines = (path / LOG).read_text().splitlines()
    except OSError:
        notes.append(f"no {LOG}")
        return
    last = 0
    for i, line in enumerate(lines, 1):
        try:
            step = json.loads(line)["step"]
        except (ValueError, KeyError, TypeError):
            if i == len(lines):  # a kill mid-write; resume drops it
                notes.append(f"{LOG}: torn last line {i} (dropped on resume)")
            else:
                problems.append(f"{path / LOG}: line {i} is not a log record")
            return
        if not isinstance(step, int) or step <= last:
            problems.append(f"{path / LOG}: line {i}: step {step!r} does not follow {last}")
            return
        last = step
    notes.append(f"{LOG}: {len(lines)} records, last at step {last}")
