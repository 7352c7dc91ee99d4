"""GPX 1.0 / 1.1 (and GPX with no namespace or version): tracks, routes and waypoints → points.

What becomes what (elements are matched on their local name; namespaces and prefixes are ignored):

- ``trk/trkseg/trkpt``, ``rte/rtept`` and ``wpt`` all become points. The ``record`` column says
  which (``"trkpt 17"``, ``"rtept 3"``, ``"wpt 2"``: 1-based count of that element in the file).
  A waypoint is a place, not part of a path: every ``wpt`` has ``segment_start`` True so it never
  contributes distance; a timed one (Arc writes its visits so) is a real fix. Route points are
  usually untimed: a planned route is geometry, not evidence of a trip, and the importer's rule
  for points without time applies to it.
- ``segment_start`` is True on the first point of every ``trkseg``, ``trk`` and ``rte`` (and
  on every ``wpt``): a new segment is a signal gap, not a new trip.
- ``<ele>`` → ``altitude_m``; ``<time>`` → ``ts`` (UTC) and ``tz_offset_min`` when the text has
  an offset; ``Z`` and a time without a zone is taken as UTC with a null offset. A point
  without ``<time>`` is kept with ``ts`` null (geometry only). A ``<time>`` that cannot be parsed
  rejects the point (``ctx.reject``): a garbled time is not the same as no time.
- ``speed_mps`` is the first non-empty element named ``speed`` anywhere inside the point:
  GPX 1.0 ``<speed>``, Garmin ``gpxtpx:speed`` (TrackPointExtension v2), OsmAnd ``osmand:speed``,
  a plain ``<extensions><speed>``; ``heading_deg`` likewise from ``course``, ``heading`` or ``bearing``.
  An unparseable optional value is dropped (null) and counted in one warning per field.
- ``accuracy_m`` stays null: ``<hdop>`` is a unitless dilution factor whose conversion to metres
  depends on the receiver (HDOP × UERE, 3–10 m per unit); we do not invent one.
- ``<type>`` directly under a ``trk`` (Arc: ``walking``, ``taxi``…) is a mode hint for the track
  points that follow it, mapped with ``modes.map_mode("free_text", …)``; an unmapped value
  becomes ``unknown`` and is counted once per ``<type>`` element. ``mode_hint_conf`` stays null:
  the file states a mode, not a probability.
- Unparseable ``lat``/``lon`` text rejects the point; range checks are the importer's.

Speed: content is read in chunks of ~8 MiB cut after a point's end tag. Expat validates every
chunk (well-formedness; entity declarations are refused, see :mod:`.xmlsafe`); for a file on
disk of a few MB or more it does so in a forked process (``xmlsafe.BackgroundCheck``) while the
tokenizer reads, and the file is accepted only after its verdict. A chunk of "plain"
GPX — what writers produce — is then read by the vectorised tokenizer of :mod:`.gpx_scan`;
anything else (comments, CDATA, entity references in values, odd quoting…) goes through the
expat handlers below, which define the semantics above. Both share one state and one converter,
so a file may mix them; the tests check that they agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from xml.parsers import expat

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.errors import InputDataError
from mobco2.ingest import modes, times
from mobco2.ingest.base import Batch, ParseContext, Source
from mobco2.ingest.gpx_scan import (
    CODE,
    ELE,
    EXT,
    FIELDS,
    GPX,
    GROUP,
    KIND_OF,
    KINDS,
    OTHER,
    RTE,
    TRK,
    TRKSEG,
    TYPE,
    TYPE_SLOT,
    WPT_KIND,
    Raw,
    State,
    analyse,
)
from mobco2.ingest.xmlsafe import Validation, XmlReader, guarded_expat, local_name
from mobco2.schema import TS

FORMAT = "gpx"
DESCRIPTION = "GPX 1.0/1.1 tracks, routes and waypoints (Garmin, Strava, OsmAnd, GPSLogger, Arc…)"

SMALL_FILE_BYTES = 32 * 1024
"""A GPX file smaller than this is read by the expat handlers alone (a folder of one-point files)."""

_SNIFF = re.compile(
    rb"\A(?:<\?[^>]*\?>\s*|<!--.*?-->\s*|<!DOCTYPE(?:[^\[>]|\[.*?\])*>\s*)*<(?:[A-Za-z_][\w.-]*:)?gpx[\s/>]",
    re.S,
)


def sniff(head: bytes) -> bool:
    """A ``<gpx>`` root element after the XML declaration, comments and a DOCTYPE."""
    if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
        head = head.decode("utf-16", "ignore").encode()
    return _SNIFF.match(head) is not None


def parse(source: Source, ctx: ParseContext, *, chunk_bytes: int | None = None,
          fast: bool = True) -> Iterator[Batch]:  # fmt: skip
    """Points of a GPX file, one Arrow batch per chunk of content.

    ``chunk_bytes`` and ``fast=False`` (expat handlers only) exist for tests and benchmarks.
    """
    if source.size is not None and source.size < SMALL_FILE_BYTES:
        fast = False  # the tokenizer's numpy set-up costs more than expat's handlers on a tiny file
    reader = XmlReader(source, ctx) if chunk_bytes is None else XmlReader(source, ctx, chunk_bytes)
    parser = guarded_expat(reader)
    parser.buffer_text = True
    st = State()
    exact = _Exact(parser, st, ctx, source.name)
    at_start = True
    # A big file on disk is checked by expat in another process while the tokenizer reads it
    validation = Validation(parser, source, "GPX", ctx, offload=fast)
    try:
        for chunk in _cut(reader):
            plan = analyse(chunk, st, at_start) if fast else None
            at_start = False
            if plan is not None:
                validation.chunk(chunk)
                raw, new_state, types = plan
                for raw_type in types:
                    _map_type(raw_type, ctx)
                st.__dict__.update(new_state.__dict__)
            else:
                validation.own()  # the handlers need a parser that has read everything before
                exact.attach()
                parser.Parse(chunk, False)
                exact.detach()
                raw = exact.take()
            validation.poll()
            table = _build(raw, st, ctx)
            if table is not None:
                yield Batch(points=table)
        validation.finish()
    except expat.ExpatError as exc:
        raise reader.error(exc, "GPX") from None
    finally:
        validation.stop()
    for slot, (count, record) in st.bad_fields.items():
        ctx.warnings.append(f"{source.name}: {count} unparseable <{slot}> value(s) ignored, first at {record}")


def _cut(reader: XmlReader) -> Iterator[bytes]:
    """Chunks of content, each ending just after a point's end tag when there is one."""
    pending = b""
    for chunk in reader:
        data = pending + chunk if pending else chunk
        cut = _last_point_end(data)
        if cut < 6 and len(data) > 4 * reader.chunk_bytes:
            cut = data.rfind(b">") + 1  # no points for a long stretch: any tag boundary will do
        if cut < 6:
            pending = data
            continue
        yield data[:cut]
        pending = data[cut:]
    if pending:
        yield pending


