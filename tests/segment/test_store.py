"""Segmentation in a real store: incremental by month, idempotent IDs, labels that stick,
month boundaries, the emissions call point, ``explain`` and the ``mobco2 segment`` command."""

from __future__ import annotations

import json

import pandas as pd
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from mobco2.errors import NotFoundError
from mobco2.schema import LABELS, conform
from mobco2.segment import SegmentParams, explain, segment, segment_points
from mobco2.store import Store
from tests.segment import gen


def _points(days: int, seed: int, shift_days: float, user: str = "u1") -> pd.DataFrame:
    trace = gen.person_trace(days, seed=seed)
    pts = trace.points.copy()
    pts["ts"] = (pts["ts"] - pd.Timedelta(days=shift_days)).dt.floor("us").astype("datetime64[us, UTC]")
    pts["user_id"] = user
    pts["source_format"] = "gpx"
    pts["import_id"] = f"imp-{seed}"
    return pts


def _append(store: Store, frame: pd.DataFrame) -> None:
    with store.writer() as w:
        w.append("points", pa.Table.from_pandas(frame, preserve_index=False))


def _table(store: Store, name: str) -> pd.DataFrame:
    return store.query(f"SELECT * EXCLUDE (year, month) FROM {name} ORDER BY started_at").to_pandas()


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "store")
    # 2024-04-27 .. 2024-05-06: a month boundary in the middle, trips across it
    _append(s, _points(9, seed=61, shift_days=9.2))
    return s


def test_segment_is_incremental_and_idempotent(store):
    first = segment(store)
    assert (first.months_recomputed, first.months_skipped) == (2, 0)
    assert first.trips > 10 and first.legs >= first.trips
    trips, legs = _table(store, "trips"), _table(store, "legs")
    again = segment(store)
    assert (again.months_recomputed, again.months_skipped) == (0, 2)
    forced = segment(store, force=True)
    assert forced.months_recomputed == 2
    assert _table(store, "trips").equals(trips) and _table(store, "legs").equals(legs)


def test_months_agree_with_one_pass_over_everything(store):
    segment(store)
    pts = store.query("SELECT * EXCLUDE (year, month) FROM points").to_pandas()
    whole = segment_points(pts, user_id="u1")
    stored = _table(store, "trips")
    assert stored.trip_id.is_unique
    assert set(stored.trip_id) == set(whole.trips.column("trip_id").to_pylist())
    legs = _table(store, "legs")
    assert set(legs.leg_id) == set(whole.legs.column("leg_id").to_pylist())
    boundary = pd.Timestamp("2024-05-01", tz="UTC")
    assert ((stored.started_at < boundary) & (stored.finished_at > boundary)).sum() <= 1


def test_a_label_recomputes_its_month_only_and_sticks(store):
    segment(store)
    legs = _table(store, "legs")
    may = legs[legs.started_at >= pd.Timestamp("2024-05-03", tz="UTC")]
    target = may[may["mode"] != "walk"].iloc[0]
    label = {
        "label_id": "lab1", "user_id": "u1", "started_at": target.started_at, "finished_at": target.finished_at,
        "mode": "moto", "occupancy": 2, "purpose": "leisure", "origin": "user",
        "set_at": pd.Timestamp.now(tz="UTC"),
    }
    with store.writer() as w:
        cols = ["label_id", *LABELS.names]
        w.con.execute(
            f"INSERT INTO labels ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
            [label.get(c) for c in cols],
        )
    run = segment(store)
    assert run.months_recomputed == 1
    after = _table(store, "legs").set_index("leg_id")
    got = after.loc[target.leg_id]
    assert (got["mode"], got.mode_source, got.occupancy) == ("moto", "label", 2)
    assert set(after.index) == set(legs.leg_id)  # IDs did not move
    trip = _table(store, "trips").set_index("trip_id").loc[target.trip_id]
    assert trip.purpose == "leisure"


