"""Trips on real phones' data (issue 14): the nine e-mission days against their reviewed ground
truth through the scorer (bench/score_real_days.py), and the rules behind it on small tracks.

The scorer imports each raw dump into a fresh store and segments it, exactly as a user would.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.score_real_days import match, score_days, totals
from mobco2.schema import TS
from mobco2.segment import SegmentParams, segment_points
from mobco2.segment.geo import M_PER_DEG

T0 = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
LAT0, LON0 = 48.85, 2.35


@pytest.fixture(scope="module")
def real_days(samples):
    return score_days([samples / "emission-real-dev"], SegmentParams())


def test_nine_real_days_floor(real_days):
    """The figures reached on the nine days (docs/real-days.md): issue 14 asks for F1 ≥ 0.90 and
    every day within one trip of the truth, which the method does not reach yet; this holds the
    ground gained (before: F1 0.675, median errors 88 s / 111 s, 5/9 days within one)."""
    days, tot = real_days
    assert len(days) == 9 and tot["truth"] == 42
    assert tot["f1"] >= 0.75
    assert tot["start_median_s"] <= 60 and tot["end_median_s"] <= 60
    assert tot["days_count_within_one"] >= 6
    assert tot["mode_agreement"] >= 0.75


def test_tracemob_day_keeps_its_two_trips(samples):
    (day,), _ = score_days([samples / "emission-tracemob"], SegmentParams())
    assert (day.truth, day.ours, day.matched) == (2, 2, 2)


def test_totals_are_the_days_added_up(real_days):
    days, tot = real_days
    assert totals(days) == tot
    assert tot["matched"] == sum(len(d.pairs) for d in days) <= min(tot["truth"], tot["ours"])


spans = st.tuples(st.floats(0, 1000, allow_nan=False), st.floats(1, 300, allow_nan=False))
intervals = st.lists(spans.map(lambda p: (p[0], p[0] + p[1])), max_size=8)


@given(intervals, intervals)
def test_match_is_one_to_one_at_half_iou(truth, ours):
    pairs = match(truth, ours)
    assert len({i for i, _ in pairs}) == len(pairs) == len({j for _, j in pairs})
    for i, j in pairs:
        (a0, a1), (b0, b1) = truth[i], ours[j]
        inter = min(a1, b1) - max(a0, b0)
        assert inter / (max(a1, b1) - min(a0, b0)) >= 0.5
    assert match(truth, truth) == [(i, i) for i in range(len(truth))] or len(set(truth)) < len(truth)


# ----------------------------------------------------------------------------- the rules, small


def _points(rows: list[tuple[float, float, float]], hints=None, seg_start=None) -> pa.Table:
    """Points from (seconds after T0, metres east, metres north)."""
    t = [T0 + timedelta(seconds=s) for s, _, _ in rows]
    lat = [LAT0 + y / M_PER_DEG for _, _, y in rows]
    lon = [LON0 + x / (M_PER_DEG * np.cos(np.radians(LAT0))) for _, x, _ in rows]
    cols = {"ts": pa.array(t, TS), "lat": lat, "lon": lon, "accuracy_m": pa.array([10.0] * len(rows), pa.float32())}
    if hints is not None:
        cols["mode_hint"] = pa.array(hints, pa.string())
        cols["mode_hint_conf"] = pa.array([None if h is None else 0.9 for h in hints], pa.float32())
    if seg_start is not None:
        cols["segment_start"] = pa.array(seg_start, pa.bool_())
    return pa.table(cols)


def _still(t0: float, t1: float, x: float, y: float = 0.0, every: float = 30.0):
    return [(s, x + 3.0 * np.sin(s), y) for s in np.arange(t0, t1, every)]


def _walk(t0: float, t1: float, x0: float, x1: float, every: float = 10.0):
    s = np.arange(t0, t1 + 1e-9, every)
    return [(float(u), x0 + (x1 - x0) * (u - t0) / (t1 - t0), 0.0) for u in s]


def _trip_times(res) -> list[tuple[float, float]]:
    trips = res.trips.to_pylist()
    return [((r["started_at"] - T0).total_seconds(), (r["finished_at"] - T0).total_seconds()) for r in trips]


def test_a_still_gap_ending_elsewhere_is_a_stay_then_a_departure():
    """The phone sleeps at A (20 min of fixes, then 15 min without); its first fix after waking
    is 300 m on, and the walk goes on at 1.5 m/s: the trip starts 300 / 1.5 = 200 s before that fix."""
    rows = _still(0, 1200, 0.0) + _walk(2100, 2500, 300.0, 900.0) + _still(2510, 3500, 900.0)
    res = segment_points(_points(rows), user_id="u")
    ((start, end),) = _trip_times(res)
    assert start == pytest.approx(2100 - 300 / 1.5, abs=15)
    assert end == pytest.approx(2500, abs=40)
    # the old rule: the whole gap was one stay at A and the trip began at the first fix
    off = segment_points(_points(rows), params=SegmentParams(departure_speed_mps=0.0), user_id="u")
    assert _trip_times(off)[0][0] == pytest.approx(2100, abs=15)


def test_a_recorder_pause_is_a_stay_even_when_short():
    """Two and a half minutes without fixes, after which the phone starts a new track segment
    (e-mission's stopped_moving), is a stop between two trips when ``paused_gap_s`` allows it; a
    plain gap as long in the middle of a walk is not."""
    rows = _still(0, 600, 0.0) + _walk(600, 900, 0.0, 660.0) + [(1050.0, 662.0, 0.0)]
    rows += _walk(1060, 1360, 662.0, 1322.0) + _still(1370, 2100, 1322.0)
    marks = [s == 1050.0 for s, _, _ in rows]
    paused = SegmentParams(paused_gap_s=120.0)
    assert len(_trip_times(segment_points(_points(rows, seg_start=marks), params=paused, user_id="u"))) == 2
    assert len(_trip_times(segment_points(_points(rows), params=paused, user_id="u"))) == 1
    long_pause = SegmentParams(paused_gap_s=600)
    assert len(_trip_times(segment_points(_points(rows, seg_start=marks), params=long_pause, user_id="u"))) == 1


def test_the_trip_ends_at_the_last_fix_the_phone_calls_moving():
    """Walking in to a door: the fixes come within 100 m of the stay 90 s before the walk ends,
    and the motion activity says walking up to then: the trip ends there, not at the radius."""
    walk = _walk(0, 600, -900.0, 0.0)
    rows = _still(0, 0, 0) + walk + _still(610, 1500, 0.0, every=10.0)
    hints = ["walk" if s <= 600 else None for s, _, _ in rows]
    with_hints = _trip_times(segment_points(_points(rows, hints=hints), user_id="u"))
    without = _trip_times(segment_points(_points(rows), user_id="u"))
    assert with_hints[-1][1] == pytest.approx(610, abs=15)
    assert without[-1][1] < with_hints[-1][1] - 20
