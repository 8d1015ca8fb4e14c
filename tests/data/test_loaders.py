"""Loaders of the official files (Shapes3D, MPI3D, SmallNORB, Cars3D), the dSprites variants
and a user's folder, each on a miniature written in the official format."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from dataset_files import (
    MPI3D_SIZES,
    NORB_INSTANCES,
    NORB_SIZES,
    SHAPES3D_SIZES,
    norb_matrix,
    random_images,
    write_cars3d,
    write_mpi3d,
    write_shapes3d,
    write_smallnorb,
)
from PIL import Image

import untwine.data
from untwine.data import ArrayData, filestore
from untwine.data.dsprites.variants import ColorDSprites, NoisyDSprites
from untwine.errors import DataError


def grid(sizes) -> np.ndarray:
    return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)


# -- Shapes3D ---------------------------------------------------------------------------------
@pytest.mark.parametrize("chunked", [False, True])
def test_shapes3d_reads_the_grid(tmp_path, chunked):
    written = write_shapes3d(tmp_path / "3dshapes.h5", chunked=chunked)
    data = untwine.data.load("shapes3d", path=tmp_path / "3dshapes.h5", factor_sizes=SHAPES3D_SIZES)
    assert isinstance(data, filestore.OffsetImages) != chunked  # contiguous: read in place
    assert data.observation_shape == (3, 64, 64) and len(data) == 96
    idx = np.array([95, 3, 3, 0, 50])
    np.testing.assert_array_equal(data.images(idx), written["images"][idx].transpose(0, 3, 1, 2))
    np.testing.assert_array_equal(data.index(data.factors_of(idx)), idx)
    again = pickle.loads(pickle.dumps(data))  # worker processes reopen the file
    np.testing.assert_array_equal(again.images(idx), data.images(idx))


def test_shapes3d_errors(tmp_path):
    path = tmp_path / "3dshapes.h5"
    with pytest.raises(DataError, match=r"3dshapes\.h5: no such file; .*github\.com/deepmind"):
        untwine.data.load("shapes3d", path=path)
    write_shapes3d(path, labels=None)
    with pytest.raises(DataError, match=r"3dshapes\.h5: missing dataset 'labels' \(found: images"):
        untwine.data.load("shapes3d", path=path, factor_sizes=SHAPES3D_SIZES)
    write_shapes3d(path)
    with pytest.raises(DataError, match=r"'images' is uint8 \(96, 64, 64, 3\); expected uint8 \(4"):
        untwine.data.load("shapes3d", path=path)  # official sizes: 480,000 images expected
    labels = write_shapes3d(path)["labels"][::-1].copy()
    write_shapes3d(path, labels=labels)
    with pytest.raises(DataError, match=r"column 0 \(floor_hue\) is not in row-major grid order"):
        untwine.data.load("shapes3d", path=path, factor_sizes=SHAPES3D_SIZES)
    write_shapes3d(path)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 5000)
    with pytest.raises(DataError, match=r"3dshapes\.h5: (truncated|not a readable HDF5)"):
        untwine.data.load("shapes3d", path=path, factor_sizes=SHAPES3D_SIZES)


# -- MPI3D ------------------------------------------------------------------------------------
@pytest.mark.parametrize("compressed", [False, True])
def test_mpi3d_reads_the_grid(tmp_path, monkeypatch, compressed):
    monkeypatch.setenv("UNTWINE_HOME", str(tmp_path / "home"))
    path = tmp_path / "mpi3d_real.npz"
    images = write_mpi3d(path, compressed=compressed)
    data = untwine.data.load("mpi3d", variant="real", path=path, factor_sizes=MPI3D_SIZES)
    # Uncompressed: read in place; compressed: decompressed once into the cache.
    assert (data.path == path) != compressed
    idx = np.array([47, 0, 13, 13])
    np.testing.assert_array_equal(data.images(idx), images[idx].transpose(0, 3, 1, 2))
    assert data.factor_names[0] == "object_color" and len(data) == 48
    if compressed:
        mtime = data.path.stat().st_mtime_ns
        again = untwine.data.load("mpi3d", variant="real", path=path, factor_sizes=MPI3D_SIZES)
        assert again.path == data.path and data.path.stat().st_mtime_ns == mtime


def test_mpi3d_errors(tmp_path):
    path = tmp_path / "mpi3d_toy.npz"
    with pytest.raises(DataError, match=r"mpi3d_toy\.npz: no such file; .*rr-learning"):
        untwine.data.load("mpi3d", path=path)
    with pytest.raises(DataError, match=r"variant 'sim'; expected one of toy, realistic, real"):
        untwine.data.load("mpi3d", variant="sim")
    write_mpi3d(path, key="imgs")
    with pytest.raises(DataError, match=r"mpi3d_toy\.npz: missing array 'images' \(found: imgs"):
        untwine.data.load("mpi3d", path=path)
    write_mpi3d(path)
    with pytest.raises(
        DataError, match=r"'images' is uint8 \(48, 64, 64, 3\); expected uint8 \(1036800"
    ):
        untwine.data.load("mpi3d", path=path)
    write_mpi3d(path, images=np.zeros((48, 64, 64, 1), np.uint8))
    with pytest.raises(DataError, match=r"expected uint8 \(48, 64, 64, 3\)"):
        untwine.data.load("mpi3d", path=path, factor_sizes=MPI3D_SIZES)
    write_mpi3d(path)
    with open(path, "r+b") as f:
        f.truncate(100_000)
    with pytest.raises(DataError, match=r"mpi3d_toy\.npz: (truncated|not a readable \.npz)"):
        untwine.data.load("mpi3d", path=path, factor_sizes=MPI3D_SIZES)


# -- SmallNORB --------------------------------------------------------------------------------
def test_smallnorb_places_left_images_by_their_labels(tmp_path):
    truth = write_smallnorb(tmp_path)
    data = untwine.data.load(
        "smallnorb", path=tmp_path, factor_sizes=NORB_SIZES, instances=NORB_INSTANCES
    )
    assert data.observation_shape == (1, 64, 64) and len(data) == 32
    assert data.nuisance_sizes == (2,) and data.factor_names[0] == "category"
    for cell, left in list(truth.items())[::5]:
        index = data.index(np.array([cell[:4]]), np.array([[cell[4]]]))
        expected = filestore.resize_images(left[None], (64, 64))
        np.testing.assert_array_equal(data.images(index), expected)
        np.testing.assert_array_equal(data.factors_of(index), [cell[:4]])
    # Sampling by factors draws the instance: both instances of a cell turn up.
    factors = np.repeat(grid(NORB_SIZES)[5:6], 64, axis=0)
    images = data.sample_observations_from_factors(factors, np.random.default_rng(0))
    assert len(np.unique(images.reshape(64, -1), axis=0)) == 2


def test_smallnorb_errors(tmp_path):
    options = dict(path=tmp_path, factor_sizes=NORB_SIZES, instances=NORB_INSTANCES)
    with pytest.raises(
        DataError, match=r"training-dat\.mat: no such file; .*294,936 bytes.*ylclab"
    ):
        untwine.data.load("smallnorb", **options)
    write_smallnorb(tmp_path)
    dat = tmp_path / "smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat"
    norb_matrix(dat, random_images(16, (2, 96, 96)), magic=0x1E3D4C51)
    with pytest.raises(DataError, match=r"training-dat\.mat: magic number 0x1e3d4c51; expected"):
        untwine.data.load("smallnorb", **options)
    norb_matrix(dat, random_images(16, (2, 32, 32)))
    with pytest.raises(
        DataError, match=r"dat matrix is uint8 \(16, 2, 32, 32\); expected uint8 \(16, 2, 96"
    ):
        untwine.data.load("smallnorb", **options)
    norb_matrix(dat, random_images(16, (2, 96, 96)))
    dat.write_bytes(dat.read_bytes()[:-10])
    with pytest.raises(DataError, match=r"training-dat\.mat: truncated; expected 294,936 bytes"):
        untwine.data.load("smallnorb", **options)
    write_smallnorb(tmp_path)
    info = tmp_path / "smallnorb-5x01235x9x18x6x2x96x96-testing-info.mat"
    table = np.zeros((16, 4), np.int32)  # every pair claims the same cell
    norb_matrix(info, table)
    with pytest.raises(DataError, match=r"do not list every \(category, .*\) exactly once"):
        untwine.data.load("smallnorb", **options)
    table[3, 2] = 3  # an odd azimuth
    norb_matrix(info, table)
    with pytest.raises(DataError, match=r"testing-info\.mat: pair 3 has info .* an even azimuth"):
        untwine.data.load("smallnorb", **options)


# -- Cars3D -----------------------------------------------------------------------------------
def test_cars3d_reads_elevation_azimuth_object(tmp_path):
    ims = write_cars3d(tmp_path)
    data = untwine.data.load("cars3d", path=tmp_path, objects=2)
    assert data.factor_sizes == (4, 24, 2) and data.observation_shape == (3, 64, 64)
    for elevation, azimuth, car in [(0, 0, 0), (3, 23, 1), (2, 5, 1)]:
        index = data.index(np.array([[elevation, azimuth, car]]))
        view = ims[car][:, :, :, azimuth, elevation]
        np.testing.assert_array_equal(
            data.images(index), filestore.resize_images(view[None], (64, 64))
        )


def test_cars3d_errors(tmp_path):
    import scipy.io

    with pytest.raises(
        DataError, match=r"found 0 car_XXX_mesh\.mat files; expected 183 .*scottreed"
    ):
        untwine.data.load("cars3d", path=tmp_path)
    write_cars3d(tmp_path, objects=1)
    bad = tmp_path / "car_002_mesh.mat"
    scipy.io.savemat(bad, {"img": np.zeros((2, 2), np.uint8)})
    with pytest.raises(DataError, match=r"car_002_mesh\.mat: no variable 'im'; expected im"):
        untwine.data.load("cars3d", path=tmp_path, objects=2)
    scipy.io.savemat(bad, {"im": np.zeros((64, 64, 3, 24, 4), np.uint8)})
    with pytest.raises(
        DataError, match=r"'im' is uint8 \(64, 64, 3, 24, 4\); expected uint8 \(128"
    ):
        untwine.data.load("cars3d", path=tmp_path, objects=2)
    # A MATLAB v7.3 file: the 128-byte MAT header with version 0x0200, then HDF5.
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + b"\0" * 8 + b"\x00\x02IM"
    bad.write_bytes(header + b"\0" * 512)
    with pytest.raises(DataError, match=r"car_002_mesh\.mat: a MATLAB v7\.3 \(HDF5\) file"):
        untwine.data.load("cars3d", path=tmp_path, objects=2)
    scipy.io.savemat(bad, {"im": np.zeros((128, 128, 3, 24, 4), np.uint8)})
    bad.write_bytes(bad.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"car_002_mesh\.mat: not a readable MATLAB file"):
        untwine.data.load("cars3d", path=tmp_path, objects=2)


# -- dSprites variants ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sprites() -> ArrayData:
    """A few dSprites images (the variants only ever read their base's images)."""
    from untwine.data.dsprites import render

    factors = np.array([[0, 5, 0, 10, 10], [1, 3, 7, 0, 31], [2, 0, 20, 31, 0], [2, 5, 9, 16, 16]])
    return ArrayData("dsprites", ("a",), (4,), (1, 64, 64), render(factors), max_value=1)


def test_color_dsprites(sprites):
    data = ColorDSprites(sprites, seed=0)
    images = data.images([0, 1, 2, 3])
    mask = sprites.images([0, 1, 2, 3]).astype(bool)
    assert images.shape == (4, 3, 64, 64) and images.dtype == np.uint8
    assert not images[np.broadcast_to(~mask, images.shape)].any()  # black background
    colours = images.max(axis=(2, 3))  # one colour per image, every channel in [0.5, 1]
    assert (colours >= 127).all() and (colours <= 255).all()
    np.testing.assert_array_equal(
        images, np.broadcast_to(mask, images.shape) * colours[:, :, None, None]
    )
    assert len(np.unique(colours, axis=0)) == 4  # a colour per image
    np.testing.assert_array_equal(data.images([3, 0]), images[[3, 0]])  # index -> same image
    assert not np.array_equal(ColorDSprites(sprites, seed=1).images([0]), images[:1])


def test_colours_are_uniform_on_half_to_one(sprites):
    data = ColorDSprites(sprites, seed=3)
    colours = data.colours(np.arange(20_000))
    assert colours.min() >= 0.5 and colours.max() < 1.0
    # Mean and variance of U(0.5, 1): 0.75 and 1/48; channels uncorrelated.
    np.testing.assert_allclose(colours.mean(axis=0), 0.75, atol=0.005)
    np.testing.assert_allclose(colours.var(axis=0), 1 / 48, rtol=0.05)
    assert abs(np.corrcoef(colours.T)[0, 1]) < 0.03


def test_noisy_dsprites(sprites):
    data = NoisyDSprites(sprites, seed=0)
    images = data.images([0, 1, 2, 3])
    mask = np.broadcast_to(sprites.images([0, 1, 2, 3]).astype(bool), images.shape)
    assert (images[mask] == 255).all()
    background = images[~mask].astype(np.float64) / 255
    assert abs(background.mean() - 0.5) < 0.01 and abs(background.var() - 1 / 12) < 0.005
    np.testing.assert_array_equal(data.images([2]), images[2:3])
    assert not np.array_equal(NoisyDSprites(sprites, seed=1).images([0]), images[:1])


def test_variants_registered_over_the_rendered_set(data):
    colour = untwine.data.load("color-dsprites")
    noisy = untwine.data.load("noisy-dsprites", seed=2)
    assert colour.factor_sizes == noisy.factor_sizes == data.factor_sizes
    assert len(colour) == len(data) and colour.observation_shape == (3, 64, 64)
    assert noisy.load_options == {"seed": 2}


# -- a user's folder --------------------------------------------------------------------------
def write_folder(folder: Path, rows: list[tuple], sizes=((40, 30), (80, 64))) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    pictures = {}
    lines = ["file,hue,size"]
    for k, (hue, size) in enumerate(rows):
        w, h = sizes[k % len(sizes)]
        picture = random_images(1, (h, w, 3), seed=k)[0]
        name = f"img{k}.{'png' if k % 2 else 'jpg'}"
        Image.fromarray(picture).save(folder / name, quality=95)
        pictures[(hue, size)] = folder / name
        lines.append(f"{name},{hue},{size}")
    (folder / "factors.csv").write_text("\n".join(lines) + "\n")
    return pictures


def test_folder_complete_grid(tmp_path):
    rows = [(h, s) for h in range(3) for s in range(2)][::-1]
    pictures = write_folder(tmp_path, rows)
    data = untwine.data.load("folder", path=tmp_path, shape=(3, 32, 32))
    assert data.factor_names == ("hue", "size") and data.factor_sizes == (3, 2)
    assert data.complete and len(data) == 6 and data.observation_shape == (3, 32, 32)
    index = data.index(np.array([[1, 0]]))
    with Image.open(pictures[(1, 0)]) as image:
        expected = filestore.resize_images(np.asarray(image.convert("RGB"))[None], (32, 32))
    np.testing.assert_array_equal(data.images(index), expected)
    np.testing.assert_array_equal(data.factors_of(index), [[1, 0]])
    grey = untwine.data.load("folder", path=tmp_path, shape=(1, 64, 64))
    assert grey.images([0]).shape == (1, 1, 64, 64)


def test_folder_incomplete_grid_names_the_missing(tmp_path):
    write_folder(tmp_path, [(0, 0), (1, 1), (2, 0)])
    data = untwine.data.load("folder", path=tmp_path)
    assert not data.complete and len(data) == 3
    np.testing.assert_array_equal(data.index(np.array([[2, 0], [1, 1]])), [2, 1])
    with pytest.raises(
        DataError, match=r"no image for factor combination\(s\) \(0, 1\), \(2, 1\) of"
    ):
        data.index(np.array([[0, 1], [0, 0], [2, 1]]))
    sampled = data.sample_factors(200, np.random.default_rng(0))
    assert {tuple(r) for r in sampled} == {(0, 0), (1, 1), (2, 0)}  # only existing images


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        (
            "file,hue\nimg0.jpg,1.5\n",
            r"factors\.csv: line 2, column 'hue': '1\.5' is not an integer",
        ),
        ("file,hue\nimg0.jpg,-1\n", r"line 2, column 'hue': -1; expected an index >= 0"),
        ("file,hue\nnothere.png,0\n", r"line 2 names .*nothere\.png, which does not exist"),
        ("name,hue\nimg0.jpg,0\n", r"header \['name', 'hue'\]; expected a column 'file'"),
        ("file,hue\nimg0.jpg,0\nimg1.png,0\n", r"line 3 repeats the factor combination \(0,\)"),
        ("file,hue\nimg0.jpg\n", r"line 2 has 1 fields; expected 2"),
    ],
)
def test_folder_errors(tmp_path, csv, message):
    write_folder(tmp_path, [(0, 0), (1, 0)])
    (tmp_path / "factors.csv").write_text(csv)
    with pytest.raises(DataError, match=message):
        untwine.data.load("folder", path=tmp_path)


def test_folder_unreadable_image(tmp_path):
    write_folder(tmp_path, [(0, 0)])
    (tmp_path / "img0.jpg").write_text("not a picture")
    with pytest.raises(DataError, match=r"img0\.jpg: not a readable image"):
        untwine.data.load("folder", path=tmp_path)
