"""e-mission / TraceMob parser: real dumps and trips, labels, broken input, property tests."""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobco2.errors import InputDataError
from mobco2.ingest import emission, emission_tables, modes
from mobco2.ingest.base import ParseContext, Source
from mobco2.schema import LABELS, POINTS, SOURCE_SEGMENTS, SOURCE_VISITS, TS

UTC = dt.UTC
FOLDER = "emission-tracemob"


def parse_source(source: Source) -> tuple[dict[str, pa.Table], ParseContext]:
    ctx = ParseContext(source_name=source.name)
    out: dict[str, list[pa.Table]] = {}
    for batch in emission.parse(source, ctx):
        for kind in ("points", "labels", "source_segments", "source_visits"):
            table = getattr(batch, kind)
            if table is not None:
                out.setdefault(kind, []).append(table)
    return {k: pa.concat_tables(v) for k, v in out.items()}, ctx


def parse_json(value, name: str = "dump.json") -> tuple[dict[str, pa.Table], ParseContext]:
    return parse_source(Source.from_bytes(name, json.dumps(value).encode()))


def load(samples, name: str):
    return json.loads((samples / FOLDER / name).read_text())


def when(seconds: float) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=round(seconds * 1e6))


def check_schema(tables: dict[str, pa.Table]) -> None:
    schemas = {"points": POINTS, "labels": LABELS, "source_segments": SOURCE_SEGMENTS, "source_visits": SOURCE_VISITS}
    for kind, table in tables.items():
        schema = schemas[kind]
        for name in table.column_names:
            if name != "record":
                assert table.schema.field(name).type == schema.field(name).type, (kind, name)


# the test's own reading of MotionTypes (e-mission motionactivity.py) → our modes
MOTION = {0: "car", 1: "bike", 2: "walk", 3: None, 4: "unknown", 5: None, 7: "walk", 8: "run", 9: None, 10: "car"}


def expected_hints(locations: list[dict], activities: list[dict]) -> list[tuple]:
    """A slow, obvious oracle: for each location, the latest activity at most 300 s older that is
    not UNKNOWN (4), TILTING (5) or NONE (9)."""
    acts = sorted((a for a in activities if a["type"] not in (4, 5, 9)), key=lambda a: a["ts"])
    out = []
    for loc in sorted(locations, key=lambda x: x["ts"]):
        best = None
        for a in acts:
            if a["ts"] <= loc["ts"]:
                best = a
        if best is None or loc["ts"] - best["ts"] > 300 or MOTION[best["type"]] is None:
            out.append((None, None))
        else:
            out.append((MOTION[best["type"]], best["confidence"] / 100))
    return out


# --------------------------------------------------------------------------- real samples


def test_android_dump_prefers_filtered_locations(samples):
    raw = load(samples, "emission_shankari_2016-07-25.json")
    tables, ctx = parse_source(Source.from_path(samples / FOLDER / "emission_shankari_2016-07-25.json"))
    check_schema(tables)
    assert set(tables) == {"points"}
    points = tables["points"].to_pylist()
    by_key = {}
    for e in raw:
        by_key.setdefault(e["metadata"]["key"], []).append(e["data"])
    filtered = by_key["background/filtered_location"]
    assert len(points) == len(filtered) == 42
    assert ctx.skipped == 44 + 20  # the raw location stream and the battery entries
    assert ctx.rejected == 0
    assert points[0]["ts"] == dt.datetime(2016, 7, 26, 0, 12, 27, 853000, tzinfo=UTC)  # 17:12:27.853-07:00
    assert points[-1]["ts"] == dt.datetime(2016, 7, 26, 0, 33, 44, tzinfo=UTC)
    assert (points[0]["lat"], points[0]["lon"]) == (37.392124, -122.0908901)
    assert (points[-1]["lat"], points[-1]["lon"]) == (37.3909434, -122.0864375)
    assert points[0]["accuracy_m"] == pytest.approx(20.017) and points[0]["record"] == "entry 18"
    assert {p["tz_offset_min"] for p in points} == {-420}
    for p, f in zip(points, sorted(filtered, key=lambda x: x["ts"]), strict=True):
        assert p["ts"] == when(f["ts"]) and p["lat"] == f["latitude"] and p["lon"] == f["longitude"]
        assert p["speed_mps"] == pytest.approx(f["sensed_speed"]) and p["heading_deg"] == pytest.approx(f["heading"])
    hints = [(p["mode_hint"], p["mode_hint_conf"]) for p in points]
    for (mode, conf), (want_mode, want_conf) in zip(
        hints, expected_hints(filtered, by_key["background/motion_activity"]), strict=True
    ):
        assert mode == want_mode
        assert (conf is None) if want_conf is None else conf == pytest.approx(want_conf)
    assert sum(m == "bike" for m, _ in hints) == 20  # 17 before TILTING and UNKNOWN were skipped
    # a new segment after each pause (STOPPED_MOVING) or restart of the phone's tracking
    marks = sorted(d["ts"] for d in by_key["statemachine/transition"] if d["transition"] in (2, 3, 4))
    pts_ts = sorted(f["ts"] for f in filtered)
    starts = {0} | {next(i for i, t in enumerate(pts_ts) if t >= m) for m in marks if m <= pts_ts[-1]}
    assert [p["segment_start"] for p in points] == [i in starts for i in range(len(points))]
    assert sum(p["segment_start"] for p in points) == 3  # the first point and two after a stop or a boot


