"""Google on-device Timeline exports (Android Timeline.json, iOS location-history.json)."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobco2.errors import InputDataError
from mobco2.ingest import google_timeline_android as android
from mobco2.ingest import google_timeline_ios as ios
from mobco2.ingest.base import Batch, ParseContext, Source
from mobco2.ingest.detect import detect

QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
MODE = {"IN_PASSENGER_VEHICLE": "car", "CYCLING": "bike", "WALKING": "walk", "IN_BUS": "bus", "IN_TRAIN": "train",
        "IN_SUBWAY": "metro", "FLYING": "plane", "MOTORCYCLING": "moto",
        "UNKNOWN_ACTIVITY_TYPE": "unknown"}  # fmt: skip


def parse(module, source: Source) -> tuple[Batch, ParseContext]:  # type: ignore[no-untyped-def]
    ctx = ParseContext(source.name)
    batches = list(module.parse(source, ctx))
    assert len(batches) <= 1
    return (batches[0] if batches else Batch()), ctx


def rows(table: pa.Table | None) -> list[dict]:
    return [] if table is None else table.to_pylist()


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# ------------------------------------------------------------------------------------ real samples


@pytest.mark.parametrize(("folder", "module"), [("google-timeline-android", android), ("google-timeline-ios", ios)])
def test_every_sample_is_detected(samples: Path, folder: str, module) -> None:  # type: ignore[no-untyped-def]
    for path in (samples / folder).glob("*.json"):
        assert detect(Source.from_path(path)) is module, path.name


def test_android_export_with_duplicates(samples: Path) -> None:
    path = samples / "google-timeline-android" / "dawarich_phone-takeout_w_3_duplicates.json"
    doc = json.loads(path.read_text())
    batch, ctx = parse(android, Source.from_path(path))
    (visit,) = rows(batch.source_visits)
    assert (visit["lat"], visit["lon"]) == (50.0506312, 14.3439906)
    assert visit["started_at"] == utc("2019-04-03T08:13:57.000+02:00") and visit["tz_offset_min"] == 120
    assert visit["confidence"] == pytest.approx(0.85) and visit["semantic_type"] == "UNKNOWN"
    points = rows(batch.points)
    path_times = [utc(p["time"]) for p in doc["semanticSegments"][0]["timelinePath"]]
    assert [p["ts"] for p in points[:2]] == path_times
    fix = points[2]  # rawSignals[1].position; wifiScan and userLocationProfile are not points
    assert (fix["lat"], fix["lon"], fix["accuracy_m"], fix["tz_offset_min"]) == (48.833657, 2.256223, 13.0, 60)
    assert fix["ts"] == datetime(2024, 6, 6, 10, 44, 37, tzinfo=UTC) and fix["record"] == "rawSignals[1].position"
    assert fix["speed_mps"] == pytest.approx(0.0709548518) and fix["altitude_m"] == pytest.approx(90.7)
    assert fix["mode_hint"] is None  # the activityRecords are two months away
    assert len(points) == 3 and ctx.rejected == 0 and ctx.skipped == 1  # the wifiScan


def test_android_new_format(samples: Path) -> None:
    batch, ctx = parse(
        android, Source.from_path(samples / "google-timeline-android" / "dawarich_timeline_new_format.json")
    )
    (seg,) = rows(batch.source_segments)
    assert (seg["mode"], seg["raw_mode"], seg["confidence"]) == ("car", "IN_PASSENGER_VEHICLE", pytest.approx(0.85))
    assert (seg["start_lat"], seg["start_lon"], seg["end_lat"], seg["end_lon"]) == (48.8566, 2.3522, 48.8606, 2.3376)
    assert seg["started_at"] == datetime(2024, 6, 15, 8, 0, tzinfo=UTC) and seg["tz_offset_min"] == 120
    assert seg["distance_m"] == pytest.approx(1157, abs=1)  # no distanceMeters: great-circle
    (visit,) = rows(batch.source_visits)
    assert visit["place_id"] == "ChIJtest123" and visit["confidence"] == pytest.approx(0.95)
    points = rows(batch.points)
    assert [(p["lat"], p["lon"]) for p in points] == [(48.8606, 2.3376), (48.862, 2.335), (48.8566, 2.3522)]
    assert points[-1]["tz_offset_min"] is None  # "…Z": UTC, no local offset
    assert ctx.rejected == 0


def test_ios_export(samples: Path) -> None:
    path = samples / "google-timeline-ios" / "dawarich_location-history.json"
    doc = json.loads(path.read_text())
    batch, ctx = parse(ios, Source.from_path(path))
    (visit,) = rows(batch.source_visits)
    assert (visit["lat"], visit["lon"], visit["place_id"]) == (27.720022, -97.347951, "ChIJxxP_Qwb2aIYRTwDNDLkUmD0")
    assert visit["tz_offset_min"] == -300 and visit["confidence"] == pytest.approx(0.71)
    assert visit["finished_at"] == datetime(2023, 8, 27, 22, 4, 26, 999000, tzinfo=UTC)
    want = [
        (utc(seg["startTime"]) + timedelta(minutes=int(p["durationMinutesOffsetFromStartTime"])),
         *map(float, p["point"][4:].split(",")))
        for seg in doc if "timelinePath" in seg for p in seg["timelinePath"]
    ]  # fmt: skip
    assert [(p["ts"], p["lat"], p["lon"]) for p in rows(batch.points)] == want
    assert len(want) == 10 and want[0][0] == datetime(2023, 8, 27, 20, 49, tzinfo=UTC)
    assert ctx.rejected == 0 and ctx.skipped == 1  # the timelineMemory


def test_ios_array_of_paths(samples: Path) -> None:
    batch, _ = parse(
        ios, Source.from_path(samples / "google-timeline-ios" / "dawarich_phone_takeout_array_timeline_path.json")
    )
    points = rows(batch.points)
    assert [p["ts"] for p in points] == [
        datetime(2025, 7, 29, 13, 1, tzinfo=UTC),
        datetime(2025, 7, 29, 13, 5, tzinfo=UTC),
        datetime(2025, 7, 29, 16, 10, tzinfo=UTC),
    ]
    assert (points[2]["lat"], points[2]["lon"], points[2]["record"]) == (29.732, -95.485, "[1].timelinePath[0]")
    assert batch.source_segments is None and batch.source_visits is None


# ------------------------------------------------------------------------------------ quirks


def test_ios_offsets_out_of_range_are_rejected() -> None:
    doc = [{"startTime": "2023-08-27T20:00:00.000Z", "endTime": "2023-08-27T22:00:00.000Z", "timelinePath": [
        {"point": "geo:1,2", "durationMinutesOffsetFromStartTime": "-3"},
        {"point": "geo:1,2", "durationMinutesOffsetFromStartTime": "121"},
        {"point": "geo:1,2", "durationMinutesOffsetFromStartTime": "500"},
        {"point": "geo:1,2", "durationMinutesOffsetFromStartTime": "soon"},
        {"point": "geo:1,2", "durationMinutesOffsetFromStartTime": "120"},
        {"point": "geo:1,2", "time": "2023-08-27T21:30:00.000-05:00"},
    ]}]  # fmt: skip
    batch, ctx = parse(ios, Source.from_bytes("location-history.json", json.dumps(doc).encode()))
    got = [(p["ts"], p["record"]) for p in rows(batch.points)]
    assert got == [
        (datetime(2023, 8, 27, 22, 1, tzinfo=UTC), "[0].timelinePath[1]"),  # within the minute of slack
        (datetime(2023, 8, 27, 22, 0, tzinfo=UTC), "[0].timelinePath[4]"),
        (datetime(2023, 8, 28, 2, 30, tzinfo=UTC), "[0].timelinePath[5]"),  # its own time wins
    ]
    assert ctx.rejected == 3
    assert ctx.first_rejection[0] == "[0].timelinePath[3]"  # met while walking; the offsets are checked after


def test_visits_that_are_not_stays_are_skipped() -> None:
    seg = {"startTime": "2024-01-01T10:00:00+01:00", "endTime": "2024-01-01T11:00:00+01:00"}
    place = {"placeId": "X", "placeLocation": {"latLng": "1.5°, 2.5°"}}
    doc = {"semanticSegments": [
        {**seg, "visit": {"hierarchyLevel": 0, "topCandidate": place}},
        {**seg, "visit": {"hierarchyLevel": 1, "topCandidate": place}},
        {**seg, "visit": {"isTimelessVisit": True, "topCandidate": place}},
        {**seg, "visit": {"topCandidate": {"placeId": "no location"}}},
        {**seg, "timelineMemory": {"trip": {}}},
    ]}  # fmt: skip
    batch, ctx = parse(android, Source.from_bytes("Timeline.json", json.dumps(doc).encode()))
    assert [v["lat"] for v in rows(batch.source_visits)] == [1.5]
    assert ctx.skipped == 4 and ctx.rejected == 0


def test_activity_records_give_hints_to_nearby_fixes() -> None:
    def fix(t: str) -> dict:
        return {"position": {"LatLng": "10.0, 20.0", "timestamp": t}}

    def act(t: str, *cands: tuple[str, float]) -> dict:
        return {
            "activityRecord": {"timestamp": t, "probableActivities": [{"type": k, "confidence": c} for k, c in cands]}
        }

    doc = {"rawSignals": [
        fix("2024-05-01T10:00:00Z"), act("2024-05-01T10:01:00Z", ("STILL", 0.6), ("ON_BICYCLE", 0.3), ("WALKING", 0.1)),
        fix("2024-05-01T10:03:30Z"), act("2024-05-01T10:05:00Z", ("IN_RAIL_VEHICLE", 0.9), ("SPACESHIP", 0.95)),
        fix("2024-05-01T10:20:00Z"),
    ]}  # fmt: skip
    batch, ctx = parse(android, Source.from_bytes("Timeline.json", json.dumps(doc).encode()))
    got = [(p["mode_hint"], p["mode_hint_conf"]) for p in rows(batch.points)]
    assert got == [("bike", pytest.approx(0.3)), ("unknown", pytest.approx(0.95)), (None, None)]
    assert ctx.unmapped_modes == {"SPACESHIP": 1}


def test_malformed_and_wrong_envelopes() -> None:
    with pytest.raises(InputDataError) as err:
        parse(ios, Source.from_bytes("location-history.json", b'[{"startTime": "x", "visit": {]'))
    assert err.value.record.startswith("line 1")
    with pytest.raises(InputDataError, match="unexpected JSON structure"):
        parse(ios, Source.from_bytes("Timeline.json", b'{"semanticSegments": []}'))  # forced on the wrong shape
    _, ctx = parse(android, Source.from_bytes("Timeline.json", b'{"semanticSegments": [{"visit": 5}, 3]}'))
    assert ctx.rejected == 2 and ctx.first_rejection[0] == "semanticSegments[0]"


# ------------------------------------------------------------------------------------ property tests

IOS_PLACE = {"HOME": "Home", "WORK": "Work", "UNKNOWN": "Unknown", "ALIASED_LOCATION": "Aliased Location",
             "SEARCHED_ADDRESS": "Searched Address"}  # fmt: skip
instant = st.integers(1_500_000_000, 1_750_000_000)  # seconds
offsets = st.sampled_from([None, 0, 60, 120, -300, -360, 330])  # None: written with Z
lat = st.integers(-90_000_000, 90_000_000).map(lambda v: v / 1e6)
lon = st.integers(-180_000_000, 180_000_000).map(lambda v: v / 1e6)


def iso(seconds: int, offset: int | None) -> str:
    t = datetime.fromtimestamp(seconds, UTC)
    if offset is None:
        return t.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return t.astimezone(timezone(timedelta(minutes=offset))).isoformat(timespec="milliseconds")


@st.composite
def logical_segment(draw: st.DrawFn) -> dict:
    start = draw(instant)
    seg = {"kind": draw(st.sampled_from(["visit", "activity", "path"])), "start": start,
           "end": start + draw(st.integers(60, 7200)), "offset": draw(offsets)}  # fmt: skip
    if seg["kind"] == "visit":
        seg.update(
            at=(draw(lat), draw(lon)),
            place=draw(st.text("abcdef", min_size=1, max_size=6)),
            type=draw(st.sampled_from(sorted(IOS_PLACE))),
            p=draw(st.sampled_from([0.0, 0.5, 0.95])),
        )
    elif seg["kind"] == "activity":
        seg.update(
            a=(draw(lat), draw(lon)),
            b=(draw(lat), draw(lon)),
            mode=draw(st.sampled_from(sorted(MODE))),
            p=draw(st.sampled_from([0.0, 0.25, 1.0])),
            d=draw(st.one_of(st.none(), st.integers(0, 10**6))),
        )
    else:
        span = (seg["end"] - seg["start"]) // 60
        seg["points"] = draw(st.lists(st.tuples(st.integers(0, span), lat, lon), min_size=1, max_size=5))
    return seg


def deg(at: tuple[float, float]) -> str:
    return f"{at[0]:.6f}°, {at[1]:.6f}°"


def geo(at: tuple[float, float]) -> str:
    return f"geo:{at[0]:.6f},{at[1]:.6f}"


def android_json(segs: list[dict]) -> bytes:
    out = []
    for s in segs:
        item = {"startTime": iso(s["start"], s["offset"]), "endTime": iso(s["end"], s["offset"])}
        if s["kind"] != "path" and s["offset"] is not None:
            item["startTimeTimezoneUtcOffsetMinutes"] = s["offset"]
        if s["kind"] == "visit":
            item["visit"] = {
                "hierarchyLevel": 0,
                "probability": s["p"],
                "topCandidate": {
                    "placeId": s["place"],
                    "semanticType": s["type"],
                    "placeLocation": {"latLng": deg(s["at"])},
                },
            }
        elif s["kind"] == "activity":
            item["activity"] = {"start": {"latLng": deg(s["a"])}, "end": {"latLng": deg(s["b"])},
                                "topCandidate": {"type": s["mode"], "probability": s["p"]}}  # fmt: skip
            if s["d"] is not None:
                item["activity"]["distanceMeters"] = float(s["d"])
        else:
            item["timelinePath"] = [{"point": f"{a:.6f}°, {b:.6f}°", "time": iso(s["start"] + 60 * m, s["offset"])}
                                    for m, a, b in s["points"]]  # fmt: skip
        out.append(item)
    return json.dumps({"semanticSegments": out, "rawSignals": []}, indent=2, ensure_ascii=False).encode()


def ios_json(segs: list[dict]) -> bytes:
    out = []
    for s in segs:
        item = {"endTime": iso(s["end"], s["offset"]), "startTime": iso(s["start"], s["offset"])}
        if s["kind"] == "visit":
            item["visit"] = {"hierarchyLevel": "0", "probability": f"{s['p']:.6f}", "topCandidate": {
                "placeID": s["place"], "semanticType": IOS_PLACE[s["type"]], "probability": "0.000000",
                "placeLocation": geo(s["at"])}}  # fmt: skip
        elif s["kind"] == "activity":
            item["activity"] = {"start": geo(s["a"]), "end": geo(s["b"]),
                                "topCandidate": {"type": s["mode"].lower().replace("_", " "),
                                                 "probability": f"{s['p']:.6f}"}}  # fmt: skip
            if s["d"] is not None:
                item["activity"]["distanceMeters"] = f"{s['d']:.6f}"
        else:
            item["timelinePath"] = [{"point": f"geo:{a:.6f},{b:.6f}", "durationMinutesOffsetFromStartTime": str(m)}
                                    for m, a, b in s["points"]]  # fmt: skip
        out.append(item)
    return json.dumps(out, indent=2).encode()


def check(batch: Batch, segs: list[dict], platform: str) -> None:
    def at(seconds: int) -> datetime:
        return datetime.fromtimestamp(seconds, UTC)

    visits, acts, points = rows(batch.source_visits), rows(batch.source_segments), rows(batch.points)
    want_v = [s for s in segs if s["kind"] == "visit"]
    want_a = [s for s in segs if s["kind"] == "activity"]
    want_p = [(s, p) for s in segs if s["kind"] == "path" for p in s["points"]]
    assert (len(visits), len(acts), len(points)) == (len(want_v), len(want_a), len(want_p))
    for g, s in zip(visits, want_v, strict=True):
        assert (g["started_at"], g["finished_at"], g["tz_offset_min"]) == (at(s["start"]), at(s["end"]), s["offset"])
        assert (g["lat"], g["lon"], g["place_id"], g["semantic_type"]) == (*s["at"], s["place"], s["type"])
        assert g["confidence"] == (pytest.approx(s["p"]) if s["p"] else None)
    for g, s in zip(acts, want_a, strict=True):
        raw = s["mode"] if platform == "android" else s["mode"].lower().replace("_", " ")
        assert (g["mode"], g["raw_mode"], g["started_at"], g["tz_offset_min"]) == (
            MODE[s["mode"]], raw, at(s["start"]), s["offset"])  # fmt: skip
        assert (g["start_lat"], g["start_lon"], g["end_lat"], g["end_lon"]) == (*s["a"], *s["b"])
        assert g["confidence"] == (pytest.approx(s["p"]) if s["p"] else None)
        if s["d"] is not None:
            assert g["distance_m"] == s["d"]
    for g, (s, (m, a, b)) in zip(points, want_p, strict=True):
        assert (g["ts"], g["lat"], g["lon"], g["tz_offset_min"]) == (at(s["start"] + 60 * m), a, b, s["offset"])


@settings(max_examples=80, deadline=None, suppress_health_check=QUIET)
@given(st.lists(logical_segment(), max_size=10))
def test_the_same_timeline_round_trips_in_both_spellings(segs: list[dict]) -> None:
    batch, ctx = parse(android, Source.from_bytes("Timeline.json", android_json(segs)))
    check(batch, segs, "android")
    assert ctx.rejected == 0 and not ctx.unmapped_modes
    batch, ctx = parse(ios, Source.from_bytes("location-history.json", ios_json(segs)))
    check(batch, segs, "ios")
    assert ctx.rejected == 0 and not ctx.unmapped_modes


@settings(max_examples=150, deadline=None, suppress_health_check=QUIET)
@given(st.binary(max_size=300), st.sampled_from([b"", b'{"semanticSegments": [', b'[{"startTime": ', b'[{"visit": {']))
def test_garbage_only_ever_raises_input_data_errors(junk: bytes, prefix: bytes) -> None:
    for module in (android, ios):
        with contextlib.suppress(InputDataError):
            parse(module, Source.from_bytes("t.json", prefix + junk))


@settings(max_examples=100, deadline=None, suppress_health_check=QUIET)
@given(st.data())
def test_damaged_samples_only_ever_raise_input_data_errors(samples: Path, data: st.DataObject) -> None:
    for module, name in ((android, "google-timeline-android/dawarich_phone-takeout_w_3_duplicates.json"),
                         (ios, "google-timeline-ios/dawarich_location-history.json")):  # fmt: skip
        raw = bytearray((samples / name).read_bytes())
        for _ in range(data.draw(st.integers(1, 4))):
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i : i + data.draw(st.integers(0, 3))] = data.draw(st.binary(max_size=4))
        with contextlib.suppress(InputDataError):
            parse(module, Source.from_bytes("t.json", bytes(raw)))
