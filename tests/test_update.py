"""``mobco2 update``: cron-safe, idempotent, atomic — with real subprocesses for the kill test."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mobco2.demo import sample_files
from mobco2_cli.main import app
from tests.builders import walk, write_gpx

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """A source folder (the demo files and an October walk) and a config pointing at it."""
    src = tmp_path / "sources"
    src.mkdir()
    for f in sample_files():
        shutil.copy(f, src / f.name)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[user]\ndefault_id = "demo"\n[sources]\npaths = ["{src}"]\n', encoding="utf-8")
    monkeypatch.setenv("MOBCO2_CONFIG", str(cfg))
    return tmp_path, src


def run(store, *args):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["--store", str(store), *args], terminal_width=120)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def test_second_run_adds_nothing_and_leaves_every_file_byte_identical(setup):
    tmp, _ = setup
    store, reports = tmp / "store", tmp / "reports"
    first = run(store, "update", "--report-dir", str(reports))
    assert first.exit_code == 0, first.output
    assert len(first.output.strip().splitlines()) == 1 and "reports: 2 written" in first.output
    before = snapshot(reports)
    assert {"mobco2-2025-09.html", "mobco2-2025-09.json"} <= set(before)
    json.loads(before["mobco2-2025-09.json"][0])
    second = run(store, "update", "--report-dir", str(reports), "--json")
    assert second.exit_code == 0, second.output
    doc = json.loads(second.output)["rows"][0]
    assert doc["changed"] is False and doc["points_added"] == 0 and doc["reports_written"] == []
    assert snapshot(reports) == before  # same bytes and not even rewritten (same mtimes)
    assert "nothing new" in run(store, "update", "--report-dir", str(reports)).output


def test_new_file_writes_only_the_months_whose_report_changed(setup):
    tmp, src = setup
    store, reports = tmp / "store", tmp / "reports"
    write_gpx(src / "october.gpx", walk(120, start=datetime(2025, 10, 15, 7, 0, tzinfo=UTC), step_s=5))
    assert run(store, "update", "--report-dir", str(reports)).exit_code == 0
    before = snapshot(reports)
    write_gpx(src / "march.gpx", walk(120, start=datetime(2026, 3, 15, 7, 0, tzinfo=UTC), step_s=5))
    res = run(store, "update", "--report-dir", str(reports), "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)["rows"][0]
    assert doc["files_imported"] == 1 and doc["points_added"] == 120
    after = snapshot(reports)
    assert {"mobco2-2026-03.html", "mobco2-2026-03.json"} <= set(after)
    # September's report (a complete month, long before March) does not change: not rewritten
    assert after["mobco2-2025-09.html"] == before["mobco2-2025-09.html"]
    assert after["mobco2-2025-09.json"] == before["mobco2-2025-09.json"]
    assert "mobco2-2025-09.html" not in doc["reports_written"]


def test_reports_are_those_of_mobco2_report(setup):
    tmp, _ = setup
    store, reports = tmp / "store", tmp / "reports"
    assert run(store, "update", "--report-dir", str(reports)).exit_code == 0
    res = run(store, "report", "--month", "2025-09", "--format", "json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output) == json.loads((reports / "mobco2-2025-09.json").read_text())


def test_no_sources_is_a_usage_error_and_a_missing_source_is_66(tmp_path, monkeypatch):
    cfg = tmp_path / "config.toml"
    cfg.write_text("", encoding="utf-8")
    monkeypatch.setenv("MOBCO2_CONFIG", str(cfg))
    res = run(tmp_path / "store", "update")
    assert res.exit_code == 2 and "sources" in res.output
    cfg.write_text(f'[sources]\npaths = ["{tmp_path / "nowhere"}"]\n', encoding="utf-8")
    res = run(tmp_path / "store", "update")
    assert res.exit_code == 66, res.output


def _start(store: Path, reports: Path, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mobco2", "--store", str(store), "update", "--report-dir",
                             str(reports)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


@pytest.mark.parametrize("when", ["importing", "writing reports"])
def test_killed_mid_way_the_next_run_completes_and_leaves_no_half_written_report(setup, when):
    tmp, _ = setup
    store, reports = tmp / "store", tmp / "reports"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = _start(store, reports, env)
    deadline = time.monotonic() + 300
    if when == "importing":
        while not store.exists() and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.01)
        time.sleep(0.2)
    else:  # kill as soon as the first report file (or its temporary) appears
        while time.monotonic() < deadline and p.poll() is None and not (reports.exists() and any(reports.iterdir())):
            time.sleep(0.005)
    p.send_signal(signal.SIGKILL)
    assert p.wait(60) == -signal.SIGKILL  # it was still running: the kill did land mid-way
    for f in reports.glob("mobco2-*.html") if reports.exists() else ():
        assert f.read_text().rstrip().endswith("</html>")  # whatever a kill leaves is whole
    for f in reports.glob("mobco2-*.json") if reports.exists() else ():
        json.loads(f.read_text())
    again = _start(store, reports, env)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err.decode()
    assert len(out.decode().strip().splitlines()) == 1
    names = sorted(x.name for x in reports.iterdir())
    assert names == [".mobco2-update.json", "mobco2-2025-09.html", "mobco2-2025-09.json"]  # no temporary left
    json.loads((reports / "mobco2-2025-09.json").read_text())
    assert (reports / "mobco2-2025-09.html").read_text().rstrip().endswith("</html>")
    before = snapshot(reports)
    third = _start(store, reports, env)
    out, _ = third.communicate(timeout=600)
    assert third.returncode == 0 and b"nothing new" in out
    assert snapshot(reports) == before