def test_new_points_in_a_later_month_leave_earlier_months_alone(store):
    segment(store)
    _append(store, _points(3, seed=62, shift_days=-60))  # early July
    run = segment(store)
    assert run.months_recomputed == 1 and run.months_skipped == 2


def test_changed_settings_recompute_everything(store):
    segment(store)
    run = segment(store, params=SegmentParams(radius_m=120))
    assert run.months_recomputed == 2


def test_emissions_are_filled_through_the_single_call_point(store):
    summary = segment(store)
    legs = _table(store, "legs")
    if not summary.emissions:
        assert legs.co2e_kg.isna().all()
        return
    motor = legs[legs["mode"].isin(["car", "bus", "train"])]
    assert motor.co2e_kg.notna().all() and (motor.co2e_kg > 0).all()
    trips = _table(store, "trips").set_index("trip_id")
    sums = legs.groupby("trip_id").co2e_kg.sum()
    assert trips.co2e_kg.loc[sums.index].fillna(0).round(9).equals(sums.round(9))


def test_explain_says_why_each_leg_got_its_mode(store):
    segment(store)
    legs = _table(store, "legs")
    trip_id = legs[legs["mode"] == "bus"].trip_id.iloc[0]
    why = explain(store, trip_id)
    assert why["trip_id"] == trip_id and len(why["legs"]) >= 2
    bus = next(leg for leg in why["legs"] if leg["mode"] == "bus")
    assert bus["mode_source"] == "inferred" and bus["rule"]["name"] == "bus"
    assert all(c["value"] is not None and "threshold" in c for c in bus["rule"]["conditions"])
    with pytest.raises(NotFoundError):
        explain(store, "t_nope")


def test_the_segment_command(store):
    from mobco2_cli.main import app

    runner = CliRunner()
    root = str(store.root)
    res = runner.invoke(app, ["--store", root, "segment", "--json"], terminal_width=100)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["rows"][0]["months_recomputed"] == 2
    trip_id = _table(store, "trips").trip_id.iloc[3]
    res = runner.invoke(app, ["--store", root, "segment", "--explain", trip_id], terminal_width=100)
    assert res.exit_code == 0 and f"trip_id: {trip_id}" in res.stdout
    res = runner.invoke(app, ["--store", root, "segment", "--explain", trip_id, "--json"], terminal_width=100)
    legs = json.loads(res.stdout)["rows"][0]["legs"]
    assert legs and all(leg["mode_source"] in ("label", "source", "sensed", "inferred") for leg in legs)
    res = runner.invoke(app, ["--store", root, "segment", "--explain", "t_nope"], terminal_width=100)
    assert res.exit_code == 66
    res = runner.invoke(app, ["--store", root, "segment", "--since", "yesterday"], terminal_width=100)
    assert res.exit_code == 2


def test_labels_table_rows_are_conformed():
    # the Evidence reader accepts the catalog's labels with label_id dropped
    assert "label_id" not in conform(pa.table({"user_id": ["u"], "origin": ["user"],
                                               "set_at": [pd.Timestamp.now(tz="UTC")]}), LABELS).column_names


def test_changed_emission_settings_refresh_stored_co2(store, monkeypatch):
    segment(store)
    before = _table(store, "legs").set_index("leg_id")
    car = before.index[before["mode"] == "car"]
    assert len(car) and (before.loc[car, "co2e_kg"] > 0).all()
    monkeypatch.setenv("MOBCO2_PROFILE_CAR_ENERGY", "electric")
    run = segment(store)
    assert run.months_recomputed == 2  # no new points, no new labels: the method changed
    after = _table(store, "legs").set_index("leg_id")
    assert (after.loc[car, "co2e_kg"] < 0.8 * before.loc[car, "co2e_kg"]).all()
    assert _table(store, "trips").co2e_kg.sum() == pytest.approx(after.co2e_kg.sum())
    assert segment(store).months_recomputed == 0
