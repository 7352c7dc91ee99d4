"""Stay detection: the vectorised sliding rule against a plain sequential reference, signal-loss
rules, and precision/recall on generated traces with known stays."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobco2.segment import detect_stays
from mobco2.segment.clean import Track
from mobco2.segment.geo import M_PER_DEG, haversine_m
from mobco2.segment.params import SegmentParams
from mobco2.segment.sliding import sliding_runs
from mobco2.segment.stays import find_stays
from tests.segment import gen

US = 1_000_000


def reference_sliding(t_us, lat, lon, radius_m, min_s, edge_s, moving=None, wrap=False):
    """The textbook sequential sliding rule, one point at a time (slow, obviously right).

    A ``moving`` point (made from a source segment) ends every run; with ``wrap`` longitude
    differences are folded across the antimeridian.
    """
    n = len(t_us)
    out = []
    i = 0
    while i < n:
        j = i + 1
        kx = np.cos(np.radians(lat[i]))
        while j < n:
            dy = (lat[j] - lat[i]) * M_PER_DEG
            dlon = lon[j] - lon[i]
            if wrap:
                dlon = (dlon + 540.0) % 360.0 - 180.0
            dx = dlon * kx * M_PER_DEG
            if dx * dx + dy * dy > radius_m * radius_m or (moving is not None and moving[j]):
                break
            j += 1
        dur = (t_us[j - 1] - t_us[i]) / US
        edge = (j == n or i == 0) and j - 1 > i and dur >= edge_s
        if dur >= min_s or edge:
            out.append((i, j - 1))
            i = j
        else:
            i += 1
    return out


def _track(t_s, x_m, y_m) -> Track:
    t = (np.asarray(t_s) * US).astype(np.int64)
    return Track(t, 46.0 + np.asarray(y_m) / M_PER_DEG, -1.0 + np.asarray(x_m) / (M_PER_DEG * np.cos(np.radians(46))))


walks = st.lists(
    st.tuples(st.floats(1, 120), st.floats(-60, 60), st.floats(-60, 60)), min_size=2, max_size=120
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(walks)
def test_vectorised_sliding_rule_matches_the_sequential_reference(steps):
    dt, dx, dy = (np.array(v) for v in zip(*steps, strict=True))
    track = _track(np.cumsum(dt), np.cumsum(dx), np.cumsum(dy))
    p = SegmentParams(radius_m=100, min_duration_s=300, edge_min_duration_s=120)
    first, last = sliding_runs(track, p)
    expected = reference_sliding(track.t_us, track.lat, track.lon, 100, 300, 120)
    assert list(zip(first.tolist(), last.tolist(), strict=True)) == expected


@st.composite
def dwell_heavy(draw):
    """Up to ~1800 points: dwells (small steps, some sampled every second) between moves, with
    GPS jumps and signal gaps: long runs, failure chains, stays next to each other."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        k = draw(st.integers(1, 300))
        dt = draw(st.sampled_from([1.0, 5.0, 30.0, 120.0]))
        step = draw(st.sampled_from([0.5, 3.0, 15.0, 40.0, 400.0]))
        parts.append((np.full(k, dt), draw(st.floats(0.2, 1.0)) * step, k))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    dt = np.concatenate([p[0] for p in parts])
    dxy = np.concatenate([rng.normal(0, p[1], (p[2], 2)) for p in parts])
    jump = rng.random(dt.size) < 0.02
    dxy[jump] += rng.normal(0, 300, (int(jump.sum()), 2))
    gap = rng.random(dt.size) < 0.01
    dt[gap] += 900.0
    return dt, dxy


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dwell_heavy())
def test_the_sliding_rule_matches_the_reference_on_dwell_heavy_traces(trace):
    dt, dxy = trace
    track = _track(np.cumsum(dt), np.cumsum(dxy[:, 0]), np.cumsum(dxy[:, 1]))
    p = SegmentParams(radius_m=100, min_duration_s=300, edge_min_duration_s=120)
    first, last = sliding_runs(track, p)
    expected = reference_sliding(track.t_us, track.lat, track.lon, 100, 300, 120)
    assert list(zip(first.tolist(), last.tolist(), strict=True)) == expected


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dwell_heavy(), st.sampled_from([(64.0, 180.0), (0.0, 0.0), (-33.9, 18.4)]), st.floats(0.0, 0.05))
def test_the_sliding_rule_matches_the_reference_anywhere_with_moving_points(trace, where, share):
    """Runs that end at the data's end (scanned through a padded tail), stays on the 180°
    meridian and at (0, 0), and synthetic moving points that cut runs short."""
    dt, dxy = trace
    lat0, lon0 = where
    t = (np.cumsum(dt) * US).astype(np.int64)
    lat = lat0 + np.cumsum(dxy[:, 1]) / M_PER_DEG
    lon = lon0 + np.cumsum(dxy[:, 0]) / (M_PER_DEG * np.cos(np.radians(lat0)))
    lon = (lon + 180.0) % 360.0 - 180.0
    wrap = bool(np.abs(lon).max() > 179.0)
    moving = np.random.default_rng(len(dt)).random(len(dt)) < share
    track = Track(t, lat, lon, moving=moving)
    p = SegmentParams(radius_m=100, min_duration_s=300, edge_min_duration_s=120)
    first, last = sliding_runs(track, p)
    expected = reference_sliding(t, lat, lon, 100, 300, 120, moving=moving, wrap=wrap)
    assert list(zip(first.tolist(), last.tolist(), strict=True)) == expected


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dwell_heavy(), st.lists(st.sampled_from([3_600.0, 86_400.0, 40 * 86_400.0]), min_size=1, max_size=6))
def test_the_sliding_rule_matches_the_reference_on_sparse_tracks_over_years(trace, gaps):
    """Days or months between bursts of fixes: far more time buckets than points, so the
    necessary test looks buckets up among the occupied ones instead of in a table of every one."""
    dt, dxy = trace
    rng = np.random.default_rng(len(dt))
    at = rng.integers(0, len(dt), len(gaps))
    dt = dt.copy()
    dt[at] += np.asarray(gaps)
    track = _track(np.cumsum(dt), np.cumsum(dxy[:, 0]), np.cumsum(dxy[:, 1]))
    p = SegmentParams(radius_m=100, min_duration_s=300, edge_min_duration_s=120)
    first, last = sliding_runs(track, p)
    expected = reference_sliding(track.t_us, track.lat, track.lon, 100, 300, 120)
    assert list(zip(first.tolist(), last.tolist(), strict=True)) == expected


