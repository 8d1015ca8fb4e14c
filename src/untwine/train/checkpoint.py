"""Checkpoints: one directory per step, tensors in safetensors, everything else in JSON.

What a training checkpoint holds is defined here once (:func:`gather`, read back by
:func:`restore`, :func:`model_weights` and :func:`read_meta`): the model's weights, the
objective's own modules, the model's Adam, the objective's auxiliary optimizers, the noise
generator's state, and ``meta`` (JSON values: untwine version, image shape, the dataset's
``max_value`` and size).

``<run>/checkpoints/step-00001000/{tensors.safetensors, state.json, checksums.json}`` is
written into a temporary directory and renamed into place, so a checkpoint either exists
whole or not at all, whatever moment the process is killed. ``checksums.json`` holds the
SHA-256 of every other file; :func:`load` and :func:`verify` check them, so a file damaged
after it was written (a flipped bit, a truncated copy) is reported by name instead of
loading wrong weights. Checkpoints written before checksums existed load unverified.
:func:`resume_checkpoint` chooses the newest checkpoint that verifies, setting corrupt newer
ones aside.

Where checkpoints lie in a run folder (their folder and file names, which are complete, the
newest) is the run folder's layout, :mod:`untwine.rundir.layout`, which finds them without
torch; the names below are taken from there.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_bytes

from untwine.data import GroundTruthData
from untwine.errors import CheckpointError
from untwine.files import atomic_directory, write_synced
from untwine.rundir import layout
from untwine.version import __version__

ROOT = layout.CHECKPOINTS
TENSORS = layout.CHECKPOINT_TENSORS
STATE = layout.CHECKPOINT_STATE
CHECKSUMS = layout.CHECKPOINT_CHECKSUMS
PREFIX = layout.CHECKPOINT_PREFIX
name_of = layout.checkpoint_name
step_of = layout.checkpoint_step
complete_checkpoints = layout.complete_checkpoints
latest = layout.latest_checkpoint
#: A corrupt checkpoint set aside on resume keeps its step in its name but is no longer one.
SET_ASIDE = "corrupt-"


class CorruptCheckpointError(CheckpointError):
    """A checkpoint file does not match the checksum written with it."""


class RunWarning(UserWarning):
    """Something about a run folder the user should know, which did not stop the work."""


def gather(
    model: torch.nn.Module,
    objective: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    noise: torch.Generator,
    data: GroundTruthData,
    pretrain: torch.nn.Module | None = None,
) -> dict[str, Any]:
    """The training state to :func:`save`: everything a resumed run needs to continue bit for
    bit (the batch order is a function of the seed and step, so it needs nothing here), and
    what reading the model back needs to know of the data it was trained on."""
    meta = {
        "untwine_version": __version__,
        "observation_shape": list(data.observation_shape),
        "max_value": data.max_value,
        "dataset_size": len(data),
    }
    state = {
        "model": model.state_dict(),
        **_objective_state(objective),
        "optimizer": optimizer.state_dict(),
        "rng": {"noise": noise.get_state()},
        "meta": meta,
    }
    if pretrain is not None:  # a pretraining phase's objective (config ``pretrain``)
        state["pretrain"] = _objective_state(pretrain)
    return state


def _objective_state(objective: torch.nn.Module) -> dict[str, Any]:
    """An objective's own state and that of its auxiliary optimisers, as :func:`restore`
    reads them back."""
    return {
        "objective": objective.state_dict(),
        "aux_optimizers": {k: o.state_dict() for k, o in objective.optimizers.items()},
    }


def restore(
    state: dict[str, Any],
    model: torch.nn.Module,
    objective: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    noise: torch.Generator,
    pretrain: torch.nn.Module | None = None,
) -> None:
    """Put a state written by :func:`gather` back into freshly built training objects."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    noise.set_state(state["rng"]["noise"])
    phases = [(objective, state)]
    if pretrain is not None:
        phases.append((pretrain, state["pretrain"]))
    for module, saved in phases:
        module.load_state_dict(saved["objective"])
        for name, opt in module.optimizers.items():
            opt.load_state_dict(saved["aux_optimizers"][name])


def model_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The model's state dict inside a loaded training state."""
    return state["model"]


def read_meta(path: Path) -> dict[str, Any]:
    """The ``meta`` of the checkpoint directory ``path``, read without loading its tensors."""
    path = Path(path)
    try:
        doc = json.loads((path / STATE).read_text())
        return unflatten(dict(doc["state"]["__dict__"])["meta"], {})
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from None


