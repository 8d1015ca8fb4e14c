"""Every user-facing setting, as pydantic models with ``extra="forbid"``.

A run is fully described by its :class:`TrainConfig`, written as ``config.yaml`` into the run
directory. Each method's hyperparameters are a :class:`MethodConfig` subclass defined beside
the method's objective (``untwine.objectives.*``) and looked up by ``method.name`` in the
method registry, so adding a method adds its settings everywhere (Python, YAML, CLI). This
module imports only the registry (which loads the objectives by name on first lookup), never
the objectives or networks themselves: they import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_validator,
)

from untwine.errors import ConfigError
from untwine.files import atomic_write_text
from untwine.registry import LIKELIHOODS, METHODS, NETWORKS


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DatasetConfig(Strict):
    """A registered dataset and its loader options (checked when the dataset is loaded)."""

    name: str = "dsprites"
    options: dict[str, Any] = Field(default_factory=dict)


class ModelConfig(Strict):
    """The model's settings. ``network`` is the Gaussian family's encoder/decoder pair;
    ``decoder: pixelcnn`` puts a gated PixelCNN over the image on top of that decoder, which
    then gives its conditioning map (the ``decoder_*`` settings,
    :mod:`untwine.models.pixelcnn_vae`);
    the codebook family (VQ-VAE) reads ``z_dim`` as the dimension of each code and the settings
    from ``codebook_size`` to ``res_blocks`` (:mod:`untwine.models.codebook`); a PixelCNN
    prior over its codes, ``codebook_size`` and the ``prior_*`` settings."""

    #: the Gaussian and IBP families' encoder/decoder pair; ``auto``: the method's papers'
    #: network for the dataset's image size (``Objective.networks``), resolved when a run
    #: starts and recorded in config.yaml. The codebook family builds its own networks.
    network: str = "auto"
    z_dim: int = Field(10, ge=1)
    likelihood: str = "bernoulli"
    gaussian_scale: float = Field(1.0, gt=0)
    levels: int = Field(256, ge=2, description="grey levels of the 8-bit likelihoods")
    codebook_size: int = Field(512, ge=2, description="K codes per codebook")
    codebook_ema: bool = Field(True, description="learn codes by EMA (else by the codebook loss)")
    codebook_decay: float = Field(0.99, gt=0, lt=1, description="EMA decay gamma")
    restart_after: int = Field(0, ge=0, description="restart codes unused this many steps; 0: off")
    kmeans_init: bool = Field(False, description="k-means codebook from the first batch")
    hidden: int = Field(128, ge=2, description="channels of the VQ-VAE conv nets")
    res_hidden: int = Field(32, ge=1, description="channels inside its residual blocks")
    res_blocks: int = Field(2, ge=0, description="residual blocks in its encoder and decoder")
    prior_channels: int = Field(64, ge=1, description="channels of a PixelCNN prior over codes")
    prior_layers: int = Field(8, ge=1, description="gated layers of a PixelCNN prior")
    prior_kernel: int = Field(5, ge=3, description="odd kernel size of a PixelCNN prior")
    decoder: Literal["conv", "pixelcnn"] = Field(
        "conv", description="conv: the network's decoder; pixelcnn: autoregressive over pixels"
    )
    decoder_channels: int = Field(32, ge=1, description="channels of a PixelCNN decoder")
    decoder_layers: int = Field(5, ge=1, description="gated layers of a PixelCNN decoder")
    decoder_kernel: int = Field(5, ge=1, description="odd kernel size of a PixelCNN decoder")
    decoder_receptive_field: int | None = Field(
        None, ge=1, description="rows up / columns left a PixelCNN decoder sees; None: all"
    )
    decoder_dropout: float = Field(
        0.0, ge=0, lt=1, description="share of a PixelCNN decoder's input pixels hidden"
    )
    decoder_cond_channels: int = Field(
        4, ge=1, description="channels of the map of z conditioning a PixelCNN decoder"
    )
    decoder_conditioning: Literal["map", "vector"] = Field(
        "map",
        description="how z conditions a PixelCNN decoder: map, a map made by the network's "
        "decoder (PixelVAE); vector, z itself, projected by each layer (conditional PixelCNN)",
    )

    @field_validator("prior_kernel", "decoder_kernel")
    @classmethod
    def _odd(cls, k: int) -> int:
        if k % 2 != 1:
            raise ValueError("must be odd")
        return k

    @model_validator(mode="after")
    def _reachable(self) -> ModelConfig:
        reach = 1 + self.decoder_layers * (self.decoder_kernel // 2)
        if self.decoder_receptive_field is not None and self.decoder_receptive_field > reach:
            raise ValueError(
                f"decoder_receptive_field {self.decoder_receptive_field} is more than "
                f"{self.decoder_layers} layers of kernel {self.decoder_kernel} reach ({reach})"
            )
        return self

    @field_validator("network")
    @classmethod
    def _known(cls, name: str) -> str:
        if name != "auto" and name not in NETWORKS:
            known = ", ".join(["auto", *NETWORKS])
            raise ValueError(f"unknown network {name!r}; expected one of: {known}")
        return name

    @field_validator("likelihood")
    @classmethod
    def _known_likelihood(cls, name: str) -> str:
        if name not in LIKELIHOODS:
            known = ", ".join(LIKELIHOODS)
            raise ValueError(f"unknown likelihood {name!r}; expected one of: {known}")
        return name


class OptimConfig(Strict):
    """Adam settings (defaults of Locatello et al. 2019)."""

    lr: float = Field(1e-4, gt=0)
    adam_beta1: float = Field(0.9, ge=0, lt=1)
    adam_beta2: float = Field(0.999, ge=0, lt=1)
    eps: float = Field(1e-8, gt=0)
    batch_size: int = Field(64, ge=1)


class MethodConfig(Strict):
    """Settings shared by every method; subclasses add the method's hyperparameters.

    ``kl_warmup_steps``: the regulariser's weight ramps linearly from 0 to 1 over this many
    steps (Bowman et al. 2016; Sonderby et al. 2016); 0 disables it.
    ``free_bits``: a floor in nats on each latent dimension's batch-averaged KL
    (Kingma et al. 2016, eq. 15); 0 disables it.
    ``encoder_steps``: aggressive inference (He et al. 2019): n encoder updates per model
    update, n - 1 of them encoder-only on further batches; 1 disables it.
    ``aggressive_check_every``: their stopping rule: every this many steps, end the aggressive
    phase once the mean minibatch I(x; z) over the last window is no higher than over the
    window before; 0 keeps it on for the whole run.
    """

    name: str
    kl_warmup_steps: int = Field(0, ge=0)
    free_bits: float = Field(0.0, ge=0)
    encoder_steps: int = Field(1, ge=1)
    aggressive_check_every: int = Field(0, ge=0)


def method_config(value: Any) -> MethodConfig:
    """A method's settings from a name, a mapping with a ``name`` key, or a MethodConfig,
    validated by that method's own :class:`MethodConfig` subclass."""
    if isinstance(value, str):
        value = {"name": value}
    if isinstance(value, MethodConfig):
        return value
    if not isinstance(value, dict) or "name" not in value:
        raise ValueError("method must be a mapping with a 'name' key")
    params = METHODS.get(value["name"]).Params
    return params.model_validate(value)