def test_reference_agrees_on_a_long_generated_trace():
    pts = gen.person_trace(3, seed=7).points
    tr = Track(
        pts.ts.astype("int64").to_numpy() // gen._unit(pts.ts), pts.lat.to_numpy(), pts.lon.to_numpy()
    )
    tr = tr.take(np.arange(0, len(tr), 3))  # the reference is quadratic-ish: thin the trace
    p = SegmentParams()
    first, last = sliding_runs(tr, p)
    expected = reference_sliding(tr.t_us, tr.lat, tr.lon, 100, 300, 120)
    assert list(zip(first.tolist(), last.tolist(), strict=True)) == expected


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_known_stays_found_with_precision_and_recall_above_095(seed):
    trace = gen.person_trace(10, seed=seed)
    found = detect_stays(trace.points)
    precision, recall = gen.stay_precision_recall(found, gen.truth_stays_frame(trace))
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


def test_sparse_noisy_trace_with_many_jumps_still_finds_stays():
    cfg = gen.Config(move_dt_s=5, stay_dt_s=120, noise_stay_m=20, jump_prob=0.01, stay_gap_prob=0.8)
    trace = gen.person_trace(10, seed=21, cfg=cfg)
    found = detect_stays(trace.points)
    precision, recall = gen.stay_precision_recall(found, gen.truth_stays_frame(trace))
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)


