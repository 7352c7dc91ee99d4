"""GPX parser: real samples against gpxpy as an oracle, hand-checked values, hostile and broken
input, and property tests (round trip, and the vectorised path against the expat path)."""

from __future__ import annotations

import datetime as dt
import gzip
import math
import re
from pathlib import Path

import gpxpy
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mobco2.errors import HostileInputError, InputDataError
from mobco2.ingest import gpx, gpx_scan, times
from mobco2.ingest.base import ParseContext, Source, strip_head
from mobco2.schema import POINTS, TS
from tests.conftest import SAMPLES as SAMPLE_DIR

UTC = dt.UTC
SAMPLES = sorted(p.name for p in (SAMPLE_DIR / "gpx").glob("*.gpx"))


def parse_source(source: Source, **kwargs) -> tuple[pa.Table, ParseContext]:
    ctx = ParseContext(source_name=source.name)
    tables = [b.points for b in gpx.parse(source, ctx, **kwargs)]
    schema = tables[0].schema if tables else None
    table = pa.concat_tables(tables) if tables else pa.table({"record": pa.array([], pa.string())})
    if schema is not None:
        assert table.schema == schema
    return table, ctx


def parse_bytes(data: bytes, name: str = "test.gpx", **kwargs) -> tuple[pa.Table, ParseContext]:
    return parse_source(Source.from_bytes(name, data), **kwargs)


def rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def utc(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --------------------------------------------------------------------------- real samples


def oracle(path: Path) -> dict[str, list]:
    """Points per kind as gpxpy reads them (it refuses a blank line before <?xml, so strip it)."""
    doc = gpxpy.parse(strip_head(path.read_bytes()).decode("utf-8"))
    out: dict[str, list] = {"wpt": list(doc.waypoints), "rtept": [], "trkpt": []}
    for route in doc.routes:
        out["rtept"] += route.points
    for track in doc.tracks:
        for segment in track.segments:
            out["trkpt"] += segment.points
    return out


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_matches_gpxpy(samples, name):
    path = samples / "gpx" / name
    table, ctx = parse_source(Source.from_path(path))
    assert ctx.rejected == 0
    assert set(table.column_names) - {"record"} <= set(POINTS.names)
    assert table.schema.field("ts").type == TS
    expected = oracle(path)
    got = rows(table)
    for kind, points in expected.items():
        mine = [r for r in got if r["record"].split()[0] == kind]
        assert len(mine) == len(points), kind
        assert [r["record"] for r in mine] == [f"{kind} {i}" for i in range(1, len(points) + 1)]
        for r, p in zip(mine, points, strict=True):
            assert r["lat"] == p.latitude and r["lon"] == p.longitude
            if p.elevation is None:
                assert r["altitude_m"] is None
            else:
                assert r["altitude_m"] == pytest.approx(p.elevation, rel=1e-6)
            if p.time is None:
                assert r["ts"] is None
            else:  # gpxpy drops sub-second digits in some versions: compare to the second
                want = p.time.replace(tzinfo=UTC) if p.time.tzinfo is None else p.time.astimezone(UTC)
                assert abs((r["ts"] - want).total_seconds()) < 1
            if getattr(p, "speed", None) is not None:  # gpxpy reads GPX 1.0 <speed> only
                assert r["speed_mps"] == pytest.approx(p.speed, rel=1e-6)
    # the first and last timestamps in UTC, to the microsecond, against the file's text
    timed = [r for r in got if r["ts"] is not None]
    text = strip_head(path.read_bytes()).decode("utf-8")
    if timed:
        assert timed[0]["ts"] in {utc(t) for t in _times_in(text)}
        assert timed[-1]["ts"] in {utc(t) for t in _times_in(text)}


def _times_in(text: str) -> list[str]:
    return re.findall(r"<time>\s*([^<]+?)\s*</time>", text)


def test_same_result_through_expat_handlers_only(samples):
    for name in SAMPLES:
        source = Source.from_path(samples / "gpx" / name)
        fast, _ = parse_source(source)
        slow, _ = parse_source(source, fast=False)
        assert fast.equals(slow), name


def test_plain_samples_take_the_vectorised_path(samples):
    plain = [n for n in SAMPLES if n != "gpxpy_gpx1.1_with_all_fields.gpx"]  # that one has a comment
    for name in plain:
        data = strip_head((samples / "gpx" / name).read_bytes())
        assert gpx_scan.analyse(data, gpx_scan.State(), True) is not None, name
    data = strip_head((samples / "gpx" / "gpxpy_gpx1.1_with_all_fields.gpx").read_bytes())
    assert gpx_scan.analyse(data, gpx_scan.State(), True) is None


def test_arc_visits_and_modes(samples):
    table, ctx = parse_source(Source.from_path(samples / "gpx" / "dawarich_arc_example.gpx"))
    r = rows(table)
    assert len(r) == 7
    assert r[0]["record"] == "wpt 1" and r[0]["segment_start"] is True
    assert r[0]["ts"] == dt.datetime(2024, 12, 17, 12, 40, 5, tzinfo=UTC)  # 19:40:05+07:00
    assert r[0]["lat"] == 16.822590884135522 and r[0]["lon"] == 100.26450188975753
    assert r[0]["mode_hint"] is None
    assert [x["mode_hint"] for x in r[1:]] == ["car"] * 6  # <type>taxi</type>
    assert [x["segment_start"] for x in r[1:]] == [True] + [False] * 5
    assert {x["tz_offset_min"] for x in r} == {420}
    assert r[-1]["ts"] == dt.datetime(2024, 12, 18, 1, 44, 45, tzinfo=UTC)
    assert ctx.unmapped_modes == {}


def test_garmin_v2_speed_and_fractional_offset_time(samples):
    table, _ = parse_source(Source.from_path(samples / "gpx" / "dawarich_garmin_example.gpx"))
    (r,) = rows(table)
    assert r["speed_mps"] == pytest.approx(2.8)
    assert r["ts"] == dt.datetime(2024, 11, 3, 9, 30, 11, 331000, tzinfo=UTC)
    assert r["tz_offset_min"] == 420
    assert "accuracy_m" not in table.column_names  # <hdop> is not turned into metres


def test_cerknicko_five_timed_points_of_296(samples):
    table, _ = parse_source(Source.from_path(samples / "gpx" / "gpxpy_cerknicko-without-times.gpx"))
    r = rows(table)
    trkpts = [x for x in r if x["record"].startswith("trkpt")]
    assert len(trkpts) == 296 and len(r) == 303
    assert sum(x["ts"] is not None for x in trkpts) == 5
    assert sum(x["segment_start"] for x in trkpts) == 7  # 8 tracks, the first with an empty trkseg
    wpts = [x for x in r if x["record"].startswith("wpt")]
    assert all(x["ts"] is None and x["segment_start"] for x in wpts)
    assert wpts[0]["lat"] == 45.772163216 and wpts[0]["lon"] == 14.357652292


@pytest.mark.parametrize("version", ["1.0", "1.1"])
def test_all_fields_naive_times_are_utc(samples, version):
    table, ctx = parse_source(Source.from_path(samples / "gpx" / f"gpxpy_gpx{version}_with_all_fields.gpx"))
    r = {x["record"]: x for x in rows(table)}
    assert list(r) == ["wpt 1", "wpt 2", "rtept 1", "rtept 2", "rtept 3", "rtept 4", "rtept 5", "trkpt 1"]
    assert r["trkpt 1"]["ts"] == dt.datetime(2013, 1, 1, 12, 0, 4, tzinfo=UTC)  # no zone in the file
    assert r["trkpt 1"]["tz_offset_min"] is None
    assert r["trkpt 1"]["lat"] == 10.1 and r["trkpt 1"]["lon"] == -20.2
    assert r["trkpt 1"]["altitude_m"] == pytest.approx(11.1)
    assert r["wpt 1"]["ts"] == dt.datetime(2013, 1, 2, 2, 3, tzinfo=UTC)
    assert r["wpt 1"]["tz_offset_min"] is None  # "Z": UTC storage, not a local zone
    assert r["rtept 1"]["ts"] == dt.datetime(2013, 1, 2, 2, 3, 3, tzinfo=UTC)
    assert r["wpt 2"]["ts"] is None
    assert [r[f"rtept {i}"]["segment_start"] for i in range(1, 6)] == [True, False, False, True, False]
    if version == "1.1":
        assert r["trkpt 1"]["mode_hint"] == "unknown" and ctx.unmapped_modes == {"t": 1}


def test_speed_on_trkpts_and_no_namespace(samples):
    table, _ = parse_source(Source.from_path(samples / "gpx" / "gpxpy_track_with_speed.gpx"))
    assert table.column("speed_mps").to_pylist() == pytest.approx([1.2, 2.2, 3.2])
    assert table.column("ts")[0].as_py() == dt.datetime(2009, 3, 2, 14, 5, 52, tzinfo=UTC)  # not <metadata>'s 2007


def test_bom_and_one_digit_fraction(samples):
    table, _ = parse_source(Source.from_path(samples / "gpx" / "gpxpy_unicode_with_bom.gpx"))
    (r,) = rows(table)
    assert r["ts"] == dt.datetime(2016, 5, 27, 10, 8, 47, 800000, tzinfo=UTC)
    assert r["altitude_m"] == pytest.approx(-14.6) and r["lat"] == 43.309634


def test_lon_before_lat_and_sub_second_offset(samples):
    table, _ = parse_source(Source.from_path(samples / "gpx" / "gpxpy_track-with-less-sec-time.gpx"))
    r = rows(table)
    assert (r[1]["lat"], r[1]["lon"]) == (57.01147, 9.992874)
    assert r[1]["ts"] == dt.datetime(2015, 12, 11, 14, 43, 13, 994000, tzinfo=UTC)
    assert r[1]["tz_offset_min"] == 60
    assert [x["mode_hint"] for x in r] == ["run", "run"]


def test_segments_blank_line_and_osmand_speed(samples):
    table, _ = parse_source(Source.from_path(samples / "gpx" / "dawarich_gpx_track_multiple_segments.gpx"))
    assert table.num_rows == 43 and sum(table.column("segment_start").to_pylist()) == 3
    assert table.column("speed_mps")[0].as_py() == pytest.approx(0.3)
    table, _ = parse_source(Source.from_path(samples / "gpx" / "dawarich_gpx_track_multiple_tracks.gpx"))
    assert table.num_rows == 34
    assert table.column("ts")[0].as_py() == dt.datetime(2024, 4, 21, 10, 19, 55, tzinfo=UTC)


def test_route_without_times_and_empty_segment(samples):
    table, _ = parse_source(Source.from_path(samples / "gpx" / "gpxpy_route.gpx"))
    assert table.num_rows == 55 and table.column("ts").null_count == 55
    assert table.column("segment_start").to_pylist() == [True] + [False] * 54
    table, _ = parse_source(Source.from_path(samples / "gpx" / "gpxpy_track-with-empty-segment.gpx"))
    assert table.num_rows == 9 and table.column("segment_start").to_pylist() == [True] + [False] * 8


def test_gzipped_copy(samples, tmp_path):
    original = samples / "gpx" / "gpxpy_around-visnjan-with-car.gpx"
    packed = tmp_path / "track.gpx.gz"
    packed.write_bytes(gzip.compress(original.read_bytes()))
    plain, _ = parse_source(Source.from_path(original))
    unpacked, _ = parse_source(Source.from_path(packed))
    assert unpacked.num_rows == 104 and unpacked.drop(["record"]).equals(plain.drop(["record"]))


def test_sniff(samples):
    for name in SAMPLES:
        assert gpx.sniff(Source.from_path(samples / "gpx" / name).head()), name
    for other in (samples / "kml").glob("*.kml"):
        assert not gpx.sniff(Source.from_path(other).head())
    assert gpx.sniff(b'<?xml version="1.0"?>\n<!-- hi -->\n<!DOCTYPE gpx [<!ENTITY a "b">]>\n<gpx>')
    assert not gpx.sniff(b'{"type": "FeatureCollection"}')


def test_progress_is_reported_in_bytes(samples):
    path = samples / "gpx" / "gpxpy_cerknicko-without-times.gpx"
    seen: list[int] = []
    ctx = ParseContext(source_name="x", progress=seen.append)
    list(gpx.parse(Source.from_path(path), ctx, chunk_bytes=4096))
    assert seen == sorted(seen) and seen[-1] == path.stat().st_size and len(seen) > 3


# --------------------------------------------------------------------------- bad input


def doc(body: str, head: str = '<?xml version="1.0"?>\n') -> bytes:
    return (head + f'<gpx version="1.1" xmlns="http://www.topografix.com/GPX/1/1">{body}</gpx>').encode()


POINT = '<trkpt lat="{lat}" lon="{lon}"><ele>{ele}</ele><time>{time}</time></trkpt>'


def test_unparseable_coordinate_is_rejected_and_the_rest_kept():
    pts = [POINT.format(lat=lat, lon=2, ele=1, time=f"2020-01-01T00:00:0{i}Z") for i, lat in enumerate("1a3")]
    table, ctx = parse_bytes(doc("<trk><trkseg>" + "".join(pts) + "</trkseg></trk>"))
    assert table.column("lat").to_pylist() == [1.0, 3.0]
    assert ctx.rejected == 1 and ctx.first_rejection[0] == "trkpt 2" and "'a'" in ctx.first_rejection[1]


def test_rejected_first_point_hands_on_segment_start():
    pts = [POINT.format(lat=lat, lon=2, ele=1, time="2020-01-01T00:00:00Z") for lat in ("x", "2")]
    for fast in (True, False):
        table, ctx = parse_bytes(doc("<trk><trkseg>" + "".join(pts) + "</trkseg></trk>"), fast=fast)
        assert table.column("segment_start").to_pylist() == [True] and ctx.rejected == 1


def test_missing_lat_bad_time_and_bad_elevation():
    body = (
        '<wpt lon="2"/>'
        + POINT.format(lat=1, lon=2, ele=1, time="yesterday")
        + POINT.format(lat=1, lon=2, ele="high", time="2020-01-01T00:00:00+02:00")
    )
    table, ctx = parse_bytes(doc("<trk><trkseg>" + body + "</trkseg></trk>"))
    assert ctx.rejected == 2 and ctx.first_rejection[0] == "wpt 1"
    (r,) = rows(table)
    assert r["altitude_m"] is None and r["tz_offset_min"] == 120
    assert len(ctx.warnings) == 1 and "<ele>" in ctx.warnings[0] and "trkpt 2" in ctx.warnings[0]


def test_malformed_xml_names_file_line_and_column():
    data = b"\n\n" + doc("<trk><trkseg>\n<trkpt lat='1' lon='2'></trkseg></trk>")
    with pytest.raises(InputDataError) as err:
        parse_bytes(data, name="broken.gpx")
    message = err.value.one_line()
    assert "broken.gpx" in message and "line 5" in message and "mismatched tag" in message
    assert "re-export" in message


def test_truncated_file():
    data = doc(POINT.format(lat=1, lon=2, ele=3, time="2020-01-01T00:00:00Z") * 50)[:-30]
    with pytest.raises(InputDataError, match="malformed GPX"):
        parse_bytes(data)


def test_not_a_gpx_root():
    with pytest.raises(InputDataError, match="root element is <kml>"):
        parse_bytes(b'<kml xmlns="http://www.opengis.net/kml/2.2"><Document/></kml>')


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE gpx [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol9 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<gpx><wpt lat="1" lon="2"><name>&lol9;</name></wpt></gpx>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE gpx [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<gpx><wpt lat="1" lon="2"><name>&secret;</name></wpt></gpx>"""


@pytest.mark.parametrize(("data", "line"), [(BILLION_LAUGHS, 4), (EXTERNAL_ENTITY, 3)])
def test_entity_declarations_are_refused(data, line):
    for fast in (True, False):
        with pytest.raises(HostileInputError) as err:
            parse_bytes(b"\n" + data, name="evil.gpx", fast=fast)  # a blank line first: lines still count
        assert f"evil.gpx (line {line})" in err.value.one_line()


def test_bare_doctype_is_fine():
    table, _ = parse_bytes(b'<!DOCTYPE gpx>\n<gpx><wpt lat="1" lon="2"/></gpx>')
    assert table.num_rows == 1


# --------------------------------------------------------------------------- property tests

lat_e7 = st.integers(-900_000_000, 900_000_000)
lon_e7 = st.integers(-1_800_000_000, 1_800_000_000)
moments = st.datetimes(dt.datetime(1990, 1, 1), dt.datetime(2040, 1, 1))
zones = st.one_of(st.none(), st.just("Z"), st.integers(-12 * 60, 14 * 60))
maybe_value = st.one_of(st.none(), st.floats(-500, 9000, allow_nan=False).map(lambda v: round(v, 2)))


@st.composite
def points(draw):
    zone = draw(zones)
    moment = draw(moments)
    if zone is None:
        text, offset, when = moment.isoformat(), None, moment.replace(tzinfo=UTC)
    elif zone == "Z":
        text, offset, when = moment.isoformat() + "Z", None, moment.replace(tzinfo=UTC)
    else:
        tz = dt.timezone(dt.timedelta(minutes=zone))
        text, offset, when = moment.replace(tzinfo=tz).isoformat(), zone, moment.replace(tzinfo=tz)
    return {
        "lat": f"{draw(lat_e7) / 1e7:.7f}",
        "lon": f"{draw(lon_e7) / 1e7:.7f}",
        "time": text,
        "utc": when.astimezone(UTC),
        "offset": offset,
        "ele": draw(maybe_value),
        "speed": draw(maybe_value),
        "speed_as": draw(st.sampled_from(["speed", "gpxtpx", "ext"])),
        "timed": draw(st.integers(0, 9)) > 0,
    }


@st.composite
def documents(draw):
    """(items, style): waypoints, routes and tracks with optional <type>."""
    items = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("wpt"), points()),
                st.tuples(st.just("rte"), st.lists(points(), max_size=4)),
                st.tuples(
                    st.just("trk"),
                    st.sampled_from([None, "walking", "taxi", "cycling", "zeppelin", ""]),
                    st.lists(st.lists(points(), max_size=5), max_size=3),
                ),
            ),
            max_size=6,
        )
    )
    style = draw(
        st.fixed_dictionaries(
            {
                "indent": st.sampled_from(["", "\n  ", "\r\n\t"]),
                "lon_first": st.booleans(),
                "quote": st.sampled_from(['"', '"', "'"]),
                "comment": st.booleans(),
                "prefix": st.sampled_from(["", "", "gpx:"]),
                "decl": st.booleans(),
                "entity_in_value": st.booleans(),
                "pad": st.sampled_from(["", " ", "\n "]),
            }
        )
    )
    return items, style


def render(items, style) -> bytes:
    nl, q, pre, pad = style["indent"], style["quote"], style["prefix"], style["pad"]

    def point(tag: str, p: dict) -> str:
        attrs = [f"lat={q}{p['lat']}{q}", f"lon={q}{p['lon']}{q}"]
        if style["lon_first"]:
            attrs.reverse()
        body = ""
        if p["ele"] is not None:
            ele = f"{p['ele']}"
            if style["entity_in_value"]:
                ele = ele.replace("1", "&#49;")
            body += f"{nl}<{pre}ele>{pad}{ele}{pad}</{pre}ele>"
        if p["timed"]:
            body += f"{nl}<{pre}time>{p['time']}</{pre}time>"
        if style["comment"]:
            body += "<!-- a <trkpt> in a comment -->"
        if p["speed"] is not None:
            if p["speed_as"] == "speed":
                body += f"{nl}<{pre}speed>{p['speed']}</{pre}speed>"
            elif p["speed_as"] == "gpxtpx":
                body += (
                    f"<{pre}extensions><gpxtpx:TrackPointExtension><gpxtpx:speed>{p['speed']}"
                    f"</gpxtpx:speed></gpxtpx:TrackPointExtension></{pre}extensions>"
                )
            else:
                body += f"<{pre}extensions><speed>{p['speed']}</speed></{pre}extensions>"
        if not body:
            return f"{nl}<{pre}{tag} {' '.join(attrs)}/>"
        return f"{nl}<{pre}{tag} {' '.join(attrs)}>{body}{nl}</{pre}{tag}>"

    out = []
    for item in items:
        if item[0] == "wpt":
            out.append(point("wpt", item[1]))
        elif item[0] == "rte":
            out.append(f"{nl}<{pre}rte><{pre}name>r &amp; r</{pre}name>")
            out += [point("rtept", p) for p in item[1]]
            out.append(f"</{pre}rte>")
        else:
            _, kind, segments = item
            out.append(f"{nl}<{pre}trk><{pre}name>t</{pre}name>")
            if kind is not None:
                out.append(f"<{pre}type>{kind}</{pre}type>")
            for segment in segments:
                out.append(f"{nl}<{pre}trkseg>" + "".join(point("trkpt", p) for p in segment) + f"</{pre}trkseg>")
            out.append(f"{nl}</{pre}trk>")
    ns = ' xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2"'
    if pre:
        ns += ' xmlns:gpx="http://www.topografix.com/GPX/1/1"'
    head = '<?xml version="1.0" encoding="UTF-8"?>\n' if style["decl"] else ""
    return f'{head}<{pre}gpx version="1.1"{ns}>{"".join(out)}{nl}</{pre}gpx>\n'.encode()


HINTS = {None: None, "": None, "walking": "walk", "taxi": "car", "cycling": "bike", "zeppelin": "unknown"}


def expected_rows(items) -> list[dict]:
    out = []
    counts = {"wpt": 0, "rtept": 0, "trkpt": 0}

    def row(kind: str, p: dict, seg: bool, hint: str | None) -> dict:
        counts[kind] += 1
        ele = None if p["ele"] is None else float(np.float32(p["ele"]))
        speed = None if p["speed"] is None else float(np.float32(p["speed"]))
        return {
            "record": f"{kind} {counts[kind]}",
            "lat": float(p["lat"]),
            "lon": float(p["lon"]),
            "ts": p["utc"] if p["timed"] else None,
            "tz_offset_min": p["offset"] if p["timed"] else None,
            "altitude_m": ele,
            "speed_mps": speed,
            "mode_hint": hint,
            "segment_start": seg,
        }

    for item in items:
        if item[0] == "wpt":
            out.append(row("wpt", item[1], True, None))
        elif item[0] == "rte":
            out += [row("rtept", p, i == 0, None) for i, p in enumerate(item[1])]
        else:
            for segment in item[2]:
                out += [row("trkpt", p, i == 0, HINTS[item[1]]) for i, p in enumerate(segment)]
    return out


def comparable(table: pa.Table) -> list[dict]:
    keys = ["record", "lat", "lon", "ts", "tz_offset_min", "altitude_m", "speed_mps", "mode_hint", "segment_start"]
    return [{k: r[k] for k in keys} for r in rows(table)] if table.num_rows else []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.sampled_from([None, 64, 257, 1024]))
def test_round_trip_and_both_paths_agree(document, chunk_bytes):
    items, style = document
    data = render(items, style)
    fast, ctx = parse_bytes(data, chunk_bytes=chunk_bytes)
    slow, _ = parse_bytes(data, fast=False)
    assert ctx.rejected == 0
    assert comparable(fast) == expected_rows(items)
    assert comparable(fast) == comparable(slow)
    if fast.num_rows and slow.num_rows:
        assert fast.equals(slow)


@settings(max_examples=60, deadline=None)
@given(documents())
def test_plain_documents_take_the_vectorised_path(document):
    items, style = document
    style = {**style, "quote": '"', "comment": False, "prefix": "", "entity_in_value": False}
    data = render(items, style)
    assert gpx_scan.analyse(data, gpx_scan.State(), True) is not None


iso_texts = st.builds(
    lambda moment, zone, digits, sep: (
        moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
        + (f".{moment.microsecond:06d}"[: digits + 1] if digits else "")
        + zone
    ),
    moments,
    st.sampled_from(["", "Z", "+02:00", "-0630", "+14:00", "-12:00", "+00:00"]),
    st.integers(0, 6),
    st.sampled_from(["T", " "]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(iso_texts, st.just(""), st.just("garbage"), st.none()), max_size=20))
def test_time_conversion_matches_reference(texts):
    mine = gpx._utc(pa.array(texts, pa.string()))
    cleaned = [None if t in (None, "") else t for t in texts]
    ref = times.iso_to_utc(pa.array(cleaned, pa.string()))
    assert mine.ts.to_pylist() == ref.ts.to_pylist()
    assert mine.offset_min.to_pylist() == ref.offset_min.to_pylist()


number_texts = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.from_regex(r"\A[ \t]*[+-]?(\d{0,4}\.?\d{0,4})([eE][+-]?\d{1,3})?[ \t]*\Z"),
    st.text(max_size=6),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(number_texts, max_size=10), number_texts)
def test_numbers_fast_and_checked_paths_agree(texts, poison):
    values, _, bad = gpx._numbers(pa.array(texts, pa.string()))
    # adding one unparseable value switches the whole array to the checked path
    values2, _, bad2 = gpx._numbers(pa.array([*texts, poison + "x!"], pa.string()))
    assert bad2[-1]
    np.testing.assert_array_equal(values, values2[:-1])
    np.testing.assert_array_equal(bad, bad2[:-1])
    for text, value, is_bad in zip(texts, values, bad, strict=True):
        stripped = text.strip()
        if not is_bad and stripped:
            assert value == float(stripped) and math.isfinite(value)


def test_damaged_gzip():
    with pytest.raises(InputDataError, match="cannot decompress"):
        parse_bytes(gzip.compress(doc("<wpt lat='1' lon='2'/>"))[:-12], name="track.gpx.gz")


def test_end_tags_take_the_code_of_their_start_across_chunks():
    """A chunk that opens with the ends of elements begun in the previous one (trkseg, trk)."""
    first = doc("<trk><type>walking</type><trkseg>" + POINT.format(lat=1, lon=2, ele=3, time="2020-01-01T00:00:00Z"))
    first = first[: first.index(b"</gpx>")]
    st = gpx_scan.State()
    plan = gpx_scan.analyse(first, st, True)
    assert plan is not None and plan[1].depth == 3 and plan[1].trk_depth == 2
    rest = b"</trkseg></trk><trk><trkseg>" + POINT.format(lat=5, lon=6, ele=7, time="2020-01-01T00:01:00Z").encode()
    raw, state, _ = gpx_scan.analyse(rest, plan[1], False)
    assert state.depth == 3 and state.hint is None and raw.seg.tolist() == [True]
    assert raw.hint.to_pylist() == [None]  # the new trk has no <type>


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["<trkpt>", "</trkpt>", "</rtept>", "<wpt/>", "</wpt>", "wpt>", "x", " ", ">", "<e/>"]),
             max_size=40),
    st.integers(1, 64),
)
def test_last_point_end_looks_in_the_tail_first_and_agrees_with_the_whole(pieces, tail):
    data = "".join(pieces).encode()
    whole = max(data.rfind(b"trkpt>") + 6, data.rfind(b"rtept>") + 6, data.rfind(b"wpt>") + 4)
    old, gpx._TAIL = gpx._TAIL, tail
    try:
        assert gpx._last_point_end(data) == whole
    finally:
        gpx._TAIL = old
