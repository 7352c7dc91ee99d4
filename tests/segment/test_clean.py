"""Cleaning: accuracy, null times, order, duplicates, spikes (and flights that are not spikes)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from mobco2.segment.clean import CleanStats, clean, track_from_table
from mobco2.segment.geo import M_PER_DEG
from mobco2.segment.params import SegmentParams

P = SegmentParams()


def _table(t_s, x_m, acc=None) -> pa.Table:
    t = [None if v is None else pd.Timestamp(int(v * 1e6), unit="us", tz="UTC") for v in t_s]
    cols = {
        "ts": pa.array(t, pa.timestamp("us", tz="UTC")),
        "lat": np.full(len(t_s), 46.0),
        "lon": -1.0 + np.asarray(x_m, float) / (M_PER_DEG * np.cos(np.radians(46.0))),
    }
    if acc is not None:
        cols["accuracy_m"] = pa.array(acc, pa.float32())
    return pa.table(cols)


def test_null_times_and_bad_accuracy_are_dropped_and_counted():
    stats = CleanStats()
    tr = clean(track_from_table(_table([0, None, 20, 30], [0, 5, 10, 15], [5, 5, 500, None])), P, stats)
    assert tr.t_us.tolist() == [0, 30_000_000]
    assert (stats.no_time, stats.inaccurate, stats.kept) == (1, 1, 2)


def test_out_of_order_is_sorted_and_duplicates_keep_the_most_accurate():
    tr = clean(track_from_table(_table([20, 0, 10, 10], [20, 0, 99, 10], [5, 5, 50, 8])), P)
    assert tr.t_us.tolist() == [0, 10_000_000, 20_000_000]
    assert tr.accuracy_m.tolist() == [5, 8, 5]


def test_a_speed_spike_goes_but_a_flight_stays():
    stats = CleanStats()
    tr = clean(track_from_table(_table([0, 1, 2, 3], [0, 1, 5000, 3])), P, stats)
    assert stats.spikes == 1 and len(tr) == 3
    # on a plane the neighbours themselves are fast: nothing is a spike
    tr = clean(track_from_table(_table([0, 10, 20, 30], [0, 2400, 5600, 7500])), P)
    assert len(tr) == 4


def test_a_two_point_excursion_is_removed():
    stats = CleanStats()
    clean(track_from_table(_table([0, 1, 2, 3, 4], [0, 4000, 4005, 3, 4])), P, stats)
    assert stats.spikes == 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 10_000), st.floats(-3000, 3000)), min_size=0, max_size=60))
def test_clean_output_is_sorted_unique_and_a_subset(rows):
    t = [r[0] for r in rows]
    x = [r[1] for r in rows]
    tr = clean(track_from_table(_table(t, x)), P)
    assert (np.diff(tr.t_us) > 0).all()
    assert set(tr.t_us.tolist()) <= {v * 1_000_000 for v in t}
