"""Pictures: the terminal chart, PNG/SVG files, and the HTML report rendered in real Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from gdei_cli.cli import app

from .conftest import SAMPLES

runner = CliRunner()
BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def run(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("width", [60, 80, 120])
def test_terminal_chart_fits_and_marks_the_stop(width):
    res = run("analyze", SAMPLES / "overfits.csv", "--plot", "--width", width, "--quiet")
    assert res.exit_code == 0, res.output
    chart = res.stdout.split("stop: where")[0] if "stop: where" in res.stdout else res.stdout
    lines = chart.splitlines()
    assert any("index (0-100, right)" in line for line in lines)
    assert any("| stop 83" in line for line in lines)
    first = next(i for i, line in enumerate(lines) if line.startswith("overfits.csv: over-fit"))
    body = lines[first:]
    assert all(len(line) <= width for line in body)
    assert all(line.isascii() for line in body)  # not a terminal: plain characters
    assert sum("|" in line for line in body) >= 8  # the stop line runs down the chart


def test_text_chart_uses_box_characters_on_a_colour_terminal():
    from gdei_cli import engine
    from gdei_cli.loader import load
    from gdei_cli.report import plots

    ds = load([SAMPLES / "overfits.csv"])
    (pic,) = plots.pictures(engine.analyze(ds.frame))
    fancy = plots.text_chart(pic, width=80)
    assert any("│" in line for line in fancy) and any("•" in line for line in fancy)
    assert all(len(line) <= 80 for line in fancy)


def test_plot_writes_a_png_and_an_svg_per_run(tmp_path):
    import matplotlib.image as mpimg

    res = run("plot", SAMPLES, "-o", tmp_path / "charts")
    assert res.exit_code == 0, res.output
    files = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert "overfits.csv.png" in files and "tensorboard_run.svg" in files
    assert len(files) == 14
    png = mpimg.imread(tmp_path / "charts" / "overfits.csv.png")
    assert png.shape[0] > 300 and png.std() > 0.05  # a picture, not a blank page
    svg = (tmp_path / "charts" / "overfits.csv.svg").read_text()
    assert "<svg" in svg and "stop at 83" in svg


def test_missing_matplotlib_is_a_clear_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    res = run("plot", SAMPLES / "overfits.csv", "-o", tmp_path)
    assert res.exit_code == 2
    assert "pictures need matplotlib: pip install 'gdei-cli[plot]'" in res.stderr


def test_html_report_is_self_contained(tmp_path):
    out = tmp_path / "report.html"
    res = run("report", SAMPLES, "-o", out)
    assert res.exit_code == 0, res.output
    page = out.read_text()
    assert page.count("<svg") == 7 and page.count("<tr>") == 8
    assert "<script" not in page and " src=" not in page and "@import" not in page
    import re

    fetched = re.findall(r"(?:src|href)\s*=\s*[\"']\s*(?!#)([^\"']+)", page) + re.findall(r"url\((?!#)", page)
    assert fetched == []  # only in-page anchors: nothing to load from a network
    assert run("report", SAMPLES, "-o", tmp_path / "report.txt").exit_code == 2


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("GDEI_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is missing and GDEI_REQUIRE_CHROMIUM is set")
        pytest.skip("chromium is not installed (CI installs it)")
    return found


def test_html_report_renders_in_headless_chromium(tmp_path):
    import matplotlib.image as mpimg

    browser = _chromium()
    out = tmp_path / "report.html"
    assert run("report", SAMPLES, "-o", out).exit_code == 0
    profile = ["--user-data-dir=" + str(tmp_path / "profile")]
    dom = subprocess.run(
        [browser, *BROWSER_FLAGS, *profile, "--dump-dom", out.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert dom.stdout.count("<svg") == 7  # every chart is in the rendered page
    assert dom.stdout.count("<path") > 100  # with its lines drawn
    shot = tmp_path / "shot.png"
    subprocess.run(
        [browser, *BROWSER_FLAGS, *profile, "--window-size=1200,2000", f"--screenshot={shot}", out.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    image = mpimg.imread(shot)
    assert image.shape[:2] == (2000, 1200)
    colourful = (image[..., :3].max(axis=2) - image[..., :3].min(axis=2)) > 0.2
    assert image.std() > 0.05 and colourful.mean() > 0.001  # text, table and coloured charts
