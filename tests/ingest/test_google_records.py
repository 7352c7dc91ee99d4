"""Google Takeout Records.json: real samples, edge cases, both reading paths, property tests."""

from __future__ import annotations

import contextlib
import gc
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobco2.errors import InputDataError, UsageError
from mobco2.ingest import google_records, jsonparts, jsonutil
from mobco2.ingest.base import ParseContext, Source
from mobco2.ingest.detect import detect

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The mapping written out independently of mobco2.ingest.modes, for the types the tests use.
HINT = {"IN_VEHICLE": "car", "IN_ROAD_VEHICLE": "car", "IN_RAIL_VEHICLE": "train", "ON_BICYCLE": "bike",
        "ON_FOOT": "walk", "WALKING": "walk", "RUNNING": "run", "STILL": None, "TILTING": None,
        "UNKNOWN": None, "HOVERING": "unknown"}  # fmt: skip


def parse(source: Source, *, low_memory: bool = False, workers: str = "1") -> tuple[pa.Table, ParseContext]:
    ctx = ParseContext(source.name, low_memory=low_memory, options={"workers": workers})
    tables = [b.points for b in google_records.parse(source, ctx)]
    assert all(t is not None for t in tables)
    table = pa.concat_tables(tables) if tables else pa.table({})
    return table, ctx


def from_text(text: str | bytes, name: str = "Records.json") -> Source:
    return Source.from_bytes(name, text.encode() if isinstance(text, str) else text)


def expected(doc: dict) -> tuple[list[dict], int]:
    """What the parser should give, computed the obvious way from json.load output."""
    rows, skipped = [], 0
    for i, rec in enumerate(doc["locations"]):
        lat, lon = rec.get("latitudeE7"), rec.get("longitudeE7")
        if lat is None or lon is None:
            skipped += 1
            continue
        lat = lat - 2**32 if lat > 900_000_000 else lat
        lon = lon - 2**32 if lon > 1_800_000_000 else lon
        if "timestamp" in rec:
            ts = datetime.fromisoformat(rec["timestamp"].replace("Z", "+00:00"))
        else:
            ts = EPOCH + timedelta(milliseconds=int(rec["timestampMs"]))
        best, best_conf = None, -1.0
        for entry in rec.get("activity", []):
            for cand in entry["activity"]:
                mode = HINT[cand["type"]]
                if mode is not None and (best is None or cand["confidence"] > best_conf):
                    best, best_conf = mode, cand["confidence"]
        rows.append({
            "ts": ts, "lat": lat / 1e7, "lon": lon / 1e7, "accuracy_m": rec.get("accuracy"),
            "altitude_m": rec.get("altitude"), "speed_mps": rec.get("velocity"), "heading_deg": rec.get("heading"),
            "mode_hint": best, "mode_hint_conf": None if best is None else best_conf / 100, "record": f"locations[{i}]",
        })  # fmt: skip
    return rows, skipped


def assert_rows(table: pa.Table, rows: list[dict]) -> None:
    got = table.to_pylist()
    assert len(got) == len(rows)
    for g, e in zip(got, rows, strict=True):
        assert g["ts"] == e["ts"]
        assert g["lat"] == e["lat"] and g["lon"] == e["lon"]
        assert g["record"] == e["record"]
        assert g["mode_hint"] == e["mode_hint"]
        for key in ("accuracy_m", "altitude_m", "speed_mps", "heading_deg", "mode_hint_conf"):
            if e[key] is None:
                assert g[key] is None, key
            else:
                assert g[key] == float(np.float32(e[key])), key


# ------------------------------------------------------------------------------------ real samples


@pytest.mark.parametrize("name", ["kgeo_records.json", "dawarich_records.json"])
@pytest.mark.parametrize("low_memory", [False, True])
def test_samples_match_an_independent_reading(samples: Path, name: str, low_memory: bool) -> None:
    path = samples / "google-records" / name
    source = Source.from_path(path)
    assert detect(source) is google_records
    table, ctx = parse(source, low_memory=low_memory)
    rows, skipped = expected(json.loads(path.read_text()))
    assert_rows(table, rows)
    assert ctx.skipped == skipped == 0
    assert ctx.rejected == 0 and not ctx.unmapped_modes
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert "tz_offset_min" not in table.column_names  # Google's Z is UTC, not the user's zone


