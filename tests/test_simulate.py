"""mobco2.simulate: speed profiles obey their bounds, loggers sample as documented, errors look like GPS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobco2.simulate import (
    PROFILES,
    Leg,
    Logger,
    Place,
    Stay,
    Trip,
    haversine_m,
    leg_motion,
    path_length_m,
    simulate,
    simulate_trajectory,
)

T0 = datetime(2025, 9, 1, 6, 0, tzinfo=UTC)
HOME = Place("home", 46.1830, -1.1560, radius_m=12)
WORK = Place("work", 46.1423, -1.1532, radius_m=40)
BIKE_PATH = [(46.1830, -1.1560), (46.1750, -1.1530), (46.1640, -1.1600), (46.1578, -1.1520), (46.1505, -1.1508),
             (46.1423, -1.1532)]  # fmt: skip
QUIET = Logger(noise_m=0.0, stay_noise_m=0.0, jump_prob=0.0, interval_jitter_s=0.0)


def straight(length_m: float, lat: float = 46.0, lon: float = -1.0) -> list[tuple[float, float]]:
    """A northward path of ``length_m`` metres."""
    return [(lat, lon), (lat + np.degrees(length_m / 6_371_008.8), lon)]


def commute(mode: str = "bike", **leg_kw) -> list:
    return [
        Stay(HOME, until=T0 + timedelta(hours=2)),
        Trip([Leg(mode, BIKE_PATH, **leg_kw)], purpose="work"),
        Stay(WORK, until=T0 + timedelta(hours=11)),
    ]


def waits(motion) -> np.ndarray:
    """Durations (s) of the stops inside a leg: consecutive knots at the same distance."""
    same = np.diff(motion.s) == 0
    return np.diff(motion.t)[same]


def test_same_seed_gives_identical_fixes_and_another_seed_does_not():
    a, ta = simulate(commute(), T0, Logger(), seed=7)
    b, tb = simulate(commute(), T0, Logger(), seed=7)
    c, _ = simulate(commute(), T0, Logger(), seed=8)
    assert a.equals(b)
    assert ta.legs.equals(tb.legs)
    assert not a.equals(c)


def test_fix_table_columns_and_order():
    fixes, _ = simulate(commute(), T0, Logger(), seed=1)
    assert fixes.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    for name in ("lat", "lon", "accuracy_m", "speed_mps", "altitude_m"):
        assert name in fixes.column_names
    ts = fixes.column("ts").cast("int64").to_numpy()
    assert np.all(np.diff(ts) > 0)
    assert ts[0] >= int(T0.timestamp() * 1e6)


def test_bike_commute_distance_is_the_path_length_and_speed_is_realistic():
    traj = simulate_trajectory(commute(), T0, seed=3)
    leg = traj.legs.to_pylist()[0]
    assert leg["distance_m"] == pytest.approx(path_length_m(BIKE_PATH), rel=1e-9)
    minutes = (leg["finished_at"] - leg["started_at"]).total_seconds() / 60
    kmh = leg["distance_m"] / 1000 / (minutes / 60)
    assert 12 < kmh < 20, kmh
    trip = traj.trips.to_pylist()[0]
    assert trip["started_at"] == T0 + timedelta(hours=2)
    assert trip["finished_at"] == leg["finished_at"]
    stays = traj.stays.to_pylist()
    assert stays[0]["finished_at"] == trip["started_at"]
    assert stays[1]["started_at"] == trip["finished_at"]
    assert trip["main_mode"] == "bike" and trip["origin"] == "home" and trip["destination"] == "work"


@settings(max_examples=40, deadline=None)
@given(mode=st.sampled_from(sorted(PROFILES)), length=st.floats(30.0, 60_000.0), seed=st.integers(0, 2**32 - 1))
def test_speed_profile_obeys_acceleration_braking_and_cruise_bounds(mode, length, seed):
    prof = PROFILES[mode]
    m = leg_motion(Leg(mode, straight(length)), np.random.default_rng(seed))
    assert m.s[0] == 0 and m.s[-1] == pytest.approx(length, rel=1e-6)
    assert m.v[0] == 0 and m.v[-1] == 0
    assert np.all(np.diff(m.t) > 0) and np.all(np.diff(m.s) >= 0)
    assert m.v.max() <= prof.cruise_mps * (1 + 2.5 * prof.cruise_jitter) + 1e-9
    moving = np.diff(m.s) > 0
    ds = np.diff(m.s)[moving]
    dv2 = np.diff(m.v**2)[moving]
    assert np.all(dv2 <= 2 * prof.accel_mps2 * ds * (1 + 1e-6) + 1e-9)
    assert np.all(dv2 >= -2 * prof.decel_mps2 * ds * (1 + 1e-6) - 1e-9)
    if prof.stop_spacing_m is not None:
        assert np.all(waits(m) <= prof.stop_wait_s[1] + 1e-9)


def test_city_bus_stops_every_few_hundred_metres_for_short_waits():
    path = straight(5000.0)
    m = leg_motion(Leg("bus", path), np.random.default_rng(11))
    w = waits(m)
    # stops every 300–500 m, 85 % of them served: 8 to 16 stops over 5 km, each under a minute
    assert 8 <= w.size <= 16
    assert np.all((w >= 15) & (w <= 40))
    kmh = 5.0 / (m.t[-1] / 3600)
    assert 14 < kmh < 24, kmh


def test_scheduled_station_dwell_and_segment_speeds():
    path = [(46.15, -1.15), (46.35, -0.47), (46.58, 0.33)]
    leg = Leg("train", path, speeds_mps=[160 / 3.6, 140 / 3.6], stops=[(1, 180.0)])
    m = leg_motion(leg, np.random.default_rng(2))
    cum1 = haversine_m(path[0][0], path[0][1], path[1][0], path[1][1])
    w = waits(m)
    assert w.size == 1 and w[0] == pytest.approx(180.0)
    stop_at = m.s[:-1][np.diff(m.s) == 0][0]
    assert stop_at == pytest.approx(cum1, abs=30.0)
    first = m.s <= cum1
    assert m.v[first].max() > 140 / 3.6  # the first section is run at up to 160 km/h
    assert m.v[~first].max() <= 140 / 3.6 * (1 + 2.5 * PROFILES["train"].cruise_jitter)


def test_position_error_has_the_configured_spread_and_jumps_are_50_to_200_m():
    tl = commute("walk")  # about an hour of walking: several hundred fixes
    tl[2] = Stay(WORK, until=T0 + timedelta(hours=4))
    fixes, _ = simulate(tl, T0, Logger(noise_m=5.0, jump_prob=0.05), seed=5)
    leg = fixes.filter(pa.compute.equal(fixes["phase"], "leg")).to_pydict()
    err = haversine_m(np.array(leg["lat"]), np.array(leg["lon"]), np.array(leg["true_lat"]), np.array(leg["true_lon"]))
    jump = np.array(leg["is_jump"])
    assert err.size > 300
    # per-axis σ ≈ 5 m: the median horizontal error of a 2-D Gaussian is 1.18 σ
    assert 4.0 < np.median(err[~jump]) < 8.0
    assert np.all(err[~jump] < 60)
    assert 0.02 < jump.mean() < 0.09
    assert np.all((err[jump] > 45) & (err[jump] < 205))
    acc = np.array(leg["accuracy_m"])
    assert 5.0 < np.median(acc[~jump]) < 11.0  # 68 % radius = 1.51 σ


def test_gps_logger_rates_at_stays_and_on_the_move():
    logger = Logger(moving_interval_s=10, stay_interval_s=60, idle_after_s=1800, idle_interval_s=300,
                    interval_jitter_s=1.0, dropout_prob=0.0)  # fmt: skip
    fixes, traj = simulate(commute(), T0, logger, seed=9)
    d = fixes.to_pydict()
    ts = fixes.column("ts").cast("int64").to_numpy() / 1e6
    stay0 = np.array(d["stay_index"]) == 0
    gaps = np.diff(ts[stay0])
    first_half_hour = ts[stay0][1:] < T0.timestamp() + 1800
    assert np.all(np.abs(gaps[first_half_hour] - 60) <= 2)
    later = gaps[~first_half_hour]
    assert abs(later[0] - 60) <= 2 or abs(later[0] - 300) <= 2  # the step that straddles the change of rate
    assert np.all(np.abs(later[1:] - 300) <= 2)
    leg = np.array(d["leg_index"]) == 0
    assert np.all(np.abs(np.diff(ts[leg]) - 10) <= 2)
    # the app wakes up promptly: the first moving fix comes within one interval of the departure
    depart = traj.legs.column("started_at")[0].as_py().timestamp()
    assert ts[leg][0] - depart <= 10


def test_emission_like_logger_sleeps_at_stays_after_a_tail_and_waits_for_the_geofence():
    logger = Logger(moving_interval_s=30, stay_interval_s=None, stay_tail_s=360, trip_start_geofence_m=100,
                    noise_m=0.0, jump_prob=0.0)  # fmt: skip
    fixes, traj = simulate(commute(), T0, logger, seed=4)
    d = fixes.to_pydict()
    ts = fixes.column("ts").cast("int64").to_numpy() / 1e6
    stays = traj.stays.to_pylist()
    at_work = np.array(d["stay_index"]) == 1
    arrival = stays[1]["started_at"].timestamp()
    assert at_work.sum() >= 10
    assert np.all(ts[at_work] < arrival + 360)
    at_home = np.array(d["stay_index"]) == 0
    assert np.all(ts[at_home] < T0.timestamp() + 360)  # the first stay gets its tail too, then silence
    leg = np.array(d["leg_index"]) == 0
    first = np.flatnonzero(leg)[0]
    assert haversine_m(d["true_lat"][first], d["true_lon"][first], *BIKE_PATH[0]) >= 95


def test_underground_legs_and_signal_gaps_have_no_fixes():
    path = straight(5000.0)
    a, b = Place("a", *path[0]), Place("b", *path[1])
    tl = [Stay(a, until=T0 + timedelta(hours=1)), Trip([Leg("bike", path, gaps_m=[(1000.0, 3000.0)])]),
          Stay(b, until=T0 + timedelta(hours=3))]  # fmt: skip
    fixes, _ = simulate(tl, T0, QUIET, seed=1)
    d = fixes.to_pydict()
    leg = np.array(d["leg_index"]) == 0
    ts = fixes.column("ts").cast("int64").to_numpy()[leg] / 1e6
    assert np.diff(ts).max() > 2000 / 6.0  # 2 km at under 22 km/h without a fix
    along = haversine_m(np.array(d["true_lat"])[leg], np.array(d["true_lon"])[leg], *path[0])
    assert not np.any((along > 1000.5) & (along < 2999.5))
    assert np.any(along < 1000) and np.any(along > 3000)

    under, _ = simulate(commute("metro", underground=True), T0, QUIET, seed=1)
    assert not np.any(np.array(under.column("leg_index").to_pylist()) == 0)


def test_transfer_waits_belong_to_the_trip_not_to_stays():
    legs = [Leg("walk", [BIKE_PATH[0], (46.1840, -1.1552)]),
            Leg("bus", [(46.1840, -1.1552), *BIKE_PATH[1:]], wait_before_s=420)]  # fmt: skip
    tl = [Stay(HOME, until=T0 + timedelta(hours=2)), Trip(legs), Stay(WORK, until=T0 + timedelta(hours=11))]
    fixes, traj = simulate(tl, T0, QUIET, seed=2)
    assert traj.transfers.num_rows == 1
    x = traj.transfers.to_pylist()[0]
    assert (x["finished_at"] - x["started_at"]).total_seconds() == 420
    walk, bus = traj.legs.to_pylist()
    assert x["started_at"] == walk["finished_at"] and x["finished_at"] == bus["started_at"]
    assert traj.stays.num_rows == 2
    phases = fixes.column("phase").to_pylist()
    assert 35 <= phases.count("transfer") <= 45
    state = traj.state_at(np.array([x["started_at"].timestamp() + 60, bus["started_at"].timestamp() + 120]))
    assert list(state["kind"]) == ["transfer", "leg"] and state["mode"][1] == "bus"


def test_sampling_window_keeps_only_fixes_inside_it():
    traj = simulate_trajectory(commute(), T0, seed=1)
    lo, hi = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    fixes = traj.sample(Logger(), lo, hi, seed=1)
    ts = fixes.column("ts").cast("int64").to_numpy() / 1e6
    assert ts.min() >= lo.timestamp() and ts.max() < hi.timestamp()
    with pytest.raises(ValueError, match="time zone"):
        traj.sample(Logger(), datetime(2025, 9, 1, 7, 0), hi)


def test_malformed_timelines_are_refused():
    with pytest.raises(ValueError, match="begin and end with a Stay"):
        simulate_trajectory(commute()[1:], T0)
    away = [(46.10, -1.10), (46.1423, -1.1532)]
    with pytest.raises(ValueError, match="starts away"):
        simulate_trajectory([Stay(HOME, until=T0 + timedelta(hours=1)), Trip([Leg("bike", away)]),
                             Stay(WORK, until=T0 + timedelta(hours=5))], T0)  # fmt: skip
    late = commute()
    late[2] = Stay(WORK, until=T0 + timedelta(hours=2, minutes=5))  # the ride takes ~20 min
    with pytest.raises(ValueError, match="arrives late"):
        simulate_trajectory(late, T0)
    with pytest.raises(ValueError, match="no default profile"):
        simulate_trajectory(commute("hovercraft"), T0)
