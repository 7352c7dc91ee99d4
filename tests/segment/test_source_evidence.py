"""The source's own segments and visits against sparse points (mobco2.segment.sources_merge).

The day of issue 16, written in each real format that carries segments and visits (Google
Semantic Location History, on-device Timeline on Android and on iOS, e-mission processed
trips), imported through :func:`mobco2.ingest.import_paths` into a real store and segmented:
two car segments (19:17–19:58 UTC, 19.5 km; 21:05–21:30 UTC, 6.0 km) with a visit between
them and a few sparse points. Each must give two trips, each a car leg decided by the source,
with the source's distance (the sparse points' chords are far shorter) and the car factor's
CO2e.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobco2.emissions import load_factor_set
from mobco2.ingest import import_paths
from mobco2.schema import POINTS, SOURCE_SEGMENTS, SOURCE_VISITS, conform
from mobco2.segment import explain, segment, segment_points
from mobco2.store import Store
from tests.segment.test_real_samples import check_consistent

DAY = datetime(2024, 3, 14, tzinfo=UTC)
A, B, C = (46.1600, -1.1500), (46.2600, -1.0500), (46.2300, -1.0200)
"""Home, a friend's, a restaurant: 13.5 km and 4.0 km apart as the crow flies."""
LEG1 = (DAY.replace(hour=19, minute=17), DAY.replace(hour=19, minute=58), A, B, 19_500.0)
LEG2 = (DAY.replace(hour=21, minute=5), DAY.replace(hour=21, minute=30), B, C, 6_000.0)
VISIT = (LEG1[1], LEG2[0], B)
SPARSE = [  # (minutes after the leg's start, share of the way): a phone that wakes up now and then
    (5, 0.2), (21, 0.55), (35, 0.9),
]
SPARSE2 = [(7, 0.3), (19, 0.8)]


def _along(a, b, share):
    return a[0] + (b[0] - a[0]) * share, a[1] + (b[1] - a[1]) * share


def _sparse_points():
    """(time, lat, lon) of the day's few raw fixes: three in the first drive, one at the visit, two in the second."""
    out = [(LEG1[0] + timedelta(minutes=m), *_along(A, B, f)) for m, f in SPARSE]
    out.append((DAY.replace(hour=20, minute=30), *B))
    out += [(LEG2[0] + timedelta(minutes=m), *_along(B, C, f)) for m, f in SPARSE2]
    return out


def _iso(t: datetime, offset_min: int = 0) -> str:
    tz = UTC if offset_min == 0 else __import__("datetime").timezone(timedelta(minutes=offset_min))
    return t.astimezone(tz).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _e7(x: float) -> int:
    return round(x * 1e7)


# -- the day in each format -----------------------------------------------------------------------


def semantic_day(raw_points: bool = True, confirmed: bool = False) -> dict:
    pts = _sparse_points() if raw_points else []

    def inside(s, e):
        return [{"latE7": _e7(la), "lngE7": _e7(lo), "accuracyMeters": 15, "timestamp": _iso(t)}
                for t, la, lo in pts if s <= t < e]

    def drive(s, e, a, b, d):
        seg = {
            "startLocation": {"latitudeE7": _e7(a[0]), "longitudeE7": _e7(a[1])},
            "endLocation": {"latitudeE7": _e7(b[0]), "longitudeE7": _e7(b[1])},
            "duration": {"startTimestamp": _iso(s), "endTimestamp": _iso(e)},
            "distance": int(d), "activityType": "IN_PASSENGER_VEHICLE", "confidence": "HIGH",
            "activities": [{"activityType": "IN_PASSENGER_VEHICLE", "probability": 97.1}],
            "simplifiedRawPath": {"points": inside(s, e)},
        }
        if confirmed:
            seg["editConfirmationStatus"] = "CONFIRMED"
        return {"activitySegment": seg}

    s, e, place = VISIT
    visit = {"placeVisit": {
        "location": {"latitudeE7": _e7(place[0]), "longitudeE7": _e7(place[1]), "placeId": "ChIJfriend",
                     "name": "Friend"},
        "duration": {"startTimestamp": _iso(s), "endTimestamp": _iso(e)},
        "placeConfidence": "HIGH_CONFIDENCE", "visitConfidence": 93,
        "simplifiedRawPath": {"points": inside(s, e)},
    }}
    return {"timelineObjects": [drive(*LEG1), visit, drive(*LEG2)]}


