"""What `mobco2 import` prints: a few lines for many files, failures when few, counts per format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from typer.testing import CliRunner

from mobco2_cli.main import app
from tests.builders import walk, write_gpx

T0 = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)


def folder_of(tmp_path, n: int, *, broken: int = 0, other: int = 0):  # type: ignore[no-untyped-def]
    d = tmp_path / "files"
    d.mkdir()
    for i in range(n):
        write_gpx(d / f"t{i:03d}.gpx", walk(2, start=T0 + timedelta(hours=i)))
    for i in range(broken):
        (d / f"broken{i}.gpx").write_text('<?xml version="1.0"?><gpx version="1.1"><trk>')
    for i in range(other):
        (d / f"notes{i}.txt").write_text("shopping list\n")
    return d


def run(tmp_path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["--store", str(tmp_path / "store"), *args], terminal_width=100)


def lines(res) -> list[str]:  # type: ignore[no-untyped-def]
    return [line for line in res.output.splitlines() if line.strip()]


def test_many_files_that_all_succeed_print_one_line_off_a_terminal(tmp_path):
    res = run(tmp_path, "import", str(folder_of(tmp_path, 30)), "--user", "me")
    assert res.exit_code == 0, res.output
    assert len(lines(res)) <= 3
    assert "30 files, 30 imported" in res.output and "60 added" in res.output


def test_a_few_failures_among_many_files_are_each_named_with_counts_per_format(tmp_path):
    res = run(tmp_path, "import", str(folder_of(tmp_path, 20, broken=2, other=1)), "--user", "me")
    assert res.exit_code == 65
    out = lines(res)
    assert sum(line.startswith("Error:") for line in out) == 2
    assert all("broken" in line for line in out if line.startswith("Error:"))
    assert "23 files, 20 imported, 1 skipped, 2 failed" in res.output
    assert "gpx: 2 failed" in res.output and "?: 1 skipped" in res.output
    assert len(out) <= 5


def test_many_failures_are_summed_up_and_listed_with_v(tmp_path):
    d = folder_of(tmp_path, 5, broken=6)
    res = run(tmp_path, "import", str(d), "--user", "me")
    assert res.exit_code == 65
    assert sum(line.startswith("Error:") for line in lines(res)) == 0
    assert "6 files failed, the first:" in res.output and "-v lists each" in res.output
    verbose = CliRunner().invoke(app, ["--store", str(tmp_path / "store2"), "-v", "import", str(d), "--user", "me"])
    assert sum(line.startswith("Error:") for line in lines(verbose)) == 6
    assert sum("points added" in line for line in lines(verbose)) == 5


def test_records_skipped_in_a_file_show_in_the_summary(tmp_path):
    f = tmp_path / "track.csv"
    f.write_text("time,lat,lon\n2025-04-01T09:00:00Z,46.1,-1.1\n,,\n2025-04-01T09:01:00Z,46.2,-1.2\n")
    res = run(tmp_path, "import", str(f), "--user", "me")
    assert res.exit_code == 0, res.output
    imported = [line for line in lines(res) if "points added" in line]
    summary = [line for line in lines(res) if line.startswith("1 file")]
    json_res = run(tmp_path, "import", str(f), "--user", "me", "--force", "--json")
    skipped = json.loads(json_res.stdout)["rows"][0]["skipped"]
    assert skipped >= 1
    assert f"{skipped} records skipped" in imported[0] and f"{skipped} records skipped" in summary[0]
