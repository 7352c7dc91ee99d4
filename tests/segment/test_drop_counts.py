"""`segment` says how many points it left out: dropped by cleaning, or in no stay and no trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mobco2.ingest import import_paths
from mobco2.segment import segment
from mobco2.store import Store
from tests.builders import write_gpx

T0 = datetime(2025, 9, 10, 8, 0, tzinfo=UTC)


def _day(head: int) -> list:
    """``head`` fixes 130 m south of home (the phone started recording a few steps away), 20
    minutes at home, a 3 km ride, 20 minutes at work. The head is a piece too short to be a trip
    (< min_trip_m) and outside the home stay's radius."""
    start = T0 - timedelta(seconds=5 * head)
    pts = [(46.15 - 0.00117 + 0.00001 * i, -1.15, start + timedelta(seconds=5 * i)) for i in range(head)]
    pts += [(46.15, -1.15, T0 + timedelta(seconds=30 * i)) for i in range(40)]
    t = T0 + timedelta(minutes=20)
    pts += [(46.15 + 0.0009 * i, -1.15, t + timedelta(seconds=20 * i)) for i in range(1, 31)]
    t += timedelta(minutes=10)
    pts += [(46.177, -1.15, t + timedelta(seconds=30 * i)) for i in range(1, 41)]
    return pts


def test_points_in_no_stay_or_trip_are_counted(tmp_path, monkeypatch):
    store = Store(tmp_path / "a")
    import_paths(store, [write_gpx(tmp_path / "a.gpx", _day(0))], user_id="u")
    base = segment(store)
    assert base.trips == 1 and base.points_outside_trips == 0
    # the same day where the ride is shorter than the shortest trip kept: its points belong to
    # nothing stored, and segment says how many instead of reporting 0
    monkeypatch.setenv("MOBCO2_SEGMENT_MIN_TRIP_M", "5000")
    shorter = Store(tmp_path / "b")
    import_paths(shorter, [write_gpx(tmp_path / "b.gpx", _day(0))], user_id="u")
    summary = segment(shorter)
    assert summary.trips == 0
    stays_points = shorter.sql("select sum(n_points) as n from stays").to_pylist()[0]["n"]
    assert summary.points_outside_trips == len(_day(0)) - stays_points > 20
    assert f"{summary.points_outside_trips} points in no stay or trip" in summary.line()


def test_cleaning_drops_are_counted_once_per_month(tmp_path):
    pts = _day(0)
    spiked = [*pts[:50], (47.5, 2.0, pts[50][2] + timedelta(seconds=1)), *pts[50:]]  # a 150 km spike
    store = Store(tmp_path / "s")
    import_paths(store, [write_gpx(tmp_path / "s.gpx", spiked)], user_id="u")
    summary = segment(store)
    assert summary.points_dropped == 1
    assert "1 points dropped by cleaning" in summary.line()
