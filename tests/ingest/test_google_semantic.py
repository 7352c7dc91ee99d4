"""Google Semantic Location History monthly files: real samples, quirks, property tests."""

from __future__ import annotations

import contextlib
import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobco2.errors import InputDataError
from mobco2.ingest import google_semantic
from mobco2.ingest.base import Batch, ParseContext, Source
from mobco2.ingest.detect import detect
from tests.conftest import SAMPLES as SAMPLE_ROOT

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MODE = {"WALKING": "walk", "CYCLING": "bike", "IN_VEHICLE": "car", "IN_PASSENGER_VEHICLE": "car", "IN_BUS": "bus",
        "IN_TRAIN": "train", "FLYING": "plane", "STILL": "unknown", "UNKNOWN_ACTIVITY_TYPE": "unknown",
        "TELEPORTING": "unknown"}  # fmt: skip
LEVEL = {"LOW": 0.3, "MEDIUM": 0.6, "HIGH": 0.9}
QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


def parse(source: Source) -> tuple[Batch, ParseContext]:
    ctx = ParseContext(source.name)
    batches = list(google_semantic.parse(source, ctx))
    assert len(batches) <= 1
    return (batches[0] if batches else Batch()), ctx


def rows(table: pa.Table | None) -> list[dict]:
    return [] if table is None else table.to_pylist()


def when(text: str | int) -> datetime:
    text = str(text)
    if text.isdigit():
        return EPOCH + timedelta(milliseconds=int(text))
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def e7(place: dict, lat: str = "latitudeE7", lon: str = "longitudeE7") -> tuple[float, float] | None:
    return (place[lat] / 1e7, place[lon] / 1e7) if lat in place and lon in place else None


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(h))


def expected(doc: dict) -> dict[str, list[dict]]:
    """Segments, visits and points as the module docstring says, computed from json.load output."""
    out: dict[str, list[dict]] = {"segments": [], "visits": [], "points": []}
    for i, obj in enumerate(doc["timelineObjects"]):
        kind, item = next(iter(obj.items()))
        record = f"timelineObjects[{i}].{kind}"
        for j, p in enumerate(item.get("simplifiedRawPath", {}).get("points", [])):
            out["points"].append({"ts": when(p.get("timestamp") or p["timestampMs"]), "lat": p["latE7"] / 1e7,
                                  "lon": p["lngE7"] / 1e7, "accuracy_m": p.get("accuracyMeters"),
                                  "record": f"{record}.simplifiedRawPath.points[{j}]"})  # fmt: skip
        d = item["duration"]
        start = when(d.get("startTimestamp") or d.get("startTimestampMs"))
        end = when(d.get("endTimestamp") or d.get("endTimestampMs"))
        if kind == "activitySegment":
            paths = [item.get("waypointPath", {}).get("waypoints"), item.get("simplifiedRawPath", {}).get("points")]
            a, b = e7(item.get("startLocation", {})), e7(item.get("endLocation", {}))
            for path in filter(None, paths):
                a = a or e7(path[0], "latE7", "lngE7")
                b = b or e7(path[-1], "latE7", "lngE7")
            first = item["activities"][0]["activityType"] if item.get("activities") else None
            raw = item.get("activityType") or first
            conf = LEVEL.get(item.get("confidence"))
            if conf is None and item.get("activities"):
                prob = next(c["probability"] for c in item["activities"] if c["activityType"] == raw)
                conf = prob / 100 if prob > 0 else None
            dist = next((d for d in (item.get("waypointPath", {}).get("distanceMeters"),
                                     item.get("simplifiedRawPath", {}).get("distanceMeters"),
                                     item.get("distance")) if d is not None), None)  # fmt: skip
            if dist is None and a and b:
                dist = haversine(a, b)
            status = item.get("editConfirmationStatus")
            confirmed = None if status is None else status == "CONFIRMED"
            out["segments"].append({"started_at": start, "finished_at": end, "mode": MODE.get(raw, "unknown"),
                                    "raw_mode": raw, "confidence": conf, "distance_m": dist,
                                    "start": a, "end": b, "confirmed": confirmed})  # fmt: skip
        else:
            loc = item.get("location", {})
            where = e7(loc) or e7(item, "centerLatE7", "centerLngE7")
            if where is None and item.get("otherCandidateLocations"):
                where = e7(item["otherCandidateLocations"][0])
            vc = item.get("visitConfidence")
            out["visits"].append({"started_at": start, "finished_at": end, "where": where,
                                  "place_id": loc.get("placeId"), "name": loc.get("name"),
                                  "confidence": vc / 100 if vc else None})  # fmt: skip
    return out