def test_kgeo_values_read_by_eye(samples: Path) -> None:
    table, _ = parse(Source.from_path(samples / "google-records" / "kgeo_records.json"))
    rows = table.to_pylist()
    assert len(rows) == 12
    first, last = rows[0], rows[-1]
    assert first["ts"] == datetime(2015, 10, 10, 18, 47, 2, 597000, tzinfo=UTC)
    assert (first["lat"], first["lon"]) == (43.7789954, -79.4176419)
    assert first["accuracy_m"] == 30.0
    # candidates UNKNOWN 58 / STILL 25 / IN_VEHICLE 17, then STILL 54 / IN_VEHICLE 23 / UNKNOWN 23
    assert first["mode_hint"] == "car" and first["mode_hint_conf"] == pytest.approx(0.23)
    assert rows[1]["mode_hint"] is None  # no activity list
    assert rows[6]["mode_hint"] is None  # STILL 100 only: not a mode of travel
    assert last["ts"] == datetime(2015, 10, 10, 18, 58, 40, 399000, tzinfo=UTC)
    assert (last["lat"], last["lon"]) == (43.7790309, -79.4175893)
    assert last["record"] == "locations[11]"


def test_dawarich_values_read_by_eye(samples: Path) -> None:
    table, _ = parse(Source.from_path(samples / "google-records" / "dawarich_records.json"))
    rows = table.to_pylist()
    assert [r["ts"] for r in (rows[0], rows[-1])] == [
        datetime(2012, 12, 15, 14, 21, 29, 460000, tzinfo=UTC),
        datetime(2013, 3, 1, 5, 17, 39, 849000, tzinfo=UTC),
    ]
    assert (rows[1]["lat"], rows[1]["lon"], rows[1]["accuracy_m"]) == (53.356338, 83.76165, 18000.0)


# ------------------------------------------------------------------------------------ quirks


def test_overflowed_e7_timestamp_ms_and_skips() -> None:
    doc = {"locations": [
        {"latitudeE7": 2**32 - 437789954, "longitudeE7": 2**32 - 794176419, "timestampMs": "1444502822597"},
        {"latitudeE7": 437789954, "longitudeE7": 3500000000, "timestampMs": 1444502822598},
        {"timestamp": "2015-10-10T18:47:03Z", "accuracy": 20},  # a Wi-Fi scan without coordinates
        {"latitudeE7": 1, "longitudeE7": 2, "timestamp": "2015-10-10T18:47:04Z", "velocity": 3, "heading": 270},
    ]}  # fmt: skip
    for low in (False, True):
        table, ctx = parse(from_text(json.dumps(doc, indent=2)), low_memory=low)
        rows = table.to_pylist()
        assert (rows[0]["lat"], rows[0]["lon"]) == (-43.7789954, -79.4176419)
        assert rows[1]["lon"] == (3500000000 - 2**32) / 1e7
        assert rows[0]["ts"] == datetime(2015, 10, 10, 18, 47, 2, 597000, tzinfo=UTC)
        assert rows[1]["ts"] == datetime(2015, 10, 10, 18, 47, 2, 598000, tzinfo=UTC)
        assert [r["record"] for r in rows] == ["locations[0]", "locations[1]", "locations[3]"]
        assert (rows[2]["speed_mps"], rows[2]["heading_deg"]) == (3.0, 270.0)
        assert ctx.skipped == 1 and ctx.rejected == 0


def test_records_without_a_usable_time_are_rejected_with_their_locator() -> None:
    doc = {"locations": [
        {"latitudeE7": 1, "longitudeE7": 2, "timestamp": "2015-10-10T18:47:04Z"},
        {"latitudeE7": 1, "longitudeE7": 2},
        {"latitudeE7": 1, "longitudeE7": 2, "timestamp": "yesterday"},
    ]}  # fmt: skip
    for low in (False, True):
        table, ctx = parse(from_text(json.dumps(doc)), low_memory=low)
        assert table.num_rows == 1
        assert ctx.rejected == 2
        assert ctx.first_rejection == ("locations[1]", "no timestamp or timestampMs")