_TAIL = 1 << 16


def _last_point_end(data: bytes) -> int:
    """The position just after the last ``trkpt>``, ``rtept>`` or ``wpt>`` in ``data`` (< 6 if none).

    Looked for in the last 64 KiB first: a tag missing from a track file (``rtept>``) would
    otherwise cost a scan of the whole chunk. Any hit there is after every hit before it, so the
    maximum is the same as over the whole chunk."""
    for lo in (max(0, len(data) - _TAIL), 0):
        cut = max(data.rfind(b"trkpt>", lo) + 6, data.rfind(b"rtept>", lo) + 6, data.rfind(b"wpt>", lo) + 4)
        if cut >= 6 or lo == 0:
            return cut
    return 0  # not reached


def _map_type(raw: str, ctx: ParseContext) -> str | None:
    mode, known = modes.map_mode("free_text", raw)
    if not known:
        ctx.unmapped(raw)
    return None if mode is None else mode.value


class _Exact:
    """The reference path: expat handlers, one Python call per tag."""

    def __init__(self, parser: expat.XMLParserType, st: State, ctx: ParseContext, name: str):
        self.parser, self.st, self.ctx, self.name = parser, st, ctx, name
        self.codes: dict[str, int] = {}
        self.texts: list[str] = []
        self.cap = -1  # capture slot (0-3 point fields, 4 trk type), -1 none
        self.cap_depth = self.cap_from = self.point_depth = 0
        self.cur: list[str | None] = [None] * 4
        self._reset()

    def _reset(self) -> None:
        self.kind: list[int] = []
        self.index: list[int] = []
        self.lat: list[str | None] = []
        self.lon: list[str | None] = []
        self.vals: list[list[str | None]] = [[], [], [], []]
        self.seg: list[bool] = []
        self.hint: list[str | None] = []

    def attach(self) -> None:
        p = self.parser
        p.StartElementHandler, p.EndElementHandler = self.start, self.end
        p.CharacterDataHandler = self.texts.append

    def detach(self) -> None:
        p = self.parser
        p.StartElementHandler = p.EndElementHandler = p.CharacterDataHandler = None
        self.st.in_point = self.point_depth > 0
        self.st.capturing = self.cap >= 0
        if self.cap < 0:
            self.texts.clear()

    def code(self, name: str) -> int:
        code = self.codes.get(name)
        if code is None:
            code = self.codes[name] = CODE.get(local_name(name), OTHER)
        return code

    def start(self, name: str, attrs: dict[str, str]) -> None:
        st = self.st
        st.depth += 1
        code = self.codes.get(name)
        if code is None:
            code = self.code(name)
        if self.point_depth:
            if code == EXT:
                st.ext += 1
            elif code >= ELE and self.cap < 0 and self.cur[GROUP[code]] is None:
                self.cap, self.cap_depth, self.cap_from = GROUP[code], st.depth, len(self.texts)
            return
        if st.depth == 1 and code != GPX:
            raise InputDataError(
                f"not a GPX file: the root element is <{name}>",
                path=self.name,
                hint="pass the right --format, or let mobco2 detect it",
            )
        if code == EXT:
            st.ext += 1
        elif st.ext or code == OTHER:
            return
        elif code == TRK:
            st.trk_depth, st.hint, st.new_segment = st.depth, None, True
        elif code in (TRKSEG, RTE):
            st.new_segment = True
        elif code in KIND_OF:
            kind = KIND_OF[code]
            counts = list(st.counts)
            counts[kind] += 1
            st.counts = (counts[0], counts[1], counts[2])
            self.point_depth = st.depth
            self.cur = [None] * 4
            self.kind.append(kind)
            self.index.append(counts[kind])
            self.lat.append(attrs.get("lat"))
            self.lon.append(attrs.get("lon"))
            self.seg.append(st.new_segment or kind == WPT_KIND)
            self.hint.append(st.hint if kind == 0 else None)
            st.new_segment = False
        elif code == TYPE and st.trk_depth > 0 and st.depth == st.trk_depth + 1 and self.cap < 0:
            self.cap, self.cap_depth, self.cap_from = TYPE_SLOT, st.depth, len(self.texts)

    def end(self, name: str) -> None:
        st = self.st
        code = self.codes.get(name)
        if code is None:
            code = self.code(name)
        if self.cap >= 0 and st.depth == self.cap_depth:
            text = "".join(self.texts[self.cap_from :]).strip()
            if self.cap == TYPE_SLOT:
                st.hint = _map_type(text, self.ctx)
            elif text:
                self.cur[self.cap] = text
            self.cap = -1
        if self.point_depth:
            if code == EXT:
                st.ext -= 1
            elif st.depth == self.point_depth:
                for slot in range(4):
                    self.vals[slot].append(self.cur[slot])
                self.point_depth = 0
                if self.kind[-1] == WPT_KIND:
                    st.new_segment = True
                if self.cap < 0:
                    self.texts.clear()
        elif code == EXT:
            st.ext -= 1
        elif not st.ext:
            if code == TRK and st.depth == st.trk_depth:
                st.trk_depth, st.hint, st.new_segment = -1, None, True
            elif code in (TRKSEG, RTE):
                st.new_segment = True
        st.depth -= 1

    def take(self) -> Raw:
        """The points completed so far (a point still open stays for the next chunk)."""
        n = len(self.vals[0])  # completed points; an open one has kind/lat/… but no values yet
        raw = Raw(
            kind=np.array(self.kind[:n], np.int8),
            index=np.array(self.index[:n], np.int64),
            lat=pa.array(self.lat[:n], pa.string()),
            lon=pa.array(self.lon[:n], pa.string()),
            fields=[pa.array(v, pa.string()) for v in self.vals],
            seg=np.array(self.seg[:n], bool),
            hint=pa.array(self.hint[:n], pa.string()),
        )
        rest = (self.kind[n:], self.index[n:], self.lat[n:], self.lon[n:], self.seg[n:], self.hint[n:])
        self._reset()
        self.kind, self.index, self.lat, self.lon, self.seg, self.hint = (list(x) for x in rest)
        return raw


