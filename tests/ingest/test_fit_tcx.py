"""FIT and TCX parsers: the real Garmin FIT file, TCX activities, corrupt input, round-trip properties."""

from __future__ import annotations

import contextlib
import struct
from datetime import UTC, datetime

import fitdecode
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobco2.errors import HostileInputError, InputDataError
from mobco2.ingest import fit, tcx
from mobco2.ingest.base import ParseContext, Source
from mobco2.ingest.detect import detect
from mobco2.schema import POINTS

EMPTY = pa.schema(
    [f for f in POINTS if f.name not in ("user_id", "import_id", "source_format")] + [pa.field("record", pa.string())]
).empty_table()
TCX_NS = "http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2"


def parse_all(module, source: Source) -> tuple[pa.Table, ParseContext]:
    ctx = ParseContext(source_name=source.name)
    tables = [b.points for b in module.parse(source, ctx) if b.points is not None]
    return (pa.concat_tables(tables) if tables else EMPTY), ctx


# -- FIT --------------------------------------------------------------------------------------


def fit_records_the_plain_way(path) -> list[tuple[datetime, float, float]]:
    """Positioned records straight from fitdecode, without our parser."""
    out = []
    with fitdecode.FitReader(str(path)) as reader:
        for frame in reader:
            if isinstance(frame, fitdecode.FitDataMessage) and frame.name == "record":
                lat, lon = (
                    frame.get_value("position_lat", fallback=None),
                    frame.get_value("position_long", fallback=None),
                )
                if lat is not None and lon is not None:
                    out.append((frame.get_value("timestamp"), lat * 180 / 2**31, lon * 180 / 2**31))
    return out


def test_fit_sample(samples):
    path = samples / "fit-tcx" / "reitti_sample.fit"
    source = Source.from_path(path)
    assert detect(source) is fit
    table, ctx = parse_all(fit, source)
    expected = fit_records_the_plain_way(path)
    assert table.num_rows == len(expected) == 591
    assert table.column("ts").to_pylist() == [t for t, _, _ in expected]
    assert table.column("lat").to_pylist() == pytest.approx([la for _, la, _ in expected], abs=1e-12)
    # read by eye: an Edge 840 commute on 2026-06-28, 11:51:10 to 12:05:45 UTC, near Lübeck
    assert table.column("ts")[0].as_py() == datetime(2026, 6, 28, 11, 51, 10, tzinfo=UTC)
    assert table.column("ts")[-1].as_py() == datetime(2026, 6, 28, 12, 5, 45, tzinfo=UTC)
    assert table.column("lat")[0].as_py() == pytest.approx(53.863199, abs=1e-6)
    assert table.column("lon")[0].as_py() == pytest.approx(10.701014, abs=1e-6)
    assert set(table.column("mode_hint").to_pylist()) == {"bike"}  # session.sport = cycling
    assert set(table.column("tz_offset_min").to_pylist()) == {120}  # local_timestamp − timestamp
    assert table.column("speed_mps")[2].as_py() == pytest.approx(2.249)
    assert table.column("altitude_m")[0].as_py() == pytest.approx(12.4, abs=1e-4)
    # timer restarts at 11:51:18 and 12:01:25 after auto-pauses
    starts = table.filter(table.column("segment_start")).column("ts").to_pylist()
    assert starts == [
        datetime(2026, 6, 28, 11, 51, 10, tzinfo=UTC),
        datetime(2026, 6, 28, 11, 51, 18, tzinfo=UTC),
        datetime(2026, 6, 28, 12, 1, 25, tzinfo=UTC),
    ]
    assert ctx.rejected == ctx.skipped == 0


def test_fit_corrupt_byte_and_truncation_are_input_errors(samples):
    data = bytearray((samples / "fit-tcx" / "reitti_sample.fit").read_bytes())
    flipped = bytearray(data)
    flipped[5000] ^= 0xFF
    for bad in (bytes(flipped), bytes(data[:12000])):
        with pytest.raises(InputDataError, match="corrupt FIT"):
            parse_all(fit, Source.from_bytes("bad.fit", bad))


def test_fit_gzipped_is_read(samples):
    import gzip

    data = gzip.compress((samples / "fit-tcx" / "reitti_sample.fit").read_bytes())
    source = Source.from_bytes("a.fit.gz", data)
    assert detect(source) is fit
    assert parse_all(fit, source)[0].num_rows == 591