def test_unexpected_types_fall_back_to_the_tolerant_reader() -> None:
    doc = {"locations": [
        {"latitudeE7": 1, "longitudeE7": 2, "timestamp": "2015-10-10T18:47:04Z"},
        {"latitudeE7": "1", "longitudeE7": 2, "timestamp": "2015-10-10T18:47:05Z"},
        {"latitudeE7": 3, "longitudeE7": 4, "timestamp": "2015-10-10T18:47:06Z", "accuracy": "big",
         "activity": [{"activity": [{"type": "WALKING", "confidence": 60}, {"type": 5}]}, "junk"]},
    ]}  # fmt: skip
    table, ctx = parse(from_text(json.dumps(doc)))
    assert [r["record"] for r in table.to_pylist()] == ["locations[0]", "locations[2]"]
    assert table.column("accuracy_m").to_pylist() == [None, None]
    assert table.column("mode_hint").to_pylist() == [None, "walk"]
    assert ctx.rejected == 1 and ctx.first_rejection[0] == "locations[1]"


def test_unmapped_activity_types_are_counted() -> None:
    doc = {"locations": [{"latitudeE7": 1, "longitudeE7": 2, "timestamp": "2015-10-10T18:47:04Z",
                          "activity": [{"activity": [{"type": "HOVERING", "confidence": 70},
                                                     {"type": "WALKING", "confidence": 30}]}]}]}  # fmt: skip
    for low in (False, True):
        table, ctx = parse(from_text(json.dumps(doc)), low_memory=low)
        assert table.column("mode_hint").to_pylist() == ["unknown"]
        assert ctx.unmapped_modes == {"HOVERING": 1}


@pytest.mark.parametrize("low_memory", [False, True])
def test_malformed_json_names_the_file_and_position(low_memory: bool) -> None:
    text = '{\n  "locations": [{\n    "latitudeE7": 1,\n    "longitudeE7": 2,,\n    "timestamp": "x"\n  }]\n}\n'
    with pytest.raises(InputDataError) as err:
        parse(from_text(text, "takeout.zip!Records.json"), low_memory=low_memory)
    message = err.value.one_line()
    assert "takeout.zip!Records.json" in message and "malformed JSON" in message
    if not low_memory:
        assert err.value.record.startswith("line 4, column 2")
    assert "export" in err.value.hint


def test_truncated_file_says_so(samples: Path) -> None:
    data = (samples / "google-records" / "kgeo_records.json").read_bytes()[:-200]
    with pytest.raises(InputDataError, match="ends early"):
        parse(from_text(data))
    with pytest.raises(InputDataError, match="malformed JSON"):
        parse(from_text(data), low_memory=True)


def test_bom_gzip_and_a_file_on_disk(tmp_path: Path, samples: Path) -> None:
    import gzip

    raw = (samples / "google-records" / "dawarich_records.json").read_bytes()
    plain = tmp_path / "Records.json"
    plain.write_bytes(b"\xef\xbb\xbf" + raw)
    packed = tmp_path / "Records.json.gz"
    packed.write_bytes(gzip.compress(raw))
    for path in (plain, packed):
        for low in (False, True):
            table, _ = parse(Source.from_path(path), low_memory=low)
            assert table.num_rows == 3


# ------------------------------------------------------------------------------------ big files in parts