def test_ios_dump_booleans_and_unknown_speed(samples):
    raw = load(samples, "emission_iphone_2015-11-06.json")
    tables, ctx = parse_source(Source.from_path(samples / FOLDER / "emission_iphone_2015-11-06.json"))
    points = tables["points"]
    locations = [e["data"] for e in raw if e["metadata"]["key"] == "background/location"]
    activities = [e["data"] for e in raw if e["metadata"]["key"] == "background/motion_activity"]
    assert points.num_rows == len(locations) == 474 and ctx.skipped == 0
    assert points.column("speed_mps").null_count == 474  # sensed_speed -1: unknown
    assert points.column("heading_deg").null_count == 474
    assert points.column("ts")[0].as_py() == dt.datetime(2015, 11, 6, 8, 4, 2, 282652, tzinfo=UTC)
    assert points.column("ts")[-1].as_py() == dt.datetime(2015, 11, 6, 20, 6, 21, 188620, tzinfo=UTC)
    got = list(zip(points.column("mode_hint").to_pylist(), points.column("mode_hint_conf").to_pylist(), strict=True))
    for (mode, conf), (want_mode, want_conf) in zip(got, expected_hints(locations, activities), strict=True):
        assert mode == want_mode
        assert (conf is None) if want_conf is None else conf == pytest.approx(want_conf)
    assert {m for m, _ in got} == {None, "car", "walk", "bike"}


def test_ios_boolean_order_reproduces_the_servers_type(samples):
    """Dropping ``type`` from the iPhone's activities, our flag order gives back the same MotionType."""
    raw = load(samples, "emission_iphone_2015-11-06.json")
    for e in raw:
        if e["metadata"]["key"] != "background/motion_activity":
            continue
        flags = {k: v for k, v in e["data"].items() if k != "type"}
        decoded = emission._Data(**{k: v for k, v in flags.items() if k in emission._Data.__struct_fields__})
        assert emission_tables.activity_name(decoded) == modes.EMISSION_MOTION_BY_INT[e["data"]["type"]]


def test_single_entries(samples):
    tables, _ = parse_source(Source.from_path(samples / FOLDER / "emission_android.location.json"))
    (p,) = tables["points"].to_pylist()
    assert p["ts"] == dt.datetime(2021, 4, 8, 20, 31, 5, tzinfo=UTC)  # not the locale fmt_time
    assert p["tz_offset_min"] == -360  # America/Denver in April (MDT)
    assert p["heading_deg"] == 98 and p["speed_mps"] == pytest.approx(6.62)
    assert p["altitude_m"] == pytest.approx(1649.0229)
    tables, _ = parse_source(Source.from_path(samples / FOLDER / "emission_ios.location.json"))
    (p,) = tables["points"].to_pylist()
    assert p["speed_mps"] is None and p["heading_deg"] is None and p["altitude_m"] == pytest.approx(12.99955749511719)
    assert p["tz_offset_min"] == -480 and p["accuracy_m"] == 65
    tables, ctx = parse_source(Source.from_path(samples / FOLDER / "emission_ios.activity.json"))
    assert tables == {} and ctx.rejected == 0


