"""mobco2's stays against movingpandas' ``TrajectoryStopDetector`` on the same generated trace.

Same thresholds: movingpandas' ``max_diameter`` = 2 × our ``radius_m`` (200 m), 5 min. The
systematic differences, each asserted below:

1. **Splits.** movingpandas ends a stop at the first point that breaks the diameter: a GPS jump,
   a walk to another room, or a signal gap cuts one stay into several. We merge pieces that
   are within ``radius_m`` and less than ``merge_gap_s`` apart, and we bridge still gaps. So
   several of its stops fall inside one of ours, never the reverse.
2. **Waits at stops.** Its diameter is measured over the whole group, so a stop may reach
   ``radius_m`` on *both* sides of where the person stood, where ours is anchored at its first
   point. The walk in and out of a bus stop plus a 3-minute wait then passes its 5 minutes:
   its extra stops lie inside true legs (a wait on a platform), and are short.
3. **Edges.** We trim each stay to its core (points within half the radius of its centre), so
   our stays start a little later and end a little earlier: the walk in and out belongs to the
   trip.

Outside of these, the two agree on where time is spent: each covers ≥ 90 % of the other's
stop time.
"""

from __future__ import annotations

import warnings
from datetime import timedelta

import geopandas as gpd
import movingpandas as mpd
import numpy as np
import pandas as pd
import pytest

from mobco2.segment import detect_stays
from tests.segment import gen


def movingpandas_stops(points: pd.DataFrame, radius_m: float = 100, min_duration_s: float = 300) -> pd.DataFrame:
    frame = gpd.GeoDataFrame(
        {"t": points.ts.dt.tz_localize(None)}, geometry=gpd.points_from_xy(points.lon, points.lat), crs=4326
    ).set_index("t")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traj = mpd.Trajectory(frame, 1)
        ranges = mpd.TrajectoryStopDetector(traj).get_stop_time_ranges(
            min_duration=timedelta(seconds=min_duration_s), max_diameter=2 * radius_m
        )
    return pd.DataFrame(
        {
            "started_at": pd.to_datetime([r.t_0 for r in ranges]).tz_localize("UTC"),
            "finished_at": pd.to_datetime([r.t_n for r in ranges]).tz_localize("UTC"),
        }
    )


def _us(col: pd.Series) -> np.ndarray:
    return col.astype("int64").to_numpy() // gen._unit(col)


@pytest.fixture(scope="module")
def both():
    trace = gen.person_trace(2, seed=71)
    return trace, detect_stays(trace.points), movingpandas_stops(trace.points)


def test_both_agree_on_where_time_is_spent(both):
    _, ours, theirs = both
    ov = gen.overlap_us(_us(ours.started_at), _us(ours.finished_at), _us(theirs.started_at), _us(theirs.finished_at))
    ours_time = (_us(ours.finished_at) - _us(ours.started_at)).sum()
    theirs_time = (_us(theirs.finished_at) - _us(theirs.started_at)).sum()
    assert ov.sum() / ours_time >= 0.9
    assert ov.sum() / theirs_time >= 0.9


def test_difference_1_movingpandas_splits_stays_we_merge(both):
    _, ours, theirs = both
    ov = gen.overlap_us(_us(theirs.started_at), _us(theirs.finished_at), _us(ours.started_at), _us(ours.finished_at))
    dur = _us(theirs.finished_at) - _us(theirs.started_at)
    inside = ov.max(axis=1) >= 0.9 * dur
    per_ours = np.bincount(ov.argmax(axis=1)[inside], minlength=len(ours))
    assert per_ours.max() >= 2  # at least one of our stays is several of theirs
    assert len(theirs) > len(ours)
    # the reverse never happens: no stop of theirs overlaps two of ours substantially
    assert ((ov >= 0.2 * dur[:, None]).sum(axis=1) <= 1).all()


def test_difference_2_its_extra_stops_are_short_waits_inside_legs(both):
    trace, ours, theirs = both
    ov = gen.overlap_us(_us(theirs.started_at), _us(theirs.finished_at), _us(ours.started_at), _us(ours.finished_at))
    dur = _us(theirs.finished_at) - _us(theirs.started_at)
    extra = ov.sum(axis=1) < 0.5 * dur
    # The trace has short waits at lights and stops by construction: movingpandas must see some.
    assert extra.any(), "expected movingpandas to report waits inside legs as stops on this trace"
    legs = trace.legs
    in_legs = gen.overlap_us(
        _us(theirs.started_at)[extra], _us(theirs.finished_at)[extra], legs.start_us.to_numpy(), legs.end_us.to_numpy()
    ).sum(axis=1)
    assert (in_legs >= 0.5 * dur[extra]).all()  # inside true trips: a wait at a stop, not a stay
    assert (dur[extra] < 10 * 60 * 1e6).all()
    # against the truth we are the more precise
    truth = gen.truth_stays_frame(trace)
    p_ours, _ = gen.stay_precision_recall(ours, truth)
    p_theirs, _ = gen.stay_precision_recall(theirs, truth)
    assert p_ours >= p_theirs


def test_difference_3_our_stays_are_trimmed_to_their_core(both):
    _, ours, theirs = both
    o0, o1 = _us(ours.started_at), _us(ours.finished_at)
    t0, t1 = _us(theirs.started_at), _us(theirs.finished_at)
    ov = gen.overlap_us(o0, o1, t0, t1)
    first = ov.argmax(axis=1)
    # compare our start with the first of their stops we overlap; it starts no later than ours
    starts = np.array([t0[(ov[i] > 0)].min() for i in range(len(ours)) if (ov[i] > 0).any()])
    ours_starts = np.array([o0[i] for i in range(len(ours)) if (ov[i] > 0).any()])
    assert np.median(ours_starts - starts) >= 0
    assert first.size == len(ours)
