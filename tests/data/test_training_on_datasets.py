"""A beta-TCVAE trains for 100 steps on every dataset's miniature and on the rendered dSprites
variants; colour runs draw their traversals in colour."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from dataset_files import (
    MPI3D_SIZES,
    NORB_INSTANCES,
    NORB_SIZES,
    SHAPES3D_SIZES,
    write_cars3d,
    write_mpi3d,
    write_shapes3d,
    write_smallnorb,
)
from PIL import Image

import untwine
import untwine.data

STEPS = 100
COMMON = dict(
    method="betatcvae", beta=2.0, steps=STEPS, batch_size=8, lr=1e-3, z_dim=4, seed=0,
    log_every=10, checkpoint_every=STEPS, progress=False, threads=1,
)  # fmt: skip


def _folder(root: Path) -> dict:
    for k in range(12):
        picture = np.full((24, 20, 3), 20 * k, np.uint8)
        picture[: 2 * k + 2] = 255
        Image.fromarray(picture).save(root / f"{k}.png")
    rows = "\n".join(f"{k}.png,{k // 3},{k % 3}" for k in range(12))
    (root / "factors.csv").write_text("file,a,b\n" + rows + "\n")
    return dict(path=str(root))


def _make(name: str, root: Path) -> dict:
    """Write the miniature of ``name`` under ``root``; return the loader's options."""
    if name == "shapes3d":
        write_shapes3d(root / "3dshapes.h5")
        return dict(path=str(root / "3dshapes.h5"), factor_sizes=list(SHAPES3D_SIZES))
    if name == "mpi3d":
        write_mpi3d(root / "mpi3d_toy.npz")
        return dict(path=str(root / "mpi3d_toy.npz"), factor_sizes=list(MPI3D_SIZES))
    if name == "smallnorb":
        write_smallnorb(root)
        return dict(path=str(root), factor_sizes=list(NORB_SIZES), instances=NORB_INSTANCES)
    if name == "cars3d":
        write_cars3d(root, objects=1)
        return dict(path=str(root), objects=1)
    if name == "folder":
        return _folder(root)
    return {}  # rendered variants


def _losses(run_dir: Path) -> list[float]:
    records = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if "loss" in r]


@pytest.mark.slow  # 7 runs of 100 steps of the conv net: ~3-5 s each on a free core
@pytest.mark.parametrize(
    "name",
    ["shapes3d", "mpi3d", "smallnorb", "cars3d", "folder", "color-dsprites", "noisy-dsprites"],
)
def test_betatcvae_trains_100_steps(name, tmp_path, data):
    # ``data`` (the rendered dSprites, cached for the session) makes the variants cheap.
    options = _make(name, tmp_path)
    dataset = untwine.data.load(name, **options)
    colour = dataset.observation_shape[0] == 3
    run = untwine.train(
        dataset,
        out=tmp_path / "run",
        likelihood="gaussian" if colour else "bernoulli",
        gaussian_scale=0.1,
        **COMMON,
    )
    assert run.step == STEPS
    losses = _losses(tmp_path / "run")
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < losses[0]  # it learns
    # The run records how to load its data again (the loader's path and options).
    assert run.config.dataset.name == name and run.config.dataset.options == options


def test_colour_traversals_are_rgb(tmp_path):
    from untwine.viz.traversals import traverse_run

    options = _make("shapes3d", tmp_path)
    untwine.train(
        "shapes3d", out=tmp_path / "run", dataset_options=options, **{**COMMON, "steps": 5}
    )
    png, gif = traverse_run(tmp_path / "run", num_points=64, num_values=3)
    with Image.open(png) as picture:
        assert picture.mode in ("RGB", "RGBA")
        pixels = np.asarray(picture.convert("RGB")).reshape(-1, 3)
    assert (pixels[:, 0] != pixels[:, 1]).any()  # not grey