def android_day() -> dict:
    off = 60  # Paris in March

    def ll(p):
        return f"{p[0]:.7f}°, {p[1]:.7f}°"

    def span(s, e):
        return {"startTime": _iso(s, off), "endTime": _iso(e, off),
                "startTimeTimezoneUtcOffsetMinutes": off, "endTimeTimezoneUtcOffsetMinutes": off}

    def drive(s, e, a, b, d):
        return {**span(s, e), "activity": {"start": {"latLng": ll(a)}, "end": {"latLng": ll(b)}, "distanceMeters": d,
                                           "probability": 0.98,
                                           "topCandidate": {"type": "IN_PASSENGER_VEHICLE", "probability": 0.93}}}

    s, e, place = VISIT
    visit = {**span(s, e), "visit": {"hierarchyLevel": 0, "probability": 0.9, "topCandidate": {
        "placeId": "ChIJfriend", "semanticType": "UNKNOWN", "probability": 0.8,
        "placeLocation": {"latLng": ll(place)}}}}
    bucket = {"startTime": _iso(DAY.replace(hour=19), off), "endTime": _iso(DAY.replace(hour=21), off),
              "timelinePath": [{"point": ll((la, lo)), "time": _iso(t, off)} for t, la, lo in _sparse_points()
                               if t < DAY.replace(hour=21)]}
    bucket2 = {"startTime": _iso(DAY.replace(hour=21), off), "endTime": _iso(DAY.replace(hour=23), off),
               "timelinePath": [{"point": ll((la, lo)), "time": _iso(t, off)} for t, la, lo in _sparse_points()
                                if t >= DAY.replace(hour=21)]}
    return {"semanticSegments": [drive(*LEG1), visit, bucket, drive(*LEG2), bucket2]}


