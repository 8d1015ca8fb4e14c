"""A study spec (YAML) and its expansion into cells: one fully validated run config each.

A spec names common training settings at the top level (any flat setting of
:meth:`untwine.config.TrainConfig.from_flat`: ``dataset``, ``steps``, ``batch_size``, ``lr``,
``z_dim`` ...), the ``seeds``, a ``grid`` and the ``metrics`` to compute on every run::

    dataset: dsprites
    steps: 20000
    seeds: [0, 1, 2]
    grid:
      - {method: betavae,   beta: [1, 4, 8, 16]}        # a list expands as a product
      - {method: betatcvae, beta: [1, 4, 6, 10]}        # entries are a union
      - method: betavae
        zip: {beta: [2, 6], lr: [1.0e-3, 1.0e-4]}       # zipped axes: (2, 1e-3), (6, 1e-4)
    metrics: [mig, sap, dci, factor_vae_score]
    metric_options: {num_points: 2000, dci_model: fast}  # passed to evaluate_run
    likelihood: {k: 1000, examples: 500}                 # log p(x) of every finished cell

Expansion rules: in a grid entry (and among the top-level settings, which apply to every
entry) every list is an axis and the cells are the product of the axes; ``zip`` holds one
mapping (or a list of mappings) of equally long lists that vary together, forming one axis;
the entries are a union, and a cell produced twice is kept once. Every cell is crossed with
``seeds``. A setting in an entry overrides the same top-level setting.

Each cell is validated into a :class:`TrainConfig` before anything trains, and is named by a
stable id: the hash of its canonical JSON config without the settings that leave the trained
weights unchanged (:data:`untwine.rundir.NOT_HYPERPARAMETERS`). The same config
gives the same id whatever the key order or how the value was written (``4`` and ``4.0``),
so re-running a study skips finished cells and a new axis value adds only new cells. Because
the id hashes the *complete* config, defaults included, a change of a default in a later
untwine version yields new ids.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from untwine.config import (
    MethodConfig,
    TrainConfig,
    describe,
    nest,
    read_yaml_mapping,
    validate,
)
from untwine.errors import ConfigError
from untwine.rundir import NOT_HYPERPARAMETERS

#: Settings the study sets itself, per cell.
RESERVED = {"seed": "use 'seeds: [...]' at the top level", "out": "the study names run folders"}

#: Placeholder ``out`` while a cell's config is built (ids never include it).
_NO_OUT = Path("__study_cell__")


class LikelihoodSettings(BaseModel):
    """Importance-sampled log p(x) (and ELBO, bits/dim, active units) of every finished cell,
    through :func:`untwine.likelihood.estimate_and_save`, saved as the run's likelihood.json.

    ``split: auto`` evaluates the test split where the dataset has one and, where it has
    none (a factor grid such as dSprites, every image of which is a training image), a fixed
    random subset of the training images: the result then says ``split: train``, so a
    reader sees a training-set likelihood, not a held-out one.
    """

    model_config = ConfigDict(extra="forbid")

    #: importance samples per image (the literature's log p(x) uses 5,000)
    k: int = Field(1000, ge=1)
    #: images evaluated: a fixed random subset of the split (all of it when smaller)
    examples: int = Field(500, ge=1)
    split: Literal["auto", "test", "train"] = "auto"
    #: seed of the importance samples
    seed: int = Field(0, ge=0)
    #: what the networks run in (densities and log-sum-exps are float32 always)
    precision: Literal["auto", "fp32", "bf16"] = "auto"

    def estimate_options(self) -> dict[str, Any]:
        """The keyword arguments of :func:`untwine.likelihood.estimate_and_save`."""
        return {
            "k": self.k,
            "split": self.split,
            "max_examples": self.examples,
            "seed": self.seed,
            "precision": self.precision,
        }


class SelectSettings(BaseModel):
    """Model selection without labels once every cell is done
    (:func:`untwine.metrics.selection.select`): the runs ranked by ``by`` (``udr``: among the
    seeds of each setting; or a score of the ``unsupervised`` metric), written to the study
    folder's ``selection.json``, the chosen run of each setting printed."""

    model_config = ConfigDict(extra="forbid")

    #: ``udr`` or a score of the ``unsupervised`` metric
    by: str = "udr"
    #: images encoded per run
    num_points: int = Field(10_000, ge=2)

    @field_validator("by")
    @classmethod
    def _known(cls, by: str) -> str:
        # imported here: the metrics (scikit-learn, scipy) would slow every study command
        from untwine.metrics.selection import SCORES

        if by not in SCORES:
            raise ValueError(f"expected one of {', '.join(SCORES)} (got {by!r})")
        return by


