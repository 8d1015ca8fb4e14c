"""The checkpoint's contents: gathered in one place, read back in one place."""

from __future__ import annotations

import pytest

import untwine
from untwine.errors import CheckpointError
from untwine.train import checkpoint

SMALL = dict(method="factorvae", batch_size=8, seed=0, progress=False, threads=1, network="mlp200")


def test_meta_reads_without_tensors_and_matches_the_full_state(tmp_path, squares):
    untwine.train(squares, steps=2, out=tmp_path / "r", **SMALL)
    path = checkpoint.latest(tmp_path / "r")
    meta = checkpoint.read_meta(path)
    assert meta["observation_shape"] == [1, 64, 64]
    assert meta["max_value"] == 1 and meta["dataset_size"] == len(squares)
    assert meta["untwine_version"] == untwine.__version__
    step, state = checkpoint.load(path)
    assert step == 2 and state["meta"] == meta
    # the objective's own optimizer is part of the state (FactorVAE's discriminator Adam)
    assert set(state["aux_optimizers"]) == {"discriminator"}
    assert set(checkpoint.model_weights(state)) == set(
        untwine.load_run(tmp_path / "r").model.state_dict()
    )


def test_an_unreadable_checkpoint_names_its_path(tmp_path, squares):
    untwine.train(squares, steps=1, out=tmp_path / "r", **{**SMALL, "method": "betavae"})
    path = checkpoint.latest(tmp_path / "r")
    (path / checkpoint.STATE).write_text("{")
    with pytest.raises(CheckpointError, match=f"{path}: unreadable checkpoint"):
        checkpoint.read_meta(path)