def assert_matches(batch: Batch, want: dict[str, list[dict]]) -> None:
    segs, vis, pts = rows(batch.source_segments), rows(batch.source_visits), rows(batch.points)
    assert (len(segs), len(vis), len(pts)) == (len(want["segments"]), len(want["visits"]), len(want["points"]))
    for g, e in zip(segs, want["segments"], strict=True):
        assert (g["started_at"], g["finished_at"], g["mode"], g["raw_mode"]) == (
            e["started_at"], e["finished_at"], e["mode"], e["raw_mode"])  # fmt: skip
        if e["confidence"] is None:
            assert g["confidence"] is None
        else:
            assert g["confidence"] == pytest.approx(e["confidence"], rel=1e-6)
        if e["distance_m"] is None:
            assert g["distance_m"] is None
        else:
            assert g["distance_m"] == pytest.approx(e["distance_m"], rel=1e-9, abs=1e-6)
        assert (g["start_lat"], g["start_lon"]) == (e["start"] or (None, None))
        assert (g["end_lat"], g["end_lon"]) == (e["end"] or (None, None))
        assert g["confirmed"] == e["confirmed"] and g["origin"] == "google_semantic"
    for g, e in zip(vis, want["visits"], strict=True):
        assert (g["started_at"], g["finished_at"], g["place_id"], g["name"]) == (
            e["started_at"], e["finished_at"], e["place_id"], e["name"])  # fmt: skip
        assert (g["lat"], g["lon"]) == (e["where"] or (None, None))
        assert g["confidence"] == pytest.approx(e["confidence"]) if e["confidence"] else g["confidence"] is None
    for g, e in zip(pts, want["points"], strict=True):
        assert (g["ts"], g["lat"], g["lon"], g["record"]) == (e["ts"], e["lat"], e["lon"], e["record"])
        assert g["accuracy_m"] == e["accuracy_m"]


# ------------------------------------------------------------------------------------ real samples

SAMPLES = sorted(p.name for p in (SAMPLE_ROOT / "google-semantic").glob("*.json"))


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_is_detected(samples: Path, name: str) -> None:
    assert detect(Source.from_path(samples / "google-semantic" / name)) is google_semantic


def test_gpsbabel_month_matches_an_independent_reading(samples: Path) -> None:
    path = samples / "google-semantic" / "gpsbabel_2013_MAY.json"
    batch, ctx = parse(Source.from_path(path))
    assert_matches(batch, expected(json.loads(path.read_text())))
    assert (batch.source_segments.num_rows, batch.source_visits.num_rows, batch.points.num_rows) == (84, 51, 128)
    assert ctx.rejected == 0 and ctx.skipped == 0 and not ctx.unmapped_modes


def test_gpsbabel_values_read_by_eye(samples: Path) -> None:
    batch, _ = parse(Source.from_path(samples / "google-semantic" / "gpsbabel_2013_MAY.json"))
    visit = rows(batch.source_visits)[0]
    assert visit["name"] == "Facebook" and visit["place_id"] == "ChIJGcSN3pa8j4ARpeP0i0Oel2Q"
    assert (visit["lat"], visit["lon"]) == (37.4850711, -122.1474242)
    assert visit["started_at"] == datetime(2013, 5, 9, 1, 24, 28, 883000, tzinfo=UTC)
    assert visit["confidence"] == pytest.approx(0.64)  # visitConfidence 64
    segs = rows(batch.source_segments)
    assert segs[0]["mode"] == "unknown" and segs[0]["raw_mode"] == "UNKNOWN_ACTIVITY_TYPE"
    assert segs[0]["distance_m"] == 346 and segs[0]["start_lat"] is None  # startLocation {} and no path
    assert {s["mode"] for s in segs} == {"car", "walk", "bike", "unknown"}
    last = rows(batch.source_visits)[-1]
    assert last["finished_at"] == datetime(2013, 6, 1, 16, 6, 54, 349000, tzinfo=UTC)  # crosses into June
    assert rows(batch.points)[0]["ts"] == datetime(2013, 5, 9, 2, 22, 15, 145000, tzinfo=UTC)
    assert all(s["tz_offset_min"] is None for s in segs)  # "Z" is Google's UTC, not a local offset


