"""Plots: every picture is a readable PNG, and the numbers they draw are the right ones."""

from __future__ import annotations

import statistics

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

import untwine
from untwine.viz import plots
from untwine.viz.latents import summarize_latents


def _is_png(path) -> tuple[int, int]:
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


def test_run_pictures_are_pngs(trained_run_dir, tmp_path):
    run = untwine.load_run(trained_run_dir)
    assert _is_png(plots.plot_reconstructions(run, tmp_path / "r.png", n=5))
    assert _is_png(plots.plot_samples(run, tmp_path / "s.png", n=10, columns=4))
    assert _is_png(plots.plot_kl_over_training(run.log(), tmp_path / "kl.png"))
    assert _is_png(plots.plot_losses(run.log(), tmp_path / "loss.png"))
    summary = summarize_latents(run, num_points=128)
    assert summary.mutual_info.shape == (4, 3) and summary.factor_names == ("x", "y", "side")
    assert _is_png(plots.plot_mutual_info(summary, tmp_path / "mi.png"))
    # No temporary files are left behind by the atomic writes.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["r.png", "s.png", "kl.png", "loss.png", "mi.png"]
    )


def test_heat_map_title_states_the_mig_and_its_source(trained_run_dir, tmp_path, monkeypatch):
    run = untwine.load_run(trained_run_dir)
    summary = summarize_latents(run, num_points=64, metrics={})
    titles = []
    real_save = plots.save_figure

    def save(fig, path):
        titles.append(fig.axes[0].get_title())
        return real_save(fig, path)

    monkeypatch.setattr(plots, "save_figure", save)
    plots.plot_mutual_info(summary, tmp_path / "mi.png")
    assert titles == [plots.mutual_info_title(summary)]
    assert f"MIG {summary.mig:.4f} on a sample of 64 images" in titles[0]


def test_histories_read_what_the_log_holds():
    records = [
        {"step": 10, "loss": 5.0, "kl": 1.0, "kl_dims": [0.5, 0.5], "images_per_s": 9.0},
        {"step": 20, "loss": 4.0, "kl_dims": [0.7, 0.3], "tc": 0.2},
        {"step": 30, "loss": 3.0, "kl_dims": [0.1]},  # a malformed record is left out
    ]
    steps, kl = plots.kl_history(records)
    assert steps.tolist() == [30] and kl.tolist() == [[0.1]]
    steps, kl = plots.kl_history(records[:2])
    assert steps.tolist() == [10, 20] and kl.tolist() == [[0.5, 0.5], [0.7, 0.3]]
    steps, terms = plots.loss_history(records)
    assert list(terms) == ["loss", "kl", "tc"]  # bookkeeping fields are not loss terms
    assert terms["loss"].tolist() == [5.0, 4.0, 3.0]
    assert np.isnan(terms["tc"][0]) and terms["tc"][1] == 0.2


def test_empty_logs_still_give_a_picture(tmp_path):
    assert _is_png(plots.plot_kl_over_training([], tmp_path / "kl.png"))
    assert _is_png(plots.plot_losses([], tmp_path / "loss.png"))


POINTS = [
    {"method": "betavae", "beta": 1, "seed": 0, "mig": 0.10},
    {"method": "betavae", "beta": 1, "seed": 1, "mig": 0.20},
    {"method": "betavae", "beta": 1, "seed": 2, "mig": 0.60},
    {"method": "betavae", "beta": 4, "seed": 0, "mig": 0.30},
    {"method": "betatcvae", "beta": 4, "seed": 0, "mig": 0.40},
    {"method": "betatcvae", "beta": 4, "seed": 1, "mig": 0.50},
    {"method": "factorvae", "gamma": 10, "seed": 0, "mig": 0.9},  # no beta: left out
    {"method": "betavae", "beta": 8, "seed": 0, "mig": None},  # not evaluated: left out
]


def test_metric_against_hyperparameter_draws_seed_points_and_median_lines():
    fig, ax = plt.subplots()
    assert plots.draw_metric_vs_hyperparameter(ax, POINTS, "mig", "beta")
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {"betavae", "betatcvae"}
    assert lines["betavae"].get_xdata().tolist() == [1.0, 4.0]
    assert lines["betavae"].get_ydata().tolist() == [statistics.median([0.1, 0.2, 0.6]), 0.3]
    assert lines["betatcvae"].get_ydata().tolist() == [pytest.approx(0.45)]
    points = sum(len(c.get_offsets()) for c in ax.collections)
    assert points == 6  # one per evaluated run that has a beta
    assert not plots.draw_metric_vs_hyperparameter(ax, POINTS, "sap", "beta")
    plt.close(fig)


def test_categorical_hyperparameters_and_files(tmp_path):
    rows = [
        {"method": "betavae", "network": "mlp", "mig": 0.2},
        {"method": "betavae", "network": "conv64", "mig": 0.4},
    ]
    fig, ax = plt.subplots()
    assert plots.draw_metric_vs_hyperparameter(ax, rows, "mig", "network")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv64", "mlp"]
    plt.close(fig)
    assert _is_png(plots.plot_metric_vs_hyperparameter(POINTS, "mig", "beta", tmp_path / "a.png"))
    path = plots.plot_metrics_vs_hyperparameter(POINTS, ["mig", "sap"], "beta", tmp_path / "b.png")
    assert _is_png(path)
    assert plots.plot_metrics_vs_hyperparameter(POINTS, ["sap"], "beta", tmp_path / "c.png") is None


def test_image_grid_tiles_in_rows_and_leaves_the_rest_white():
    from untwine.viz._figure import image_grid

    images = np.zeros((5, 1, 3, 4), np.float32)  # 5 black 3x4 tiles -> 2 rows of 3
    picture = image_grid(images, pad=1)
    assert picture.shape == (2 * 4, 3 * 5, 1)
    black = picture[..., 0] == 0
    assert black.sum() == 5 * 3 * 4  # every tile drawn once, the sixth left white
    assert not black[4:, 10:].any()
