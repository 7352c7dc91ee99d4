"""OwnTracks parser: real Recorder files, JSON shapes, malformed input, round-trip properties."""

from __future__ import annotations

import contextlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobco2.errors import InputDataError
from mobco2.ingest import owntracks
from mobco2.ingest.base import ParseContext, Source
from mobco2.ingest.detect import detect
from mobco2.schema import POINTS

EMPTY = pa.schema(
    [f for f in POINTS if f.name not in ("user_id", "import_id", "source_format")] + [pa.field("record", pa.string())]
).empty_table()


def parse_all(source: Source, **options: str) -> tuple[pa.Table, ParseContext]:
    ctx = ParseContext(source_name=source.name, options=options)
    tables = [b.points for b in owntracks.parse(source, ctx) if b.points is not None]
    table = pa.concat_tables(tables) if tables else EMPTY
    return table, ctx


def expected_from_rec(path: Path) -> tuple[list[dict], int]:
    """Location payloads of a .rec file, read the simple way: JSON from each line's first '{'."""
    locations, others = [], 0
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        payload = json.loads(line[line.index("{") :])
        if payload["_type"] == "location":
            locations.append(payload)
        else:
            others += 1
    return locations, others


@pytest.mark.parametrize("name", ["dawarich_2024-03.rec", "dawarich_2023-02_old.rec"])
def test_recorder_files_detected_and_parsed(samples, name):
    path = samples / "owntracks" / name
    source = Source.from_path(path)
    assert detect(source) is owntracks
    table, ctx = parse_all(source)
    locations, others = expected_from_rec(path)
    assert table.num_rows == len(locations)
    assert ctx.skipped == others
    assert ctx.rejected == 0
    assert table.column("lat").to_pylist() == [loc["lat"] for loc in locations]
    assert table.column("lon").to_pylist() == [loc["lon"] for loc in locations]
    stamps = [datetime.fromtimestamp(loc["tst"], UTC) for loc in locations]
    assert table.column("ts").to_pylist() == stamps


def test_recorder_2024_values_read_by_eye(samples):
    table, ctx = parse_all(Source.from_path(samples / "owntracks" / "dawarich_2024-03.rec"))
    # 13 lines: 9 locations, then transition (line 3), lwt, waypoint, transition: 4 skipped
    assert table.num_rows == 9
    assert ctx.skipped == 4
    first = table.slice(0, 1).to_pylist()[0]
    assert first["ts"] == datetime(2024, 3, 1, 9, 3, 9, tzinfo=UTC)
    assert (first["lat"], first["lon"]) == (52.225, 13.332)
    assert first["speed_mps"] == pytest.approx(5 / 3.6)  # vel is km/h
    assert first["accuracy_m"] == 10
    assert first["altitude_m"] == 36
    assert first["heading_deg"] is None  # no cog on that line
    assert first["record"] == "line 1"
    third = table.slice(2, 1).to_pylist()[0]
    assert third["record"] == "line 4"  # line 3 is the geofence transition
    assert third["heading_deg"] == 40
    last = table.slice(8, 1).to_pylist()[0]
    assert last["ts"] == datetime(2024, 3, 1, 18, 40, 11, tzinfo=UTC)
    assert (last["lat"], last["lon"]) == (52.234, 13.341)


def test_old_recorder_with_space_separators(samples):
    table, _ = parse_all(Source.from_path(samples / "owntracks" / "dawarich_2023-02_old.rec"))
    assert table.num_rows == 10
    assert table.column("ts")[0].as_py() == datetime(2023, 2, 20, 18, 46, 22, tzinfo=UTC)
    assert table.column("ts")[-1].as_py() == datetime(2023, 2, 20, 18, 47, 0, tzinfo=UTC)
    assert table.column("lat")[0].as_py() == 22.0687934
    assert table.column("lon")[0].as_py() == 24.7941786
    assert table.column("speed_mps").to_pylist() == [0.0] * 10


GZIP_MAGIC = b"\x1f\x8b"
LOCATION = {"_type": "location", "lat": 48.85, "lon": 2.35, "tst": 1709283789, "acc": 12, "vel": 36, "cog": -1}


def test_json_single_array_and_envelope():
    single = json.dumps(LOCATION, indent=2).encode()
    array = json.dumps([LOCATION, {**LOCATION, "_type": "lwt"}, {**LOCATION, "tst": 1709283790}]).encode()
    envelope = json.dumps({"count": 2, "data": [LOCATION, {**LOCATION, "lat": "48.86"}]}).encode()
    for data, rows, skipped in ((single, 1, 0), (array, 2, 1), (envelope, 2, 0)):
        source = Source.from_bytes("x.json", data)
        assert detect(source) is owntracks
        table, ctx = parse_all(source)
        assert table.num_rows == rows
        assert ctx.skipped == skipped
        assert table.column("speed_mps")[0].as_py() == pytest.approx(10.0)
        assert table.column("heading_deg")[0].as_py() is None  # cog -1 = unknown
    table, _ = parse_all(Source.from_bytes("x.json", envelope))
    assert table.column("lat").to_pylist() == [48.85, 48.86]  # string coordinates are read too
    assert table.column("record").to_pylist() == ["data[0]", "data[1]"]


