"""Footprints from a real Store: local-time buckets, recomputation on the fly, honest unknowns."""

from __future__ import annotations

import pytest

from mobco2.emissions import Profile, footprint
from mobco2.errors import NotFoundError, UsageError
from mobco2.schema import SCHEMA_VERSION
from tests.emissions.conftest import leg, write_trips_and_legs

CAR_KG_PER_KM = 0.14225341222954336


@pytest.fixture
def month_store(store):
    write_trips_and_legs(
        store,
        [
            # 2024-01-31 23:30 in Paris (UTC+1), crossing local midnight: counts toward Jan 31.
            leg("t1", "t1a", "2024-01-31T22:30", 20, "walk", 1.0),
            leg("t1", "t1b", "2024-01-31T22:50", 40, "car", 100.0),
            # 2024-02-10, a train and a bike.
            leg("t2", "t2a", "2024-02-10T08:00", 60, "hsr", 100.0),
            leg("t2", "t2b", "2024-02-10T09:10", 30, "bike", 10.0),
            # 2024-03-31 23:30 UTC is already 1 April 01:30 in Paris (summer time): April.
            leg("t3", "t3a", "2024-03-31T23:30", 30, "unknown", 5.0, speed_median_mps=1.2),
            leg("t3", "t3b", "2024-04-01T00:00", 90, "ferry", 30.0, speed_median_mps=8.0),
        ],
    )
    return store


def test_by_month_in_local_time(month_store):
    fp = footprint(month_store, by="month")
    months = {r["month"]: r for r in fp.rows}
    assert list(months) == ["2024-01", "2024-02", "2024-04"]
    jan = months["2024-01"]
    assert jan["km"] == pytest.approx(101.0)
    assert jan["trips"] == 1 and jan["legs"] == 2
    assert jan["co2e_kg"] == pytest.approx(100 * CAR_KG_PER_KM)
    assert jan["saved_co2e_kg"] == pytest.approx(1 * CAR_KG_PER_KM)  # the walk saved a km of car
    feb = months["2024-02"]
    assert feb["co2e_kg"] == pytest.approx(0.293 + 0.0017)
    assert feb["unknown_km"] == 0 and feb["unknown_share"] == 0
    apr = months["2024-04"]
    assert apr["co2e_kg"] == 0.0  # nothing with a factor; bounds carry the uncertainty
    assert apr["unknown_km"] == pytest.approx(5.0) and apr["unknown_share"] == pytest.approx(5 / 35)
    assert apr["no_factor_km"] == pytest.approx(30.0) and apr["no_factor_legs"] == 1
    assert apr["co2e_low_kg"] == pytest.approx(30 * 4.28 / 1000)  # walk 0 + ferry as a tram
    assert apr["co2e_high_kg"] == pytest.approx(5 * 24.9 / 1000 + 30 * 214.7 / 1000)
    assert fp.meta["factor_set_id"] == "ademe-impactco2-2026-07"
    assert fp.meta["scope"] == "full" and fp.meta["schema_version"] == SCHEMA_VERSION
    assert fp.meta["modes_without_factor"] == ["ferry"]
    assert fp.totals["trips"] == 3 and fp.totals["legs"] == 6
    assert fp.totals["co2e_kg"] == pytest.approx(sum(r["co2e_kg"] for r in fp.rows))


def test_trip_crossing_midnight_counts_toward_its_start_day(month_store):
    days = {r["day"]: r for r in footprint(month_store, by="day").rows}
    assert days["2024-01-31"]["legs"] == 2  # the car leg ends on Feb 1 local, counts Jan 31
    assert "2024-02-01" not in days
    assert "2024-04-01" in days and "2024-03-31" not in days


def test_by_week_year_and_mode(month_store):
    weeks = [r["week"] for r in footprint(month_store, by="week").rows]
    assert weeks == ["2024-W05", "2024-W06", "2024-W14"]
    assert [r["year"] for r in footprint(month_store, by="year").rows] == ["2024"]
    modes = {r["mode"]: r for r in footprint(month_store, by="mode").rows}
    assert set(modes) == {"walk", "car", "hsr", "bike", "unknown", "ferry"}
    assert next(iter(modes)) == "car"  # dearest first
    assert modes["hsr"]["trips"] == 1 and modes["hsr"]["co2e_kg"] == pytest.approx(0.293)
    assert modes["unknown"]["unknown_share"] == 1.0


def test_changing_set_or_scope_changes_every_figure_without_resegmentation(month_store):
    with month_store.reader() as con:
        files_before = con.execute("select path from parquet_files order by path").fetchall()
    full = footprint(month_store, by="mode")
    usage = footprint(month_store, by="mode", scope="usage")
    coach = footprint(month_store, by="mode", factors="ademe-basecarbone-coachco2")
    electric = footprint(month_store, by="mode", profile=Profile(car_energy="electric"))
    as_dict = {fp.meta["scope"] + fp.meta["factor_set_id"] + str(i): {r["mode"]: r for r in fp.rows}
               for i, fp in enumerate((full, usage, coach, electric))}  # fmt: skip
    f, u, c, e = as_dict.values()
    for mode in ("car", "hsr", "bike"):
        assert u[mode]["co2e_kg"] < f[mode]["co2e_kg"], mode
        assert c[mode]["co2e_kg"] != f[mode]["co2e_kg"], mode
    assert e["car"]["co2e_kg"] < f["car"]["co2e_kg"] and e["hsr"]["co2e_kg"] == f["hsr"]["co2e_kg"]
    assert c["car"]["co2e_kg"] == pytest.approx(100 * 0.192)
    assert usage.meta["scope"] == "usage" and coach.meta["factor_set_id"] == "ademe-basecarbone-coachco2"
    with month_store.reader() as con:
        assert con.execute("select path from parquet_files order by path").fetchall() == files_before
        stored = con.execute("select co2e_kg from legs").fetchall()
    assert all(v == (None,) for v in stored)  # nothing was written back: computed on the fly


