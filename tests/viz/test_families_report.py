"""The AAE and IBP-VAE runs go through evaluation, traversals and the report like the others."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import untwine
from untwine.metrics import evaluate_run
from untwine.viz.latents import summarize_latents
from untwine.viz.report import write_run_report
from untwine.viz.traversals import compute_traversal

COMMON = dict(
    batch_size=16, lr=1e-3, steps=12, log_every=4, z_dim=5, seed=0, progress=False, threads=1
)


@pytest.mark.parametrize(
    "settings",
    [dict(method="aae", disc_hidden=32), dict(method="ibpvae", alpha=2.0)],
    ids=["aae", "ibpvae"],
)
def test_report_evaluation_and_traversals(tmp_path, settings):
    run = untwine.train("test-squares", out=tmp_path / "r", **COMMON, **settings)
    evaluate_run(run.path, ["mig"], seed=0, num_points=256)
    summary = summarize_latents(run, num_points=256)
    images = run.dataset().images(summary.indices)
    assert np.array_equal(summary.codes, run.representation(images))
    traversal = compute_traversal(run, summary, num_values=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every section draws
        page = write_run_report(run.path, num_points=256).read_text()
    if settings["method"] == "ibpvae":
        usage = run.usage(images)
        assert usage.shape == (5,) and ((usage >= 0) & (usage <= 1)).all()
        active = [d for d in np.argsort(-usage, kind="stable") if usage[d] >= 0.01]
        if active:  # the rows are the active features, most used first
            assert list(traversal.dims) == active
        assert "Feature usage" in page and f"{len(active)} of 5 features active" in page
    else:
        assert run.usage(images) is None
        assert list(traversal.dims) == list(summary.order) and len(traversal.dims) == 5
        assert "Feature usage" not in page