def test_json_lines_without_recorder_prefix():
    data = b"\n".join(json.dumps({**LOCATION, "tst": 1709283789 + i}).encode() for i in range(3))
    table, _ = parse_all(Source.from_bytes("http.log", data))
    assert table.num_rows == 3
    assert table.column("record").to_pylist() == ["line 1", "line 2", "line 3"]


def test_bad_lines_rejected_with_line_numbers():
    good = "2024-03-01T09:03:09Z\t*\t" + json.dumps(LOCATION)
    lines = [
        good,
        '2024-03-01T09:03:10Z\t*\t{"_type":"location","lat":1',
        good.replace('"lat": 48.85', '"lat": "x"'),
        "garbage without json",
        good.replace('"tst": 1709283789', '"tst": true'),
    ]
    table, ctx = parse_all(Source.from_bytes("bad.rec", "\n".join(lines).encode()))
    assert table.num_rows == 1
    assert ctx.rejected == 4
    assert ctx.first_rejection[0] == "line 2"


def test_truncated_json_document_is_input_error():
    data = json.dumps([LOCATION] * 3).encode()[:-30]
    with pytest.raises(InputDataError) as err:
        parse_all(Source.from_bytes("cut.json", data))
    assert "cut.json" in str(err.value)


def test_gigantic_line_refused():
    data = b"2024-03-01T09:03:09Z\t*\t{" + b" " * (owntracks.MAX_LINE_BYTES + 10) + b"}\n"
    with pytest.raises(InputDataError, match="longer than"):
        parse_all(Source.from_bytes("huge.rec", data))


def test_sniff_is_specific():
    assert not owntracks.sniff(b'{"type":"FeatureCollection","features":[{"properties":{"_type":"location","tst":1}}]}')
    assert not owntracks.sniff(b'{"locations":[{"latitudeE7":1}]}')
    assert not owntracks.sniff(b"time,lat,lon\n")
    assert owntracks.sniff(b'2024-03-01T09:03:09Z  *   {"_type":"lwt"}')


# -- properties -------------------------------------------------------------------------------

point = st.fixed_dictionaries(
    {
        "tst": st.integers(946_684_800, 2_000_000_000),
        "lat": st.floats(-90, 90, allow_nan=False),
        "lon": st.floats(-180, 180, allow_nan=False),
        "acc": st.integers(0, 5000),
        "vel": st.integers(0, 300),
        "alt": st.integers(-400, 9000),
        "cog": st.integers(0, 359),
    }
)


@settings(max_examples=60, deadline=None)
@given(st.lists(point, min_size=1, max_size=30), st.sampled_from(["\t*                 \t", "  *   "]))
def test_rec_round_trip(points, separator):
    lines = []
    for p in points:
        iso = datetime.fromtimestamp(p["tst"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        lines.append(iso + separator + json.dumps({"_type": "location", **p}))
    source = Source.from_bytes("p.rec", ("\n".join(lines) + "\n").encode())
    assert owntracks.sniff(source.head())
    table, ctx = parse_all(source)
    assert ctx.rejected == 0
    assert table.column("lat").to_pylist() == [p["lat"] for p in points]
    assert table.column("lon").to_pylist() == [p["lon"] for p in points]
    assert table.column("ts").to_pylist() == [datetime.fromtimestamp(p["tst"], UTC) for p in points]
    assert table.column("accuracy_m").to_pylist() == [p["acc"] for p in points]
    assert table.column("altitude_m").to_pylist() == [p["alt"] for p in points]
    speeds = table.column("speed_mps").to_pylist()
    assert speeds == pytest.approx([p["vel"] / 3.6 for p in points], rel=1e-6)


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)))
def test_garbage_raises_only_input_errors(data):
    for prefix in (b"", b"2024-03-01T09:03:09Z\t*\t{", b"[", b'{"data":['):
        if (prefix + data).startswith(GZIP_MAGIC):
            continue  # Source undoes gzip before any parser runs; bad gzip is Source's business
        with contextlib.suppress(InputDataError):
            parse_all(Source.from_bytes("g.rec", prefix + data))


def test_record_locator_matches_line(tmp_path):
    path = tmp_path / "x.rec"
    path.write_text("\n\n" + "2024-03-01T09:03:09Z\t*\t" + json.dumps(LOCATION) + "\n")
    table, _ = parse_all(Source.from_path(path))
    assert table.column("record").to_pylist() == ["line 3"]
    assert re.fullmatch(r"line \d+", table.column("record")[0].as_py())
