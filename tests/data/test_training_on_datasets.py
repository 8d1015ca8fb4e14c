"""Every method trains on every dataset untwine ships (its miniature in the official format
where it reads files), with no network named: the method's papers' network for the image size
is chosen and recorded. Colour runs draw their traversals in colour."""

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
from untwine.errors import ConfigError
from untwine.registry import DATASETS, METHODS


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
    return {}  # rendered, or shipped inside a package


def _losses(run_dir: Path) -> list[float]:
    records = [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if "loss" in r]


def _shipped() -> list[str]:
    """The datasets untwine ships (``untwine datasets``), not the tests' plugins."""
    return sorted(
        n for n in untwine.data.names() if DATASETS.get(n).__module__.startswith("untwine.")
    )


def _readers(holds: str) -> list[str]:
    return [m for m in METHODS.names() if METHODS.get(m).reads == holds]


IMAGE_DATASETS = [n for n in _shipped() if n != "codes"]
PAIRS = [(d, m) for d in IMAGE_DATASETS for m in _readers("images")]
TINY = dict(
    steps=2, batch_size=4, z_dim=3, hidden=8, res_hidden=4, codebook_size=16, seed=0,
    log_every=1, checkpoint_every=2, progress=False, threads=1,
)  # fmt: skip


def test_the_matrix_covers_every_shipped_dataset():
    assert set(IMAGE_DATASETS) | {"codes"} == set(_shipped())
    assert _readers("codes") == ["codeprior"]
    assert {"dsprites", "mnist5k", "digits8x8", "folder"} <= set(IMAGE_DATASETS)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, data):
    """Each shipped image dataset (its miniature where it reads files), loaded once."""
    # ``data`` (the rendered dSprites, cached for the session) makes the variants cheap.
    cache: dict[str, untwine.data.GroundTruthData] = {}

    def get(name: str):
        if name not in cache:
            cache[name] = untwine.data.load(name, **_make(name, tmp_path_factory.mktemp(name)))
        return cache[name]

    return get


@pytest.mark.parametrize(("name", "method"), PAIRS)
def test_every_method_trains_on_every_dataset_with_no_network_named(name, method, loaded, tmp_path):
    dataset = loaded(name)
    run = untwine.train(dataset, method=method, out=tmp_path / "run", **TINY)
    assert run.step == 2
    assert np.isfinite(_losses(tmp_path / "run")).all()
    # config.yaml names the network the method's papers use for this image size
    if METHODS.get(method).networks:
        want = "conv64" if dataset.observation_shape[1:] == (64, 64) else "mlp200"
        assert run.config.model.network == want
    # the run records how to load its data again (the loader's path and options)
    assert run.config.dataset.name == name
    assert run.config.dataset.options == dataset.load_options
    codes = untwine.load_run(tmp_path / "run").representation(dataset.images(np.arange(3)))
    assert codes.shape[0] == 3 and np.isfinite(codes).all()


def test_codes_train_their_prior_and_only_it(tmp_path, loaded):
    from untwine.train.prior import train_prior

    untwine.train(loaded("digits8x8"), method="vqvae", out=tmp_path / "vq", **TINY)
    prior = train_prior(tmp_path / "vq", steps=2, batch_size=4, progress=False, threads=1)
    assert prior.step == 2 and np.isfinite(_losses(prior.path)).all()
    codes = prior.dataset()
    with pytest.raises(ConfigError, match="method 'betavae' trains on images, dataset 'codes'"):
        untwine.train(codes, method="betavae", out=tmp_path / "b", **TINY)
    with pytest.raises(ConfigError, match="'codeprior' trains on codes, dataset 'digits8x8'"):
        untwine.train(loaded("digits8x8"), method="codeprior", out=tmp_path / "c", **TINY)
    assert not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_a_network_that_does_not_fit_is_a_one_line_error(tmp_path, loaded):
    with pytest.raises(ConfigError) as error:
        untwine.train(loaded("digits8x8"), method="iwae", network="conv64", out=tmp_path, **TINY)
    assert str(error.value) == (
        "network 'conv64' needs 64x64 images, dataset 'digits8x8' has (1, 8, 8); "
        "leave network out (auto) to train 'mlp200'"
    )
    assert not any(tmp_path.iterdir())


def test_colour_traversals_are_rgb(tmp_path):
    from untwine.viz.traversals import traverse_run

    options = _make("shapes3d", tmp_path)
    untwine.train(
        "shapes3d", method="betatcvae", out=tmp_path / "run", dataset_options=options, **TINY
    )
    png, gif = traverse_run(tmp_path / "run", num_points=64, num_values=3)
    with Image.open(png) as picture:
        assert picture.mode in ("RGB", "RGBA")
        pixels = np.asarray(picture.convert("RGB")).reshape(-1, 3)
    assert (pixels[:, 0] != pixels[:, 1]).any()  # not grey
