"""`mobco2 demo` runs the whole pipeline on the bundled data and ends in a report."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from mobco2.demo import run_demo
from mobco2_cli.main import app


def test_demo_report_covers_every_stage(tmp_path):
    report = run_demo(tmp_path / "demo", html=tmp_path / "demo.html")
    assert "gpx" in report and "emission" in report
    m = re.search(r"Segmented: (\d+) stays, (\d+) trips, (\d+) legs", report)
    assert m and int(m.group(2)) > 40
    assert "mobco2 report — September 2025" in report
    assert "ademe-impactco2-2026-07" in report and "scope full" in report
    assert re.search(r"^high-speed train\s+[\d.,]+\s+\d+%\s+2\s", report, re.M), report
    assert "plane" not in report
    assert all(len(line) <= 80 for line in report.splitlines()[:-1])  # the last line is a path
    assert report.splitlines()[-1] == str(tmp_path / "demo.html")
    assert (tmp_path / "demo.html").read_text("utf-8").startswith("<!DOCTYPE html>")


def test_demo_command_leaves_no_store_behind(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    res = CliRunner().invoke(app, ["demo"])
    assert res.exit_code == 0, res.output
    assert "saved against driving alone" in res.output
    html = tmp_path / "mobco2-demo-2025-09.html"
    assert res.output.rstrip().endswith(str(html))
    assert list(tmp_path.iterdir()) == [html]  # the report it printed the path of, and no store
