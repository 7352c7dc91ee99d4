"""KML/KMZ parser: real samples, time rules, hostile archives and XML, round-trip properties."""

from __future__ import annotations

import contextlib
import io
import xml.etree.ElementTree as ET
import zipfile
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mobco2.errors import HostileInputError, InputDataError
from mobco2.ingest import kml
from mobco2.ingest.base import MAX_COMPRESSION_RATIO, ParseContext, Source
from mobco2.ingest.detect import detect
from mobco2.schema import POINTS

EMPTY = pa.schema(
    [f for f in POINTS if f.name not in ("user_id", "import_id", "source_format")] + [pa.field("record", pa.string())]
).empty_table()

NS = {"k": "http://www.opengis.net/kml/2.2", "gx": "http://www.google.com/kml/ext/2.2"}


def parse_all(source: Source) -> tuple[pa.Table, ParseContext]:
    ctx = ParseContext(source_name=source.name)
    tables = [b.points for b in kml.parse(source, ctx) if b.points is not None]
    return (pa.concat_tables(tables) if tables else EMPTY), ctx


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def document(body: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2">'
        f"<Document>{body}</Document></kml>"
    ).encode()


def test_every_sample_is_detected(samples):
    for path in sorted((samples / "kml").iterdir()):
        assert detect(Source.from_path(path)) is kml, path.name


def test_gx_track_pairs_when_and_coord(samples):
    path = samples / "kml" / "dawarich_gx_track.kml"
    table, ctx = parse_all(Source.from_path(path))
    tree = ET.parse(path)
    whens = [utc(w.text) for w in tree.iterfind(".//gx:Track/k:when", NS)]
    coords = [tuple(map(float, c.text.split())) for c in tree.iterfind(".//gx:Track/gx:coord", NS)]
    assert table.num_rows == len(whens) == len(coords) == 4
    assert table.column("ts").to_pylist() == whens
    assert (
        list(
            zip(
                table.column("lon").to_pylist(),
                table.column("lat").to_pylist(),
                table.column("altitude_m").to_pylist(),
                strict=True,
            )
        )
        == coords
    )
    # read by eye
    assert table.column("ts")[0].as_py() == datetime(2024, 1, 20, 8, 0, tzinfo=UTC)
    assert (table.column("lat")[-1].as_py(), table.column("lon")[-1].as_py()) == (37.4250, -122.0871)
    assert table.column("segment_start").to_pylist() == [True, False, False, False]
    assert ctx.rejected == ctx.skipped == 0


def test_opentracks_empty_coords_are_segment_breaks(samples):
    table, ctx = parse_all(Source.from_path(samples / "kml" / "gpsbabel_opentracks.kml"))
    # 4 <when>, coords: empty, two positions, empty
    assert table.num_rows == 2
    assert ctx.skipped == 2
    assert table.column("ts").to_pylist() == [
        datetime(2021, 3, 2, 9, 30, 41, 890000, tzinfo=UTC),
        datetime(2021, 3, 2, 12, 34, 53, 912000, tzinfo=UTC),
    ]
    assert table.column("lat").to_pylist() == [48.503537, 48.503623]
    assert table.column("segment_start").to_pylist() == [True, False]


def test_points_with_timestamps(samples):
    path = samples / "kml" / "dawarich_points_with_timestamps.kml"
    table, _ = parse_all(Source.from_path(path))
    tree = ET.parse(path)
    assert table.column("ts").to_pylist() == [utc(w.text) for w in tree.iterfind(".//k:TimeStamp/k:when", NS)]
    assert table.column("lon").to_pylist() == [-122.0841, -122.0851, -122.0861]
    assert table.column("record")[1].as_py() == "Placemark 2 ('Location 2')"


def test_timespan_point_is_a_visit(samples):
    table, _ = parse_all(Source.from_path(samples / "kml" / "dawarich_timespan.kml"))
    assert table.column("ts").to_pylist() == [
        datetime(2024, 1, 10, 9, 0, tzinfo=UTC),
        datetime(2024, 1, 10, 17, 0, tzinfo=UTC),
    ]
    assert set(table.column("lat").to_pylist()) == {37.4220}