def test_ground_truth_trips(samples):
    tables, ctx = parse_source(Source.from_path(samples / FOLDER / "emission_shankari_2016-07-25.ground_truth.json"))
    check_schema(tables)
    segments = tables["source_segments"].to_pylist()
    assert len(segments) == 2
    assert [s["mode"] for s in segments] == ["bike", "bike"]
    assert [s["raw_mode"] for s in segments] == ["MotionTypes.BICYCLING"] * 2
    assert segments[0]["started_at"] == dt.datetime(2016, 7, 26, 0, 12, 27, 853000, tzinfo=UTC)
    assert segments[1]["finished_at"] == dt.datetime(2016, 7, 26, 0, 30, 31, tzinfo=UTC)
    assert segments[0]["distance_m"] == pytest.approx(875.1241627253844)
    assert (segments[0]["start_lat"], segments[0]["start_lon"]) == (37.392124, -122.0908901)
    assert (segments[0]["end_lat"], segments[0]["end_lon"]) == (37.3915317, -122.09519)
    assert {s["tz_offset_min"] for s in segments} == {-420} and {s["origin"] for s in segments} == {"emission"}
    (visit,) = tables["source_visits"].to_pylist()
    assert visit["name"] == "West El Camino Real, Mountain View" and visit["place_id"] == "57cf684bf6858f5174ba266a"
    assert visit["started_at"] == dt.datetime(2016, 7, 26, 0, 18, 14, 841000, tzinfo=UTC)
    assert ctx.skipped == 2  # the day's first place (no enter time) and the last (no exit)
    assert "points" not in tables  # these sections carry no timestamps[]


def test_gzipped_copy(samples, tmp_path):
    original = samples / FOLDER / "emission_shankari_2016-07-25.json"
    packed = tmp_path / "dump.gz"
    packed.write_bytes(gzip.compress(original.read_bytes()))
    plain, _ = parse_source(Source.from_path(original))
    unpacked, _ = parse_source(Source.from_path(packed))
    assert unpacked["points"].equals(plain["points"])


def test_sniff(samples):
    for path in (samples / FOLDER).glob("*.json"):
        assert emission.sniff(Source.from_path(path).head()), path.name
    for folder in ("geojson", "google-records", "google-semantic", "gpx", "owntracks"):
        for other in (samples / folder).glob("*"):
            assert not emission.sniff(Source.from_path(other).head()), other.name


# --------------------------------------------------------------------------- built inputs


def entry(key: str, data: dict, *, platform: str = "android", zone: str = "Europe/Paris", write_ts=None) -> dict:
    meta = {"key": key, "platform": platform, "time_zone": zone, "type": "sensor-data"}
    if write_ts is not None:
        meta["write_ts"] = write_ts
    return {"_id": {"$oid": "0" * 24}, "user_id": {"$uuid": "0" * 32}, "metadata": meta, "data": data}


def location(ts: float, lat: float = 46.16, lon: float = -1.15, **extra) -> dict:
    return entry("background/filtered_location", {"ts": ts, "latitude": lat, "longitude": lon, **extra})


def label(kind: str, value: str, start: float, end: float, write_ts: float) -> dict:
    return entry(f"manual/{kind}", {"start_ts": start, "end_ts": end, "label": value}, write_ts=write_ts)


def test_labels_mode_purpose_and_latest_wins():
    t0 = 1_700_000_000.0
    dump = [
        label("mode_confirm", "walk", t0, t0 + 600, t0 + 1000),
        label("mode_confirm", "e_car_shared_ride", t0, t0 + 600, t0 + 2000),  # the user changed their mind
        label("purpose_confirm", "work", t0, t0 + 600, t0 + 1500),
        label("mode_confirm", "not_a_trip", t0 + 3600, t0 + 4000, t0 + 5000),
        label("mode_confirm", "hoverboard", t0 + 7200, t0 + 7300, t0 + 8000),
        label("replaced_mode", "drove_alone", t0, t0 + 600, t0 + 2500),
        label("purpose_confirm", "shopping", t0 + 9000, t0 + 9500, t0 + 9600),
    ]
    tables, ctx = parse_json(dump)
    check_schema(tables)
    rows = sorted(tables["labels"].to_pylist(), key=lambda r: r["started_at"])
    assert [r["mode"] for r in rows] == ["car", None, "unknown", None]
    assert [r["raw_mode"] for r in rows] == ["e_car_shared_ride", "not_a_trip", "hoverboard", None]
    assert rows[0]["occupancy"] == 2 and rows[0]["vehicle"] == "electric" and rows[0]["purpose"] == "work"
    assert rows[0]["set_at"] == when(t0 + 2000) and rows[0]["finished_at"] == when(t0 + 600)
    assert rows[3]["purpose"] == "shopping"
    assert {r["origin"] for r in rows} == {"emission"}
    assert ctx.unmapped_modes == {"hoverboard": 1}
    assert ctx.skipped == 1  # replaced_mode


