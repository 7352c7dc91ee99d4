"""CSV parser: the GPSLogger sample, full GPSLogger headers, generic and configured columns, properties."""

from __future__ import annotations

import contextlib
import csv
import io
from datetime import UTC, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobco2.errors import InputDataError
from mobco2.ingest import csvfile
from mobco2.ingest.base import ParseContext, Source
from mobco2.ingest.detect import detect
from mobco2.schema import POINTS

EMPTY = pa.schema(
    [f for f in POINTS if f.name not in ("user_id", "import_id", "source_format")] + [pa.field("record", pa.string())]
).empty_table()

GPSLOGGER_24 = (
    "time,lat,lon,elevation,accuracy,bearing,speed,satellites,provider,hdop,vdop,pdop,geoidheight,"
    "ageofdgpsdata,dgpsid,activity,battery,annotation,timestamp_ms,time_offset,distance,starttimestamp_ms,"
    "profile_name,battery_charging"
)


def parse_all(source: Source, **options: str) -> tuple[pa.Table, ParseContext]:
    ctx = ParseContext(source_name=source.name, options=options)
    tables = [b.points for b in csvfile.parse(source, ctx) if b.points is not None]
    return (pa.concat_tables(tables) if tables else EMPTY), ctx


def test_gpslogger_sample(samples):
    path = samples / "gpslogger" / "dawarich_gpslogger.csv"
    source = Source.from_path(path)
    assert detect(source) is csvfile
    table, ctx = parse_all(source)
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert table.num_rows == len(rows) == 3
    assert table.column("ts").to_pylist() == [datetime.fromisoformat(r["time"]) for r in rows]
    assert table.column("lat").to_pylist() == [float(r["lat"]) for r in rows]
    assert table.column("altitude_m").to_pylist() == [float(r["elevation"]) for r in rows]
    # read by eye
    assert table.column("ts")[0].as_py() == datetime(2024, 6, 15, 10, 30, tzinfo=UTC)
    assert table.column("ts")[-1].as_py() == datetime(2024, 6, 15, 10, 32, tzinfo=UTC)
    assert (table.column("lat")[-1].as_py(), table.column("lon")[-1].as_py()) == (52.5220, 13.4070)
    assert table.column("speed_mps").to_pylist() == pytest.approx([1.5, 1.6, 1.4])
    assert table.column("heading_deg").to_pylist() == [90, 95, 100]
    assert table.column("accuracy_m").to_pylist() == [8, 10, 7]
    assert table.column("mode_hint").to_pylist() == ["walk"] * 3  # activity "walking"
    assert table.column("record").to_pylist() == ["line 2", "line 3", "line 4"]
    assert ctx.rejected == 0


def test_full_gpslogger_header_with_time_offset():
    row = (
        '2024-06-15T10:30:00.123Z,52.52,13.405,34,8,90,1.5,12,gps,0.9,1.1,1.4,47.1,,,ON_BICYCLE,85,"a, b",'
        "1718447400123,2024-06-15T12:30:00.123+02:00,10.5,1718447000000,Default Profile,false"
    )
    source = Source.from_bytes("g.csv", f"{GPSLOGGER_24}\n{row}\n".encode())
    assert detect(source) is csvfile
    table, ctx = parse_all(source)
    assert table.num_rows == 1
    got = table.to_pylist()[0]
    assert got["ts"] == datetime(2024, 6, 15, 10, 30, 0, 123000, tzinfo=UTC)
    assert got["tz_offset_min"] == 120  # from time_offset, not from the UTC "time"
    assert got["mode_hint"] == "bike"
    assert ctx.rejected == 0


def test_generic_synonyms_and_kmh():
    data = (
        "Timestamp;Latitude;Longitude;Speed_kmh;Mode\n"
        "1718447400;48.1;2.1;36;train\n"
        "1718447401000;48.2;2.2;;hoverboard\n"
    )
    table, ctx = parse_all(Source.from_bytes("x.csv", data.encode()))
    assert table.column("ts").to_pylist() == [
        datetime(2024, 6, 15, 10, 30, tzinfo=UTC),
        datetime(2024, 6, 15, 10, 30, 1, tzinfo=UTC),
    ]
    assert table.column("speed_mps").to_pylist() == [pytest.approx(10.0), None]
    assert table.column("mode_hint").to_pylist() == ["train", "unknown"]
    assert ctx.unmapped_modes["hoverboard"] == 1


def test_configured_columns():
    data = "when_utc,y,x,hacc\n2024-01-01T00:00:00Z,48.1,2.1,5\n"
    source = Source.from_bytes("c.csv", data.encode())
    assert not csvfile.sniff(source.head())  # no recognisable names: not claimed in auto mode
    table, _ = parse_all(source, time_column="when_utc", lat_column="y", lon_column="x", accuracy_column="HACC")
    assert table.column("lat").to_pylist() == [48.1]
    assert table.column("accuracy_m").to_pylist() == [5]
    with pytest.raises(InputDataError, match="no column 'nope'"):
        parse_all(source, time_column="nope")
    with pytest.raises(InputDataError, match="no time or lat or lon column") as err:
        parse_all(source)
    assert "time_column" in err.value.one_line()