def test_short_waits_at_lights_and_stops_are_not_stays():
    trace = gen.person_trace(6, seed=3)
    found = detect_stays(trace.points)
    legs = trace.legs
    f0 = found.started_at.astype("int64").to_numpy() // gen._unit(found.started_at)
    f1 = found.finished_at.astype("int64").to_numpy() // gen._unit(found.finished_at)
    # no found stay lies (mostly) inside a vehicle leg, where every stop is shorter than 5 min
    vehicle = legs[legs["mode"] != "walk"]
    ov = gen.overlap_us(f0, f1, vehicle.start_us.to_numpy(), vehicle.end_us.to_numpy()).sum(axis=1)
    assert (ov / np.maximum(f1 - f0, 1) < 0.5).all()


def test_a_long_gap_with_little_displacement_is_a_stay():
    # iOS records only while moving: 40 m in 2 hours without a point
    t = [0, 10, 20, 30, 7230, 7240, 7250]
    x = [0, 13, 26, 40, 80, 93, 106]
    found = detect_stays(_frame(t, x))
    assert len(found) == 1
    row = found.iloc[0]
    assert row.started_at == pd.Timestamp(0, unit="s", tz="UTC") + pd.Timedelta(seconds=0)
    assert row.finished_at >= pd.Timestamp(7230, unit="s", tz="UTC")


def test_a_long_gap_with_large_displacement_is_not_a_stay():
    # a flight: 600 km in 1 h 30 without a point
    t = [0, 10, 20, 5400, 5410, 5420]
    x = [0, 10, 20, 600_000, 600_010, 600_020]
    found = detect_stays(_frame(t, x), edge_min_duration_s=600)
    assert len(found) == 0


def test_the_edge_rule_makes_a_short_final_dwell_a_stay():
    t = np.r_[np.arange(0, 600, 10), 600 + np.arange(0, 180, 10)]
    x = np.r_[np.arange(0, 600, 10) * 1.5, np.full(18, 900.0)]
    found = detect_stays(_frame(t, x))
    assert len(found) == 1 and 18 <= found.iloc[0].n_points <= 24  # the arrival walk reaches the core
    assert len(detect_stays(_frame(t, x), edge_min_duration_s=300)) == 0


def test_a_gps_jump_inside_a_stay_does_not_split_it():
    t = np.arange(0, 3600, 30)
    x = np.zeros(t.size)
    x[60] = 800.0  # one fix 800 m away at a 30 s rate: 27 m/s, no spike by speed
    found = detect_stays(_frame(t, x))
    assert len(found) == 1
    assert found.iloc[0].finished_at - found.iloc[0].started_at >= pd.Timedelta(minutes=55)


def test_arrow_in_arrow_out_and_pandas_in_pandas_out():
    frame = _frame(np.arange(0, 1200, 10), np.zeros(120))
    out_pd = detect_stays(frame)
    out_pa = detect_stays(pa.Table.from_pandas(frame, preserve_index=False))
    assert isinstance(out_pd, pd.DataFrame) and isinstance(out_pa, pa.Table)
    assert out_pa.column_names == ["started_at", "finished_at", "lat", "lon", "n_points"]
    assert out_pa.to_pandas().equals(out_pd)


def test_empty_and_tiny_inputs():
    assert len(detect_stays(_frame([], []))) == 0
    assert len(detect_stays(_frame([0], [0]))) == 0


def test_antimeridian_stay_is_one_stay():
    t = np.arange(0, 1800, 30)
    lon = np.where(np.arange(t.size) % 2, 179.9997, -179.9997)  # ±25 m around the 180th meridian
    frame = pd.DataFrame({"ts": pd.to_datetime(t, unit="s", utc=True), "lat": -16.8, "lon": lon})
    found = detect_stays(frame)
    assert len(found) == 1 and found.iloc[0].n_points == t.size
    # its centre is on the meridian, not half a world away at Greenwich (the plain mean of ±179.9997)
    assert abs(found.iloc[0].lon) > 179.999 and found.iloc[0].lat == pytest.approx(-16.8)


