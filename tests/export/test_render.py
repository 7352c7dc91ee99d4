"""Text, Markdown and the `mobco2 report` command: 80 columns, plain off a terminal, atomic files."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from mobco2.export import report
from mobco2.export.render import render
from mobco2_cli.main import app

ANSI = re.compile(r"\x1b\[")


@pytest.fixture(scope="module")
def september(demo_store):
    return report(demo_store, month="2025-09")


@pytest.mark.parametrize("month", ["2025-09", "2025-10"])
def test_text_fits_80_columns_on_every_line(demo_store, month):
    text = render(report(demo_store, month=month), "text", width=80)
    lines = text.splitlines()
    assert len(lines) > 3
    too_long = [line for line in lines if len(line) > 80]
    assert not too_long, too_long
    assert not ANSI.search(text)


def test_year_text_fits_too(demo_store):
    text = render(report(demo_store, year=2025), "text", width=80)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "kgCO2e per month" in text


def test_text_says_what_matters(september):
    text = render(september, "text")
    t = september.totals
    assert f"{t.co2e_kg:,.1f} kgCO2e" in text and f"{t.trips} trips" in text
    assert "saved against driving alone" in text
    assert f"{september.unknown.co2e_low_kg:,.1f} and {september.unknown.co2e_high_kg:,.1f} kg" in text
    for leg in september.low_confidence.listed[:5]:
        assert leg.command in text
    assert "ademe-impactco2-2026-07" in text and "high-speed train" in text


def test_colour_only_when_asked(september):
    assert ANSI.search(render(september, "text", color=True))


def test_markdown_has_its_tables(september):
    md = render(september, "md")
    assert md.startswith("# mobco2 report — September 2025")
    assert md.count("|---|") >= 5
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert all(line.count("|") == rows[0].count("|") for line in rows[:len(september.modes) + 2])


def test_report_command_writes_atomically_and_matches_the_library(demo_store, september, tmp_path):
    out = tmp_path / "deep" / "r.json"
    res = CliRunner().invoke(app, ["--store", str(demo_store.root), "-q", "report", "--month", "2025-09",
                                   "--format", "json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads(out.read_text("utf-8")) == september.to_dict()
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]  # no temporary file left behind
    res = CliRunner().invoke(app, ["--store", str(demo_store.root), "report", "--month", "2025-09"])
    assert res.exit_code == 0 and res.output == render(september, "text", width=80)


def test_charts_folder_gets_png_and_svg(demo_store, tmp_path):
    res = CliRunner().invoke(app, ["--store", str(demo_store.root), "-q", "report", "--month", "2025-09",
                                   "--charts", str(tmp_path / "c"), "--format", "md", "--out", str(tmp_path / "r.md")])
    assert res.exit_code == 0, res.output
    files = sorted(p.name for p in (tmp_path / "c").iterdir())
    expected = [f"mobco2-2025-09-{n}.{e}" for n in ("modes", "days", "trend") for e in ("png", "svg")]
    assert files == sorted([*expected, "mobco2-2025-09-map.svg"])
    for name in files:
        data = (tmp_path / "c" / name).read_bytes()
        assert data.startswith(b"\x89PNG") if name.endswith(".png") else b"<svg" in data[:2000]
    first = {n: (tmp_path / "c" / n).read_bytes() for n in files}
    CliRunner().invoke(app, ["--store", str(demo_store.root), "-q", "report", "--month", "2025-09", "--charts",
                             str(tmp_path / "c"), "--format", "json", "--out", str(tmp_path / "r.json")])
    assert {n: (tmp_path / "c" / n).read_bytes() for n in files} == first  # byte-identical charts


@pytest.mark.parametrize(("args", "code"), [
    (["--month", "2025-13"], 2), (["--month", "2025-09", "--year", "2025"], 2), ([], 2),
    (["--month", "2025-09", "--format", "pdf"], 2),
])
def test_bad_arguments_are_one_line_usage_errors(demo_store, args, code):
    res = CliRunner().invoke(app, ["--store", str(demo_store.root), "report", *args])
    assert res.exit_code == code
    assert res.output.strip().startswith("Error:") and len(res.output.strip().splitlines()) == 1


def test_unwritable_out_is_exit_73(demo_store, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = CliRunner().invoke(app, ["--store", str(demo_store.root), "report", "--month", "2025-09",
                                   "--out", str(blocker / "r.txt")])
    assert res.exit_code == 73 and "cannot write" in res.output


def test_every_format_is_byte_identical_across_processes(demo_store, tmp_path):
    # separate interpreters with different hash seeds: nothing may depend on set order or ids
    import os
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "2"):
        files = {}
        for fmt in ("md", "json", "html"):
            out = tmp_path / f"{seed}.{fmt}"
            env = {**os.environ, "PYTHONHASHSEED": seed}
            subprocess.run([sys.executable, "-m", "mobco2", "--store", str(demo_store.root), "-q", "report",
                            "--month", "2025-09", "--format", fmt, "--out", str(out)], check=True, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True)
            files[fmt] = out.read_bytes()
        outputs.append(files)
    assert outputs[0] == outputs[1]
    assert b"<svg" in outputs[0]["html"] and len(outputs[0]["html"]) > 50_000


def test_year_report_in_every_format(demo_store):
    r = report(demo_store, year=2025)
    assert [b.key for b in r.bars] == [f"2025-{m:02d}" for m in range(1, 13)]
    assert r.year_before is None and r.previous is None  # nothing in 2024
    html = render(r, "html")
    assert "<title>mobco2 report — 2025</title>" in html and "Month by month" in html
    assert "## Month by month" in render(r, "md")
