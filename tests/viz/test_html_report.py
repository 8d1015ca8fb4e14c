"""HTML reports: self-contained, escaped, and honest about runs that crashed or were never
evaluated."""

from __future__ import annotations

import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from untwine.cli import app
from untwine.metrics import evaluate_run
from untwine.viz.report import write_folder_report, write_report, write_run_report
from untwine.viz.runs import find_run_dirs, headline_scores, read_run


class Page(HTMLParser):
    """The parts of a page the tests look at: img sources, table rows as cell texts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[str] = []
        self.rows: list[list[str]] = []
        self.scripts: list[dict] = []
        self.links: list[dict] = []
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "script":
            self.scripts.append(attrs)
        elif tag in ("link", "a"):
            self.links.append(attrs)

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def assert_self_contained(text: str) -> Page:
    """No http(s) reference anywhere; every image a data URI; no external script or style."""
    assert re.search(r"https?://", text, re.IGNORECASE) is None
    assert "//" not in re.sub(r"data:[^\"]*", "", text).replace("://", "")  # no //cdn refs
    page = Page(text)
    assert page.images and all(src.startswith("data:image/") for src in page.images)
    assert all("src" not in s for s in page.scripts)
    assert all(not link.get("href", "").startswith("http") for link in page.links)
    return page


@pytest.fixture
def evaluated_run(run_copy) -> Path:
    evaluate_run(run_copy, ["mig"], seed=0, num_train=256)
    return run_copy


def test_run_report_is_one_self_contained_file(evaluated_run):
    path = write_run_report(evaluated_run, num_points=128)
    assert path == evaluated_run / "report.html"
    text = path.read_text()
    page = assert_self_contained(text)
    # traversal PNG + GIF, MI heat map, reconstructions, samples, KL and losses curves
    assert len(page.images) == 7
    assert sum(src.startswith("data:image/gif;base64,") for src in page.images) == 1
    mig = json.loads((evaluated_run / "metrics.json").read_text())["mig"]["mig"]
    assert ["mig", "mig", f"{mig:.4f}", "0"] == page.rows[1][:4]
    assert "not evaluated" not in text
    for name in ("traversals.png", "traversals.gif", "mutual_info.png", "losses.png"):
        assert (evaluated_run / name).is_file()


MIG_VALUE = re.compile(r"\bMIG (\d+\.\d+)(.{0,40})")


def test_one_mig_per_page(evaluated_run):
    """The metrics table and the pictures agree: every MIG the page states is metrics.json's.
    Without a metrics.json the pictures' own MIG is labelled as that of a sample."""
    mig = json.loads((evaluated_run / "metrics.json").read_text())["mig"]["mig"]
    text = html.unescape(write_run_report(evaluated_run, num_points=64).read_text())
    page = Page(text)
    stated = MIG_VALUE.findall(text)
    assert len(stated) >= 3  # heat map alt text (its title), its caption, the traversals'
    assert {value for value, _ in stated} == {f"{mig:.4f}"}
    assert all(where.startswith(" from metrics.json") for _, where in stated)
    assert page.rows[1][:3] == ["mig", "mig", f"{mig:.4f}"]

    (evaluated_run / "metrics.json").unlink()
    text = html.unescape(write_run_report(evaluated_run, num_points=64).read_text())
    stated = MIG_VALUE.findall(text)
    assert stated and all(where.startswith(" on a sample of 64 images") for _, where in stated)
    assert "not evaluated" in text


def test_unevaluated_run_says_so(run_copy):
    text = write_run_report(run_copy, num_points=64).read_text()
    assert "not evaluated" in text
    assert_self_contained(text)


EXPECTED = {  # run -> (state, marks that must show)
    "done": ("done", []),
    "unevaluated": ("done", ["not evaluated"]),
    "crashed": ("failed", ["no checkpoint", "not evaluated"]),
    "interrupted": ("interrupted", ["not evaluated"]),
    "died": ("failed", ["no checkpoint"]),
    "pending": ("pending", ["no config", "no checkpoint", "not evaluated"]),
}


def test_folder_report_lists_every_run_with_its_state(folder_of_runs, tmp_path):
    runs = folder_of_runs
    assert find_run_dirs(tmp_path / "runs") == sorted(runs.values())
    path = write_folder_report(tmp_path / "runs")
    text = path.read_text()
    page = assert_self_contained(text)
    header, *rows = page.rows
    assert header[:3] == ["run", "state", "method"] and "beta" in header and "mig" in header
    by_name = {row[0]: row for row in rows}
    assert len(rows) == len(runs)
    col = {name: i for i, name in enumerate(header)}
    for key, folder in runs.items():
        row = by_name[str(folder.relative_to(tmp_path / "runs"))]
        state, marks = EXPECTED[key]
        assert row[col["state"]] == state, key
        for mark in marks:
            assert mark in row[col["notes"]], (key, mark)
        evaluated = key == "done"
        assert (row[col["mig"]] != "") == evaluated, key
        assert ("not evaluated" in row[col["notes"]]) == (not evaluated), key
    assert "<script>alert" not in text and "<b>&" not in text
    assert 'non-finite loss at step 20: <b>&"nan"' in html.unescape(text)  # shown, escaped
    assert "6 runs: 2 done, 2 failed, 1 interrupted, 1 pending; 5 not evaluated." in text
    assert (tmp_path / "runs" / "report-figures" / "metrics_vs_beta.png").is_file()


def test_crashed_run_report_renders_from_its_log(folder_of_runs):
    runs = folder_of_runs
    text = write_report(runs["crashed"]).read_text()
    page = assert_self_contained(text)
    assert len(page.images) == 2  # KL and loss curves from the two good log lines
    assert "No checkpoint" in text and "not evaluated" in text
    assert "note: <script>alert('x')</script>" in html.unescape(text)  # config, escaped
    assert "<script>alert" not in text


def test_each_writes_every_run_page_and_links_them(trained_run_dir, tmp_path):
    folder = tmp_path / "runs"
    done = folder / "a"
    shutil.copytree(trained_run_dir, done)
    shutil.copytree(trained_run_dir, folder / "b")
    (folder / "b" / "metrics.json").write_text("{not json")
    page = Page(write_folder_report(folder, each=True, num_points=64).read_text())
    hrefs = sorted(link["href"] for link in page.links if "href" in link)
    assert hrefs == ["a/report.html", "b/report.html"]
    assert "unreadable metrics.json" in page.rows[2][-1]


def test_headline_scores_follow_the_results_table_convention():
    metrics = {
        "mig": {"mig": 0.3, "mig_per_factor": [0.1], "seed": 0, "seconds": 1.0},
        "dci": {"disentanglement": 0.5, "completeness": None, "seed": 0, "settings": {}},
    }
    assert headline_scores(metrics) == {
        "mig": 0.3,
        "dci.disentanglement": 0.5,
        "dci.completeness": None,
    }


def test_cli_traverse_and_report(trained_run_dir, tmp_path):
    run_dir = tmp_path / "runs" / "r"
    shutil.copytree(trained_run_dir, run_dir)
    runner = CliRunner()
    out = tmp_path / "pictures"
    result = runner.invoke(
        app, ["traverse", str(run_dir), "--out", str(out), "--values", "5", "--points", "64"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "traversals.png").is_file() and (out / "traversals.gif").is_file()
    result = runner.invoke(app, ["report", str(run_dir), "--points", "64"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == str(run_dir / "report.html")
    result = runner.invoke(app, ["report", str(tmp_path / "runs")])
    assert result.exit_code == 0 and (tmp_path / "runs" / "report.html").is_file()
    assert read_run(run_dir).state == "done"