def test_stays_on_both_sides_of_the_world_keep_their_own_centres():
    day = np.arange(0, 1800, 30)
    lon_fiji = np.where(np.arange(day.size) % 2, 179.9997, -179.9997)
    lon_greenwich = np.where(np.arange(day.size) % 2, 0.0003, -0.0003)  # a stay across 0° too
    t = np.concatenate([day, day + 86_400])
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(t, unit="s", utc=True),
            "lat": np.r_[np.full(day.size, -16.8), np.full(day.size, 51.48)],
            "lon": np.r_[lon_fiji, lon_greenwich],
        }
    )
    found = detect_stays(frame)
    assert len(found) == 2
    assert abs(found.iloc[0].lon) > 179.999 and abs(found.iloc[1].lon) < 0.001


def test_stay_centre_is_the_mean_of_its_points():
    trace = gen.person_trace(2, seed=4)
    found = detect_stays(trace.points)
    truth = gen.truth_stays_frame(trace)
    # every found stay's centre is close to the true place it overlaps most
    f0 = found.started_at.astype("int64").to_numpy() // gen._unit(found.started_at)
    f1 = found.finished_at.astype("int64").to_numpy() // gen._unit(found.finished_at)
    ov = gen.overlap_us(f0, f1, truth.start_us.to_numpy(), truth.end_us.to_numpy())
    best = ov.argmax(axis=1)
    d = haversine_m(found.lat.to_numpy(), found.lon.to_numpy(), truth.lat.to_numpy()[best], truth.lon.to_numpy()[best])
    assert np.median(d) < 15 and d.max() < 60


def test_find_stays_indices_are_consistent():
    trace = gen.person_trace(3, seed=8)
    from mobco2.segment.clean import clean, track_from_table

    tr = clean(track_from_table(trace.points), SegmentParams())
    s = find_stays(tr, SegmentParams())
    assert (s.first <= s.last).all() and (s.last[:-1] < s.first[1:]).all()
    assert (s.start_us == tr.t_us[s.first]).all() and (s.end_us >= tr.t_us[s.last]).all()


def _frame(t_s, x_m) -> pd.DataFrame:
    t_s = np.asarray(t_s, float)
    x_m = np.asarray(x_m, float)
    return pd.DataFrame(
        {
            "ts": pd.to_datetime((t_s * US).astype(np.int64), unit="us", utc=True),
            "lat": np.full(t_s.size, 46.0),
            "lon": -1.0 + x_m / (M_PER_DEG * np.cos(np.radians(46.0))),
        }
    )


def test_a_walk_across_the_antimeridian_is_a_short_trip():
    """Taveuni (Fiji) lies on the 180th meridian: a stay on it, a 10-minute walk east, a stay."""
    from mobco2.segment import segment_points

    still = np.arange(0, 1800, 30)
    walk = np.arange(1800, 2400, 5)
    t = np.r_[still, walk, still + 2400]
    on_meridian = np.where(np.arange(still.size) % 2, 179.9999, -179.9999)
    lon_walk = -179.9999 + (walk - 1800) / 600 * 0.0100  # ~1.1 km east
    lon = np.r_[on_meridian, lon_walk, np.full(still.size, -179.9899)]
    frame = pd.DataFrame({"ts": pd.to_datetime(t, unit="s", utc=True), "lat": -16.83, "lon": lon})
    res = segment_points(pa.Table.from_pandas(frame, preserve_index=False), user_id="fiji")
    stays = res.stays.to_pandas()
    assert len(stays) == 2 and (stays.lon.abs() > 179.98).all()
    trips = res.trips.to_pandas()
    assert len(trips) == 1 and 800 < trips.distance_m.iloc[0] < 1500
    assert res.legs.column("mode").to_pylist() == ["walk"]
