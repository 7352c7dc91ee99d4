"""User labels survive re-segmentation when new points change the ids they were set on.

IDs hash the UTC start minute of a trip or leg; a later import that adds fixes before a trip's
first one moves that minute, so the labelled id disappears. The label still records the target's
time span (``mobco2.labels.set_label``) and applies by overlap. Real GPX files go through the
real importer into a real store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from mobco2.ingest import import_paths
from mobco2.labels import set_label
from mobco2.segment import segment
from mobco2.store import Store
from tests.builders import write_gpx

T0 = datetime(2025, 3, 12, 7, 0, tzinfo=UTC)
LAT0, LON0 = 46.15, -1.15
STEP_DEG = 60.0 / 111_195.0  # 60 m north every 5 s: 12 m/s, a car in town


def _drive(first: int, last: int) -> list[tuple[float, float, datetime]]:
    """Fixes ``first``..``last - 1`` of a northward drive, one every 5 s from T0."""
    return [(LAT0 + i * STEP_DEG, LON0, T0 + timedelta(seconds=5 * i)) for i in range(first, last)]


def _parked(after: int, minutes: int) -> list[tuple[float, float, datetime]]:
    """A stay at the end of the drive (fix ``after`` - 1), one fix every 30 s."""
    lat = LAT0 + (after - 1) * STEP_DEG
    t1 = T0 + timedelta(seconds=5 * (after - 1))
    return [(lat + (k % 3) * 1e-5, LON0, t1 + timedelta(seconds=30 * k)) for k in range(1, 2 * minutes)]


def _legs(store: Store) -> pd.DataFrame:
    with store.reader() as con:
        return con.sql("SELECT * FROM legs ORDER BY started_at").to_arrow_table().to_pandas()


def _trips(store: Store) -> pd.DataFrame:
    with store.reader() as con:
        return con.sql("SELECT * FROM trips ORDER BY started_at").to_arrow_table().to_pandas()


def test_a_label_follows_its_leg_when_new_points_move_the_start(tmp_path):
    store = Store(tmp_path / "store")
    # the phone started logging 3 minutes into the drive (fix 36 of 180), then the car parked
    late = write_gpx(tmp_path / "late.gpx", _drive(36, 180) + _parked(180, 20))
    assert import_paths(store, [late], user_id="me").exit_code == 0
    segment(store)
    legs = _legs(store)
    assert len(legs) == 1 and legs["mode"].iloc[0] == "car"
    old = legs.iloc[0]
    set_label(store, old.leg_id, mode="bus")
    set_label(store, old.trip_id, purpose="work")
    assert _legs(store)[["mode", "mode_source"]].iloc[0].tolist() == ["bus", "label"]

    # a second device had the first 3 minutes: the trip and its leg now start 3 minutes earlier
    early = write_gpx(tmp_path / "early.gpx", _drive(0, 36))
    assert import_paths(store, [early], user_id="me").exit_code == 0
    assert segment(store).months_recomputed == 1
    legs = _legs(store)
    assert len(legs) == 1
    new = legs.iloc[0]
    assert new.started_at == old.started_at - pd.Timedelta(minutes=3)
    assert new.leg_id != old.leg_id and new.trip_id != old.trip_id  # the ids moved …
    assert (new["mode"], new.mode_source) == ("bus", "label")  # … the label did not get lost
    assert _trips(store).purpose.tolist() == ["work"]


def test_a_vanished_id_does_not_capture_a_leg_it_barely_touches(tmp_path):
    store = Store(tmp_path / "store")
    late = write_gpx(tmp_path / "late.gpx", _drive(120, 180) + _parked(180, 20))
    assert import_paths(store, [late], user_id="me").exit_code == 0
    segment(store)
    old = _legs(store).iloc[0]
    set_label(store, old.leg_id, mode="bus")
    # 10 minutes more before a 5-minute leg: the label covers less than half of the new leg
    early = write_gpx(tmp_path / "early.gpx", _drive(0, 120))
    assert import_paths(store, [early], user_id="me").exit_code == 0
    segment(store)
    new = _legs(store).iloc[0]
    assert new.leg_id != old.leg_id and (new["mode"], new.mode_source) == ("car", "inferred")