class PretrainConfig(Strict):
    """A first phase of a run under another method's objective: its first ``steps`` steps
    optimise ``method`` (e.g. ``{method: betavae, beta: 50}``, which holds q(z|x) at the prior
    and so trains the decoder alone); the run's own method then takes over, with the same
    model, optimiser state, noise and batch order, and its step-based schedules (KL warm-up,
    aggressive inference's checks) counted from that step. Both methods must train the same
    model family. Written flat (``{method: betavae, beta: 50, steps: 3000}``) or with a
    nested ``method`` mapping."""

    steps: int = Field(ge=1)
    method: SerializeAsAny[MethodConfig]

    @model_validator(mode="before")
    @classmethod
    def _flat(cls, value: Any) -> Any:
        # {method: betavae, beta: 50, steps: 3000}: the method's settings beside its name
        if isinstance(value, dict) and isinstance(value.get("method"), str):
            rest = dict(value)
            method = {"name": rest.pop("method")}
            steps = {"steps": rest.pop("steps")} if "steps" in rest else {}
            value = {**steps, "method": {**method, **rest}}
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> MethodConfig:
        return method_config(value)


class TrainConfig(Strict):
    dataset: DatasetConfig = Field(default_factory=DatasetConfig)
    method: SerializeAsAny[MethodConfig]
    model: ModelConfig = Field(default_factory=ModelConfig)
    optim: OptimConfig = Field(default_factory=OptimConfig)
    steps: int = Field(ge=1)
    seed: int = Field(0, ge=0)
    out: Path
    checkpoint_every: int = Field(1000, ge=1)
    log_every: int = Field(100, ge=1)
    keep_checkpoints: int = Field(2, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    #: what the networks compute in; ``auto`` resolves at the start of a run to ``bf16`` where
    #: the device has bfloat16 units, else ``fp32``, and config.yaml records the resolved value
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"

    #: a first phase under another method (:class:`PretrainConfig`); None: none
    pretrain: PretrainConfig | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> MethodConfig:
        return method_config(value)

    @model_validator(mode="after")
    def _same_family(self) -> TrainConfig:
        if self.pretrain is not None:
            first = METHODS.get(self.pretrain.method.name).family
            then = METHODS.get(self.method.name).family
            if first != then:
                raise ValueError(
                    f"pretrain.method {self.pretrain.method.name!r} trains a {first!r} model "
                    f"but method {self.method.name!r} a {then!r} one; expected the same family"
                )
        return self

    # -- files -----------------------------------------------------------------------
    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def save(self, path: Path) -> None:
        atomic_write_text(Path(path), self.to_yaml())

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return validate(read_yaml_mapping(path, "config file", "settings"), source=str(path))

    @classmethod
    def from_flat(cls, **settings: Any) -> TrainConfig:
        """Build from flat keyword settings (``method="betavae", beta=4, steps=100, ...``)."""
        return validate(nest(settings), source="settings")


def read_yaml_mapping(path: str | Path, what: str, holds: str) -> dict[str, Any]:
    """The mapping at the top of YAML file ``path`` (a ``what``: config file, study spec),
    or a one-line ConfigError naming the file: missing, not YAML, or not a mapping of
    ``holds``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: {what} not found")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({e.__class__.__name__})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of {holds} at the top level")
    return raw


def nest(flat: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Route flat settings to their section; unknown names raise a ConfigError."""

    tree: dict[str, Any] = {
        k: (dict(v) if isinstance(v, dict) else v) for k, v in (base or {}).items()
    }
    for section in ("dataset", "model", "optim"):
        tree.setdefault(section, {})
    method = tree.get("method") or {}
    if isinstance(method, str):
        method = {"name": method}
    method = dict(method)
    flat = {k.replace("-", "_"): v for k, v in flat.items() if v is not None}
    if "method" in flat:
        name = flat.pop("method")
        if name != method.get("name"):
            method = {"name": name}
    if "dataset" in flat:
        tree["dataset"] = {
            "name": flat.pop("dataset"),
            "options": tree["dataset"].get("options", {}),
        }
    if "dataset_options" in flat:
        tree["dataset"]["options"] = flat.pop("dataset_options")
    if "dataset_path" in flat:  # the loader's ``path`` option, the one most runs need
        tree["dataset"]["options"] = {
            **tree["dataset"].get("options", {}),
            "path": str(flat.pop("dataset_path")),
        }
    method_fields = (
        set(METHODS.get(method["name"]).Params.model_fields) if method.get("name") else set()
    )
    top = set(TrainConfig.model_fields) - {"dataset", "model", "optim", "method"}
    unknown = []
    for key, value in flat.items():
        if key in top:
            tree[key] = value
        elif key in ModelConfig.model_fields:
            tree["model"][key] = value
        elif key in OptimConfig.model_fields:
            tree["optim"][key] = value
        elif key in method_fields:
            method[key] = value
        else:
            unknown.append(key)
    if unknown:
        allowed = sorted(
            top
            | set(ModelConfig.model_fields)
            | set(OptimConfig.model_fields)
            | (method_fields - {"name"})
            | {"dataset", "dataset_options", "dataset_path", "method"}
        )
        where = f" for method {method['name']!r}" if method.get("name") else ""
        raise ConfigError(
            f"unknown setting(s) {', '.join(map(repr, unknown))}{where}; "
            f"allowed: {', '.join(allowed)}"
        )
    if method:
        tree["method"] = method
    return tree


def validate(raw: dict[str, Any], source: str = "config") -> TrainConfig:
    """Validate a nested settings mapping into a TrainConfig, raising a one-line ConfigError."""
    try:
        return TrainConfig.model_validate(raw)
    except ValidationError as e:
        raise ConfigError(f"{source}: {describe(e)}") from None


def describe(error: ValidationError) -> str:
    """One line naming each bad field, what was given and what is allowed."""
    parts = []
    for err in error.errors():
        loc = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown key {loc!r}")
        elif err["type"] == "missing":
            parts.append(f"{loc}: required setting is missing")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            given = err.get("input")
            shown = "" if isinstance(given, dict | list) else f" (got {given!r})"
            parts.append(f"{loc}: {msg}{shown}" if loc else f"{msg}{shown}")
    return "; ".join(parts)
