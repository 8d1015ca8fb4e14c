"""Registries fill one way: their built-in modules are imported on the first lookup."""

from __future__ import annotations

import sys
import textwrap

import pytest

from untwine.errors import ConfigError
from untwine.registry import (
    DATASETS,
    LIKELIHOODS,
    METHODS,
    METRICS,
    MODELS,
    NETWORKS,
    Registry,
)


@pytest.fixture
def shapes_registry(tmp_path, monkeypatch):
    """A registry whose one built-in module (written here) registers 'circle' when imported."""
    (tmp_path / "shapes_holder.py").write_text(
        "from untwine.registry import Registry\n"
        "SHAPES = Registry('shape', builtin=('shapes_builtin',))\n"
    )
    (tmp_path / "shapes_builtin.py").write_text(
        textwrap.dedent(
            """
            from shapes_holder import SHAPES

            @SHAPES.register("circle")
            def circle():
                return "round"
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield __import__("shapes_holder").SHAPES
    for name in ("shapes_holder", "shapes_builtin"):
        sys.modules.pop(name, None)


def test_builtin_modules_load_on_first_lookup_only(shapes_registry):
    assert "shapes_builtin" not in sys.modules  # declaring the registry imports nothing
    assert "circle" in shapes_registry
    assert "shapes_builtin" in sys.modules
    assert shapes_registry.get("circle")() == "round"
    assert shapes_registry.names() == ["circle"]


def test_unknown_names_list_the_builtin_ones(shapes_registry):
    with pytest.raises(ConfigError, match=r"unknown shape 'square'; expected one of: circle"):
        shapes_registry.get("square")


def test_every_registry_names_its_builtin_objects():
    assert {"vae", "betavae", "betatcvae", "factorvae", "dipvae"} <= set(METHODS.names())
    assert {"mig", "sap", "dci", "elbo"} <= set(METRICS.names())
    assert {"conv64", "mlp"} <= set(NETWORKS.names())
    assert "dsprites" in DATASETS.names()
    assert "gaussian" in MODELS.names()
    assert {"bernoulli", "gaussian"} <= set(LIKELIHOODS.names())


def test_a_registry_without_builtin_modules_is_empty():
    assert Registry("thing").names() == []