class StudySpec(BaseModel):
    """A validated study spec; unknown top-level keys are common training settings."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    grid: list[dict[str, Any]] = Field(default_factory=list)
    metrics: list[str] = Field(default_factory=list)
    #: Overrides for :func:`untwine.metrics.evaluate_run` (``num_points``, ``dci_model`` ...).
    metric_options: dict[str, Any] = Field(default_factory=dict)
    #: log p(x) of every finished cell (None: not estimated).
    likelihood: LikelihoodSettings | None = None
    #: choose runs without labels once every cell is done (None: no selection).
    select: SelectSettings | None = None
    #: Seed of the metrics' sampling (the same for every run, so runs compare on equal draws).
    metric_seed: int = Field(0, ge=0)
    #: CPU threads per run; default: the machine's cores divided among the workers.
    threads: int | None = Field(None, ge=1)
    #: GPUs each run asks the Ray scheduler for (fractions share a GPU).
    num_gpus: float = Field(0.0, ge=0)
    #: Common flat training settings (the spec's other top-level keys).
    common: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather_common(cls, raw: Any) -> Any:
        # Any key that is not a study field is a training setting; nest() checks it by name
        # when cells are built, so a typo still fails with the setting's name.
        if not isinstance(raw, dict):
            return raw
        own = set(cls.model_fields) - {"common"}
        common = {k: v for k, v in raw.items() if k not in own}
        return {**{k: v for k, v in raw.items() if k in own}, "common": common}

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if any(s < 0 for s in seeds):
            raise ValueError("seeds must be non-negative integers")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct (got {seeds})")
        return seeds

    @field_validator("metrics")
    @classmethod
    def _distinct_metrics(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names):
            raise ValueError(f"metrics must be distinct (got {names})")
        return names

    def to_yaml_dict(self) -> dict[str, Any]:
        """The spec as written in YAML again (common settings back at the top level)."""
        doc = self.model_dump(mode="json", exclude={"common"})
        return {**self.common, **doc}


@dataclass(frozen=True)
class Cell:
    """One run of a study: its id, its flat settings and its complete config."""

    id: str
    settings: dict[str, Any] = field(hash=False)  # flat settings, seed included, no out
    config: TrainConfig = field(hash=False, compare=False)

    @property
    def seed(self) -> int:
        return self.config.seed

    @property
    def method(self) -> str:
        return self.config.method.name

    def params(self) -> dict[str, Any]:
        """The settings the spec chose for this cell, except method and seed."""
        return {k: v for k, v in self.settings.items() if k not in ("method", "seed")}

    def with_out(self, study_dir: Path) -> TrainConfig:
        """The config with ``out`` set to the cell's run folder in ``study_dir``."""
        return self.config.model_copy(update={"out": run_dir(study_dir, self.id)})


def run_dir(study_dir: str | Path, cell_id: str) -> Path:
    """The run folder of cell ``cell_id``: ``<study>/runs/<id>``."""
    return Path(study_dir) / "runs" / cell_id


#: The settings that cell ids have hashed since studies began (top level, model, optim; the
#: method's section and the dataset are hashed whole). A setting added later enters the hash
#: only when it differs from its default, which reproduces the behaviour from before it
#: existed: adding a setting keeps the ids, and so the finished cells, of existing studies.
ORIGINAL_SETTINGS: dict[str | None, frozenset[str]] = {
    None: frozenset({"dataset", "method", "model", "optim", "steps", "seed"}),
    "model": frozenset({"network", "z_dim", "likelihood", "gaussian_scale"}),
    "optim": frozenset({"lr", "adam_beta1", "adam_beta2", "eps", "batch_size"}),
}
#: The settings every method shared when studies began (:class:`~untwine.config.MethodConfig`).
ORIGINAL_METHOD = frozenset({"name", "kl_warmup_steps", "free_bits"})


def cell_id(config: TrainConfig) -> str:
    """A stable id for a config: ``<method>-<12 hex digits of sha256>``.

    The hash covers the canonical JSON (sorted keys, compact) of the complete config except
    :data:`~untwine.rundir.NOT_HYPERPARAMETERS` and later settings left at their
    defaults (:data:`ORIGINAL_SETTINGS`), so it changes exactly when something that affects
    training changes. The *requested* precision is hashed, so an id never depends on the
    machine.
    """
    doc = config.model_dump(mode="json")
    for key in NOT_HYPERPARAMETERS:
        doc.pop(key, None)
    defaults = TrainConfig.model_construct().model_dump(mode="json", exclude={"method"})
    defaults["method"] = type(config.method).model_construct().model_dump(mode="json")
    # a method's own hyperparameters are hashed whole; the shared ones follow the rule
    own = set(type(config.method).model_fields) - set(MethodConfig.model_fields)
    for section, original in {**ORIGINAL_SETTINGS, "method": ORIGINAL_METHOD | own}.items():
        values = doc if section is None else doc.get(section, {})
        default = defaults if section is None else defaults.get(section, {})
        for key in [k for k in values if k not in original]:
            if key in default and values[key] == default[key]:
                del values[key]
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:12]
    return f"{config.method.name}-{digest}"


# -- loading ----------------------------------------------------------------------------------
def parse_spec(raw: Any, source: str = "study spec") -> StudySpec:
    """Validate a spec mapping, raising a one-line :class:`ConfigError` naming the field."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping of study settings at the top level")
    try:
        return StudySpec.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"{source}: {describe(e)}") from None


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study spec YAML file."""
    raw = read_yaml_mapping(path, "study spec", "study settings")
    return parse_spec(raw, source=str(path))


