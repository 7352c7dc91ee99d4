"""Segmentation of the demo data set scored against its ground truth (sample_data/README.md).

The three demo files go through the real importer into a real store as user ``demo`` and are
segmented by :func:`mobco2.segment.segment`; ``sample_data/ground_truth.json`` says what happened.
How each figure is scored:

* **trip count**: stored trips against true trips, within ±10 %;
* **trip match**: a true trip is matched when one stored trip starts within 10 minutes of its
  start *and* ends within 10 minutes of its end; at least 90 % of true trips are matched;
* **leg-mode accuracy**, time-weighted: every true leg is sampled every 5 s; a sample is right
  when the stored leg covering that instant has the true mode (an instant no stored leg covers,
  e.g. one taken for a stay, is wrong). Metro legs are left out of this score: they run
  underground with no fixes at all, so nothing in the GPS data can say "metro" (the stored leg
  there is a bare jump across a gap, left ``unknown``); the score with them has a lower floor;
* **the TGV legs**: no stored leg is ``plane``; each true ``hsr`` leg is covered ≥ 90 % of its time
  by stored ``hsr`` legs, and the stored ``hsr`` distance is within 10 % of the true one (a
  carbon account cares about kilometres: a plane factor is ~50× a TGV's).

Figures at the time of writing: 60 trips for 60 true, all 60 matched (station waits of 10-25
minutes before boarding are transfers, not stays), accuracy 0.92 without metro and 0.90 with it
(walks lose ~40 s at each end to the stays around them; bus legs are half right), no plane,
750 km of hsr for 752 true.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mobco2.ingest import import_paths
from mobco2.segment import segment
from mobco2.store import Store
from tests.conftest import REPO
from tests.segment import gen

DEMO = REPO / "sample_data"
US = 1_000_000


def _us(col: pd.Series) -> np.ndarray:
    return pd.to_datetime(col, utc=True).astype("datetime64[us, UTC]").astype("int64").to_numpy()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(stored trips, stored legs, true trips, true legs) for the demo person."""
    with pytest.MonkeyPatch.context() as mp:  # module scope: isolate the environment here too
        mp.setenv("MOBCO2_HOME", str(tmp_path_factory.mktemp("home")))
        mp.setenv("MOBCO2_STORE_LOCK_TIMEOUT_S", "5")
        store = Store(tmp_path_factory.mktemp("demo") / "store")
        files = sorted([*DEMO.glob("*.gpx"), *DEMO.glob("*.tracemob.json.gz")])
        assert len(files) == 3
        assert import_paths(store, files, user_id="demo").exit_code == 0
        segment(store, user_id="demo")
        with store.reader() as con:
            trips, legs = (
                con.sql(f"SELECT * EXCLUDE (year, month) FROM {t} ORDER BY started_at").to_arrow_table().to_pandas()
                for t in ("trips", "legs")
            )
    truth = json.loads((DEMO / "ground_truth.json").read_text())
    true_trips = pd.DataFrame(truth["trips"])
    true_legs = pd.DataFrame([leg for trip in truth["trips"] for leg in trip["legs"]])
    for frame in (true_trips, true_legs):
        frame["start_us"] = _us(frame.started_at)
        frame["end_us"] = _us(frame.finished_at)
    return trips, legs, true_trips, true_legs


def test_trip_count_within_ten_percent(demo):
    trips, _, true_trips, _ = demo
    assert abs(len(trips) - len(true_trips)) <= 0.1 * len(true_trips), (len(trips), len(true_trips))


def test_trips_start_and_end_within_ten_minutes(demo):
    trips, _, true_trips, _ = demo
    s, e = _us(trips.started_at), _us(trips.finished_at)
    tol = 600 * US
    hit = (np.abs(s[None, :] - true_trips.start_us.to_numpy()[:, None]) <= tol) & (
        np.abs(e[None, :] - true_trips.end_us.to_numpy()[:, None]) <= tol
    )
    matched = hit.any(axis=1)
    assert matched.mean() >= 0.9, true_trips.trip_id[~matched].tolist()


def test_time_weighted_leg_mode_accuracy(demo):
    _, legs, _, true_legs = demo
    seen = true_legs[true_legs["mode"] != "metro"]
    assert gen.leg_mode_accuracy(legs, seen) >= 0.85
    assert gen.leg_mode_accuracy(legs, true_legs) >= 0.8  # metro included: it cannot be right


def test_the_unseen_metro_legs_are_unknown_not_guessed(demo):
    """Underground there is not a single fix: the stored leg is a bare jump at ~12 km/h, which a
    bike, a bus or a metro could all make. It is left ``unknown`` (bounded in the footprint)."""
    _, legs, _, true_legs = demo
    s, e = _us(legs.started_at), _us(legs.finished_at)
    metro = true_legs[true_legs["mode"] == "metro"]
    assert len(metro) >= 1
    for _, m in metro.iterrows():
        covering = legs[(s < m.end_us) & (e > m.start_us)]
        bare = covering[covering.n_points <= 3]
        assert len(bare) >= 1 and set(bare["mode"]) == {"unknown"}, covering[["mode", "n_points"]]


def test_the_tgv_legs_are_hsr_never_plane(demo):
    _, legs, _, true_legs = demo
    assert "plane" not in set(legs["mode"])
    hsr = true_legs[true_legs["mode"] == "hsr"]
    assert len(hsr) == 2
    for _, leg in hsr.iterrows():
        assert gen.leg_mode_accuracy(legs, leg.to_frame().T) >= 0.9, leg.leg_id
    got_km = legs.loc[legs["mode"] == "hsr", "distance_m"].sum() / 1000
    true_km = hsr.distance_m.sum() / 1000
    assert abs(got_km - true_km) <= 0.1 * true_km, (got_km, true_km)