def test_trips_with_timestamps_and_user_input():
    section = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[2.35, 48.85], [2.36, 48.86], [2.37, 48.87]]},
        "properties": {
            "feature_type": "section",
            "sensed_mode": "PredictedModeTypes.BUS",
            "start_ts": 1_700_000_000.0,
            "end_ts": 1_700_000_060.0,
            "distance": 2500.0,
            "timestamps": [1_700_000_000_000, 1_700_000_030_000, 1_700_000_060_000],
            "speeds": [0.0, 40.0, 42.0],
            "start_local_dt": {"timezone": "Europe/Paris"},
        },
    }
    trip = {
        "type": "FeatureCollection",
        "properties": {
            "feature_type": "trip",
            "start_ts": 1_700_000_000.0,
            "end_ts": 1_700_000_060.0,
            "user_input": {"mode_confirm": "bus", "purpose_confirm": "school"},
        },
        "features": [{"type": "FeatureCollection", "features": [section]}],
    }
    for shape in ([trip], {"timeline": [trip]}, {"metadata": {"key": "diary/trips-2023-11-14"}, "data": [trip]}):
        tables, _ = parse_json(shape)
        check_schema(tables)
        (seg,) = tables["source_segments"].to_pylist()
        assert seg["mode"] == "bus" and seg["tz_offset_min"] == 60 and seg["distance_m"] == 2500.0
        points = tables["points"].to_pylist()
        assert [p["ts"] for p in points] == [when(1_700_000_000 + 30 * i) for i in range(3)]
        assert [p["segment_start"] for p in points] == [True, False, False]
        assert [p["lat"] for p in points] == [48.85, 48.86, 48.87] and points[2]["speed_mps"] == 42.0
        assert {p["mode_hint"] for p in points} == {"bus"}
        (lab,) = tables["labels"].to_pylist()
        assert lab["mode"] == "bus" and lab["purpose"] == "school"


def test_restart_transition_starts_a_segment_and_activity_age_limit():
    t0 = 1_600_000_000.0
    dump = [
        location(t0),
        location(t0 + 30),
        entry("statemachine/transition", {"ts": t0 + 40, "curr_state": 3, "transition": 3}),
        entry("statemachine/transition", {"ts": t0 + 45, "curr_state": 1, "transition": 1}),  # not a restart
        location(t0 + 60),
        location(t0 + 90),
        entry("background/motion_activity", {"ts": t0 + 50, "type": 0, "confidence": 90}),
        location(t0 + 351),  # 301 s after the activity: too old to say anything
    ]
    tables, _ = parse_json(dump)
    points = tables["points"]
    assert points.column("segment_start").to_pylist() == [True, False, True, False, False]
    assert points.column("mode_hint").to_pylist() == [None, None, "car", "car", None]
    assert points.column("mode_hint_conf").to_pylist()[2] == pytest.approx(0.9)
    assert points.column("tz_offset_min").to_pylist() == [120] * 5  # Paris in September


def test_bad_entries_are_rejected_or_skipped_alone():
    t0 = 1_600_000_000.0
    dump = [
        location(t0),
        entry("background/filtered_location", {"ts": t0 + 1, "latitude": "north", "longitude": 2.0}),
        location(t0 + 2, accuracy=-1),
        entry("stats/client_nav_event", {"ts": t0, "type": {"nested": True}}),  # clashes with our types
        entry("background/filtered_location", {"ts": t0 + 3}),
        {"metadata": {"key": "background/battery"}},
        location(t0 + 4, zone="Mars/Olympus_Mons"),
    ]
    dump[-1]["metadata"]["time_zone"] = "Mars/Olympus_Mons"
    tables, ctx = parse_json(dump)
    assert tables["points"].column("ts").to_pylist() == [when(t0), when(t0 + 4)]
    assert tables["points"].column("tz_offset_min").to_pylist() == [120, None]
    assert ctx.rejected == 3 and ctx.first_rejection[0] == "entry 2"
    assert ctx.skipped == 2
    assert any("Mars/Olympus_Mons" in w for w in ctx.warnings)


def test_truncated_json_names_line_and_byte(samples):
    data = (samples / FOLDER / "emission_shankari_2016-07-25.json").read_bytes()[:50_000]
    with pytest.raises(InputDataError) as err:
        parse_source(Source.from_bytes("cut.json", data))
    assert err.value.path == "cut.json" and err.value.record.startswith("line ")
    assert "byte 50000" in err.value.record and "truncated" in err.value.one_line()


def test_neither_array_nor_object():
    with pytest.raises(InputDataError, match="neither an array nor an object"):
        parse_source(Source.from_bytes("x.json", b'"just a string"'))