def test_dawarich_history_and_bom(samples: Path) -> None:
    path = samples / "google-semantic" / "dawarich_semantic_history.json"
    batch, _ = parse(Source.from_path(path))
    assert_matches(batch, expected(json.loads(path.read_text())))
    first = rows(batch.source_segments)[0]
    assert (first["mode"], first["raw_mode"], first["confidence"]) == ("walk", "WALKING", pytest.approx(0.3))
    assert (first["start_lat"], first["start_lon"]) == (53.340744, 83.7026901)  # first waypoint
    assert first["distance_m"] == pytest.approx(209.65263509609417)  # waypointPath.distanceMeters
    batch, _ = parse(Source.from_path(samples / "google-semantic" / "dawarich_semantic_history_with_bom.json"))
    seg = rows(batch.source_segments)[0]
    assert (seg["mode"], seg["raw_mode"], seg["start_lat"], seg["end_lon"]) == ("unknown", None, 60.4518, 22.2667)
    assert seg["distance_m"] == pytest.approx(12.4, abs=0.1)  # great-circle, no distance given


@pytest.mark.parametrize(
    ("name", "ts", "lat", "offset"),
    [
        ("dawarich_with_activitySegment_with_startLocation.json", datetime(2025, 3, 24, 19, 7, 24, tzinfo=UTC),
         12.3422222, 60),
        ("dawarich_with_activitySegment_with_startLocation_timestampMs.json",
         datetime(2025, 3, 24, 19, 25, 2, 585000, tzinfo=UTC), 12.3466666, None),
        ("dawarich_with_activitySegment_with_startLocation_timestamp_in_seconds_format.json",
         datetime(2025, 3, 24, 19, 25, 2, 585000, tzinfo=UTC), 12.3444444, None),
        ("dawarich_with_activitySegment_without_startLocation.json", datetime(2025, 3, 24, 19, 7, 24, tzinfo=UTC),
         12.3411111, 60),
        ("dawarich_with_placeVisit_without_location_with_coordinates_with_otherCandidateLocations.json",
         datetime(2025, 3, 24, 19, 25, 2, tzinfo=UTC), 12.3533333, 60),
    ],
)  # fmt: skip
def test_items_without_an_end_time_become_points(samples: Path, name: str, ts: datetime, lat: float, offset) -> None:
    batch, ctx = parse(Source.from_path(samples / "google-semantic" / name))
    assert batch.source_segments is None and batch.source_visits is None
    (point,) = rows(batch.points)
    assert (point["ts"], point["lat"], point["lon"], point["tz_offset_min"]) == (ts, lat, lat, offset)
    assert ctx.rejected == 0 and "single points" in ctx.warnings[0]


