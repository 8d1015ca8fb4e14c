"""The demo's plumbing end to end, on the tiny test-squares dataset instead of dSprites."""

from __future__ import annotations

import json

import pytest
import squares_plugin

from untwine import demo


@pytest.mark.filterwarnings("error::UserWarning")  # a picture that cannot be drawn fails
def test_demo_trains_evaluates_and_writes_the_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo.datasets, "load", lambda name: squares_plugin.load_squares())
    out = tmp_path / "demo"
    result = demo.run_demo(out, metrics=("mig",), steps=6, batch_size=16, z_dim=4)
    printed = capsys.readouterr().out
    assert result.report == out / "report.html" and result.report.is_file()
    mig = json.loads((out / "metrics.json").read_text())["mig"]["mig"]
    assert result.scores == {"mig": mig}
    assert f"mig                      {mig:.3f}" in printed
    assert str(result.report) in printed and "[4/4]" in printed
    for picture in ("traversals.png", "reconstructions.png"):  # issue 2: the demo names both
        assert (out / picture).is_file() and str(out / picture) in printed
    config = (out / "config.yaml").read_text()
    assert "betatcvae" in config and "network: conv64" in config
    # Running it again reuses the finished run and redraws the report.
    again = demo.run_demo(out, metrics=("mig",), steps=6, batch_size=16, z_dim=4)
    assert again.scores == result.scores


def _study(name: str):
    from pathlib import Path

    from untwine.study.spec import expand, load_spec

    path = Path(__file__).resolve().parents[1] / "studies" / name
    spec = load_spec(path)
    return spec, expand(spec, str(path))


def _changes(cell) -> dict:
    """The training settings in which a study's cell differs from the demo's (not the seed)."""
    return {
        key: cell.settings.get(key)
        for key, value in demo.DEMO_SETTINGS.items()
        if key != "seed" and cell.settings.get(key) != value
    }


def test_demo_seeds_study_runs_the_demo_settings_over_five_seeds():
    """studies/demo_seeds.yaml re-measures the demo: the same training settings and metrics,
    seeds 0-4 (only the seed and the checkpoint/log cadence may differ)."""
    spec, cells = _study("demo_seeds.yaml")
    assert sorted(c.config.seed for c in cells) == [0, 1, 2, 3, 4]
    assert tuple(spec.metrics) == demo.DEMO_METRICS
    assert all(_changes(cell) == {} for cell in cells)


def test_the_tuning_study_holds_the_demo_and_one_change_per_row_over_five_seeds():
    """studies/demo_tuning.yaml: the README's tuning table, the chosen row being the demo."""
    spec, cells = _study("demo_tuning.yaml")
    rows: dict[tuple, list[int]] = {}
    for cell in cells:
        rows.setdefault(tuple(sorted(_changes(cell).items())), []).append(cell.config.seed)
    seeds = [0, 1, 2, 3, 4]
    half_batch = (("batch_size", 128), ("kl_warmup_steps", 500), ("lr", 1e-3), ("steps", 2000))
    assert rows == {(): seeds, (("lr", 1e-3),): seeds, (("lr", 2e-3),): seeds, half_batch: seeds}
    assert tuple(spec.metrics) == demo.DEMO_METRICS
