"""The report's figures against the store itself: every number of `mobco2 report --format json`
is recomputed here with `mobco2 sql` over the legs the segmenter stored (issue 10 acceptance)."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from mobco2.errors import UsageError
from mobco2.export import months_with_data, report
from mobco2.export.periods import resolve
from mobco2.export.render import render
from mobco2_cli.main import app

SCHEMA = json.loads(resources.files("mobco2").joinpath("schemas/report.schema.json").read_text("utf-8"))

# Legs of trips that started in September 2025, local time of the trip; written from the DESIGN's
# definitions, not from the report's code.
SEPTEMBER = """
    WITH l AS (
        SELECT l.*, strftime(timezone(t.tz, t.started_at), '%Y-%m') AS local_month
        FROM legs l JOIN trips t ON t.user_id = l.user_id AND t.trip_id = l.trip_id
    ) SELECT {select} FROM l WHERE local_month = '2025-09' {group}
"""


def sql(store, select: str, group: str = "") -> list[dict]:
    res = CliRunner().invoke(app, ["--store", str(store.root), "sql", SEPTEMBER.format(select=select, group=group),
                                   "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)["rows"]


@pytest.fixture(scope="module")
def doc(demo_store):
    res = CliRunner().invoke(app, ["--store", str(demo_store.root), "report", "--month", "2025-09", "--format",
                                   "json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.output)


def test_json_validates_against_the_schema(doc, demo_store):
    jsonschema.validate(doc, SCHEMA)
    jsonschema.validate(report(demo_store, year=2025).to_dict(), SCHEMA)
    jsonschema.validate(report(demo_store, month="2030-01").to_dict(), SCHEMA)  # empty


def test_totals_equal_sql_over_the_stored_legs(doc, demo_store):
    (row,) = sql(demo_store, """sum(co2e_kg) AS kg, sum(distance_m) / 1000 AS km, count(DISTINCT trip_id) AS trips,
        count(*) AS legs, sum(baseline_co2e_kg) AS baseline,
        sum(greatest(baseline_co2e_kg - co2e_kg, 0)) FILTER (WHERE co2e_kg IS NOT NULL) AS saved,
        sum(distance_m) FILTER (WHERE mode IN ('unknown', 'other')) / 1000 AS unknown_km""")
    t = doc["totals"]
    assert row["trips"] > 40 and t["trips"] == row["trips"] and t["legs"] == row["legs"]
    assert t["co2e_kg"] == pytest.approx(row["kg"], abs=1e-5)
    assert t["km"] == pytest.approx(row["km"], abs=1e-5)
    assert doc["savings"]["baseline_co2e_kg"] == pytest.approx(row["baseline"], abs=1e-5)
    assert doc["savings"]["saved_co2e_kg"] == pytest.approx(row["saved"], abs=1e-5)
    assert doc["unknown"]["km"] == pytest.approx(row["unknown_km"] or 0.0, abs=1e-5)
    assert t["co2e_low_kg"] <= t["co2e_kg"] + 1e-9 <= t["co2e_high_kg"] + 1e-9
    assert (t["co2e_high_kg"] > t["co2e_kg"]) == ((row["unknown_km"] or 0) > 0)


def test_per_mode_figures_equal_sql(doc, demo_store):
    rows = sql(demo_store, """mode, sum(distance_m) / 1000 AS km, coalesce(sum(co2e_kg), 0) AS kg,
        count(DISTINCT trip_id) AS trips, count(*) AS legs""", "GROUP BY mode")
    expected = {r["mode"]: r for r in rows}
    got = {m["mode"]: m for m in doc["modes"]}
    assert set(got) == set(expected) and len(got) >= 4
    total_km, total_kg = doc["totals"]["km"], doc["totals"]["co2e_kg"]
    for mode, r in expected.items():
        m = got[mode]
        assert (m["trips"], m["legs"]) == (r["trips"], r["legs"]), mode
        assert m["km"] == pytest.approx(r["km"], abs=1e-5), mode
        assert m["co2e_kg"] == pytest.approx(r["kg"], abs=1e-5), mode
        assert m["km_share"] == pytest.approx(r["km"] / total_km, abs=1e-5)
        assert m["co2e_share"] == pytest.approx(r["kg"] / total_kg, abs=1e-5)


def test_biggest_trips_equal_sql(doc, demo_store):
    rows = sql(demo_store, "trip_id, coalesce(sum(co2e_kg), 0) AS kg, sum(distance_m) / 1000 AS km",
               "GROUP BY trip_id ORDER BY kg DESC, km DESC, trip_id LIMIT 5")
    assert [t["trip_id"] for t in doc["top_trips"]] == [r["trip_id"] for r in rows]
    assert [t["co2e_kg"] for t in doc["top_trips"]] == pytest.approx([r["kg"] for r in rows], abs=1e-5)
    rows = sql(demo_store, "trip_id, sum(distance_m) / 1000 AS km, coalesce(sum(co2e_kg), 0) AS kg",
               "GROUP BY trip_id ORDER BY km DESC, kg DESC, trip_id LIMIT 5")
    assert [t["trip_id"] for t in doc["longest_trips"]] == [r["trip_id"] for r in rows]


def test_low_confidence_legs_and_coverage_equal_sql(doc, demo_store):
    (row,) = sql(demo_store, "count(*) AS n",
                 "AND (mode = 'unknown' OR (mode_source = 'inferred' AND mode_conf < 0.6))")
    low = doc["low_confidence"]
    assert low["legs"] == row["n"] > 0
    assert all(item["command"].startswith(f"mobco2 trips label {item['leg_id']} --mode") for item in low["listed"])
    res = CliRunner().invoke(app, ["--store", str(demo_store.root), "sql",
                                   "SELECT count(DISTINCT timezone('Europe/Paris', ts)::DATE) AS n FROM points "
                                   "WHERE strftime(timezone('Europe/Paris', ts), '%Y-%m') = '2025-09'", "--json"])
    days = json.loads(res.output)["rows"][0]["n"]
    assert doc["coverage"]["days_with_data"] == doc["totals"]["days_with_data"] == days
    assert doc["coverage"]["days"] == doc["coverage"]["days_with_data"] + doc["coverage"]["days_without_data"]


def test_bars_and_trend_add_up_to_the_totals(doc):
    assert len(doc["bars"]) == 30 and len(doc["trend"]) == 12
    assert sum(b["co2e_kg"] for b in doc["bars"]) == pytest.approx(doc["totals"]["co2e_kg"], abs=1e-4)
    assert sum(b["trips"] for b in doc["bars"]) == doc["totals"]["trips"]
    assert doc["trend"][-1]["key"] == "2025-09"
    assert doc["trend"][-1]["co2e_kg"] == pytest.approx(doc["totals"]["co2e_kg"], abs=1e-5)
    for b in doc["bars"]:
        assert sum(b["co2e_by_mode_kg"].values()) == pytest.approx(b["co2e_kg"], abs=1e-5)


def test_comparisons_use_the_other_periods(demo_store):
    oct_ = report(demo_store, month="2025-10")
    assert oct_.empty and oct_.previous is not None and oct_.previous.period == "2025-09"
    assert oct_.previous.change_co2e_kg == pytest.approx(-oct_.previous.co2e_kg)
    assert report(demo_store, month="2026-09").year_before.period == "2025-09"


def test_months_with_data(demo_store):
    q = ("SELECT DISTINCT strftime(timezone(tz, started_at), '%Y-%m') AS m FROM trips UNION "
         "SELECT DISTINCT strftime(timezone(tz, started_at), '%Y-%m') FROM stays ORDER BY 1")
    res = CliRunner().invoke(app, ["--store", str(demo_store.root), "sql", q, "--json"])
    expected = [r["m"] for r in json.loads(res.output)["rows"]]
    assert "2025-09" in expected and months_with_data(demo_store) == expected
    assert months_with_data(demo_store, user_id="nobody") == []


def test_last_month_resolves_in_the_configured_zone(demo_store):
    # 2025-10-01 00:30 in Paris is still September 30th in UTC: "last" is September from Paris
    assert resolve(month="last", tz="Europe/Paris", today=date(2025, 10, 1)).label == "2025-09"
    r = report(demo_store, month="last", today=date(2025, 10, 1))
    assert r.period.label == "2025-09" and r.totals.trips > 40
    assert report(demo_store, year="last", today=date(2026, 3, 1)).period.label == "2025"


@given(st.integers(1900, 2999), st.integers(1, 12))
def test_any_month_parses_and_names_itself(y, m):
    p = resolve(month=f"{y:04d}-{m:02d}")
    assert p.label == f"{y:04d}-{m:02d}" and p.start.day == 1 and 28 <= p.days <= 31


@given(st.text(max_size=12).filter(lambda s: s.strip() != "last") | st.just("٢٠٢٥-٠٩"))
def test_a_bad_month_is_a_usage_error_never_a_crash(text):
    import re

    if re.fullmatch(r"\s*(19|2[0-9])[0-9][0-9]-(0[1-9]|1[0-2])\s*", text):
        return
    with pytest.raises(UsageError):
        resolve(month=text)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.sampled_from(["2025-07", "2025-08", "2025-09", "2025-10", "2024-09"]))
def test_the_document_is_deterministic_and_round_trips(demo_store, month):
    a, b = report(demo_store, month=month), report(demo_store, month=month)
    text = render(a, "json")
    assert text == render(b, "json")
    assert json.loads(text) == a.to_dict()
    jsonschema.validate(json.loads(text), SCHEMA)
    modes = a.to_dict()["modes"]
    assert sum(m["km"] for m in modes) == pytest.approx(a.totals.km, abs=1e-4)
