"""``untwine datasets`` and ``--dataset-path``."""

from __future__ import annotations

from cli_helpers import untwine

from untwine.config import TrainConfig


def test_datasets_lists_factors_and_sources(tmp_path, plugin_env):
    done = untwine("datasets", env=plugin_env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = {line.split()[0]: line for line in done.stdout.splitlines()}
    builtin = ["cars3d", "color-dsprites", "dsprites", "folder", "mpi3d", "noisy-dsprites"]
    assert set(builtin + ["shapes3d", "smallnorb", "test-squares"]) <= set(lines)
    assert (
        "floor_hue 10, wall_hue 10, object_hue 10, scale 8, shape 4, orientation 15"
        in (lines["shapes3d"])
    )
    assert "horizontal_axis 40, vertical_axis 40; path= mpi3d_" in lines["mpi3d"]
    assert "category 5, elevation 9, azimuth 18, lighting 6;" in lines["smallnorb"]
    assert "elevation 4, azimuth 24, object 183;" in lines["cars3d"]


def test_dataset_path_is_the_loaders_path_option():
    cfg = TrainConfig.from_flat(
        method="betatcvae", steps=1, out="o", dataset="shapes3d", dataset_path="~/d/3dshapes.h5"
    )
    assert cfg.dataset.name == "shapes3d" and cfg.dataset.options == {"path": "~/d/3dshapes.h5"}
    both = TrainConfig.from_flat(
        method="betatcvae", steps=1, out="o", dataset="mpi3d",
        dataset_options={"variant": "real"}, dataset_path="m.npz",
    )  # fmt: skip
    assert both.dataset.options == {"variant": "real", "path": "m.npz"}


def test_missing_file_is_one_line(tmp_path, plugin_env):
    done = untwine(
        "train", "--dataset", "shapes3d", "--dataset-path", str(tmp_path / "3dshapes.h5"),
        "--method", "betatcvae", "--steps", "1", "--out", str(tmp_path / "run"),
        env=plugin_env, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert "3dshapes.h5: no such file" in line and "github.com/deepmind/3d-shapes" in line
    assert not (tmp_path / "run").exists()