def test_confirmed_place_fallbacks_and_unmapped_modes() -> None:
    doc = {"timelineObjects": [
        {"activitySegment": {"duration": {"startTimestampMs": "1600000000000", "endTimestampMs": "1600000600000"},
                             "activityType": "TELEPORTING", "editConfirmationStatus": "CONFIRMED",
                             "startLocation": {"latitudeE7": 4294967296 - 100, "longitudeE7": 20}}},
        {"placeVisit": {"duration": {"startTimestamp": "2020-09-13T12:30:00+02:00",
                                     "endTimestamp": "2020-09-13T14:00:00+02:00"},
                        "location": {"placeId": "P", "semanticType": "TYPE_HOME"}, "centerLatE7": 10, "centerLngE7": 20,
                        "placeConfidence": "USER_CONFIRMED", "childVisits": [{"location": {"latitudeE7": 1}}]}},
        {"placeVisit": {"duration": {"startTimestamp": "2020-09-13T15:00:00Z", "endTimestamp": "2020-09-13T16:00:00Z"},
                        "location": {}, "otherCandidateLocations": [{"latitudeE7": 30, "longitudeE7": 40,
                                                                    "placeId": "Q", "name": "Cafe"}]}},
        {"somethingElse": {}},
    ]}  # fmt: skip
    batch, ctx = parse(Source.from_bytes("m.json", json.dumps(doc).encode()))
    (seg,) = rows(batch.source_segments)
    assert (seg["mode"], seg["raw_mode"], seg["confirmed"]) == ("unknown", "TELEPORTING", True)
    assert seg["start_lat"] == -100 / 1e7 and seg["started_at"] == datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC)
    assert ctx.unmapped_modes == {"TELEPORTING": 1}
    home, cafe = rows(batch.source_visits)
    assert (home["lat"], home["lon"], home["place_id"], home["semantic_type"]) == (1e-6, 2e-6, "P", "HOME")
    assert home["confidence"] == 1.0 and home["tz_offset_min"] == 120
    assert (cafe["lat"], cafe["place_id"], cafe["name"]) == (3e-6, "Q", "Cafe")
    assert ctx.skipped == 1  # the unknown item; childVisits are not imported


def test_malformed_and_wrong_shapes() -> None:
    with pytest.raises(InputDataError) as err:
        parse(Source.from_bytes("2013_MAY.json", b'{"timelineObjects": [{"placeVisit": {]}'))
    assert "2013_MAY.json" in err.value.one_line() and err.value.record.startswith("line 1, column")
    with pytest.raises(InputDataError, match="unexpected JSON structure"):
        parse(Source.from_bytes("m.json", b'{"timelineObjects": 5}'))
    _, ctx = parse(Source.from_bytes("m.json", b'{"timelineObjects": [{"placeVisit": {"duration": 3}}]}'))
    assert ctx.rejected == 1 and ctx.first_rejection[0] == "timelineObjects[0]"


def test_bad_utf8_in_a_place_name_is_replaced() -> None:
    doc = (b'{"timelineObjects": [{"placeVisit": {"location": {"latitudeE7": 1, "longitudeE7": 2, '
           b'"name": "Caf\xe9"}, "duration": {"startTimestamp": "2020-01-01T00:00:00Z", '
           b'"endTimestamp": "2020-01-01T01:00:00Z"}}}]}')  # fmt: skip
    batch, ctx = parse(Source.from_bytes("m.json", doc))
    assert rows(batch.source_visits)[0]["name"] == "Caf\ufffd"
    assert "UTF-8" in ctx.warnings[0]


# ------------------------------------------------------------------------------------ property tests

stamp = st.integers(1_262_304_000_000, 1_735_689_600_000)
e7_lat, e7_lon = st.integers(-900_000_000, 900_000_000), st.integers(-1_800_000_000, 1_800_000_000)


@st.composite
def duration(draw: st.DrawFn) -> dict:
    start = draw(stamp)
    end = start + draw(st.integers(0, 86_400_000))
    if draw(st.booleans()):  # before ~2022: epoch milliseconds as strings
        return {"startTimestampMs": str(start), "endTimestampMs": str(end)}
    iso = [(EPOCH + timedelta(milliseconds=v)).isoformat(timespec="milliseconds")[:-6] + "Z" for v in (start, end)]
    return {"startTimestamp": iso[0], "endTimestamp": iso[1]}


@st.composite
def path_points(draw: st.DrawFn, timed: bool) -> list[dict]:
    points = []
    for _ in range(draw(st.integers(1, 4))):
        p = {"latE7": draw(e7_lat), "lngE7": draw(e7_lon)}
        if timed:
            p["accuracyMeters"] = draw(st.integers(1, 100))
            p["timestamp"] = (EPOCH + timedelta(milliseconds=draw(stamp))).isoformat()[:-6] + "Z"
        points.append(p)
    return points