def test_fit_sniff_survives_whitespace_stripping_of_12_byte_header():
    header = struct.pack("<BBHI4s", 12, 0x10, 2100, 0, b".FIT")
    assert fit.sniff(header.lstrip())  # 0x0C is whitespace to bytes.lstrip
    assert fit.sniff(struct.pack("<BBHI4sH", 14, 0x20, 2100, 0, b".FIT", 0))
    assert not fit.sniff(b"time,lat,lon\n")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300))
def test_fit_garbage_raises_only_input_errors(noise):
    header = struct.pack("<BBHI4sH", 14, 0x20, 2100, len(noise), b".FIT", 0)
    for data in (header + noise, noise):
        if data.startswith(b"\x1f\x8b"):
            continue  # Source undoes gzip before any parser runs; bad gzip is Source's business
        with contextlib.suppress(InputDataError):
            parse_all(fit, Source.from_bytes("g.fit", data))


# -- TCX --------------------------------------------------------------------------------------


def tcx_document(activities: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<TrainingCenterDatabase xmlns="{TCX_NS}" '
        'xmlns:ns3="http://www.garmin.com/xmlschemas/ActivityExtension/v2">'
        f"<Activities>{activities}</Activities></TrainingCenterDatabase>"
    ).encode()


def trackpoint(time: str, lat=None, lon=None, alt=None, speed=None) -> str:
    pos = f"<Position><LatitudeDegrees>{lat}</LatitudeDegrees><LongitudeDegrees>{lon}</LongitudeDegrees></Position>"
    return (
        f"<Trackpoint><Time>{time}</Time>{pos if lat is not None else ''}"
        f"{f'<AltitudeMeters>{alt}</AltitudeMeters>' if alt is not None else ''}"
        f"{f'<Extensions><ns3:TPX><ns3:Speed>{speed}</ns3:Speed></ns3:TPX></Extensions>' if speed is not None else ''}"
        "</Trackpoint>"
    )


def test_tcx_sample(samples):
    source = Source.from_path(samples / "fit-tcx" / "dawarich_running.tcx")
    assert detect(source) is tcx
    table, ctx = parse_all(tcx, source)
    assert table.num_rows == 1
    row = table.to_pylist()[0]
    assert row["ts"] == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert (row["lat"], row["lon"]) == (52.520, 13.405)
    assert row["mode_hint"] == "run"
    assert row["segment_start"] is True
    assert ctx.rejected == 0


def test_tcx_sports_tracks_and_missing_positions():
    body = (
        '<Activity Sport="Biking"><Lap><Track>'
        + trackpoint("2024-01-01T10:00:00Z", 48.1, 2.1, 35.5, 4.25)
        + trackpoint("2024-01-01T10:00:01Z")  # indoor: no Position
        + "</Track><Track>"
        + trackpoint("2024-01-01T10:05:00Z", 48.2, 2.2)
        + '</Track></Lap></Activity><Activity Sport="Other"><Lap><Track>'
        + trackpoint("2024-01-01T11:00:00Z", 48.3, 2.3)
        + trackpoint("2024-01-01T11:00:01Z", "north", 2.3)
        + "</Track></Lap></Activity>"
    )
    table, ctx = parse_all(tcx, Source.from_bytes("a.tcx", tcx_document(body)))
    assert table.column("lat").to_pylist() == [48.1, 48.2, 48.3]
    assert table.column("mode_hint").to_pylist() == ["bike", "bike", None]  # Other: no hint
    assert table.column("segment_start").to_pylist() == [True, True, True]
    assert table.column("altitude_m").to_pylist() == [35.5, None, None]
    assert table.column("speed_mps").to_pylist() == [4.25, None, None]
    assert ctx.skipped == 1
    assert ctx.rejected == 1
    assert ctx.first_rejection[0] == "Trackpoint 5"


def test_tcx_courses_are_not_journeys():
    doc = tcx_document("").replace(
        b"<Activities></Activities>",
        b"<Courses><Course><Track>"
        + trackpoint("2024-01-01T10:00:00Z", 1, 2).encode()
        + b"</Track></Course></Courses>",
    )
    table, ctx = parse_all(tcx, Source.from_bytes("c.tcx", doc))
    assert table.num_rows == 0
    assert ctx.skipped == 1