def test_since_until_are_local_days(month_store):
    rows = footprint(month_store, by="day", since="2024-01-31", until="2024-01-31").rows
    assert [r["day"] for r in rows] == ["2024-01-31"]
    # 2024-04-01 local starts at 2024-03-31 22:00 UTC: a UTC filter would miss t3.
    rows = footprint(month_store, by="day", since="2024-04-01").rows
    assert [r["day"] for r in rows] == ["2024-04-01"]
    assert footprint(month_store, until="2024-01-30").rows == []
    with pytest.raises(UsageError):
        footprint(month_store, since="last tuesday")


def test_users_are_separate(store):
    write_trips_and_legs(
        store,
        [
            leg("a1", "a1a", "2024-05-02T08:00", 30, "car", 10.0, user_id="alice"),
            leg("b1", "b1a", "2024-05-02T08:00", 30, "car", 20.0, user_id="bob"),
        ],
    )
    assert footprint(store, user_id="alice").totals["km"] == pytest.approx(10.0)
    assert footprint(store).totals["km"] == pytest.approx(30.0)
    assert footprint(store, user_id="carol").rows == []


def test_missing_or_bad_time_zone_falls_back_to_utc_and_is_counted(store):
    write_trips_and_legs(
        store,
        [
            leg("x", "xa", "2024-06-30T23:30", 10, "bike", 2.0, tz=None),
            leg("y", "ya", "2024-06-30T23:30", 10, "bike", 2.0, tz="Mars/Olympus_Mons"),
            leg("z", "za", "2024-06-30T23:30", 10, "bike", 2.0, tz="Europe/Paris"),
        ],
    )
    fp = footprint(store, by="month")
    assert {r["month"]: r["legs"] for r in fp.rows} == {"2024-06": 2, "2024-07": 1}
    assert fp.meta["legs_without_tz"] == 2


def test_empty_store_and_bad_arguments(store):
    fp = footprint(store)
    assert fp.rows == [] and fp.totals["km"] == 0.0 and fp.totals["unknown_share"] is None
    with pytest.raises(UsageError):
        footprint(store, by="fortnight")
    with pytest.raises(UsageError):
        footprint(store, scope="partial")
    with pytest.raises(NotFoundError):
        footprint(store, factors="no-such-set")


def test_legs_without_a_trip_row_use_their_own_start_and_zone(store):
    import pyarrow as pa

    from mobco2 import schema

    write_trips_and_legs(store, [leg("t1", "t1a", "2024-07-01T08:00", 10, "bike", 3.0)])
    orphans = [
        leg("o1", "o1a", "2024-07-31T22:30", 10, "car", 10.0, tz="Europe/Paris"),  # Aug 1 local
        leg("o1", "o1b", "2024-07-31T22:45", 10, "walk", 1.0, tz="Europe/Paris"),
        leg("o2", "o2a", "2024-07-02T08:00", 10, "walk", 1.0, tz="Europe/Paris"),
    ]
    with store.writer() as w:
        w.append("legs", schema.conform(pa.Table.from_pylist(orphans), schema.LEGS))
    fp = footprint(store, by="month")
    assert {r["month"]: (r["trips"], r["legs"]) for r in fp.rows} == {"2024-07": (2, 2), "2024-08": (1, 2)}
    assert fp.totals["trips"] == 3


def test_a_trip_row_stored_twice_does_not_double_its_legs(store):
    from mobco2 import schema

    write_trips_and_legs(
        store,
        [leg("t1", "t1a", "2024-07-01T08:00", 10, "car", 10.0), leg("t2", "t2a", "2024-07-03T08:00", 5, "walk", 1.0)],
    )
    before = footprint(store, by="month").totals
    # the same trip row again, in another file (as a store repaired by hand might hold it)
    with store.reader() as con:
        again = con.sql("SELECT * EXCLUDE (year, month) FROM trips WHERE trip_id = 't1'").to_arrow_table()
    with store.writer() as w:
        w.append("trips", schema.conform(again, schema.TRIPS))
    with store.reader() as con:
        assert con.sql("SELECT count(*) FROM trips").fetchall()[0][0] == 3
    after = footprint(store, by="month").totals
    assert after["legs"] == before["legs"] == 2
    assert after["trips"] == before["trips"] == 2
    assert after["km"] == pytest.approx(before["km"]) and after["co2e_kg"] == pytest.approx(before["co2e_kg"])
