"""Study specs: grid expansion (products, unions, zips), stable ids, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from untwine.config import TrainConfig
from untwine.errors import ConfigError
from untwine.objectives import METHODS
from untwine.study import cell_id, expand, load_spec, parse_spec

BASE = {"dataset": "test-squares", "steps": 10}
STUDIES = Path(__file__).resolve().parents[2] / "studies"


def cells_of(**spec):
    return expand(parse_spec({**BASE, **spec}))


def points(cells, *keys):
    return [tuple(c.settings.get(k) for k in keys) for c in cells]


def test_lists_in_an_entry_expand_as_a_product_crossed_with_seeds():
    cells = cells_of(seeds=[0, 1], grid=[{"method": "betavae", "beta": [1, 4], "lr": [1e-3, 1e-4]}])
    assert len(cells) == 8
    assert points(cells, "seed", "beta", "lr") == [
        (s, b, lr) for s in (0, 1) for b in (1, 4) for lr in (1e-3, 1e-4)
    ]
    assert all(c.config.dataset.name == "test-squares" and c.config.steps == 10 for c in cells)
    assert len({c.id for c in cells}) == 8


def test_entries_are_a_union_and_a_repeated_cell_is_kept_once():
    cells = cells_of(
        grid=[
            {"method": "betavae", "beta": [1, 4]},
            {"method": "betavae", "beta": [4.0, 8]},  # 4.0 is the same cell as 4
            {"method": "annealedvae", "c_max": 5},
        ]
    )
    assert points(cells, "method", "beta", "c_max") == [
        ("betavae", 1, None),
        ("betavae", 4, None),
        ("betavae", 8, None),
        ("annealedvae", None, 5),
    ]


def test_zipped_axes_vary_together_and_cross_the_other_axes():
    cells = cells_of(
        grid=[{"method": "betavae", "z_dim": [5, 6], "zip": {"beta": [1, 4, 8], "lr": [1, 2, 3]}}]
    )
    assert points(cells, "z_dim", "beta", "lr") == [
        (z, b, lr) for z in (5, 6) for b, lr in ((1, 1), (4, 2), (8, 3))
    ]
    # Two zip groups are two axes.
    two = cells_of(
        grid=[{"method": "betavae", "zip": [{"beta": [1, 4], "lr": [1, 2]}, {"z_dim": [3, 4]}]}]
    )
    assert len(two) == 4


def test_top_level_settings_apply_to_every_entry_and_lists_there_are_axes_too():
    cells = cells_of(
        batch_size=[8, 16],
        lr=1e-3,
        grid=[{"method": "betavae", "beta": 2}, {"method": "vae", "lr": 5e-4}],
    )
    assert points(cells, "method", "batch_size", "lr") == [
        ("betavae", 8, 1e-3),
        ("betavae", 16, 1e-3),
        ("vae", 8, 5e-4),  # the entry's setting wins over the top level
        ("vae", 16, 5e-4),
    ]
    assert cells[0].config.optim.batch_size == 8 and cells[2].config.optim.lr == 5e-4


def test_a_spec_without_grid_is_one_cell_per_seed():
    cells = cells_of(method="betavae", beta=3, seeds=[4, 5])
    assert [c.seed for c in cells] == [4, 5]
    assert [c.config.method.beta for c in cells] == [3.0, 3.0]


def test_ids_are_stable_and_depend_only_on_what_changes_training():
    def one(**flat) -> str:
        return cell_id(TrainConfig.from_flat(out="x", **{**BASE, "method": "betavae", **flat}))

    same = one(beta=4, lr=1e-3)
    assert one(lr=1e-3, beta=4) == same  # key order
    assert one(beta=4.0, lr=0.001) == same  # how the number is written
    assert one(beta=4, lr=1e-3, log_every=7, checkpoint_every=3, keep_checkpoints=5) == same
    assert (
        cell_id(TrainConfig.from_flat(out="elsewhere", **BASE, method="betavae", beta=4, lr=1e-3))
        == same
    )
    different = {
        one(beta=5, lr=1e-3),
        one(beta=4, lr=1e-4),
        one(beta=4, lr=1e-3, seed=1),
        one(beta=4, lr=1e-3, steps=11),
        one(beta=4, lr=1e-3, z_dim=5),
    }
    assert same not in different and len(different) == 5
    assert same.startswith("betavae-") and len(same) == len("betavae-") + 12
    # The same through a spec: ids do not depend on the grid's layout either.
    a = cells_of(grid=[{"method": "betavae", "beta": [4], "lr": 1e-3}], log_every=3)
    b = cells_of(lr=1e-3, grid=[{"beta": 4, "method": "betavae"}])
    assert a[0].id == b[0].id == same


def test_ids_hash_the_requested_precision_never_the_machines(monkeypatch):
    import torch

    def one(**flat) -> str:
        return cell_id(TrainConfig.from_flat(out="x", **{**BASE, "method": "betavae", **flat}))

    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": True})
    auto_here = one(precision="auto")
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"amx_bf16": False})
    assert one(precision="auto") == auto_here == one()
    assert len({auto_here, one(precision="fp32"), one(precision="bf16")}) == 3


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ({"method": "betavae", "bta": 2}, r"unknown setting\(s\) 'bta' for method 'betavae'"),
        (
            {"grid": [{"method": "betavae", "beta": -1}]},
            r"grid\[0\]: method\.beta: .*>= 0|"
            r"grid\[0\]: method\.beta: .*greater than or equal to 0",
        ),
        (
            {"grid": [{"method": "betavae"}, {"method": "nope"}]},
            r"grid\[1\].*unknown method 'nope'",
        ),
        ({"method": "betavae", "seeds": [1, 1]}, r"seeds: .*distinct"),
        ({"method": "betavae", "seeds": "three"}, r"seeds: "),
        ({"method": "betavae", "seed": 3}, r"'seed' cannot be set in a study.*seeds"),
        ({"grid": [{"method": "betavae", "out": "x"}]}, r"grid\[0\]: 'out' cannot be set"),
        ({"method": "betavae", "beta": []}, r"beta: empty list"),
        (
            {"grid": [{"method": "betavae", "zip": {"beta": [1, 2], "lr": [1]}}]},
            r"grid\[0\]\.zip: lists must have equal lengths \(got beta: 2, lr: 1\)",
        ),
        (
            {"grid": [{"method": "betavae", "beta": 1, "zip": {"beta": [1, 2]}}]},
            r"zip: beta also set outside zip",
        ),
        ({"grid": ["betavae"]}, r"grid\.0: .*dictionary|grid\[0\]: a grid entry must be a mapping"),
        ({"grid": [{"beta": 2}]}, r"grid\[0\]: no method"),
        ({"method": "betavae", "metrics": ["mgi"]}, r"metrics: unknown metric 'mgi'.*mig"),
        (
            {"method": "betavae", "metrics": ["mig"], "metric_options": {"num_trian": 5}},
            r"metric_options: unknown option\(s\) 'num_trian'.*num_points",
        ),
        (
            {"method": "betavae", "metrics": ["mig"], "metric_options": {"num_train": 5}},
            r"metric_options: setting 'num_train' was renamed to 'num_points' / 'num_votes'",
        ),
        ({"method": "betavae", "dataset": "nope"}, r"dataset: unknown dataset 'nope'"),
        ({"method": "betavae", "num_gpus": -1}, r"num_gpus: .*0"),
    ],
)
def test_bad_specs_fail_up_front_with_one_line_naming_the_field(spec, pattern):
    with pytest.raises(ConfigError, match=pattern) as err:
        expand(parse_spec({**BASE, **spec}))
    assert "\n" not in str(err.value)


def test_load_spec_names_the_file(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "grid": [{"method": "betavae", "bta": [1]}]}))
    with pytest.raises(ConfigError, match=r"s\.yaml: grid\[0\]: unknown setting"):
        expand(load_spec(path), source=str(path))
    path.write_text("grid: [unclosed")
    with pytest.raises(ConfigError, match=r"s\.yaml: not valid YAML"):
        load_spec(path)
    with pytest.raises(ConfigError, match=r"missing\.yaml: study spec not found"):
        load_spec(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("name", "cells_per_seed"), [("beta_sweep.yaml", 8), ("chen2018_small.yaml", 6)]
)
def test_the_example_studies_are_valid(name, cells_per_seed):
    if "betatcvae" not in METHODS:
        pytest.skip("the betatcvae method is not registered in this tree yet")
    spec = load_spec(STUDIES / name)
    cells = expand(spec, source=name)
    methods = {c.method for c in cells}
    assert methods == {"betavae", "betatcvae"}
    assert len(cells) == len(spec.seeds) * cells_per_seed


@pytest.mark.parametrize("path", sorted(STUDIES.glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_study_validates_into_distinct_runs(path):
    """A typo in a shipped spec would otherwise surface only when someone runs the study;
    two cells with one id would silently share a run folder."""
    cells = expand(load_spec(path), source=path.name)
    assert cells
    assert all(isinstance(c.config, TrainConfig) for c in cells)
    assert len({c.id for c in cells}) == len(cells)


@pytest.mark.parametrize(
    ("name", "methods", "cells_per_seed"),
    [
        ("burgess2018_capacity.yaml", {"annealedvae"}, 1),
        ("kim2018_tradeoff.yaml", {"betavae", "factorvae"}, 5),
        ("kumar2018_dip.yaml", {"betavae", "dipvae"}, 4),
        ("ibp_aae.yaml", {"ibpvae", "aae"}, 4),
    ],
)
def test_the_papers_figures_studies_have_their_cells_over_three_seeds_or_more(
    name, methods, cells_per_seed
):
    """Issue 34: one study per seed figure, each with the cells its report figure needs."""
    spec = load_spec(STUDIES / name)
    cells = expand(spec, source=name)
    assert {c.method for c in cells} == methods
    assert len(spec.seeds) >= 3 and len(cells) == len(spec.seeds) * cells_per_seed
    if name == "ibp_aae.yaml":  # active features need the IBP runs on several datasets
        ibp = {c.config.dataset.name for c in cells if c.method == "ibpvae"}
        assert ibp == {"dsprites", "color-dsprites", "noisy-dsprites"}
