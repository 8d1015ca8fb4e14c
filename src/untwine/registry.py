"""One registry type for everything looked up by name: datasets, methods, metrics, networks,
model families and likelihoods."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from untwine.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object table filled by decorators; lookups of unknown names list the known."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str, *, overwrite: bool = False) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items and not overwrite and self._items[name] is not obj:
                raise ConfigError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        if name not in self._items:
            load_plugins()  # a name from a plugin module not imported yet in this process
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise ConfigError(f"unknown {self.kind} {name!r}; expected one of: {known}") from None

    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        if name not in self._items:
            load_plugins()
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


DATASETS: Registry[Callable] = Registry("dataset")
METHODS: Registry[type] = Registry("method")
METRICS: Registry[Callable] = Registry("metric")
NETWORKS: Registry[Callable] = Registry("network")
MODELS: Registry[type] = Registry("model")
LIKELIHOODS: Registry[type] = Registry("likelihood")

register_dataset = DATASETS.register
register_method = METHODS.register
register_metric = METRICS.register
register_network = NETWORKS.register
register_model = MODELS.register
register_likelihood = LIKELIHOODS.register


_loaded_plugins: set[str] = set()


def load_plugins() -> list[str]:
    """Import the modules named in ``$UNTWINE_PLUGINS`` (comma-separated), once each.

    A plugin module registers its own datasets, methods or metrics when imported, which makes
    them usable from the command line and from worker processes as well as from Python.
    """
    import importlib
    import os

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
