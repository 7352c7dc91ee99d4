"""GeoJSON parser: GPSLogger, Overland, GPSBabel and generic files; refusals; round-trip properties."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobco2.errors import InputDataError
from mobco2.ingest import geojson
from mobco2.ingest.base import ParseContext, Source
from mobco2.ingest.detect import detect
from mobco2.schema import POINTS

EMPTY = pa.schema(
    [f for f in POINTS if f.name not in ("user_id", "import_id", "source_format")] + [pa.field("record", pa.string())]
).empty_table()


def parse_all(source: Source) -> tuple[pa.Table, ParseContext]:
    ctx = ParseContext(source_name=source.name)
    tables = [b.points for b in geojson.parse(source, ctx) if b.points is not None]
    return (pa.concat_tables(tables) if tables else EMPTY), ctx


def fc(features: list[dict]) -> bytes:
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def point(lon, lat, **props) -> dict:
    return {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": props}


def test_gpslogger_geojson(samples):
    path = samples / "gpslogger" / "dawarich_gpslogger_example.geojson"
    source = Source.from_path(path)
    assert detect(source) is geojson
    table, ctx = parse_all(source)
    raw = json.loads(path.read_text())["features"]
    assert table.num_rows == len(raw) == 1
    row = table.to_pylist()[0]
    # "time": "2024-11-03T16:30:11.331+07:00", time_long 1730626211331 (the same instant)
    assert row["ts"] == datetime(2024, 11, 3, 9, 30, 11, 331000, tzinfo=UTC)
    assert row["ts"] == datetime.fromtimestamp(raw[0]["properties"]["time_long"] / 1000, UTC)
    assert row["tz_offset_min"] == 7 * 60
    assert (row["lon"], row["lat"]) == tuple(raw[0]["geometry"]["coordinates"])
    assert row["accuracy_m"] == pytest.approx(4.7551565)
    assert row["altitude_m"] == pytest.approx(17.634344)
    assert row["speed_mps"] == pytest.approx(1.2)
    assert ctx.rejected == 0


def test_overland_payload(samples):
    source = Source.from_path(samples / "geojson" / "dawarich_overland_geodata.json")
    assert detect(source) is geojson
    table, ctx = parse_all(source)
    assert table.num_rows == 1
    assert ctx.skipped == 1  # the will_terminate event has no geometry
    row = table.to_pylist()[0]
    assert row["ts"] == datetime(2015, 10, 1, 15, 0, tzinfo=UTC)  # 08:00 at -0700
    assert row["tz_offset_min"] == -420
    assert (row["lat"], row["lon"]) == (37.3318, -122.030581)
    assert row["mode_hint"] == "car"  # motion ["driving", "stationary"]
    assert row["accuracy_m"] == 30  # horizontal_accuracy
    assert row["speed_mps"] == 4
    assert row["record"] == "locations[0]"


def test_various_time_keys_and_units(samples):
    path = samples / "geojson" / "dawarich_various_fields.geojson"
    table, ctx = parse_all(Source.from_path(path))
    features = json.loads(path.read_text())["features"]
    assert table.num_rows == len(features) == 3
    expected_times = [
        datetime.fromisoformat(
            f["properties"].get("datetime") or f["properties"].get("when") or f["properties"]["recorded_at"]
        )
        for f in features
    ]
    assert table.column("ts").to_pylist() == expected_times
    assert table.column("lon").to_pylist() == [f["geometry"]["coordinates"][0] for f in features]
    assert table.column("altitude_m").to_pylist() == [34.0, 35.0, None]  # 3rd coordinate when present
    assert table.column("speed_mps").to_pylist()[1:] == pytest.approx([1.5, 1.8])  # 5.4 km/h; m/s
    assert table.column("heading_deg").to_pylist() == [90, 95, 100]  # bearing, cog, course
    assert ctx.rejected == 0


def test_gpsbabel_without_times_is_geometry_only(samples):
    path = samples / "geojson" / "gpsbabel_segmented_tracks.geojson"
    source = Source.from_path(path)
    assert detect(source) is geojson
    table, ctx = parse_all(source)
    lines = [f["geometry"]["coordinates"] for f in json.loads(path.read_text())["features"]]
    assert table.num_rows == sum(len(line) for line in lines) == 46
    assert table.column("ts").null_count == table.num_rows
    assert table.column("segment_start").to_pylist().count(True) == len(lines)
    assert table.column("lon")[0].as_py() == -86.84413961
    assert table.column("lat")[-1].as_py() == 35.836743954
    assert any("geometry only" in w for w in ctx.warnings)


def test_linestring_with_coord_times_and_string_coordinates():
    feature = {
        "type": "Feature",
        "geometry": {"type": "MultiLineString", "coordinates": [[["2.1", "48.1", "30"], [2.2, 48.2]], [[2.3, 48.3]]]},
        "properties": {"coordTimes": [["2024-05-01T10:00:00Z", "2024-05-01T10:00:05Z"], ["2024-05-01T10:10:00+02:00"]]},
    }
    table, ctx = parse_all(Source.from_bytes("l.geojson", fc([feature])))
    assert ctx.rejected == 0
    assert table.column("lat").to_pylist() == [48.1, 48.2, 48.3]
    assert table.column("altitude_m").to_pylist() == [30.0, None, None]
    assert table.column("segment_start").to_pylist() == [True, False, True]
    assert table.column("ts")[2].as_py() == datetime(2024, 5, 1, 8, 10, tzinfo=UTC)
    assert table.column("tz_offset_min").to_pylist() == [None, None, 120]  # "Z" is storage, not a zone


def test_untimed_feature_in_timed_file_is_rejected_and_bad_coordinates_too():
    features = [
        point(2.0, 48.0, time="2024-05-01T10:00:00Z"),
        point(2.1, 48.1),
        point("x", 48.2, time="2024-05-01T10:00:02Z"),
        point(2.3, 48.3, time="not a time"),
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[1, 2], [3, 4]]},
            "properties": {"times": ["2024-05-01T10:00:00Z"]},
        },
    ]
    table, ctx = parse_all(Source.from_bytes("m.geojson", fc(features)))
    assert table.num_rows == 1
    assert ctx.rejected == 1 + 1 + 1 + 2
    assert ctx.first_rejection[0] == "features[2]"


def test_line_with_one_time_and_nested_collections():
    line = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": [[2.0, 48.0], [2.1, 48.1], [2.2, 48.2]]},
        "properties": {"timestamp": "2024-05-01T10:00:00Z"},
    }
    deep: dict = {"type": "Point", "coordinates": [1, 2]}
    for _ in range(geojson.MAX_COLLECTION_DEPTH + 2):
        deep = {"type": "GeometryCollection", "geometries": [deep]}
    shallow = {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [3, 4]}]}
    features = [
        line,
        {"type": "Feature", "geometry": deep, "properties": {"time": "2024-05-01T10:00:01Z"}},
        {"type": "Feature", "geometry": shallow, "properties": {"time": "2024-05-01T10:00:02Z"}},
    ]
    table, ctx = parse_all(Source.from_bytes("o.geojson", fc(features)))
    assert table.column("ts").to_pylist() == [
        datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
        None,
        None,
        datetime(2024, 5, 1, 10, 0, 2, tzinfo=UTC),
    ]
    assert table.column("record")[-1].as_py() == "features[2] geometry 0"
    assert ctx.rejected == 1
    assert any("one time for all their points" in w for w in ctx.warnings)


def test_epoch_times_are_sniffed():
    features = [point(2.0, 48.0, time_long=1730626211331), point(2.0, 48.1, timestamp="1730626212")]
    table, _ = parse_all(Source.from_bytes("e.geojson", fc(features)))
    assert table.column("ts").to_pylist() == [
        datetime(2024, 11, 3, 9, 30, 11, 331000, tzinfo=UTC),
        datetime(2024, 11, 3, 9, 30, 12, tzinfo=UTC),
    ]


def test_refuses_emission_trips_and_google(samples):
    for path in [
        samples / "emission-tracemob" / "emission_shankari_2016-07-25.ground_truth.json",
        *sorted((samples / "google-records").iterdir()),
        *sorted((samples / "google-semantic").iterdir()),
        *sorted((samples / "google-timeline-android").iterdir()),
    ]:
        assert not geojson.sniff(Source.from_path(path).head()), path.name
    assert not geojson.sniff(b'{"metadata":{"key":"diary/trips-2016-07-25"},"data":[{"type":"FeatureCollection"}]}')


def test_truncated_json_is_input_error():
    data = fc([point(2.0, 48.0, time="2024-05-01T10:00:00Z")] * 5)[:-40]
    with pytest.raises(InputDataError) as err:
        parse_all(Source.from_bytes("cut.geojson", data))
    assert "cut.geojson" in err.value.one_line()


# -- properties -------------------------------------------------------------------------------

instant = st.datetimes(datetime(1995, 1, 1), datetime(2035, 1, 1)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)
offset = st.integers(-12 * 4, 14 * 4).map(lambda q: q * 15)
coords = st.tuples(st.floats(-180, 180, allow_nan=False), st.floats(-90, 90, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(instant, offset, coords), min_size=1, max_size=25), st.booleans())
def test_points_round_trip(rows, as_line):
    stamps = [naive.replace(tzinfo=timezone(timedelta(minutes=off))) for naive, off, _ in rows]
    texts = [s.isoformat(timespec="milliseconds") for s in stamps]
    if as_line:
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": [list(c) for *_, c in rows]},
                "properties": {"coordTimes": texts},
            }
        ]
    else:
        features = [point(c[0], c[1], time=t) for (_, _, c), t in zip(rows, texts, strict=True)]
    source = Source.from_bytes("p.geojson", fc(features))
    assert detect(source) is geojson
    table, ctx = parse_all(source)
    assert ctx.rejected == 0
    assert table.column("lon").to_pylist() == [c[0] for *_, c in rows]
    assert table.column("lat").to_pylist() == [c[1] for *_, c in rows]
    assert table.column("ts").to_pylist() == [s.astimezone(UTC) for s in stamps]
    assert table.column("tz_offset_min").to_pylist() == [off for _, off, _ in rows]


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(json_values, st.binary(max_size=200))
def test_garbage_raises_only_input_errors(value, noise):
    candidates = [
        json.dumps({"type": "FeatureCollection", "features": value}).encode(),
        json.dumps({"type": "FeatureCollection", "features": [value]}).encode(),
        json.dumps({"locations": [{"type": "Feature", "geometry": value, "properties": value}]}).encode(),
        b'{"type":"FeatureCollection","features":[' + noise,
    ]
    for data in candidates:
        with contextlib.suppress(InputDataError):
            parse_all(Source.from_bytes("g.geojson", data))
