"""`mobco2 footprint` and `mobco2 factors` end to end, on a real store."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from mobco2_cli.main import app
from tests.emissions.conftest import leg, write_trips_and_legs


@pytest.fixture
def store_path(store):
    write_trips_and_legs(
        store,
        [
            leg("t1", "t1a", "2025-03-03T07:00", 30, "car", 100.0),
            leg("t2", "t2a", "2025-04-10T07:00", 60, "hsr", 100.0),
            leg("t2", "t2b", "2025-04-10T08:05", 20, "unknown", 4.0, speed_median_mps=1.0),
        ],
    )
    return str(store.root)


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(app, list(args), terminal_width=100, env=env)


def test_footprint_json_echoes_method_and_totals(store_path):
    r = run("--store", store_path, "footprint", "--by", "month", "--json")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["schema_version"] == 1
    assert doc["factor_set_id"] == "ademe-impactco2-2026-07" and doc["scope"] == "full"
    assert [row["month"] for row in doc["rows"]] == ["2025-03", "2025-04"]
    assert doc["rows"][0]["co2e_kg"] == pytest.approx(14.225341222954336)
    assert doc["rows"][1]["unknown_km"] == pytest.approx(4.0)
    assert doc["totals"]["km"] == pytest.approx(204.0)


def test_footprint_scope_and_factors_flags_and_settings(store_path, tmp_path):
    usage = json.loads(run("--store", store_path, "footprint", "--scope", "usage", "--json").stdout)
    assert usage["scope"] == "usage"
    assert usage["rows"][0]["co2e_kg"] == pytest.approx(11.05577600556303)
    coach = run("--store", store_path, "footprint", "--factors", "ademe-basecarbone-coachco2", "--by", "mode", "--csv")
    assert coach.exit_code == 0, coach.output
    rows = {r["mode"]: r for r in csv.DictReader(io.StringIO(coach.stdout))}
    assert float(rows["car"]["co2e_kg"]) == pytest.approx(19.2)
    # The profile and scope come from settings when no flag is given.
    env = {"MOBCO2_PROFILE_CAR_ENERGY": "electric", "MOBCO2_EMISSIONS_SCOPE": "usage"}
    ev = json.loads(run("--store", store_path, "footprint", "--json", env=env).stdout)
    assert ev["profile"]["car_energy"] == "electric" and ev["scope"] == "usage"
    assert ev["rows"][0]["co2e_kg"] == pytest.approx(1.208836005563031)


def test_footprint_table_shows_set_and_scope(store_path):
    r = run("--store", store_path, "footprint", "--by", "year")
    assert r.exit_code == 0, r.output
    assert "2025" in r.stdout and "ademe-impactco2-2026-07 v1" in r.stdout and "scope: full" in r.stdout


def test_footprint_usage_errors(store_path):
    r = run("--store", store_path, "footprint", "--by", "fortnight")
    assert r.exit_code == 2 and "Error: cannot total by 'fortnight'" in r.stderr
    r = run("--store", store_path, "footprint", "--scope", "most")
    assert r.exit_code == 2


def test_factors_list_and_show(tmp_path):
    r = run("factors", "list", "--json")
    assert r.exit_code == 0, r.output
    ids = [row["id"] for row in json.loads(r.stdout)["rows"]]
    assert "ademe-impactco2-2026-07" in ids and "ademe-basecarbone-coachco2" in ids
    r = run("factors", "show", "ademe-impactco2-2026-07", "--scope", "usage", "--json")
    doc = json.loads(r.stdout)
    assert doc["scope"] == "usage" and doc["factor_set_version"] == "1"
    by_mode = {row["mode"]: row for row in doc["rows"]}
    assert by_mode["hsr"]["g_co2e_per_km"] == pytest.approx(2.3)
    assert by_mode["ferry"]["factor_id"] is None
    r = run("factors", "show", "--all", "--csv")
    assert len(list(csv.DictReader(io.StringIO(r.stdout)))) == 60


def test_invalid_factor_file_exits_65_with_one_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "set_id,set_version,source,source_version,unit,factor_id,mode,per,usage,construction,contrails\n"
        "mine,1,x,y,gCO2e/km,car,car,vkm,-1,0,0\n",
        encoding="utf-8",
    )
    r = run("factors", "show", str(bad))
    assert r.exit_code == 65
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert str(bad) in lines[0] and "line 2, column 'usage'" in lines[0] and "negative" in lines[0]
    r = run("factors", "show", "nope")
    assert r.exit_code == 66
