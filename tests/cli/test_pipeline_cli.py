"""The command line end to end on the demo data: import → segment → footprint → trips → export."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from mobco2.demo import sample_files
from mobco2_cli.main import app


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "store"
    runner = CliRunner()
    res = runner.invoke(app, ["--store", str(root), "import", *map(str, sample_files()), "--user", "demo"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["--store", str(root), "segment"])
    assert res.exit_code == 0, res.output
    return root


def run(store_path, *args):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["--store", str(store_path), *args], terminal_width=120)


def test_import_again_says_nothing_was_added(store_path):
    res = run(store_path, "import", *map(str, sample_files()), "--user", "demo")
    assert res.exit_code == 0
    assert "3 already-imported" in res.output and "0 added" in res.output


def test_export_trips_jsonl(store_path):
    res = run(store_path, "export", "trips", "--format", "jsonl")
    assert res.exit_code == 0, res.output
    trips = [json.loads(line) for line in res.output.splitlines() if line.strip()]
    assert len(trips) > 30
    for t in trips:
        assert {"trip_id", "started_at", "finished_at", "distance_m", "main_mode", "co2e_kg"} <= set(t)
        assert t["started_at"][-6:] in {"+02:00", "+01:00"}  # Europe/Paris, with its offset
        assert t["started_at"] < t["finished_at"]
    assert len({t["trip_id"] for t in trips}) == len(trips)


def test_footprint_json_echoes_method(store_path):
    res = run(store_path, "footprint", "--by", "month", "--json")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["schema_version"] == 1 and doc["scope"] == "full"
    assert doc["factor_set_id"] == "ademe-impactco2-2026-07"
    assert [r["month"] for r in doc["rows"]] == ["2025-09"]
    assert doc["rows"][0]["co2e_kg"] > 0


def test_label_changes_the_footprint_at_once(store_path):
    before = json.loads(run(store_path, "footprint", "--by", "mode", "--json").output)
    trips = json.loads(run(store_path, "trips", "list", "--mode", "bike", "--json").output)["rows"]
    target = trips[0]["trip_id"]
    res = run(store_path, "trips", "label", target, "--mode", "car", "--occupancy", "2")
    assert res.exit_code == 0, res.output
    shown = json.loads(run(store_path, "trips", "show", target, "--json").output)["rows"][0]
    assert {leg["mode"] for leg in shown["legs"]} == {"car"}
    assert all(leg["mode_source"] == "label" for leg in shown["legs"])
    after = json.loads(run(store_path, "footprint", "--by", "mode", "--json").output)
    assert after["totals"]["co2e_kg"] > before["totals"]["co2e_kg"]


def test_unknown_trip_is_exit_66(store_path):
    res = run(store_path, "trips", "show", "t_does_not_exist")
    assert res.exit_code == 66
    assert res.output.startswith("Error: no trip")


def test_sql_csv(store_path):
    res = run(store_path, "sql", "select count(*) as n from trips", "--csv")
    assert res.exit_code == 0
    header, value = res.output.strip().splitlines()
    assert header == "n" and int(value) > 30


def test_bad_sql_is_usage_error(store_path):
    res = run(store_path, "sql", "drop table labels")
    assert res.exit_code == 2 and "read-only" in res.output


def test_closed_pipe_is_not_an_error(store_path):
    import os
    import subprocess
    import sys

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": repo}
    p = subprocess.Popen([sys.executable, "-m", "mobco2", "--store", str(store_path), "export", "points",
                          "--format", "jsonl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert p.stdout.readline().startswith(b"{")
    p.stdout.close()  # like `| head -1`
    assert p.wait(60) == 0
    assert b"Error" not in p.stderr.read()
