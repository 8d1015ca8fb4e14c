"""Traversals: rows by KL, a dimension the decoder ignores draws a constant row, GIF layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import untwine
from untwine.errors import ConfigError
from untwine.viz import latents, traversals
from untwine.viz.latents import LatentSummary, summarize_latents
from untwine.viz.traversals import (
    GIF_HEADER,
    GIF_LABEL_WIDTH,
    PAD,
    SEED_GAP,
    compute_traversal,
    draw_traversals,
    gif_frame_order,
)


def test_rows_are_ordered_by_average_kl_largest_first(trained_run_dir):
    run = untwine.load_run(trained_run_dir)
    summary = summarize_latents(run, num_points=64, seed=1)
    trav = compute_traversal(run, summary, num_seeds=2, num_values=5)
    assert sorted(trav.dims.tolist()) == list(range(4))
    assert np.all(np.diff(trav.kl) <= 0)
    assert trav.kl[0] > trav.kl[-1]  # a trained run: the dimensions do differ
    # The KL is that of the summary's own posteriors, recomputed independently here.
    data = untwine.data.load("test-squares")
    mu, logvar = run.encode(data.images(summary.indices))
    kl = (0.5 * (mu.astype(float) ** 2 + np.exp(logvar) - 1 - logvar)).mean(0)
    np.testing.assert_allclose(trav.kl, kl[trav.dims], rtol=1e-5)


def test_order_follows_a_given_kl():
    kl = np.array([0.1, 3.0, 0.0, 1.5, 3.0])
    assert latents.kl_order(kl).tolist() == [1, 4, 3, 0, 2]  # ties keep index order


def test_a_dimension_the_decoder_ignores_gives_identical_images(run_copy):
    run = untwine.load_run(run_copy)
    ignored = 2
    first = next(m for m in run.model.decoder.modules() if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        first.weight[:, ignored] = 0.0  # z_2 no longer reaches the decoder
    trav = compute_traversal(run, mode="interval", limit=3.0, num_values=7, num_seeds=2)
    row = int(np.where(trav.dims == ignored)[0][0])
    images = trav.images[:, row]  # (seeds, values, C, H, W)
    np.testing.assert_allclose(images, images[:, :1].repeat(7, axis=1), atol=1e-6)
    others = [r for r in range(len(trav.dims)) if r != row]
    spread = [np.abs(trav.images[:, r] - trav.images[:, r, :1]).max() for r in others]
    assert max(spread) > 1e-3  # the other rows do move


def test_interval_and_quantile_ranges(trained_run_dir):
    run = untwine.load_run(trained_run_dir)
    summary = summarize_latents(run, num_points=128)
    trav = compute_traversal(run, summary, mode="interval", limit=1.5, num_values=4, prior=True)
    assert trav.seeds == ["prior mean"]
    np.testing.assert_allclose(trav.values, np.tile([-1.5, -0.5, 0.5, 1.5], (4, 1)), rtol=1e-6)
    trav = compute_traversal(run, summary, mode="quantile", quantiles=(0.1, 0.9), num_values=3)
    lo, hi = np.quantile(summary.mu, [0.1, 0.9], axis=0)
    np.testing.assert_allclose(trav.values[:, 0], lo[trav.dims], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trav.values[:, -1], hi[trav.dims], rtol=1e-5, atol=1e-6)
    assert trav.column_labels == ["10%", "", "90%"]


def test_seed_images_are_the_base_codes(trained_run_dir):
    run = untwine.load_run(trained_run_dir)
    data = untwine.data.load("test-squares")
    trav = compute_traversal(run, seed_indices=[3, 77], mode="interval", num_values=3)
    assert trav.seeds == ["image 3", "image 77"]
    codes = run.encode(data.images([3, 77]))[0]
    # With every other dimension at the seed's mean, the centre of an odd interval row that
    # passes through the mean decodes like the seed's code set to that value.
    z = codes.copy()
    z[:, trav.dims[0]] = 0.0
    np.testing.assert_allclose(trav.images[:, 0, 1], run.decode(z), atol=1e-5)


def test_gif_has_the_expected_frames_and_size(trained_run_dir, tmp_path):
    run = untwine.load_run(trained_run_dir)
    png, gif, trav = draw_traversals(run, tmp_path, num_seeds=2, num_values=6)
    seeds, rows, values = trav.shape
    assert (seeds, rows, values) == (2, 4, 6)
    with Image.open(gif) as im:
        assert im.n_frames == 2 * values - 2 == len(gif_frame_order(values))
        width = GIF_LABEL_WIDTH + seeds * (64 + PAD) + (seeds - 1) * SEED_GAP
        assert im.size == (width, GIF_HEADER + rows * (64 + PAD))
        assert im.info.get("loop") == 0
    assert gif_frame_order(4) == [0, 1, 2, 3, 2, 1]
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size[0] > 2 * 6 * 64


def test_frames_show_one_traversal_value_each(trained_run_dir):
    run = untwine.load_run(trained_run_dir)
    trav = compute_traversal(run, num_seeds=1, num_values=4, mode="interval")
    frames = traversals.gif_frames(trav)
    for frame, column in zip(frames, gif_frame_order(4), strict=True):
        tile = np.asarray(frame)[GIF_HEADER : GIF_HEADER + 64, GIF_LABEL_WIDTH:][:, :64]
        expected = (np.clip(trav.images[0, 0, column, 0], 0, 1) * 255 + 0.5).astype(np.uint8)
        assert np.abs(tile.astype(int) - expected).max() <= 1


def test_row_labels_name_kl_factor_and_gap():
    mi = np.array([[0.9, 0.0], [0.3, 0.1], [0.01, 0.02]])  # nats; rows are dimensions
    summary = LatentSummary(
        mu=np.zeros((0, 3)),
        logvar=np.zeros((0, 3)),
        kl=np.array([2.0, 1.0, 0.0]),
        factor_names=("posX", "scale"),
        mutual_info=mi,
        factor_entropy=np.array([1.0, 0.5]),
    )
    best = summary.best_factor(0)
    assert (best.name, best.share, best.gap) == ("posX", 0.9, pytest.approx(0.6))
    second = summary.best_factor(1)  # posX share 0.3 beats scale 0.2, but z0 has more of it
    assert second.name == "posX" and second.gap == pytest.approx(-0.6)
    assert summary.best_factor(2) is None  # below MIN_SHARE of every factor


def test_bad_options_are_one_clear_error(trained_run_dir):
    run = untwine.load_run(trained_run_dir)
    with pytest.raises(ConfigError, match="mode"):
        compute_traversal(run, mode="linear")
    with pytest.raises(ConfigError, match="quantiles"):
        compute_traversal(run, quantiles=(0.9, 0.1))


def test_recorded_numbers_replace_the_samples_own(trained_run_dir):
    """Given a metrics.json, the summary shows its MI, MIG and KL per dimension (so a page
    states one value per metric); results of another shape are ignored, and the sample's own
    values are labelled as such."""
    run = untwine.load_run(trained_run_dir)
    own = summarize_latents(run, num_points=64, metrics={})
    assert own.mi_source == own.kl_source == "on a sample of 64 images, seed 0"
    assert own.mig_headline == f"MIG {own.mig:.4f} on a sample of 64 images, seed 0"

    mi = np.array([[0.5, 0.0, 0.1], [0.1, 0.6, 0.0], [0.0, 0.0, 0.2], [0.0, 0.1, 0.0]])
    recorded = {
        "mig": {
            "mig": 0.123456,
            "mig_per_factor": [0.2, 0.25, None],  # null: an undefined gap
            "mutual_info": mi.tolist(),
            "factor_entropy": [1.0, 1.2, 0.5],
        },
        "elbo": {"kl_per_dim": [0.1, 0.4, 3.0, 0.2]},
    }
    summary = summarize_latents(run, num_points=64, metrics=recorded)
    assert summary.mi_source == summary.kl_source == latents.FROM_METRICS
    assert summary.mig == 0.123456 and summary.mig_headline == "MIG 0.1235 from metrics.json"
    np.testing.assert_array_equal(summary.shares, mi / np.array([1.0, 1.2, 0.5]))
    assert np.isnan(summary.mig_per_factor[2])
    assert summary.order.tolist() == [2, 1, 3, 0]  # rows follow the recorded KL
    np.testing.assert_array_equal(summary.mu, own.mu)  # quantiles still come from the sample
    trav = compute_traversal(run, summary, num_seeds=1, num_values=3)
    assert trav.dims.tolist() == [2, 1, 3, 0] and trav.kl.tolist() == [3.0, 0.4, 0.2, 0.1]
    assert trav.matches[1].name == "y" and trav.matches[1].share == pytest.approx(0.5)

    misfit = {"mig": {**recorded["mig"], "mutual_info": mi[:3].tolist()}, "elbo": {}}
    fallback = summarize_latents(run, num_points=64, metrics=misfit)
    assert fallback.mig == own.mig and fallback.mi_source == own.mi_source
    np.testing.assert_array_equal(fallback.kl, own.kl)