# --------------------------------------------------------------------------- property tests

seconds = st.integers(1_400_000_000_000_000, 1_900_000_000_000_000).map(lambda us: us / 1e6)
coords = st.tuples(st.floats(-90, 90), st.floats(-180, 180))
optional = st.one_of(st.none(), st.floats(-5, 5000, allow_nan=False))


@st.composite
def dumps(draw):
    locs = []
    for ts in draw(st.lists(seconds, min_size=1, max_size=15, unique=True)):
        lat, lon = draw(coords)
        data = {"ts": ts, "latitude": lat, "longitude": lon}
        for name in ("accuracy", "altitude", "sensed_speed", "heading"):
            value = draw(optional)
            if value is not None:
                data[name] = abs(value) if name == "accuracy" else value
        if draw(st.booleans()):
            data["loc"] = {"type": "Point", "coordinates": [lon, lat]}
            if draw(st.booleans()):
                del data["latitude"], data["longitude"]
        locs.append(data)
    acts = [  # distinct times: which of two simultaneous activities wins is not specified
        {"ts": ts, "type": draw(st.sampled_from(sorted(MOTION))), "confidence": draw(st.integers(0, 100))}
        for ts in draw(st.lists(seconds, max_size=10, unique=True))
    ]
    key = draw(st.sampled_from(["background/location", "background/filtered_location"]))
    entries = [entry(key, d, zone="UTC") for d in locs] + [entry("background/motion_activity", a) for a in acts]
    return draw(st.permutations(entries)), locs, acts


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dumps())
def test_round_trip(dump):
    entries, locs, acts = dump
    tables, ctx = parse_json(entries)
    assert ctx.rejected == 0
    got = tables["points"].to_pylist()
    order = sorted(locs, key=lambda x: x["ts"])
    assert len(got) == len(order)
    for p, d in zip(got, order, strict=True):
        lat = d.get("latitude", d.get("loc", {}).get("coordinates", [None, None])[1])
        lon = d.get("longitude", d.get("loc", {}).get("coordinates", [None, None])[0])
        assert p["ts"] == when(d["ts"]) and p["lat"] == lat and p["lon"] == lon
        assert p["tz_offset_min"] == 0
        for column, name, nonneg in (
            ("accuracy_m", "accuracy", False),
            ("altitude_m", "altitude", False),
            ("speed_mps", "sensed_speed", True),
            ("heading_deg", "heading", True),
        ):
            value = d.get(name)
            if value is None or (nonneg and value < 0):
                assert p[column] is None
            else:
                assert p[column] == float(np.float32(value))
    for p, (mode, conf) in zip(got, expected_hints(order, acts), strict=True):
        assert p["mode_hint"] == mode
        assert p["mode_hint_conf"] == (None if conf is None else pytest.approx(conf))


DATA_FIELDS = emission._Data.__struct_fields__
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
shaped = st.lists(
    st.fixed_dictionaries(
        {
            "metadata": st.one_of(
                json_values,
                st.fixed_dictionaries(
                    {"key": st.sampled_from([*sorted(emission._USED), "stats/x"]), "time_zone": json_values}
                ),
            ),
            "data": st.one_of(json_values, st.dictionaries(st.sampled_from(DATA_FIELDS), json_values)),
        }
    ),
    max_size=5,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()),
                 shaped.map(lambda v: json.dumps(v).encode())))  # fmt: skip
def test_garbage_only_raises_input_data_error(data):
    with contextlib.suppress(InputDataError):
        parse_source(Source.from_bytes("garbage.json", data))


def test_epoch_seconds_keep_microseconds():
    tables, _ = parse_json([location(1_500_000_000.123456)])
    assert tables["points"].column("ts").type == TS
    assert tables["points"].column("ts")[0].as_py() == dt.datetime(2017, 7, 14, 2, 40, 0, 123456, tzinfo=UTC)


def test_damaged_gzip():
    with pytest.raises(InputDataError, match="cannot decompress"):
        parse_source(Source.from_bytes("dump.gz", gzip.compress(b"[1, 2, 3]")[:-12]))


def test_absurd_epoch_is_rejected_not_misread():
    tables, ctx = parse_json([location(1e13), location(5e10), location(1_600_000_000.0)])
    points = tables["points"]
    assert ctx.rejected == 1  # 1e13 s cannot be represented in microseconds
    assert points.column("tz_offset_min").to_pylist() == [120, None]  # year 3554: range checks are the importer's
    assert not ctx.warnings