def test_multigeometry_under_one_timestamp(samples):
    table, ctx = parse_all(Source.from_path(samples / "kml" / "dawarich_multigeometry.kml"))
    assert table.num_rows == 6  # 2 Points + 4 LineString vertices
    stamp = datetime(2024, 1, 18, 15, 0, tzinfo=UTC)
    # both Points and the line's first vertex take the stamp; the other vertices are geometry only
    assert table.column("ts").to_pylist() == [stamp, stamp, stamp, None, None, None]
    assert table.column("lon").to_pylist()[-1] == -122.0891
    assert any("one TimeStamp" in w for w in ctx.warnings)


def test_invalid_coordinates_rejected_with_locator(samples):
    table, ctx = parse_all(Source.from_path(samples / "kml" / "dawarich_invalid_coordinates.kml"))
    assert table.num_rows == 0
    assert ctx.rejected == 2
    assert ctx.first_rejection[0] == "Placemark 1 ('No Coordinates')"


def test_linestring_timespan_interpolated_and_warned():
    body = (
        "<Folder><Folder><Placemark><TimeSpan><begin>2024-05-01T10:00:00+02:00</begin>"
        "<end>2024-05-01T10:30:00+02:00</end></TimeSpan>"
        "<LineString><coordinates>0,0.1 0,0.2\n0 , 0.4</coordinates></LineString></Placemark></Folder></Folder>"
    )
    table, ctx = parse_all(Source.from_bytes("s.kml", document(body)))
    ts = table.column("ts").to_pylist()
    assert ts[0] == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert ts[-1] == datetime(2024, 5, 1, 8, 30, tzinfo=UTC)
    # equal steps of latitude: the middle vertex is a third of the way along
    assert abs((ts[1] - ts[0]) - timedelta(minutes=10)) < timedelta(milliseconds=5)
    assert table.column("tz_offset_min").to_pylist() == [120, 120, 120]
    assert any("interpolated" in w for w in ctx.warnings)


def test_track_speed_and_count_mismatch():
    track = (
        "<Placemark><gx:Track><when>2024-01-01T00:00:00Z</when><when>2024-01-01T00:00:01Z</when>"
        "<gx:coord>1 2 3</gx:coord><gx:coord>1.1 2.1</gx:coord>"
        '<ExtendedData><SchemaData><gx:SimpleArrayData name="speed"><gx:value>1.5</gx:value>'
        "<gx:value>2.5</gx:value></gx:SimpleArrayData></SchemaData></ExtendedData></gx:Track></Placemark>"
        "<Placemark><gx:Track><when>2024-01-01T00:00:00Z</when></gx:Track></Placemark>"
    )
    table, ctx = parse_all(Source.from_bytes("t.kml", document(track)))
    assert table.column("speed_mps").to_pylist() == [1.5, 2.5]
    assert ctx.rejected == 1
    assert ctx.first_rejection[0] == "gx:Track 2"


def kmz(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_kmz_reads_doc_kml(samples, tmp_path):
    inner = (samples / "kml" / "dawarich_gx_track.kml").read_bytes()
    path = tmp_path / "track.kmz"
    path.write_bytes(kmz({"doc.kml": inner, "files/icon.png": b"\x89PNG"}))
    source = Source.from_path(path)
    assert detect(source) is kml
    table, _ = parse_all(source)
    assert table.num_rows == 4
    other = kmz({"a/track.kml": inner})
    assert parse_all(Source.from_bytes("x.kmz", other))[0].num_rows == 4


def test_kmz_path_traversal_refused(samples, tmp_path):
    inner = (samples / "kml" / "dawarich_gx_track.kml").read_bytes()
    path = tmp_path / "evil.kmz"
    path.write_bytes(kmz({"doc.kml": inner, "../../etc/evil.kml": b"x"}))
    with pytest.raises(HostileInputError, match="outside the archive"):
        parse_all(Source.from_path(path))


def test_kmz_zip_bomb_refused(tmp_path):
    bomb = document("<!--" + " " * (4 * 1024 * 1024) + "-->")
    data = kmz({"doc.kml": bomb})
    info = zipfile.ZipFile(io.BytesIO(data)).infolist()[0]
    assert info.file_size / info.compress_size > MAX_COMPRESSION_RATIO
    path = tmp_path / "bomb.kmz"
    path.write_bytes(data)
    with pytest.raises(HostileInputError, match="zip bomb"):
        parse_all(Source.from_path(path))


def test_entity_bomb_refused():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        b'<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>&c;</name></Document></kml>'
    )
    source = Source.from_bytes("bomb.kml", bomb)
    assert detect(source) is kml
    with pytest.raises(HostileInputError):
        parse_all(source)