def test_tcx_truncated_and_entity_bomb():
    doc = tcx_document('<Activity Sport="Running"><Lap><Track>' + trackpoint("2024-01-01T10:00:00Z", 1, 2))
    with pytest.raises(InputDataError, match="malformed XML"):
        parse_all(tcx, Source.from_bytes("cut.tcx", doc[:-30]))
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>' + doc.split(b"?>", 1)[1]
    with pytest.raises(HostileInputError):
        parse_all(tcx, Source.from_bytes("bomb.tcx", bomb))


instant = st.datetimes(datetime(1995, 1, 1), datetime(2035, 1, 1)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000, tzinfo=UTC)
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            instant,
            st.floats(-90, 90, allow_nan=False),
            st.floats(-180, 180, allow_nan=False),
            st.floats(0, 60, allow_nan=False),
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["Running", "Biking"]),
)
def test_tcx_round_trip(rows, sport):
    points = "".join(
        trackpoint(t.isoformat(timespec="milliseconds").replace("+00:00", "Z"), repr(la), repr(lo), speed=repr(v))
        for t, la, lo, v in rows
    )
    source = Source.from_bytes(
        "p.tcx", tcx_document(f'<Activity Sport="{sport}"><Lap><Track>{points}</Track></Lap></Activity>')
    )
    assert detect(source) is tcx
    table, ctx = parse_all(tcx, source)
    assert ctx.rejected == 0
    assert table.column("ts").to_pylist() == [t for t, *_ in rows]
    assert table.column("lat").to_pylist() == [la for _, la, _, _ in rows]
    assert table.column("lon").to_pylist() == [lo for *_, lo, _ in rows]
    assert table.column("speed_mps").to_pylist() == pytest.approx([v for *_, v in rows], rel=1e-6, abs=1e-30)
    assert set(table.column("mode_hint").to_pylist()) == {"run" if sport == "Running" else "bike"}


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200), st.binary(max_size=200))
def test_tcx_garbage_raises_only_input_errors(text, noise):
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
    candidates = [
        tcx_document(
            f'<Activity Sport="{escaped}"><Lap><Track>'
            + trackpoint(escaped, escaped, escaped, escaped, escaped)
            + "</Track></Lap></Activity>"
        ),
        b"<TrainingCenterDatabase>" + noise,
    ]
    for data in candidates:
        with contextlib.suppress(InputDataError):
            parse_all(tcx, Source.from_bytes("g.tcx", data))


def test_fit_hint_follows_sessions():
    # Multisport: each point takes the sport of the session whose span holds it.
    ctx = ParseContext(source_name="m.fit")
    t0 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    times_s = [t0 + s for s in (0, 100, 200, 300)]
    sessions = [(t0, t0 + 150, "cycling", None), (t0 + 150, t0 + 400, "running", None)]
    hints = fit._mode_hints(np.array(times_s), sessions, None, ctx)
    assert hints == ["bike", "bike", "run", "run"]
    assert fit._mode_hints(np.array(times_s[:1]), [], ("cycling", "e_bike_fitness"), ctx) == ["ebike"]
    fit._mode_hints(np.array(times_s), [], ("jumpmaster", None), ctx)
    assert ctx.unmapped_modes["jumpmaster"] == 4


class _Field:
    def __init__(self, raw):
        self.raw_value = raw


class _Record:
    """A record message as fitdecode hands it over, for the sentinel cases a real file lacks."""

    name = "record"

    def __init__(self, **raw):
        self.raw = raw

    def has_field(self, name):
        return name in self.raw

    def get_field(self, name):
        return _Field(self.raw[name])

    def get_value(self, name, fallback=None):
        return self.raw.get(name, fallback)


def test_fit_invalid_positions_are_skipped():
    when = datetime(2024, 1, 1, tzinfo=UTC)
    cols = {k: [] for k in ("t", "lat", "lon", "acc", "alt", "speed", "seg", "rec")}
    ctx = ParseContext(source_name="s.fit")
    good = _Record(position_lat=2**30, position_long=-(2**29), timestamp=when, enhanced_speed=3.5)
    assert fit._add_record(good, cols, True, "record 1", ctx)
    for bad in (
        _Record(position_lat=0x7FFFFFFF, position_long=0x7FFFFFFF, timestamp=when),  # shows as 180°, 180°
        _Record(position_lat=None, position_long=5, timestamp=when),
        _Record(timestamp=when),
        _Record(position_lat=1, position_long=1),
    ):
        assert not fit._add_record(bad, cols, False, "record 2", ctx)
    assert ctx.skipped == 4
    assert (cols["lat"], cols["lon"], cols["speed"]) == ([90.0], [-45.0], [3.5])