def ios_day() -> list:
    off = 60

    def geo(p):
        return f"geo:{p[0]:.6f},{p[1]:.6f}"

    def drive(s, e, a, b, d):
        return {"endTime": _iso(e, off), "startTime": _iso(s, off),
                "activity": {"end": geo(b), "start": geo(a), "distanceMeters": f"{d:.6f}",
                             "topCandidate": {"type": "in passenger vehicle", "probability": "0.930000"}}}

    s, e, place = VISIT
    visit = {"endTime": _iso(e, off), "startTime": _iso(s, off), "visit": {
        "hierarchyLevel": "0", "probability": "0.900000",
        "topCandidate": {"probability": "0.800000", "semanticType": "Unknown", "placeID": "ChIJfriend",
                         "placeLocation": geo(place)}}}
    start = DAY.replace(hour=19)
    bucket = {"endTime": _iso(start + timedelta(hours=4)), "startTime": _iso(start), "timelinePath": [
        {"point": geo((la, lo)), "durationMinutesOffsetFromStartTime": str(int((t - start).total_seconds() // 60))}
        for t, la, lo in _sparse_points()]}
    return [drive(*LEG1), visit, bucket, drive(*LEG2)]


def emission_day() -> dict:
    """e-mission processed trips: one FeatureCollection per trip, its places and its section."""
    pts = _sparse_points()

    def place(kind, pid, p, enter, leave):
        props = {"feature_type": kind, "enter_local_dt": {"timezone": "Europe/Paris"}}
        if enter is not None:
            props["enter_ts"] = enter.timestamp()
        if leave is not None:
            props["exit_ts"] = leave.timestamp()
        return {"type": "Feature", "id": pid, "geometry": {"type": "Point", "coordinates": [p[1], p[0]]},
                "properties": props}

    def trip(s, e, a, b, d, first, second):
        inside = [(s, *a)] + [x for x in pts if s < x[0] < e] + [(e, *b)]
        section = {"type": "Feature", "geometry": {"type": "LineString",
                                                   "coordinates": [[lo, la] for _, la, lo in inside]},
                   "properties": {"feature_type": "section", "start_ts": s.timestamp(), "end_ts": e.timestamp(),
                                  "sensed_mode": "PredictedModeTypes.CAR", "distance": d,
                                  "timestamps": [int(t.timestamp() * 1000) for t, _, _ in inside],
                                  "start_local_dt": {"timezone": "Europe/Paris"}}}
        return {"type": "FeatureCollection",
                "properties": {"feature_type": "trip", "start_ts": s.timestamp(), "end_ts": e.timestamp(),
                               "distance": d, "duration": (e - s).total_seconds()},
                "features": [first, second, {"type": "FeatureCollection", "features": [section]}]}

    home = place("start_place", "p1", A, LEG1[0], LEG1[0])  # the day's first place: e-mission knows no start
    friend_in = place("end_place", "p2", B, VISIT[0], VISIT[1])
    friend_out = place("start_place", "p2", B, VISIT[0], VISIT[1])
    restaurant = place("end_place", "p3", C, LEG2[1], None)
    return {"metadata": {"key": "diary/trips-2024-03-14"},
            "data": [trip(*LEG1, home, friend_in), trip(*LEG2, friend_out, restaurant)]}


# -- checks ------------------------------------------------------------------------------------------


def _store_with(tmp_path, name: str, doc) -> Store:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    store = Store(tmp_path / "store")
    summary = import_paths(store, [path], user_id="me")
    assert summary.exit_code == 0, summary.files
    segment(store)
    return store


def _tables(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    trips = store.query("SELECT * FROM trips ORDER BY started_at").to_pandas()
    legs = store.query("SELECT * FROM legs ORDER BY started_at").to_pandas()
    return trips, legs


def check_two_car_trips(store: Store) -> tuple[pd.DataFrame, pd.DataFrame]:
    trips, legs = _tables(store)
    assert len(trips) == 2, trips[["started_at", "finished_at", "distance_m", "main_mode"]]
    fs = load_factor_set()
    for trip, (s, _, _, _, km_m) in zip(trips.itertuples(), (LEG1, LEG2), strict=True):
        # the visit ends the first trip and starts the second
        assert trip.finished_at <= pd.Timestamp(VISIT[1]) if s < VISIT[0] else trip.started_at >= pd.Timestamp(VISIT[0])
        mine = legs[legs.trip_id == trip.trip_id]
        assert len(mine) == 1, mine[["mode", "mode_source", "distance_m"]]
        leg = mine.iloc[0]
        assert leg["mode"] == "car" and leg.mode_source == "source"
        assert trip.main_mode == "car"
        assert abs(leg.distance_m - km_m) <= 0.05 * km_m, leg.distance_m
        assert abs(trip.distance_m - km_m) <= 0.05 * km_m, trip.distance_m
        set_id, factor = leg.factor_id.split(":", 1)
        assert set_id == fs.id
        row = fs.row(factor)
        assert "car" in row.modes
        assert leg.co2e_kg == pytest.approx(leg.distance_m / 1000 * row.g_per_km("full") / 1000, rel=1e-6)
        assert trip.co2e_kg == pytest.approx(leg.co2e_kg)
    return trips, legs


def test_the_semantic_day_of_the_issue(tmp_path):
    store = _store_with(tmp_path, "2024_MARCH.json", semantic_day())
    trips, _ = check_two_car_trips(store)
    # the sparse points alone are much shorter than the road: the source measured these legs
    why = explain(store, trips.trip_id.iloc[0])
    leg = why["legs"][0]
    assert leg["distance_from"] == "source" and leg["mode_source"] == "source"
    assert leg["reason"].startswith("source (sensed)") and leg["evidence"]["kind"] == "source (sensed)"
    assert "google_semantic" in leg["reason"] and leg["evidence"]["origin"] == "google_semantic"


def test_a_segment_the_user_confirmed_in_the_app_is_the_sources_label(tmp_path):
    store = _store_with(tmp_path, "2024_MARCH.json", semantic_day(confirmed=True))
    trips, _ = check_two_car_trips(store)
    leg = explain(store, trips.trip_id.iloc[0])["legs"][0]
    assert leg["reason"].startswith("source (confirmed)") and leg["mode_conf"] >= 0.9


def test_a_day_with_only_segments_and_visits_keeps_working(tmp_path):
    store = _store_with(tmp_path, "2024_MARCH.json", semantic_day(raw_points=False))
    check_two_car_trips(store)
    assert store.query("SELECT count(*) AS n FROM points").to_pandas().n[0] == 0


def test_the_android_timeline_day(tmp_path):
    store = _store_with(tmp_path, "Timeline.json", android_day())
    check_two_car_trips(store)


def test_the_ios_timeline_day(tmp_path):
    store = _store_with(tmp_path, "location-history.json", ios_day())
    check_two_car_trips(store)


def test_the_emission_processed_trips_day(tmp_path):
    store = _store_with(tmp_path, "trips.json", emission_day())
    check_two_car_trips(store)


def test_the_visit_separates_trips_even_when_it_is_short(tmp_path):
    """A 4-minute visit (a drop-off) is far below every stay threshold; it still ends the trip."""
    doc = semantic_day()
    visit = doc["timelineObjects"][1]["placeVisit"]
    short_end = VISIT[0] + timedelta(minutes=4)
    visit["duration"]["endTimestamp"] = _iso(short_end)
    visit["simplifiedRawPath"]["points"] = []
    seg2 = doc["timelineObjects"][2]["activitySegment"]
    seg2["duration"]["startTimestamp"] = _iso(short_end)
    store = _store_with(tmp_path, "2024_MARCH.json", doc)
    trips, _ = _tables(store)
    assert len(trips) == 2
    assert trips.finished_at.iloc[0] <= pd.Timestamp(VISIT[0]) < trips.started_at.iloc[1]


def test_a_user_label_over_the_visit_merges_the_two_trips(tmp_path):
    from tests.segment.test_sources import parse_real

    path = tmp_path / "2024_MARCH.json"
    path.write_text(json.dumps(semantic_day()), encoding="utf-8")
    points, segs = parse_real(path, "google_semantic")
    visits = _visits_of(path)
    apart = segment_points(points, segs, source_visits=visits, user_id="me")
    assert apart.trips.num_rows == 2
    label = pd.DataFrame([{"user_id": "me", "started_at": pd.Timestamp(LEG1[0]), "finished_at": pd.Timestamp(LEG2[1]),
                           "mode": "car", "origin": "user", "set_at": pd.Timestamp.now(tz="UTC")}])
    merged = segment_points(points, segs, label, source_visits=visits, user_id="me")
    assert merged.trips.num_rows == 1


def _visits_of(path):
    from mobco2.ingest.base import ParseContext, Source
    from mobco2.ingest.google_semantic import parse

    return next(b.source_visits for b in parse(Source.from_path(path), ParseContext(str(path)))
                if b.source_visits is not None)


def test_points_that_contradict_the_segment_are_reported(tmp_path):
    """Dense fixes at walking pace inside a "car" segment: the source decides, --explain says so."""
    doc = semantic_day()
    seg = doc["timelineObjects"][0]["activitySegment"]
    s, e = LEG1[0], LEG1[1]
    n = int((e - s).total_seconds() // 10)
    walk = [(s + timedelta(seconds=10 * i), A[0] + i * 1.2e-4 * 10 / 13.3, A[1]) for i in range(n)]
    seg["simplifiedRawPath"]["points"] = [
        {"latE7": _e7(la), "lngE7": _e7(lo), "accuracyMeters": 8, "timestamp": _iso(t)} for t, la, lo in walk]
    seg["endLocation"] = {"latitudeE7": _e7(walk[-1][1]), "longitudeE7": _e7(walk[-1][2])}
    seg["distance"] = 3000
    store = _store_with(tmp_path, "2024_MARCH.json", doc)
    trips, legs = _tables(store)
    first = legs[legs.trip_id == trips.trip_id.iloc[0]]
    assert set(first["mode"]) == {"car"}
    why = explain(store, trips.trip_id.iloc[0])
    assert any(leg["conflict"] and "source decides" in leg["conflict"] for leg in why["legs"])
    # dense points measure the path themselves
    assert all(leg["distance_from"] == "points" for leg in why["legs"])


def test_a_trip_is_never_shorter_than_the_straight_line_between_its_ends(tmp_path):
    doc = semantic_day(raw_points=False)
    doc["timelineObjects"][0]["activitySegment"]["distance"] = 2000  # the source under-reports
    store = _store_with(tmp_path, "2024_MARCH.json", doc)
    trips, _ = _tables(store)
    from mobco2.segment.geo import haversine_m

    crow = float(haversine_m(np.array([A[0]]), np.array([A[1]]), np.array([B[0]]), np.array([B[1]]))[0])
    assert trips.distance_m.iloc[0] == pytest.approx(crow, rel=1e-3)
    why = explain(store, trips.trip_id.iloc[0])
    assert why["legs"][0]["distance_from"] == "straight line"


BASE = pd.Timestamp("2024-03-14T06:00:00Z")


@st.composite
def days_with_sources(draw):
    """Random points, source segments and visits over a few hours: overlapping, touching,
    inside one another, without raw points, with or without coordinates."""
    def when(lo=0, hi=6 * 3600):
        return BASE + pd.Timedelta(seconds=draw(st.integers(lo, hi)))

    def place():
        return draw(st.floats(46.10, 46.30)), draw(st.floats(-1.20, -1.00))

    n = draw(st.integers(0, 40))
    pts = sorted({when() for _ in range(n)})
    points = pd.DataFrame({"user_id": "me", "ts": pd.to_datetime(pts, utc=True), "lat": [place()[0] for _ in pts],
                           "lon": [place()[1] for _ in pts]})
    segs = []
    for _ in range(draw(st.integers(0, 5))):
        s = when()
        e = s + pd.Timedelta(seconds=draw(st.integers(1, 7200)))
        (a0, o0), (a1, o1) = place(), place()
        placed = draw(st.booleans())
        segs.append({"user_id": "me", "started_at": s, "finished_at": e,
                     "mode": draw(st.sampled_from(["car", "walk", "bike", "bus", "unknown"])),
                     "distance_m": draw(st.one_of(st.none(), st.floats(0, 50_000))),
                     "start_lat": a0 if placed else None, "start_lon": o0 if placed else None,
                     "end_lat": a1, "end_lon": o1, "origin": "google_semantic", "import_id": "t"})
    visits = []
    for _ in range(draw(st.integers(0, 4))):
        s = when()
        e = s + pd.Timedelta(seconds=draw(st.integers(1, 7200)))
        la, lo = place()
        visits.append({"user_id": "me", "started_at": s, "finished_at": e, "lat": la, "lon": lo,
                       "origin": "google_semantic", "import_id": "t"})
    return points, segs, visits


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(days_with_sources())
def test_any_mix_of_points_segments_and_visits_segments_consistently(day):
    points, segs, visits = day
    pts = conform(pa.Table.from_pandas(points.assign(source_format="t", import_id="t"), preserve_index=False), POINTS)
    seg_t = conform(pa.Table.from_pylist(segs), SOURCE_SEGMENTS) if segs else None
    vis_t = conform(pa.Table.from_pylist(visits), SOURCE_VISITS) if visits else None
    res = segment_points(pts, seg_t, source_visits=vis_t, user_id="me")
    stays, trips, legs = res.stays.to_pandas(), res.trips.to_pandas(), res.legs.to_pandas()
    check_consistent(stays, trips, legs)
    # every visit long enough to matter lies within stays, never inside a trip
    for v in visits:
        inside = trips[(trips.started_at > v["started_at"]) & (trips.finished_at < v["finished_at"])]
        assert inside.empty, (v, inside[["started_at", "finished_at"]])


def test_a_visit_wins_over_points_that_move_during_it_and_explain_says_so(tmp_path):
    """Points walking 1.3 km away and back during the visit: the visit is a stay all the same."""
    doc = semantic_day()
    visit = doc["timelineObjects"][1]["placeVisit"]
    s = VISIT[0] + timedelta(minutes=10)
    walk = [(s + timedelta(seconds=20 * i), B[0] + 1.2e-4 * min(i, 120 - i), B[1]) for i in range(121)]
    visit["simplifiedRawPath"]["points"] = [
        {"latE7": _e7(la), "lngE7": _e7(lo), "accuracyMeters": 8, "timestamp": _iso(t)} for t, la, lo in walk]
    store = _store_with(tmp_path, "2024_MARCH.json", doc)
    trips, _ = _tables(store)
    assert len(trips) == 2
    assert trips.finished_at.iloc[0] <= pd.Timestamp(VISIT[0]) and trips.started_at.iloc[1] >= pd.Timestamp(VISIT[1])
    why = explain(store, trips.trip_id.iloc[0])
    notes = [leg["conflict"] for leg in why["legs"] if leg["conflict"]]
    assert notes and "visit" in notes[-1] and "always ends a trip" in notes[-1]


def test_the_points_standing_still_inside_a_car_segment_are_no_stay(tmp_path):
    """Twelve minutes stuck in a jam mid-drive, dense fixes: the source's segment says moving."""
    doc = semantic_day()
    seg = doc["timelineObjects"][0]["activitySegment"]
    s = LEG1[0]
    fixes = []
    for i in range(0, 41 * 60, 15):
        share = min(i, 15 * 60) / (41 * 60) + max(i - 27 * 60, 0) / (41 * 60)  # still from 15 to 27 min
        fixes.append((s + timedelta(seconds=i), *_along(A, B, min(share, 1.0))))
    seg["simplifiedRawPath"]["points"] = [
        {"latE7": _e7(la), "lngE7": _e7(lo), "accuracyMeters": 8, "timestamp": _iso(t)} for t, la, lo in fixes]
    store = _store_with(tmp_path, "2024_MARCH.json", doc)
    trips, legs = _tables(store)
    assert len(trips) == 2
    first = trips.iloc[0]
    assert first.started_at <= pd.Timestamp(LEG1[0]) + pd.Timedelta(minutes=1)
    assert set(legs[legs.trip_id == first.trip_id]["mode"]) == {"car"}
    why = explain(store, first.trip_id)
    assert any(leg["conflict"] and "not a stay" in leg["conflict"] for leg in why["legs"])
