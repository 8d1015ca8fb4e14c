"""One registry type for everything looked up by name: datasets, methods, model
families, likelihoods, metrics, networks.

A registry fills in one way only: modules register their objects with a decorator
(``@register_method("betavae")``) when they are imported, and a registry imports them on its
first lookup (``get``, ``names``, ``in``). Which modules that is comes from two lists: the
built-in modules declared with each registry below, and the plugin modules named in
``$UNTWINE_PLUGINS``. Nothing is imported when ``untwine.registry`` itself is, so any module
(``untwine.config`` included) may import it without importing the code it names.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from untwine.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table filled by decorators; lookups of unknown names list the known.

    ``builtin`` names the modules that register this kind's built-in objects; they are
    imported (with the plugins) on the first lookup, so that declaring a registry costs
    nothing and a lookup sees every built-in name whatever was imported before.
    """

    def __init__(self, kind: str, builtin: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.builtin = builtin
        self._items: dict[str, T] = {}
        self._builtin_loaded = False

    def register(self, name: str, *, overwrite: bool = False) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items and not overwrite and self._items[name] is not obj:
                raise ConfigError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        self._load(name)
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise ConfigError(f"unknown {self.kind} {name!r}; expected one of: {known}") from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._load(name)
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def _load(self, name: object = None) -> None:
        """Import the built-in modules once, and the plugins when a name is still missing."""
        if not self._builtin_loaded:
            # Set first: a built-in module may look names up while it is being imported.
            self._builtin_loaded = True
            for module in self.builtin:
                importlib.import_module(module)
        if name is None or name not in self._items:
            load_plugins()  # a name from a plugin module not imported yet in this process


# The built-in modules of each kind: a new built-in dataset, method, model, metric or network
# module is added to its list here (and registers itself with the decorator below).
DATASETS: Registry[Callable] = Registry(
    "dataset",
    builtin=(
        "untwine.data.dsprites",
        "untwine.data.dsprites.variants",
        "untwine.data.shapes3d",
        "untwine.data.mpi3d",
        "untwine.data.smallnorb",
        "untwine.data.cars3d",
        "untwine.data.images",
        "untwine.data.mnist",
        "untwine.train.prior",
    ),
)
METHODS: Registry[type] = Registry(
    "method",
    builtin=(
        "untwine.objectives.vae",
        "untwine.objectives.tcvae",
        "untwine.objectives.factorvae",
        "untwine.objectives.dipvae",
        "untwine.objectives.aae",
        "untwine.objectives.ibpvae",
        "untwine.objectives.iwae",
        "untwine.objectives.vqvae",
        "untwine.objectives.codeprior",
    ),
)
#: Latent families (``Objective.family`` names one): the model class a method trains.
MODELS: Registry[type] = Registry(
    "model",
    builtin=(
        "untwine.models.gaussian",
        "untwine.models.pixelcnn_vae",
        "untwine.models.codebook",
        "untwine.models.code_prior",
        "untwine.models.ibp",
    ),
)
#: Decoder distributions p(x|z) (``ModelConfig.likelihood`` names one).
LIKELIHOODS: Registry[type] = Registry("likelihood", builtin=("untwine.models.likelihoods",))
METRICS: Registry[Callable] = Registry(
    "metric",
    builtin=(
        "untwine.metrics.mig",
        "untwine.metrics.sap",
        "untwine.metrics.dci",
        "untwine.metrics.modularity",
        "untwine.metrics.factor_vae",
        "untwine.metrics.beta_vae",
        "untwine.metrics.mig_full",
        "untwine.metrics.elbo",
        "untwine.metrics.unsupervised",
        "untwine.metrics.irs",
        "untwine.metrics.downstream",
    ),
)
NETWORKS: Registry[Callable] = Registry(
    "network", builtin=("untwine.nets.conv64", "untwine.nets.mlp", "untwine.nets.mlp200")
)

register_dataset = DATASETS.register
register_method = METHODS.register
register_model = MODELS.register
register_likelihood = LIKELIHOODS.register
register_metric = METRICS.register
register_network = NETWORKS.register


_loaded_plugins: set[str] = set()


def load_plugins() -> list[str]:
    """Import the modules named in ``$UNTWINE_PLUGINS`` (comma-separated), once each.

    A plugin module registers its own datasets, methods or metrics when imported, which makes
    them usable from the command line and from worker processes as well as from Python.
    """
    names = [n.strip() for n in os.environ.get("UNTWINE_PLUGINS", "").split(",") if n.strip()]
    for name in names:
        if name in _loaded_plugins:
            continue
        _loaded_plugins.add(name)
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise ConfigError(
                f"UNTWINE_PLUGINS: cannot import plugin module {name!r} ({e})"
            ) from None
    return names