@st.composite
def segment(draw: st.DrawFn) -> dict:
    seg: dict = {"duration": draw(duration())}
    for key in ("startLocation", "endLocation"):
        seg[key] = {"latitudeE7": draw(e7_lat), "longitudeE7": draw(e7_lon)} if draw(st.booleans()) else {}
    types = draw(st.lists(st.sampled_from(sorted(MODE)), min_size=0, max_size=3, unique=True))
    if types:
        probability = st.sampled_from([0.0, 12.5, 80.0])
        seg["activities"] = [{"activityType": t, "probability": draw(probability)} for t in types]
        if draw(st.booleans()):
            seg["activityType"] = types[0]
    if draw(st.booleans()):
        seg["confidence"] = draw(st.sampled_from(sorted(LEVEL)))
    if draw(st.booleans()):
        seg["waypointPath"] = {"waypoints": draw(path_points(False))}
        if draw(st.booleans()):
            seg["waypointPath"]["distanceMeters"] = draw(st.floats(1, 1e5))
    if draw(st.booleans()):
        seg["simplifiedRawPath"] = {"points": draw(path_points(True))}
    if draw(st.booleans()):
        seg["distance"] = draw(st.integers(0, 100_000))
    if draw(st.booleans()):
        seg["editConfirmationStatus"] = draw(st.sampled_from(["CONFIRMED", "NOT_CONFIRMED"]))
    return {"activitySegment": seg}


@st.composite
def visit(draw: st.DrawFn) -> dict:
    v: dict = {"duration": draw(duration()), "location": {"placeId": draw(st.text("abcXYZ", min_size=1, max_size=5))}}
    if draw(st.booleans()):
        v["location"].update(latitudeE7=draw(e7_lat), longitudeE7=draw(e7_lon), name=draw(st.text(max_size=8)))
    if draw(st.booleans()):
        v["centerLatE7"], v["centerLngE7"] = draw(e7_lat), draw(e7_lon)
    if draw(st.booleans()):
        v["otherCandidateLocations"] = [{"latitudeE7": draw(e7_lat), "longitudeE7": draw(e7_lon)}]
    if draw(st.booleans()):
        v["visitConfidence"] = draw(st.integers(1, 100))
    if draw(st.booleans()):
        v["simplifiedRawPath"] = {"points": draw(path_points(True))}
    return {"placeVisit": v}


@settings(max_examples=80, deadline=None, suppress_health_check=QUIET)
@given(st.lists(st.one_of(segment(), visit()), max_size=12), st.booleans())
def test_valid_months_round_trip(items: list[dict], pretty: bool) -> None:
    doc = {"timelineObjects": items}
    text = json.dumps(doc, indent=2) if pretty else json.dumps(doc)
    batch, ctx = parse(Source.from_bytes("2020_MAY.json", text.encode()))
    assert_matches(batch, expected(doc))
    assert ctx.rejected == 0


@settings(max_examples=150, deadline=None, suppress_health_check=QUIET)
@given(
    st.binary(max_size=300), st.sampled_from([b"", b'{"timelineObjects": [', b'{"timelineObjects": [{"placeVisit": '])
)
def test_garbage_only_ever_raises_input_data_errors(junk: bytes, prefix: bytes) -> None:
    with contextlib.suppress(InputDataError):
        parse(Source.from_bytes("m.json", prefix + junk))


@settings(max_examples=100, deadline=None, suppress_health_check=QUIET)
@given(st.data())
def test_damaged_samples_only_ever_raise_input_data_errors(samples: Path, data: st.DataObject) -> None:
    raw = bytearray((samples / "google-semantic" / "dawarich_semantic_history.json").read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i : i + data.draw(st.integers(0, 3))] = data.draw(st.binary(max_size=4))
    with contextlib.suppress(InputDataError):
        parse(Source.from_bytes("m.json", bytes(raw)))