def test_invalid_rows_rejected_with_physical_line_numbers():
    data = (
        "\ufeff\n"  # BOM and a blank line before the header
        "time,lat,lon,accuracy\n"
        "2024-01-01T00:00:00Z,48.1,2.1,5\n"  # line 3
        "\n"  # line 4: blank, skipped
        "2024-01-01T00:00:01Z,48.2,2.2,5,extra\n"  # line 5: too many fields
        "2024-01-01T00:00:02Z,north,2.3,5\n"  # line 6: bad latitude
        "2024-01-01T00:00:03Z,48.4,2.4,five\n"  # line 7: bad accuracy only: kept, value empty
        "yesterday,48.5,2.5,5\n"  # line 8: bad time
    )
    table, ctx = parse_all(Source.from_bytes("bad.csv", data.encode()))
    assert table.column("record").to_pylist() == ["line 3", "line 7"]
    assert table.column("accuracy_m").to_pylist() == [5, None]
    assert ctx.rejected == 3
    assert ctx.first_rejection[0] == "line 5"
    assert ctx.skipped == 1
    assert any("'accuracy'" in w for w in ctx.warnings)


def test_line_numbers_across_blocks(monkeypatch):
    monkeypatch.setattr(csvfile, "BLOCK_BYTES", 256)
    rows = [f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z,48.{i},2.1" for i in range(200)]
    rows[150] = "2024-01-01T00:00:00Z,48.1"  # wrong field count on line 152
    table, ctx = parse_all(Source.from_bytes("b.csv", ("time,lat,lon\n" + "\n".join(rows)).encode()))
    assert table.num_rows == 199
    assert ctx.first_rejection[0] == "line 152"
    assert table.column("record")[150].as_py() == "line 153"
    assert table.column("record")[-1].as_py() == "line 201"


def test_sniff_is_conservative(samples):
    assert not csvfile.sniff(b"name,value\nfoo,1\n")
    assert not csvfile.sniff(b'{"time":1,"lat":2,"lon":3}')
    assert not csvfile.sniff((samples / "google-misc" / "dawarich_encrypted_timeline_placeholder.txt").read_bytes())
    assert csvfile.sniff(b"date\tlatitude\tlng\n")


# -- properties -------------------------------------------------------------------------------

instant = st.datetimes(datetime(1995, 1, 1), datetime(2035, 1, 1)).map(
    lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000)
)
row = st.tuples(
    instant,
    st.integers(-12 * 4, 14 * 4).map(lambda q: q * 15),
    st.floats(-90, 90, allow_nan=False),
    st.floats(-180, 180, allow_nan=False),
    st.none() | st.floats(0, 1e5, allow_nan=False, width=32),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(row, min_size=1, max_size=40), st.sampled_from([",", ";", "\t"]))
def test_round_trip(rows, delimiter):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(["time", "lat", "lon", "accuracy"])
    stamps = []
    for naive, off, lat, lon, acc in rows:
        stamp = naive.replace(tzinfo=timezone(timedelta(minutes=off)))
        stamps.append(stamp)
        writer.writerow(
            [stamp.isoformat(timespec="milliseconds"), repr(lat), repr(lon), "" if acc is None else repr(acc)]
        )
    source = Source.from_bytes("p.csv", out.getvalue().encode())
    assert detect(source) is csvfile
    table, ctx = parse_all(source)
    assert ctx.rejected == 0
    assert table.column("ts").to_pylist() == [s.astimezone(UTC) for s in stamps]
    assert table.column("tz_offset_min").to_pylist() == [off for _, off, *_ in rows]
    assert table.column("lat").to_pylist() == [r[2] for r in rows]
    assert table.column("lon").to_pylist() == [r[3] for r in rows]
    assert table.column("accuracy_m").to_pylist() == [r[4] for r in rows]


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.binary(max_size=200))
def test_garbage_raises_only_input_errors(text, noise):
    for data in ("time,lat,lon\n" + text, "time;lat;lon;speed;activity\n" + text):
        with contextlib.suppress(InputDataError):
            parse_all(Source.from_bytes("g.csv", data.encode()))
    with contextlib.suppress(InputDataError):
        parse_all(Source.from_bytes("g.csv", b"time,lat,lon\n" + noise))


def test_invalid_utf8_spoils_only_its_value():
    data = "time,lat,lon,annotation\n2024-01-01T00:00:00Z,48.1,2.1,caf\xe9\n".encode("latin-1")
    data += "2024-01-01T00:00:01Z,48.2,2.2,ok,extra\xff\n".encode("latin-1")
    table, ctx = parse_all(Source.from_bytes("l.csv", data))
    assert table.column("lat").to_pylist() == [48.1]
    assert ctx.rejected == 1


@pytest.mark.parametrize(
    ("time", "lat", "lon", "reason"),
    [
        ("2024-01-01T00:00:00Z", "NaN", "2.1", "lat 'NaN' is not a finite number"),
        ("2024-01-01T00:00:00Z", "48.1", "-inf", "lon '-inf' is not a finite number"),
        ("2024-01-01T00:00:00Z", "north", "2.1", "lat 'north' is not a number"),
        ("2024-01-01T00:00:00Z", "", "2.1", "lat is missing"),
        ("yesterday", "48.1", "Infinity", "time 'yesterday' is not a date and time; lon 'Infinity' is not a finite"),
    ],
)
def test_a_rejected_row_says_which_cell_is_wrong_and_how(time, lat, lon, reason):
    data = f"time,lat,lon\n2024-01-01T00:00:09Z,48.0,2.0\n{time},{lat},{lon}\n"
    _, ctx = parse_all(Source.from_bytes("bad.csv", data.encode()))
    assert ctx.rejected == 1
    where, why = ctx.first_rejection[:2]
    assert where == "line 3" and why.startswith(reason), why
