"""Every real sample file, imported into a real store and segmented: nothing raises and the
result is consistent. Plus a property: ``segment_points`` never raises on small arbitrary inputs.

"Consistent" (:func:`check_consistent`): ids are unique; every interval runs forwards; every leg
belongs to a stored trip and lies within it, and a trip's legs do not overlap; trips overlap
neither each other nor any stay; stays do not overlap each other; distances are finite and
≥ 0; every leg's mode is in :data:`~mobco2.schema.MODES` and its ``mode_source`` in
:data:`~mobco2.schema.MODE_SOURCES`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobco2.ingest import import_paths
from mobco2.schema import MODE_SOURCES, MODES
from mobco2.segment import segment, segment_points
from mobco2.store import Store
from tests.conftest import SAMPLES

SAMPLE_FILES = sorted(
    str(p.relative_to(SAMPLES)) for p in SAMPLES.rglob("*") if p.is_file() and p.name != "SOURCES.md"
)


def _no_overlap(a: pd.DataFrame, b: pd.DataFrame | None = None) -> int:
    """How many pairs of intervals (within ``a``, or between ``a`` and ``b``) share some time."""
    s0, e0 = a.started_at.to_numpy(), a.finished_at.to_numpy()
    if b is None:
        s1, e1 = s0, e0
    else:
        s1, e1 = b.started_at.to_numpy(), b.finished_at.to_numpy()
    both = (s0[:, None] < e1[None, :]) & (s1[None, :] < e0[:, None])
    if b is None:
        both &= ~np.eye(len(a), dtype=bool)
        return int(both.sum()) // 2
    return int(both.sum())


def check_consistent(stays: pd.DataFrame, trips: pd.DataFrame, legs: pd.DataFrame) -> None:
    """Raise AssertionError naming the first inconsistency (see the module docstring)."""
    assert stays.stay_id.is_unique and trips.trip_id.is_unique and legs.leg_id.is_unique
    for name, t in (("stays", stays), ("trips", trips), ("legs", legs)):
        assert (t.started_at <= t.finished_at).all(), f"{name} running backwards"
    assert _no_overlap(stays) == 0, "stays overlap"
    assert _no_overlap(trips) == 0, "trips overlap"
    assert _no_overlap(trips, stays) == 0, "a trip overlaps a stay"
    for name, t in (("trips", trips), ("legs", legs)):
        d = t.distance_m.to_numpy(dtype=float)
        assert np.isfinite(d).all() and (d >= 0).all(), f"{name} distance_m: {d}"
    assert legs["mode"].isin(MODES).all(), set(legs["mode"])
    assert legs.mode_source.isin(MODE_SOURCES).all(), set(legs.mode_source)
    assert trips.main_mode.dropna().isin(MODES).all()
    assert legs.trip_id.isin(trips.trip_id).all(), "a leg without its trip"
    joined = legs.merge(trips, on="trip_id", suffixes=("", "_trip"))
    assert (joined.started_at >= joined.started_at_trip).all(), "a leg starts before its trip"
    assert (joined.finished_at <= joined.finished_at_trip).all(), "a leg ends after its trip"
    for _, group in legs.groupby("trip_id"):
        assert _no_overlap(group) == 0, "legs of one trip overlap"


@pytest.mark.parametrize("rel", SAMPLE_FILES)
def test_every_sample_imports_and_segments_consistently(samples, tmp_path, rel):
    store = Store(tmp_path / "store")
    summary = import_paths(store, [samples / rel], user_id="me", allow_rejects=True)
    if not any(f.status == "imported" for f in summary.files):
        return  # not location history (settings, timeline edits…): the importer said so
    run = segment(store)
    with store.reader() as con:
        stays, trips, legs = (
            con.sql(f"SELECT * EXCLUDE (year, month) FROM {name}").to_arrow_table().to_pandas()
            for name in ("stays", "trips", "legs")
        )
    assert (run.stays, run.trips, run.legs) == (len(stays), len(trips), len(legs))
    check_consistent(stays, trips, legs)
    assert segment(store).months_recomputed == 0  # and a re-run is a no-op


BASE_S = 1_725_170_400  # 2024-09-01T06:00Z


@st.composite
def point_sets(draw):
    """1–50 points: random times (duplicates likely), random or repeated places, one place only."""
    n = draw(st.integers(1, 50))
    span = draw(st.sampled_from([60, 3600, 86_400, 40 * 86_400]))
    times = draw(st.lists(st.integers(0, span), min_size=n, max_size=n))
    kind = draw(st.sampled_from(["same", "few", "town", "world"]))
    if kind == "same":
        lat = [draw(st.floats(-89, 89))] * n
        lon = [draw(st.floats(-180, 180))] * n
    elif kind == "few":  # a handful of places, revisited: many exact duplicates
        places = draw(st.lists(st.tuples(st.floats(46.0, 46.05), st.floats(-1.2, -1.15)), min_size=1, max_size=3))
        pick = draw(st.lists(st.integers(0, len(places) - 1), min_size=n, max_size=n))
        lat, lon = [places[i][0] for i in pick], [places[i][1] for i in pick]
    elif kind == "town":
        lat = draw(st.lists(st.floats(46.10, 46.12), min_size=n, max_size=n))
        lon = draw(st.lists(st.floats(-1.20, -1.17), min_size=n, max_size=n))
    else:
        lat = draw(st.lists(st.floats(-89.9, 89.9), min_size=n, max_size=n))
        lon = draw(st.lists(st.floats(-180, 180), min_size=n, max_size=n))
    acc = draw(st.one_of(st.none(), st.lists(st.floats(1, 500), min_size=n, max_size=n)))
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(np.asarray(times, np.int64) + BASE_S, unit="s", utc=True),
            "lat": np.asarray(lat, float),
            "lon": np.asarray(lon, float),
        }
    )
    if acc is not None:
        frame["accuracy_m"] = acc
    return frame


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(point_sets())
def test_segment_points_never_raises_on_small_point_sets(points):
    res = segment_points(points, user_id="me")
    check_consistent(res.stays.to_pandas(), res.trips.to_pandas(), res.legs.to_pandas())
