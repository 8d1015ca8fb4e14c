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


def test_demo_seeds_study_runs_the_demo_settings_over_five_seeds():
    """studies/demo_seeds.yaml re-measures the demo: the same training settings and metrics,
    seeds 0-4 (only the seed and the checkpoint/log cadence may differ)."""
    from pathlib import Path

    from untwine.study.spec import expand, load_spec

    path = Path(__file__).resolve().parents[1] / "studies" / "demo_seeds.yaml"
    spec = load_spec(path)
    cells = expand(spec, str(path))
    assert sorted(c.config.seed for c in cells) == [0, 1, 2, 3, 4]
    assert tuple(spec.metrics) == demo.DEMO_METRICS
    for cell in cells:
        for key, value in demo.DEMO_SETTINGS.items():
            if key != "seed":
                assert cell.settings[key] == value, key