def test_truncated_xml_is_input_error(samples):
    data = (samples / "kml" / "dawarich_points_with_timestamps.kml").read_bytes()[:-60]
    with pytest.raises(InputDataError, match="malformed XML") as err:
        parse_all(Source.from_bytes("cut.kml", data))
    assert err.value.record.startswith("line ")


def test_leading_blank_lines_and_bom_accepted(samples):
    data = b"\xef\xbb\xbf\n\n  " + (samples / "kml" / "dawarich_gx_track.kml").read_bytes()
    assert parse_all(Source.from_bytes("b.kml", data))[0].num_rows == 4


# -- properties -------------------------------------------------------------------------------

instant = st.datetimes(datetime(1995, 1, 1), datetime(2035, 1, 1)).map(lambda d: d.replace(tzinfo=UTC))
position = st.tuples(
    st.floats(-180, 180, allow_nan=False), st.floats(-90, 90, allow_nan=False), st.floats(-500, 9000, allow_nan=False)
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(instant, st.none() | position), min_size=1, max_size=30))
def test_gx_track_round_trip(rows):
    whens = "".join(f"<when>{t.isoformat()}</when>" for t, _ in rows)
    coords = "".join(
        "<gx:coord/>" if p is None else f"<gx:coord>{p[0]!r} {p[1]!r} {p[2]!r}</gx:coord>" for _, p in rows
    )
    source = Source.from_bytes("p.kml", document(f"<Placemark><gx:Track>{whens}{coords}</gx:Track></Placemark>"))
    assert detect(source) is kml
    table, ctx = parse_all(source)
    kept = [(t, p) for t, p in rows if p is not None]
    assert ctx.rejected == 0
    assert ctx.skipped == len(rows) - len(kept)
    assert table.column("ts").to_pylist() == [t for t, _ in kept]
    assert table.column("lon").to_pylist() == [p[0] for _, p in kept]
    assert table.column("lat").to_pylist() == [p[1] for _, p in kept]
    assert table.column("altitude_m").to_pylist() == pytest.approx([p[2] for _, p in kept], rel=1e-6, abs=1e-3)
    # a point starts a segment when it is the first, or when a pause marker precedes it
    expected_starts, after_gap = [], True
    for _, p in rows:
        if p is None:
            after_gap = True
            continue
        expected_starts.append(after_gap)
        after_gap = False
    assert table.column("segment_start").to_pylist() == expected_starts


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.binary(max_size=200))
def test_garbage_raises_only_input_errors(text, noise):
    escaped = text.replace("&", "&amp;").replace("<", "&lt;")
    candidates = [
        document(f"<Placemark><Point><coordinates>{escaped}</coordinates></Point></Placemark>"),
        document(
            f"<Placemark><TimeSpan><begin>{escaped}</begin><end>{escaped}</end></TimeSpan>"
            f"<LineString><coordinates>1,2 {escaped}</coordinates></LineString></Placemark>"
        ),
        document(f"<Placemark><gx:Track><when>{escaped}</when><gx:coord>{escaped}</gx:coord></gx:Track></Placemark>"),
        b"<kml>" + noise,
        b"PK\x03\x04" + noise,
    ]
    for data in candidates:
        with contextlib.suppress(InputDataError):
            parse_all(Source.from_bytes("g.kml", data))


def test_damaged_kmz_member_is_input_error(samples):
    inner = (samples / "kml" / "dawarich_points_with_timestamps.kml").read_bytes()
    data = bytearray(kmz({"doc.kml": inner}, compression=zipfile.ZIP_STORED))
    at = data.index(b"Location 2")
    data[at : at + 10] = b"Location 9"  # same length, CRC no longer matches
    with pytest.raises(InputDataError, match="damaged KMZ"):
        parse_all(Source.from_bytes("crc.kmz", bytes(data)))