# ---------------------------------------------------------------------------------------------
# Conversion, shared by both paths

_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"  # what Arrow's cast accepts, minus nan/inf


def _numbers(text: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decimal text → (float64 values with NaN where absent or bad, present mask, bad mask)."""
    if text.null_count == len(text):  # an optional field no point has: nothing to convert
        absent = np.zeros(len(text), dtype=bool)
        return np.full(len(text), np.nan), absent, absent.copy()
    text = pc.utf8_trim_whitespace(text)
    text = pc.if_else(pc.equal(pc.utf8_length(text), 0), pa.scalar(None, pa.string()), text)
    try:
        values = text.cast(pa.float64())
    except pa.ArrowInvalid:
        ok = pc.match_substring_regex(text, _NUMBER)
        values = pc.if_else(ok, text, pa.scalar(None, pa.string())).cast(pa.float64())
    out = values.to_numpy(zero_copy_only=False).astype(np.float64)
    present = np.asarray(text.is_valid())
    bad = present & ~np.isfinite(out)
    out[bad] = np.nan
    return out, present, bad


def _utc(text: pa.Array) -> times.Times:
    """ISO 8601 text → UTC and offset, the same as :func:`times.iso_to_utc`, faster when zoned."""
    text = pc.utf8_trim_whitespace(text)
    text = pc.if_else(pc.equal(pc.utf8_length(text), 0), pa.scalar(None, pa.string()), text)
    if text.null_count == len(text):
        return times.Times(pa.nulls(len(text), TS), pa.nulls(len(text), pa.int16()))
    try:
        ts = text.cast(TS)  # only succeeds if every value carries a zone
    except pa.ArrowInvalid:
        return times.iso_to_utc(text)
    zulu = pc.ends_with(text, "Z")
    if pc.all(zulu).as_py():
        return times.Times(ts, pa.nulls(len(text), pa.int16()))
    tail = pc.extract_regex(pc.utf8_slice_codeunits(text, -6), r"(?P<s>[+-])(?P<h>\d\d):?(?P<m>\d\d)$")
    hours = pc.cast(pc.struct_field(tail, "h"), pa.int16())
    minutes = pc.add(pc.multiply(hours, pa.scalar(60, pa.int16())), pc.cast(pc.struct_field(tail, "m"), pa.int16()))
    minutes = pc.if_else(pc.equal(pc.struct_field(tail, "s"), "-"), pc.negate(minutes), minutes)
    offset = pc.if_else(pc.fill_null(zulu, False), pa.scalar(None, pa.int16()), minutes)
    return times.Times(ts, offset.cast(pa.int16()))


def _build(raw: Raw, st: State, ctx: ParseContext) -> pa.Table | None:
    """Convert a chunk's text columns; reject unusable points; the Arrow points table."""
    n = len(raw.kind)
    if n == 0:
        return None
    record = pc.binary_join_element_wise(KINDS.take(pa.array(raw.kind)), pa.array(raw.index).cast(pa.string()), " ")
    lat, lat_ok, lat_bad = _numbers(raw.lat)
    lon, lon_ok, lon_bad = _numbers(raw.lon)
    bad_coord = ~lat_ok | ~lon_ok | lat_bad | lon_bad
    t = _utc(raw.fields[1])
    bad_time = np.asarray(raw.fields[1].is_valid()) & np.asarray(t.ts.is_null())
    if bad_coord.any():
        i = int(np.argmax(bad_coord))
        ctx.reject(
            record[i].as_py(),
            f"lat/lon missing or not a number (lat={raw.lat[i].as_py()!r}, lon={raw.lon[i].as_py()!r})",
            int(bad_coord.sum()),
        )
    bad_time &= ~bad_coord
    if bad_time.any():
        i = int(np.argmax(bad_time))
        ctx.reject(record[i].as_py(), f"unparseable <time> {raw.fields[1][i].as_py()!r}", int(bad_time.sum()))
    columns = {}
    for slot, column in ((0, "altitude_m"), (2, "speed_mps"), (3, "heading_deg")):
        values, _, bad = _numbers(raw.fields[slot])
        values32 = values.astype(np.float32)
        bad |= np.isinf(values32)
        values32[bad] = np.nan
        if bad.any():
            count, first = st.bad_fields.get(FIELDS[slot], (0, record[int(np.argmax(bad))].as_py()))
            st.bad_fields[FIELDS[slot]] = (count + int(bad.sum()), first)
        columns[column] = pa.array(values32, pa.float32(), mask=np.isnan(values32))
    keep = ~(bad_coord | bad_time)
    seg = raw.seg.copy()
    seg[0] |= st.carry_seg
    if not keep.all():
        # a rejected first point of a segment passes the flag to the next kept point
        kept = np.flatnonzero(keep)
        st.carry_seg = bool(seg[kept[-1] + 1 :].any()) if len(kept) else bool(seg.any())
        if not len(kept):
            return None
        seg = np.logical_or.reduceat(seg[: kept[-1] + 1], np.concatenate([[0], kept[:-1] + 1]))
    else:
        st.carry_seg = False
    mask = pa.array(keep)
    table = pa.table(
        {
            "ts": t.ts,
            "lat": pa.array(lat, pa.float64()),
            "lon": pa.array(lon, pa.float64()),
            **columns,
            "tz_offset_min": t.offset_min.cast(pa.int16()),
            "mode_hint": raw.hint,
            "record": record,
        }
    )
    if not keep.all():
        table = table.filter(mask)
    return table.append_column("segment_start", pa.array(seg, pa.bool_()))