def _big_document(n: int, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    types = list(HINT)
    locations = []
    for i in range(n):
        rec: dict = {"latitudeE7": int(rng.integers(-900_000_000, 900_000_000)),
                     "longitudeE7": int(rng.integers(-1_800_000_000, 1_800_000_000)),
                     "accuracy": int(rng.integers(1, 100)),
                     "source": "}, {" if i % 7 == 0 else "WIFI"}  # fmt: skip
        if i % 3 == 0:
            rec["activity"] = [{"activity": [{"type": types[int(rng.integers(len(types)))],
                                              "confidence": int(rng.integers(0, 101))} for _ in range(3)],
                                "timestamp": "2020-01-01T00:00:00Z"} for _ in range(2)]  # fmt: skip
        rec["timestamp"] = (EPOCH + timedelta(milliseconds=1_500_000_000_000 + 60_000 * i)).isoformat()
        locations.append(rec)
    return {"locations": locations}


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cut documents into ~4 KiB parts so that a small file exercises every part kind."""
    monkeypatch.setattr(google_records, "PART_BYTES", 4096)
    monkeypatch.setattr(jsonparts, "SEARCH_BYTES", 2048)
    monkeypatch.setattr(jsonparts, "PROBE_BYTES", 512)


@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize("workers", ["1", "2"])
def test_parts_and_workers_give_the_same_rows(tmp_path: Path, workers: str) -> None:
    doc = _big_document(600)
    path = tmp_path / "Records.json"
    path.write_text(json.dumps(doc, indent=2))
    buf = memoryview(path.read_bytes())
    parts = jsonparts.plan_parts(buf, "locations", google_records.PART_BYTES, google_records.LIST_DECODER)
    assert len(parts) > 5 and {p.kind for p in parts} == {"first", "middle", "last"}
    table, ctx = parse(Source.from_path(path), workers=workers)
    rows, _ = expected(doc)
    assert_rows(table, rows)
    assert ctx.rejected == 0


@pytest.mark.usefixtures("small_parts")
def test_cuts_never_land_inside_nested_lists_or_strings() -> None:
    data = json.dumps(_big_document(400)).encode()  # minified: every "}, {" looks alike
    cuts = jsonparts.split_array(memoryview(data), data.index(b"[") + 1, 4096, google_records.LIST_DECODER)
    assert cuts
    for end, start in cuts:
        head = data[:end] + b"]}"
        assert len(json.loads(head)["locations"]) > 0  # everything before the cut is whole records
        assert json.loads(b'{"locations": [' + data[start:])["locations"]


@pytest.mark.usefixtures("small_parts")
def test_malformed_json_deep_in_a_big_file(tmp_path: Path) -> None:
    text = json.dumps(_big_document(600), indent=2)
    lines = text.split("\n")
    victim = len(lines) * 2 // 3
    while '"accuracy"' not in lines[victim]:
        victim += 1
    lines[victim] = lines[victim].replace('"accuracy":', '"accuracy"')
    path = tmp_path / "Records.json"
    path.write_text("\n".join(lines))
    for workers in ("1", "2"):
        with pytest.raises(InputDataError) as err:
            parse(Source.from_path(path), workers=workers)
        assert err.value.record.startswith(f"line {victim + 1}, column")


# ------------------------------------------------------------------------------------ property tests

QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]  # the fixtures only isolate env vars
ms = st.integers(1_262_304_000_000, 1_735_689_600_000)  # 2010 … 2025
candidate = st.fixed_dictionaries({"type": st.sampled_from(sorted(HINT)), "confidence": st.integers(0, 100)})
activity = st.lists(st.fixed_dictionaries({"activity": st.lists(candidate, min_size=1, max_size=4)}), max_size=3)


@st.composite
def records(draw: st.DrawFn) -> dict:
    rec: dict = {}
    if draw(st.integers(0, 9)):  # one record in ten has no coordinates
        lat = draw(st.integers(-900_000_000, 900_000_000))
        lon = draw(st.integers(-1_800_000_000, 1_800_000_000))
        if draw(st.booleans()):  # some exports wrote negative E7 values as unsigned 32-bit
            lat, lon = lat % 2**32, lon % 2**32
        rec["latitudeE7"], rec["longitudeE7"] = lat, lon
    stamp = draw(ms)
    style = draw(st.sampled_from(["iso_ms", "iso_s", "ms_str", "ms_int"]))
    if style == "iso_ms":
        rec["timestamp"] = (EPOCH + timedelta(milliseconds=stamp)).isoformat(timespec="milliseconds")[:-6] + "Z"
    elif style == "iso_s":
        rec["timestamp"] = (EPOCH + timedelta(seconds=stamp // 1000)).isoformat()[:-6] + "Z"
    else:
        rec["timestampMs"] = str(stamp) if style == "ms_str" else stamp
    for key, top in (("accuracy", 20000), ("velocity", 80), ("heading", 359), ("altitude", 4000)):
        if draw(st.booleans()):
            rec[key] = draw(st.integers(0, top))
    acts = draw(activity)
    if acts:
        rec["activity"] = acts
    return rec


def google_layout(doc: dict, style: str) -> str:
    if style == "pretty":
        return json.dumps(doc, indent=2)
    if style == "jackson":  # the pre-2022 Takeout writer: "key" : value
        return json.dumps(doc, indent=2, separators=(",", " : "))
    return json.dumps(doc, separators=(",", ":"))


@settings(max_examples=60, deadline=None, suppress_health_check=QUIET)
@given(st.lists(records(), max_size=25), st.sampled_from(["pretty", "jackson", "minified"]))
def test_valid_records_round_trip_through_both_readers(recs: list[dict], style: str) -> None:
    doc = {"locations": recs}
    rows, skipped = expected(doc)
    source = from_text(google_layout(doc, style))
    for low in (False, True):
        table, ctx = parse(source, low_memory=low)
        if rows:
            assert_rows(table, rows)
        else:
            assert table.num_rows == 0
        assert ctx.skipped == skipped and ctx.rejected == 0
        mapped = sum(c["type"] == "HOVERING" for r in recs if "latitudeE7" in r
                     for e in r.get("activity", []) for c in e["activity"])  # fmt: skip
        assert sum(ctx.unmapped_modes.values()) == mapped


@settings(max_examples=150, deadline=None, suppress_health_check=QUIET)
@given(st.binary(max_size=300), st.sampled_from([b"", b'{"locations": [', b'{"locations": [{"latitudeE7": 1, ']))
def test_garbage_only_ever_raises_input_data_errors(junk: bytes, prefix: bytes) -> None:
    for low in (False, True):
        with contextlib.suppress(InputDataError):
            parse(from_text(prefix + junk), low_memory=low)


@settings(max_examples=100, deadline=None, suppress_health_check=QUIET)
@given(st.data())
def test_damaged_samples_only_ever_raise_input_data_errors(samples: Path, data: st.DataObject) -> None:
    raw = bytearray((samples / "google-records" / "kgeo_records.json").read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i : i + data.draw(st.integers(0, 3))] = data.draw(st.binary(max_size=4))
    for low in (False, True):
        with contextlib.suppress(InputDataError):
            parse(from_text(bytes(raw)), low_memory=low)


@pytest.mark.usefixtures("small_parts")
def test_a_bad_record_deep_in_a_big_file_is_rejected_alone(tmp_path: Path) -> None:
    doc = _big_document(600)
    doc["locations"][450]["latitudeE7"] = "north"
    path = tmp_path / "Records.json"
    path.write_text(json.dumps(doc, indent=2))
    table, ctx = parse(Source.from_path(path))
    assert ctx.rejected == 1 and ctx.first_rejection[0] == "locations[450]"
    del doc["locations"][450]["latitudeE7"]  # what the others should look like: as if it had no position
    rows, _ = expected(doc)
    assert_rows(table, rows)  # each record once, in order, across the typed parts and the streamed rest


@pytest.mark.parametrize("low_memory", [False, True])
def test_progress_reaches_the_end_and_workers_must_be_a_number(samples: Path, low_memory: bool) -> None:
    path = samples / "google-records" / "kgeo_records.json"
    seen: list[int] = []
    ctx = ParseContext(str(path), low_memory=low_memory, progress=seen.append)
    list(google_records.parse(Source.from_path(path), ctx))
    assert seen and seen[-1] == path.stat().st_size
    with pytest.raises(UsageError, match="whole number"):
        list(google_records.parse(Source.from_path(path), ParseContext(str(path), options={"workers": "many"})))


# ------------------------------------------------------------------------------------ fast paths


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 10**15), max_size=300), st.booleans())
def test_element_locators_are_the_indexes_written_out(indexes: list[int], in_order: bool) -> None:
    if in_order:
        indexes = sorted(indexes)
    got = jsonutil.element_locators("locations", np.array(indexes, dtype=np.int64))
    assert got.type == pa.string()
    assert got.to_pylist() == [f"locations[{i}]" for i in indexes]


@pytest.mark.parametrize("low_memory", [False, True])
def test_a_damaged_gzip_is_an_input_error(low_memory: bool) -> None:
    import gzip

    packed = gzip.compress(json.dumps(_big_document(50)).encode())
    for data in (b"\x1f\x8b", packed[: len(packed) // 2]):
        with pytest.raises(InputDataError, match="compressed"):
            parse(from_text(data), low_memory=low_memory)


def test_integers_beyond_any_float_are_no_number() -> None:
    # msgspec keeps big JSON integers exact (small ones are declared int | float, see the module)
    huge = "1" + "0" * 400
    candidates = f'{{"type": "WALKING", "confidence": {huge}}}, {{"type": "IN_VEHICLE", "confidence": 10}}'
    text = ('{"locations": [{"latitudeE7": 1, "longitudeE7": 2, "timestamp": "2015-10-10T18:47:04Z", '
            f'"accuracy": {huge}, "heading": 90, "activity": [{{"activity": [{candidates}]}}]}}]}}')  # fmt: skip
    table, ctx = parse(from_text(text))
    row = table.to_pylist()[0]
    assert row["accuracy_m"] is None and row["heading_deg"] == 90.0
    assert (row["mode_hint"], row["mode_hint_conf"]) == ("car", pytest.approx(0.10))  # absurd = unknown
    assert ctx.rejected == 0
    doc = {"locations": [{"latitudeE7": 1, "longitudeE7": 2, "timestampMs": 10**30},
                          {"latitudeE7": 1, "longitudeE7": 2, "timestampMs": "1444502822597"}]}  # fmt: skip
    table, ctx = parse(from_text(json.dumps(doc)))
    assert table.column("record").to_pylist() == ["locations[1]"]
    assert ctx.rejected == 1 and ctx.first_rejection[0] == "locations[0]"


@pytest.fixture
def small_low_memory_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(google_records, "LOW_MEMORY_PART_BYTES", 4096)
    monkeypatch.setattr(jsonparts, "SEARCH_BYTES", 2048)
    monkeypatch.setattr(jsonparts, "PROBE_BYTES", 512)


@pytest.mark.usefixtures("small_low_memory_parts")
def test_low_memory_reads_a_file_on_disk_in_parts_without_streaming(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = _big_document(600)
    path = tmp_path / "Records.json"
    path.write_text(json.dumps(doc, indent=2))

    def no_streaming(*args: object, **kwargs: object) -> None:
        raise AssertionError("streamed a file that can be cut into parts")

    monkeypatch.setattr(google_records, "_parse_streaming", no_streaming)
    table, ctx = parse(Source.from_path(path), low_memory=True, workers="2")
    assert_rows(table, expected(doc)[0])
    assert ctx.rejected == 0


@pytest.mark.usefixtures("small_low_memory_parts")
def test_low_memory_finishes_with_the_tolerant_reader_after_a_bad_record(tmp_path: Path) -> None:
    doc = _big_document(600)
    doc["locations"][450]["longitudeE7"] = [1, 2]
    path = tmp_path / "Records.json"
    path.write_text(json.dumps(doc, indent=2))
    table, ctx = parse(Source.from_path(path), low_memory=True)
    assert ctx.rejected == 1 and ctx.first_rejection[0] == "locations[450]"
    del doc["locations"][450]["longitudeE7"]
    assert_rows(table, expected(doc)[0])


def test_a_part_is_decoded_and_converted_without_a_collection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GC stays paused from the first decoded record to the last one freed (bench: ~0.5 CPU-s/GB).

    A part of this size allocates a few thousand tracked lists: re-enabling the GC while they
    are alive (as between decode and conversion before) starts a collection over all of them.
    """
    monkeypatch.setattr(google_records, "PART_BYTES", 1 << 20)
    doc = _big_document(8000)
    path = tmp_path / "Records.json"
    path.write_text(json.dumps(doc, indent=2))
    buf = memoryview(path.read_bytes())
    parts = jsonparts.plan_parts(buf, "locations", google_records.PART_BYTES, google_records.LIST_DECODER)
    middle = [p for p in parts if p.kind == "middle"]
    assert len(middle) >= 2
    collections: list[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    pins: list = []
    gc.collect()
    gc.callbacks.append(count)
    try:
        chunks = google_records._converted(buf, middle[0], bytearray(), pins=pins)
    finally:
        gc.callbacks.remove(count)
    assert collections == []
    assert gc.isenabled()
    converted = sum(n for _, _, n in chunks)
    assert converted > 1000
    # every PIN_EVERY-th record of the part stays alive until the next part replaces it
    assert len(pins) == -(-converted // google_records.PIN_EVERY)
    first = pins[0]
    google_records._converted(buf, middle[1], bytearray(), pins=pins)
    assert pins and all(p is not first for p in pins)
