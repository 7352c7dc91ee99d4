"""Leg smoothing (mobco2.segment.smooth): dense tracks at borderline speeds do not flap between
modes, the walk to the station stays its own leg, and no sample leaves a leg below the minimum."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mobco2.ingest import import_paths
from mobco2.segment import SegmentParams, segment, segment_points
from mobco2.segment.smooth import NOT_MOTORISED
from mobco2.store import Store
from tests.conftest import SAMPLES
from tests.segment import gen


def bike_track(seed: int = 0, v_mps: tuple[float, float] = (3.0, 5.0), minutes: float = 40.0,
               light_every_m: tuple[float, float] = (300.0, 700.0), light_s: tuple[float, float] = (15.0, 45.0),
               noise_m: float = 4.0) -> pd.DataFrame:
    """A 1 Hz ride along a street grid at ``v_mps`` (a slow random walk of the speed), standing at
    a red light every few hundred metres, between ten minutes still at each end."""
    rng = np.random.default_rng(seed)
    t, s = list(np.arange(0.0, 600.0, 5.0)), [0.0] * 120
    now, pos, v = 600.0, 0.0, rng.uniform(*v_mps)
    next_light, standing = rng.uniform(*light_every_m), 0
    end = now + minutes * 60
    while now < end:  # one loop step per second of a 40-minute ride
        if standing:
            standing -= 1
        else:
            v = float(np.clip(v + rng.normal(0, 0.15), *v_mps))
            if pos >= next_light:
                standing, next_light = int(rng.uniform(*light_s)), pos + rng.uniform(*light_every_m)
            pos += v
        t.append(now)
        s.append(pos)
        now += 1.0
    t += list(now + np.arange(0.0, 600.0, 5.0))
    s += [pos] * 120
    t_s, s_m = np.array(t), np.array(s)
    path = gen._grid_path(rng, np.zeros(2), np.array([pos * 0.55, pos * 0.55]))
    x, y = gen._along(path, s_m)
    x, y = x + rng.normal(0, noise_m, x.size), y + rng.normal(0, noise_m, y.size)
    return pd.DataFrame({
        "ts": pd.to_datetime(gen.DAY0 + (t_s * 1e6).astype(np.int64), unit="us", utc=True),
        "lat": gen.LAT0 + y / gen.M_PER_DEG,
        "lon": gen.LON0 + x / (gen.M_PER_DEG * np.cos(np.radians(gen.LAT0))),
    })


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_dense_bike_ride_with_red_lights_is_one_bike_leg(seed):
    legs = segment_points(bike_track(seed)).legs.to_pandas()
    assert legs["mode"].tolist() == ["bike"], legs[["mode", "distance_m"]]


@pytest.mark.parametrize("seed", [1, 3])
def test_borderline_speeds_do_not_leave_legs_below_the_minimum(seed):
    """At 1.5-3 m/s a ride flips between walking and cycling speeds every few hundred metres;
    without smoothing some of those legs are under 150 m (the issue's 75-180 m)."""
    pts = bike_track(seed, v_mps=(1.5, 3.0))
    params = SegmentParams()
    raw = segment_points(pts, params=params.with_(min_leg_s=0.0, min_leg_m=0.0)).legs.to_pandas()
    legs = segment_points(pts, params=params).legs.to_pandas()
    assert (raw.distance_m < params.min_leg_m).any()  # the flapping is there to smooth
    assert len(legs) < len(raw)
    assert (legs.distance_m >= params.min_leg_m).all(), legs[["mode", "distance_m"]]
    dur = (legs.finished_at - legs.started_at).dt.total_seconds()
    assert (dur >= params.min_leg_s).all()
    # the distance is kept: merging moves metres between legs, it never loses them
    assert legs.distance_m.sum() == pytest.approx(raw.distance_m.sum(), rel=0.01)


@pytest.fixture(scope="module")
def week():
    trace = gen.person_trace(8, seed=31)
    return trace, segment_points(trace.points)


def test_a_generated_multimodal_week_keeps_its_leg_mode_accuracy(week):
    trace, res = week
    assert gen.leg_mode_accuracy(res.legs.to_pandas(), trace.legs) >= 0.90


def test_the_walk_to_the_station_is_still_its_own_leg(week):
    _, res = week
    legs = res.legs.to_pandas()
    for tr in legs[legs["mode"] == "train"].itertuples():
        same = legs[legs.trip_id == tr.trip_id].sort_values("started_at").reset_index(drop=True)
        i = int(same.index[same.leg_id == tr.leg_id][0])
        assert i > 0 and same.loc[i - 1, "mode"] == "walk"


def _transfer_day(walk_to: np.ndarray) -> gen.Trace:
    rng = np.random.default_rng(7)
    b = gen._Builder(rng, gen.Config(jump_prob=0.0, stay_gap_prob=0.0, building_walk_prob=0.0, tunnel_prob=0.0))
    d = gen.Day(b, gen.DAY0, gen._p("home"))
    d.stay(3600)
    d.leg("car", gen._p("station"))
    d.leg("walk", gen._p("station") + walk_to, wait_s=120)
    d.leg("train", gen._p("station_far"))
    d.leg("walk", gen._p("office_far"))
    d.stay(3600)
    return gen._finish(b)


def test_a_short_walk_between_two_motorised_legs_stays_its_own_leg():
    """Park and ride: 110 m on foot from the car park to the platform is below ``min_leg_m``, yet
    a real change of vehicle: it stays a walk."""
    trace = _transfer_day(np.array([80.0, 30.0]))
    legs = segment_points(trace.points).legs.to_pandas().sort_values("started_at")
    modes = legs["mode"].tolist()
    assert "train" in modes and "car" in modes
    i = modes.index("train")
    assert modes[i - 1] == "walk" and modes[i - 2] == "car", modes
    assert legs.iloc[i - 1].distance_m < SegmentParams().min_leg_m * 1.5


def _short_legs(legs: pd.DataFrame, params: SegmentParams) -> pd.DataFrame:
    """Legs below the minimum, except walks between two motorised legs (issue 16's rule).

    (Labelled legs are never merged either, but no sample holds a short one.)"""
    legs = legs.sort_values(["trip_id", "started_at"]).reset_index(drop=True)
    dur = (legs.finished_at - legs.started_at).dt.total_seconds()
    short = (dur < params.min_leg_s) | (legs.distance_m < params.min_leg_m)
    same_prev = legs.trip_id.eq(legs.trip_id.shift(1))
    same_next = legs.trip_id.eq(legs.trip_id.shift(-1))
    motor = ~legs["mode"].isin(NOT_MOTORISED)
    between = (legs["mode"] == "walk") & same_prev & same_next & motor.shift(1, fill_value=False) & motor.shift(
        -1, fill_value=False)
    return legs[short & ~between]


SAMPLE_FILES = sorted(str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*") if p.is_file() and p.name != "SOURCES.md")


@pytest.mark.parametrize("rel", SAMPLE_FILES)
def test_no_sample_leaves_an_inferred_leg_below_the_minimum(samples, tmp_path, rel):
    store = Store(tmp_path / "store")
    summary = import_paths(store, [samples / rel], user_id="me", allow_rejects=True)
    if not any(f.status == "imported" for f in summary.files):
        return  # not location history: nothing to segment
    segment(store)
    legs = store.query("SELECT * FROM legs").to_pandas()
    if legs.empty:
        return
    bad = _short_legs(legs, SegmentParams())
    assert bad.empty, bad[["mode", "mode_source", "distance_m", "started_at", "finished_at"]]
