"""Real e-mission days: the Android day against e-mission's own reviewed timeline, and the
iPhone day (iOS records only while moving) segmented into plausible trips.

Points (with the dump's motion activity as mode hints) come from the real parser,
``mobco2.ingest.emission``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa

from mobco2.segment import segment_points
from tests.segment.test_sources import parse_real

DIR = "emission-tracemob"


def _points(path) -> pa.Table:
    points, _ = parse_real(path, "emission")
    return points


def test_android_day_matches_the_emission_ground_truth(samples):
    day = samples / DIR / "emission_shankari_2016-07-25.json"
    truth = json.loads((samples / DIR / "emission_shankari_2016-07-25.ground_truth.json").read_text())
    res = segment_points(_points(day), user_id="shankari")
    trips = res.trips.to_pandas().sort_values("started_at")
    expected = [(t["properties"]["start_ts"], t["properties"]["end_ts"]) for t in truth["data"]]
    assert len(trips) == len(expected) == 2
    for (_, trip), (s, e) in zip(trips.iterrows(), expected, strict=True):
        assert abs(trip.started_at.timestamp() - s) <= 300
        assert abs(trip.finished_at.timestamp() - e) <= 300
    assert (trips.tz == "America/Los_Angeles").all()
    # e-mission's sections say BICYCLING: the speed profile alone says bike too
    assert set(res.legs.column("mode").to_pylist()) == {"bike"}


def test_iphone_day_segments_into_plausible_trips(samples):
    """Plausible means: a night stay and a day stay more than 20 km apart, joined by one commute
    of 50-150 km lasting 1-3 h whose main mode is motorised and that starts and ends on foot
    (the dump's motion activity says walk/cycle, automotive, walk, automotive, walk); stays and
    trips do not overlap; nothing else moves that day (the last points are at the workplace)."""
    res = segment_points(_points(samples / DIR / "emission_iphone_2015-11-06.json"), user_id="iphone")
    stays = res.stays.to_pandas().sort_values("started_at")
    trips = res.trips.to_pandas().sort_values("started_at")
    legs = res.legs.to_pandas().sort_values("started_at")
    assert len(stays) == 2 and len(trips) == 1
    night, day = stays.iloc[0], stays.iloc[1]
    assert night.finished_at - night.started_at > pd.Timedelta(hours=5)
    from mobco2.segment.geo import haversine_m

    assert haversine_m(night.lat, night.lon, day.lat, day.lon) > 20_000
    trip = trips.iloc[0]
    assert 50_000 <= trip.distance_m <= 150_000
    assert pd.Timedelta(hours=1) <= trip.finished_at - trip.started_at <= pd.Timedelta(hours=3)
    assert trip.main_mode in {"car", "bus", "train", "tram", "metro", "rer", "intercity"}
    assert legs.iloc[-1]["mode"] == "walk"
    motor = legs[legs["mode"].isin(["car", "bus", "train"])]
    assert motor.distance_m.sum() >= 0.9 * trip.distance_m
    spans = pd.concat([stays[["started_at", "finished_at"]], trips[["started_at", "finished_at"]]])
    spans = spans.sort_values("started_at")
    assert (spans.started_at.to_numpy()[1:] >= spans.finished_at.to_numpy()[:-1]).all()
    assert np.all(trips.tz == "America/Los_Angeles")


def test_both_days_through_the_importer_and_a_store(samples, tmp_path):
    from mobco2.ingest.importer import import_paths
    from mobco2.segment import segment
    from mobco2.store import Store

    store = Store(tmp_path / "store")
    files = [samples / DIR / "emission_shankari_2016-07-25.json", samples / DIR / "emission_iphone_2015-11-06.json"]
    assert import_paths(store, files, user_id="me").exit_code == 0
    summary = segment(store)
    assert (summary.months_recomputed, summary.trips) == (2, 3)
    trips = store.query("SELECT main_mode, tz FROM trips ORDER BY started_at").to_pandas()
    assert (trips.tz == "America/Los_Angeles").all()
    assert trips.main_mode.tolist()[1:] == ["bike", "bike"]
    assert segment(store).months_recomputed == 0