def flatten(tree: Any, tensors: dict[str, torch.Tensor], prefix: str) -> Any:
    """Replace every tensor in a nested dict/list by a reference into ``tensors``."""
    if isinstance(tree, torch.Tensor):
        key = prefix
        tensors[key] = tree.detach().cpu().contiguous()
        return {"__tensor__": key}
    if isinstance(tree, dict):
        # JSON keys are strings; remember integer keys (optimizer state is keyed by index).
        return {"__dict__": [[k, flatten(v, tensors, f"{prefix}.{k}")] for k, v in tree.items()]}
    if isinstance(tree, list | tuple):
        return [flatten(v, tensors, f"{prefix}.{i}") for i, v in enumerate(tree)]
    return tree


def unflatten(tree: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(tree, dict):
        if "__tensor__" in tree:
            return tensors[tree["__tensor__"]]
        return {k: unflatten(v, tensors) for k, v in tree["__dict__"]}
    if isinstance(tree, list):
        return [unflatten(v, tensors) for v in tree]
    return tree


def save(run_dir: Path, step: int, state: dict[str, Any], keep: int) -> Path:
    """Write ``state`` (nested dicts of tensors and JSON values) as the checkpoint of ``step``.

    Older checkpoints beyond the newest ``keep`` are removed only after the new one is in place.
    """
    final = Path(run_dir) / ROOT / name_of(step)
    with atomic_directory(final) as tmp:
        tensors: dict[str, torch.Tensor] = {}
        meta = flatten(state, tensors, "s")
        files = {
            TENSORS: safetensors_bytes(tensors),
            STATE: json.dumps({"step": step, "state": meta}).encode(),
        }
        for name, payload in files.items():
            write_synced(tmp / name, payload)
        sums = {name: _sha256(payload) for name, payload in files.items()}
        write_synced(tmp / CHECKSUMS, json.dumps(sums, indent=1).encode())
    for old in complete_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def clean_partial(run_dir: Path) -> None:
    """Remove temporary directories left by a process killed while checkpointing."""
    root = Path(run_dir) / ROOT
    if root.is_dir():
        for p in root.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)


def _sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def _read_verified(path: Path) -> dict[str, bytes]:
    """The bytes of a checkpoint's files, each checked against checksums.json."""
    blobs = {name: (path / name).read_bytes() for name in (TENSORS, STATE)}
    if not (path / CHECKSUMS).exists():  # written before checksums existed
        return blobs
    sums = json.loads((path / CHECKSUMS).read_text())
    for name, payload in blobs.items():
        got, want = _sha256(payload), sums.get(name)
        if got != want:
            raise CorruptCheckpointError(
                f"{path / name}: corrupt checkpoint file (its SHA-256 is {got[:12]}..., "
                f"{CHECKSUMS} records {str(want)[:12]}...)"
            )
    return blobs


def load(path: Path) -> tuple[int, dict[str, Any]]:
    """Read a checkpoint directory back into (step, state), verifying its checksums."""
    path = Path(path)
    try:
        blobs = _read_verified(path)
        doc = json.loads(blobs[STATE])
        tensors = safetensors_load(blobs[TENSORS])
        return int(doc["step"]), unflatten(doc["state"], tensors)
    except (OSError, ValueError, KeyError, SafetensorError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from None


def verify(path: Path) -> None:
    """Raise :class:`CheckpointError` (naming the file) unless the checkpoint at ``path``
    is whole: every file present and matching its checksum."""
    path = Path(path)
    try:
        _read_verified(path)
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from None


def set_aside(path: Path) -> Path:
    """Rename a corrupt checkpoint out of the way (kept for inspection, no longer loaded)."""
    path = Path(path)
    target = path.with_name(SET_ASIDE + path.name)
    if target.exists():
        shutil.rmtree(target)
    path.rename(target)
    return target


def resume_checkpoint(run_dir: str | Path) -> Path:
    """The newest checkpoint of the run whose files match their checksums.

    Newer ones that do not verify are set aside (renamed ``corrupt-step-...``, kept for
    inspection) with a :class:`RunWarning` naming each; with none left, a one-line
    :class:`CheckpointError` naming the first problem.
    """
    found = complete_checkpoints(Path(run_dir))
    if not found:
        raise CheckpointError(f"{run_dir}: no checkpoint to resume from")
    problems = []
    for path in reversed(found):
        try:
            verify(path)
        except CheckpointError as e:
            problems.append((path, str(e)))
            continue
        for bad, why in problems:
            aside = set_aside(bad)
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