# -- expansion --------------------------------------------------------------------------------
def expand(spec: StudySpec, source: str = "study spec") -> list[Cell]:
    """Every cell of the study, validated, in a stable order (seed, then grid order).

    Seeds vary slowest, so a study stopped half way has covered the whole grid for its first
    seeds. Raises :class:`ConfigError` naming the grid entry and setting at the first bad
    cell; nothing is trained before every cell is valid.
    """
    _check_dataset(spec, source)
    _check_metrics(spec, source)
    cells: dict[str, Cell] = {}
    entries = spec.grid or [{}]
    for seed in spec.seeds:
        for i, entry in enumerate(entries):
            where = f"{source}: grid[{i}]" if spec.grid else source
            for settings in _entry_settings(spec.common, entry, where):
                flat = {**settings, "seed": seed}
                config = _config(flat, where)
                cid = cell_id(config)
                cells.setdefault(cid, Cell(cid, flat, config))
    return list(cells.values())


def varying_keys(cells: list[Cell]) -> list[str]:
    """Settings (besides method and seed) whose values differ between cells, in first-seen
    order: the study's axes, used to label cells and as table columns."""
    seen: dict[str, set[str]] = {}
    for cell in cells:
        for k, v in cell.params().items():
            seen.setdefault(k, set()).add(json.dumps(v, sort_keys=True))
    everywhere = [k for k in seen if all(k in c.params() for c in cells)]
    return [k for k in seen if len(seen[k]) > 1 or k not in everywhere]


def _entry_settings(
    common: dict[str, Any], entry: dict[str, Any], where: str
) -> Iterator[dict[str, Any]]:
    """The flat settings of every cell of one grid entry (product of its axes)."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: a grid entry must be a mapping of settings")
    merged = {**common, **{k: v for k, v in entry.items() if k != "zip"}}
    for key in merged:
        if key in RESERVED:
            raise ConfigError(f"{where}: {key!r} cannot be set in a study ({RESERVED[key]})")
    # Axes in order: each list is one axis of (key, value) assignments; a zip group is one
    # axis whose points assign several keys at once.
    axes: list[list[dict[str, Any]]] = []
    fixed: dict[str, Any] = {}
    for key, value in merged.items():
        if isinstance(value, list):
            if not value:
                raise ConfigError(f"{where}.{key}: empty list (an axis needs at least one value)")
            axes.append([{key: v} for v in value])
        else:
            fixed[key] = value
    for group in _zip_groups(entry.get("zip"), where):
        clash = sorted(set(group[0]) & set(merged))
        if clash:
            raise ConfigError(f"{where}.zip: {', '.join(clash)} also set outside zip")
        axes.append(group)
    for point in itertools.product(*axes):
        settings = dict(fixed)
        for assignment in point:
            settings.update(assignment)
        yield settings


def _zip_groups(value: Any, where: str) -> list[list[dict[str, Any]]]:
    """``zip: {a: [..], b: [..]}`` (or a list of such mappings) -> axes of joint points."""
    if value is None:
        return []
    groups = value if isinstance(value, list) else [value]
    axes = []
    for group in groups:
        if not isinstance(group, dict) or not group:
            raise ConfigError(f"{where}.zip: expected a mapping of setting -> list of values")
        lengths = {}
        for key, values in group.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"{where}.zip.{key}: expected a non-empty list of values")
            lengths[key] = len(values)
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{k}: {n}" for k, n in lengths.items())
            raise ConfigError(f"{where}.zip: lists must have equal lengths (got {shown})")
        n = next(iter(lengths.values()))
        axes.append([{k: group[k][i] for k in group} for i in range(n)])
    return axes


def _config(flat: dict[str, Any], where: str) -> TrainConfig:
    for required in ("method", "steps"):
        if required not in flat:
            raise ConfigError(
                f"{where}: no {required} (set {required!r} at the top level or in the entry)"
            )
    try:
        return validate(nest({**flat, "out": str(_NO_OUT)}), source=where)
    except ConfigError as e:
        message = str(e)
        raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from None


def _check_dataset(spec: StudySpec, source: str) -> None:
    """Unknown dataset names fail up front (loading a dataset is left to the workers)."""
    from untwine import data

    names = {spec.common.get("dataset", "dsprites")}
    for entry in spec.grid:
        if isinstance(entry, dict) and "dataset" in entry:
            value = entry["dataset"]
            names.update(value if isinstance(value, list) else [value])
    known = data.names()
    for name in sorted(map(str, names)):
        if name not in known:
            raise ConfigError(
                f"{source}: dataset: unknown dataset {name!r}; expected one of: {', '.join(known)}"
            )


def _check_metrics(spec: StudySpec, source: str) -> None:
    """Unknown metric names or options fail before anything trains."""
    if not spec.metrics:
        if spec.metric_options:
            raise ConfigError(f"{source}: metric_options given but no metrics to compute")
        return
    from untwine.metrics import resolve_settings

    try:
        resolve_settings(spec.metrics, spec.metric_options)
    except ConfigError as e:
        field = "metrics" if str(e).startswith("unknown metric ") else "metric_options"
        raise ConfigError(f"{source}: {field}: {e}") from None
