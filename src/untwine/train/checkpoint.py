"""Checkpoints: one directory per step, tensors in safetensors, everything else in JSON.

``<run>/checkpoints/step-00001000/{tensors.safetensors, state.json}`` is written into a
temporary directory and renamed into place, so a checkpoint either exists whole or not at
all, whatever moment the process is killed. ``state.json`` is written last inside the
temporary directory and is the mark of a complete checkpoint.

What a training checkpoint holds is defined here once (:func:`gather`, read back by
:func:`restore`, :func:`model_weights` and :func:`read_meta`): the model's weights, the
objective's own modules, the model's Adam, the objective's auxiliary optimizers, the noise
generator's state, and ``meta`` (JSON values: untwine version, image shape, the dataset's
``max_value`` and size).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

import untwine
from untwine.data import GroundTruthData
from untwine.errors import CheckpointError
from untwine.files import atomic_directory, write_synced

#: The folder of a run that holds its checkpoints.
ROOT = "checkpoints"
TENSORS = "tensors.safetensors"
STATE = "state.json"
PREFIX = "step-"


def gather(
    model: torch.nn.Module,
    objective: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    noise: torch.Generator,
    data: GroundTruthData,
) -> dict[str, Any]:
    """The training state to :func:`save`: everything a resumed run needs to continue bit for
    bit (the batch order is a function of the seed and step, so it needs nothing here), and
    what reading the model back needs to know of the data it was trained on."""
    meta = {
        "untwine_version": untwine.__version__,
        "observation_shape": list(data.observation_shape),
        "max_value": data.max_value,
        "dataset_size": len(data),
    }
    return {
        "model": model.state_dict(),
        "objective": objective.state_dict(),
        "optimizer": optimizer.state_dict(),
        "aux_optimizers": {k: o.state_dict() for k, o in objective.optimizers.items()},
        "rng": {"noise": noise.get_state()},
        "meta": meta,
    }


def restore(
    state: dict[str, Any],
    model: torch.nn.Module,
    objective: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    noise: torch.Generator,
) -> None:
    """Put a state written by :func:`gather` back into freshly built training objects."""
    model.load_state_dict(state["model"])
    objective.load_state_dict(state["objective"])
    optimizer.load_state_dict(state["optimizer"])
    for name, opt in objective.optimizers.items():
        opt.load_state_dict(state["aux_optimizers"][name])
    noise.set_state(state["rng"]["noise"])


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


def name_of(step: int) -> str:
    """The folder name of the checkpoint of ``step``: ``step-00001000``."""
    return f"{PREFIX}{step:08d}"


def step_of(path: Path) -> int:
    """The step of a checkpoint folder, read from its name (the one place that parses it)."""
    return int(Path(path).name.removeprefix(PREFIX))


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
        write_synced(tmp / TENSORS, safetensors_bytes(tensors))
        write_synced(tmp / STATE, json.dumps({"step": step, "state": meta}).encode())
    for old in complete_checkpoints(run_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def complete_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoint directories of a run, oldest first."""
    root = Path(run_dir) / ROOT
    if not root.is_dir():
        return []
    found = [
        p
        for p in root.iterdir()
        if p.is_dir()
        and p.name.startswith(PREFIX)
        and (p / STATE).is_file()
        and (p / TENSORS).is_file()
    ]
    return sorted(found, key=lambda p: p.name)


def clean_partial(run_dir: Path) -> None:
    """Remove temporary directories left by a process killed while checkpointing."""
    root = Path(run_dir) / ROOT
    if root.is_dir():
        for p in root.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)


def latest(run_dir: Path) -> Path | None:
    found = complete_checkpoints(run_dir)
    return found[-1] if found else None


def load(path: Path) -> tuple[int, dict[str, Any]]:
    """Read a checkpoint directory back into (step, state)."""
    path = Path(path)
    try:
        doc = json.loads((path / STATE).read_text())
        tensors = load_file(str(path / TENSORS))
        return int(doc["step"]), unflatten(doc["state"], tensors)
    except (OSError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from None
