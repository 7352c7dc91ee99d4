"""KML and KMZ: Google Earth tracks, OpenTracks, Google's old timeline export (input-formats.md §2.5).

Read, by local element name (namespaces ignored):

- ``gx:Track``: N ``<when>`` and N ``<gx:coord>lon lat [alt]</gx:coord>`` paired by index, with
  ``<gx:SimpleArrayData name="speed">`` values (m/s) when present. ``gx:MultiTrack`` holds several
  tracks. An **empty** ``<gx:coord/>`` is OpenTracks' pause marker: its ``<when>`` is dropped
  (counted by ``ctx.skip``) and the next point starts a new segment (``segment_start``), as does the
  first point of every track. A track whose ``<when>`` and ``<gx:coord>`` counts differ is rejected.
- ``Placemark`` with ``Point`` / ``LineString`` (also inside ``MultiGeometry``, any depth of
  ``Folder``/``Document``), timed by the Placemark's ``TimeStamp/when`` or ``TimeSpan/begin,end``:

  ============================  ==========================================================
  Point + TimeStamp             one point at that time
  Point + TimeSpan              two points at the same place, at begin and at end (a visit)
  LineString + TimeSpan         times **interpolated** at constant speed along the line,
                                from begin (first vertex) to end (last vertex); counted in
                                ``ctx.warnings``: the real timing inside the span is unknown
  LineString + TimeStamp        the first vertex takes the time; the others are geometry only
  no time                       geometry only (``ts`` null: the importer keeps such points
                                out of trips)
  ============================  ==========================================================

  ``<coordinates>`` holds ``lon,lat[,alt]`` tuples separated by whitespace. An empty element or a
  tuple with fewer than two numbers is rejected (``ctx.reject``) with its Placemark as locator.
- KMZ: a zip whose ``doc.kml`` (or else first ``*.kml``) member is read. Members that escape the
  archive, inflate past :data:`~mobco2.ingest.base.MAX_DECOMPRESSED_BYTES` or beyond
  :data:`~mobco2.ingest.base.MAX_COMPRESSION_RATIO` make the whole file refused
  (:class:`~mobco2.errors.HostileInputError`).

Parsing streams expat callbacks over :mod:`mobco2.ingest.xmlsafe` chunks (entity declarations and
external DTDs are refused as hostile, as for GPX and TCX) and builds no element tree, so memory
stays flat on big files.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import BinaryIO
from xml.parsers import expat

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.errors import HostileInputError, InputDataError
from mobco2.ingest import times
from mobco2.ingest.base import (
    MAX_COMPRESSION_RATIO,
    MAX_DECOMPRESSED_BYTES,
    Batch,
    ParseContext,
    Source,
    finite_float,
    points_schema,
)
from mobco2.ingest.xmlsafe import XmlReader, guarded_expat, local_name
from mobco2.schema import TS

FORMAT = "kml"
DESCRIPTION = "KML/KMZ tracks and placemarks (Google Earth gx:Track, OpenTracks, old Google timeline)"

BATCH_ROWS = 50_000
EARTH_RADIUS_M = 6_371_008.8
MAX_KMZ_IN_MEMORY = 256 * 1024**2
"""A KMZ that cannot be seeked (inside another archive) is buffered in memory up to this size."""

_ZIP_MAGIC = b"PK\x03\x04"
# the root element, after an optional prolog (XML declaration, comments, DOCTYPE, PIs)
_KML_ROOT = re.compile(
    rb"\A(?:<\?[^>]*\?>\s*|<!--.*?-->\s*|<!DOCTYPE(?:[^\[>]|\[.*?\])*>\s*)*<(?:[A-Za-z_][\w.-]*:)?kml[\s/>]",
    re.S,
)
_COMMA = re.compile(r"\s*,\s*")

_Time = tuple[int, int | None]
"""A time already resolved: (µs since the epoch UTC, local offset in minutes or None)."""

_SCHEMA = points_schema("ts", "lat", "lon", "altitude_m", "speed_mps", "tz_offset_min", "segment_start")


def sniff(head: bytes) -> bool:
    """A ``<kml>`` root element, or a zip whose first member is a ``.kml`` file."""
    if head.startswith(_ZIP_MAGIC):
        name_len = int.from_bytes(head[26:28], "little")
        first = head[30 : 30 + name_len].lower()
        return first.endswith(b".kml") or b"doc.kml" in head[:4096].lower()
    return bool(_KML_ROOT.match(head))


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """Points of every track and placemark, as batches of up to :data:`BATCH_ROWS` rows."""
    if not source.head(4).startswith(_ZIP_MAGIC):
        yield from _parse_kml(source, ctx)
        return
    document = _kmz_document(source)
    try:
        yield from _parse_kml(document, ctx)
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        raise InputDataError(f"damaged KMZ member ({e})", path=document.name, hint="export the KMZ again") from None


def _kmz_document(source: Source) -> Source:
    """The KML document inside a KMZ, as a Source of its own (after the archive checks)."""
    data: bytes | None = None
    with source.open() as raw:
        if not _seekable(raw):
            data = raw.read(MAX_KMZ_IN_MEMORY + 1)
            if len(data) > MAX_KMZ_IN_MEMORY:
                raise InputDataError(
                    f"KMZ larger than {MAX_KMZ_IN_MEMORY // 1024**2} MiB inside an archive",
                    path=source.name,
                    hint="extract it first and import the .kmz file itself",
                )

    def open_container() -> BinaryIO:
        return io.BytesIO(data) if data is not None else source.open()

    try:
        with open_container() as raw, zipfile.ZipFile(raw) as archive:
            member = kmz_member(archive, source.name)
    except zipfile.BadZipFile as e:
        raise InputDataError(
            f"not a readable KMZ (zip) file ({e})", path=source.name, hint="export the KMZ again"
        ) from None
    return Source(
        name=f"{source.name}!{member.filename}",
        opener=lambda: _MemberStream(open_container(), member),
        size=member.file_size,
    )


class _MemberStream(io.RawIOBase):
    """One zip member's content; closing it closes the archive and its container stream too."""

    def __init__(self, container: BinaryIO, member: zipfile.ZipInfo) -> None:
        self._container = container
        self._archive = zipfile.ZipFile(container)
        self._member = self._archive.open(member)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._member.read(n)

    def close(self) -> None:
        if not self.closed:
            self._member.close()
            self._archive.close()
            self._container.close()
        super().close()


def _seekable(stream: BinaryIO) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def kmz_member(archive: zipfile.ZipFile, name: str) -> zipfile.ZipInfo:
    """The KML document of a KMZ, after refusing traversal and zip bombs.

    ``doc.kml`` at the root wins; otherwise the first ``*.kml`` member in archive order.
    """
    infos = archive.infolist()
    for info in infos:
        pure = PurePosixPath(info.filename.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or re.match(r"[A-Za-z]:", info.filename):
            raise HostileInputError(
                f"KMZ member {info.filename!r} points outside the archive (path traversal)",
                path=name,
                hint="re-export the KMZ from the app that made it",
            )
    kml = [i for i in infos if not i.is_dir() and i.filename.lower().endswith(".kml")]
    if not kml:
        raise InputDataError("KMZ holds no .kml document", path=name, hint="export the track again")
    member = next((i for i in kml if i.filename.lower() == "doc.kml"), kml[0])
    ratio = member.file_size / max(member.compress_size, 1)
    if member.file_size > MAX_DECOMPRESSED_BYTES or ratio > MAX_COMPRESSION_RATIO:
        raise HostileInputError(
            f"KMZ member {member.filename!r} would inflate to {member.file_size} bytes ({ratio:.0f}× its "
            f"compressed size; limits {MAX_DECOMPRESSED_BYTES // 1024**3} GiB and {MAX_COMPRESSION_RATIO}×); "
            "refusing a likely zip bomb",
            path=name,
        )
    return member


@dataclass
class _Placemark:
    index: int
    name: str | None = None
    when: str | None = None
    begin: str | None = None
    end: str | None = None
    geometries: list[tuple[str, str | None]] = field(default_factory=list)  # (kind, coordinates)

    @property
    def label(self) -> str:
        return f"Placemark {self.index}" + (f" ({self.name!r})" if self.name else "")


@dataclass
class _Track:
    index: int
    whens: list[str | None] = field(default_factory=list)
    coords: list[str | None] = field(default_factory=list)
    speeds: list[str | None] | None = None


def _parse_kml(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    state = _KmlState(ctx)
    for _ in walk_xml(source, ctx, state.start, state.end):
        if len(state.out) >= BATCH_ROWS:
            yield Batch(points=state.out.flush(ctx))
    if len(state.out):
        yield Batch(points=state.out.flush(ctx))
    state.stats.warn(ctx)


class _KmlState:
    """What the elements read so far mean: the open Placemark and gx:Track, and the points."""

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.out = _Columns()
        self.stats = _Stats()
        self.placemark: _Placemark | None = None
        self.track: _Track | None = None
        self.array_name: str | None = None
        self.n_placemarks = self.n_tracks = 0

    def start(self, tag: str, parent: str, attrs: dict[str, str]) -> None:
        if tag == "Placemark":
            self.n_placemarks += 1
            self.placemark = _Placemark(self.n_placemarks)
        elif tag == "Track":
            self.n_tracks += 1
            self.track = _Track(self.n_tracks)
        elif tag == "SimpleArrayData":
            self.array_name = attrs.get("name")
            if self.track is not None and self.array_name == "speed":
                self.track.speeds = []

    def end(self, tag: str, parent: str, text: str | None) -> None:
        track, placemark = self.track, self.placemark
        if track is not None:
            if tag == "when" and parent == "Track":
                track.whens.append(text)
            elif tag == "coord":
                track.coords.append(text)
            elif tag == "value" and track.speeds is not None and self.array_name == "speed":
                track.speeds.append(text)
            elif tag == "Track":
                _add_track(track, self.out, self.ctx, self.stats)
                self.track = None
        if tag == "SimpleArrayData":
            self.array_name = None
        elif placemark is not None:
            if tag == "name" and parent == "Placemark":
                placemark.name = text
            elif tag == "when" and parent == "TimeStamp":
                placemark.when = text
            elif tag == "begin" and parent == "TimeSpan":
                placemark.begin = text
            elif tag == "end" and parent == "TimeSpan":
                placemark.end = text
            elif tag == "coordinates" and parent in ("Point", "LineString"):
                placemark.geometries.append((parent, text))
            elif tag == "Placemark":
                _add_placemark(placemark, self.out, self.ctx, self.stats)
                self.placemark = None


def walk_xml(
    source: Source,
    ctx: ParseContext,
    start: Callable[[str, str, dict[str, str]], None],
    end: Callable[[str, str, str | None], None],
) -> Iterator[None]:
    """Stream ``source`` through a guarded expat parser (:mod:`.xmlsafe`), calling
    ``start(name, parent, attributes)`` and ``end(name, parent, text)`` with local element names.

    ``text`` is the element's own stripped character data (None when empty); read it for leaf
    elements only. No tree is built, so memory stays flat whatever the file's size. Yields after
    every chunk so that the caller can hand out batches.
    """
    reader = XmlReader(source, ctx)
    parser = guarded_expat(reader)
    parser.buffer_text = True
    stack: list[str] = []
    texts: list[str] = []
    names: dict[str, str] = {}

    def on_start(name: str, attrs: dict[str, str]) -> None:
        tag = names.get(name)
        if tag is None:
            tag = names[name] = local_name(name)
        start(tag, stack[-1] if stack else "", attrs)
        stack.append(tag)
        texts.clear()

    def on_end(name: str) -> None:
        tag = stack.pop()
        text = "".join(texts).strip() if texts else ""
        texts.clear()
        end(tag, stack[-1] if stack else "", text or None)

    parser.StartElementHandler = on_start
    parser.EndElementHandler = on_end
    parser.CharacterDataHandler = texts.append
    try:
        for chunk in reader:
            parser.Parse(chunk, False)
            yield
        parser.Parse(b"", True)
    except expat.ExpatError as e:
        raise reader.error(e) from None
    yield


@dataclass
class _Stats:
    interpolated_lines: int = 0
    interpolated_points: int = 0
    stamped_lines: int = 0
    untimed_points: int = 0

    def warn(self, ctx: ParseContext) -> None:
        if self.interpolated_lines:
            ctx.warnings.append(
                f"{self.interpolated_points} points of {_plural(self.interpolated_lines, 'LineString')} got times "
                "interpolated at constant speed between their TimeSpan begin and end"
            )
        if self.stamped_lines:
            ctx.warnings.append(
                f"{_plural(self.stamped_lines, 'LineString')} with one TimeStamp: it was given to the first point, "
                "the others are geometry only"
            )
        if self.untimed_points:
            ctx.warnings.append(f"{_plural(self.untimed_points, 'point')} without a time: imported as geometry only")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _add_track(track: _Track, out: _Columns, ctx: ParseContext, stats: _Stats) -> None:
    label = f"gx:Track {track.index}"
    if len(track.whens) != len(track.coords):
        if track.whens or track.coords:
            ctx.reject(
                label,
                f"{len(track.whens)} <when> for {len(track.coords)} <gx:coord>; they must pair one to one",
                count=max(len(track.whens), len(track.coords)),
            )
        return
    speeds = track.speeds
    if speeds is not None and len(speeds) != len(track.whens):
        ctx.warnings.append(f"{label}: {len(speeds)} speed values for {len(track.whens)} points; speed ignored")
        speeds = None
    new_segment = True
    for i, (when, coord) in enumerate(zip(track.whens, track.coords, strict=True)):
        record = f"{label}, point {i + 1}"
        if not coord:
            ctx.skip()  # a pause marker (OpenTracks): the next point starts a new segment
            new_segment = True
            continue
        values = coord.split()
        position = _floats(values) if len(values) in (2, 3) else None
        if position is None:
            ctx.reject(record, f"invalid <gx:coord> {coord[:60]!r}; expected 'lon lat [alt]'")
            continue
        speed = finite_float(speeds[i], nonnegative=True) if speeds is not None else None
        out.add(when, position, speed, new_segment, record)
        if when is None:
            stats.untimed_points += 1
        new_segment = False


def _add_placemark(pm: _Placemark, out: _Columns, ctx: ParseContext, stats: _Stats) -> None:
    for g, (kind, text) in enumerate(pm.geometries):
        label = pm.label if len(pm.geometries) == 1 else f"{pm.label}, {kind} {g + 1}"
        tuples = _COMMA.sub(",", text).split() if text else []
        if not tuples:
            ctx.reject(label, f"empty <coordinates> in {kind}")
            continue
        positions: list[tuple[float, ...]] = []
        for i, tup in enumerate(tuples):
            parts = tup.split(",")
            position = _floats(parts) if len(parts) in (2, 3) else None
            if position is None:
                where = label if len(tuples) == 1 else f"{label}, vertex {i + 1}"
                ctx.reject(where, f"invalid coordinates {tup[:60]!r}; expected 'lon,lat[,alt]'")
                continue
            positions.append(position)
        if not positions:
            continue
        if kind == "Point":
            _add_point(pm, positions[0], label, out, stats)
        else:
            _add_line(pm, positions, label, out, stats)


def _add_point(pm: _Placemark, position: tuple[float, ...], label: str, out: _Columns, stats: _Stats) -> None:
    if pm.when:
        out.add(pm.when, position, None, False, label)
    elif pm.begin or pm.end:
        # A visit: present at begin and still there at end.
        if pm.begin:
            out.add(pm.begin, position, None, False, f"{label} begin")
        if pm.end and pm.end != pm.begin:
            out.add(pm.end, position, None, False, f"{label} end")
    else:
        out.add(None, position, None, False, label)
        stats.untimed_points += 1


def _add_line(pm: _Placemark, positions: list[tuple[float, ...]], label: str, out: _Columns, stats: _Stats) -> None:
    n = len(positions)
    whens: list[str | _Time | None] | None = None
    if pm.begin and pm.end and not pm.when:
        whens = _interpolate(pm.begin, pm.end, positions)
        if whens is not None and n > 2:
            stats.interpolated_lines += 1
            stats.interpolated_points += n - 2
    if whens is None:
        # Only the ends of the line are known in time; the vertices between are geometry only.
        whens = [None] * n
        if pm.when and n > 1:
            stats.stamped_lines += 1
        whens[-1] = None if pm.when else pm.end
        whens[0] = pm.when or pm.begin or whens[0]
        stats.untimed_points += whens.count(None)
    for i in range(n):
        out.add(whens[i], positions[i], None, i == 0, f"{label}, vertex {i + 1}")


def _interpolate(begin: str, end: str, positions: list[tuple[float, ...]]) -> list[_Time] | None:
    """A time for each vertex, proportional to the distance travelled along the line.

    Returns ``(µs since the epoch UTC, offset minutes)`` per vertex, or None if begin/end are
    unreadable or reversed (then the caller times only the ends and rejects what it cannot read).
    """
    parsed = times.iso_to_utc([begin, end])
    if parsed.ts.null_count:
        return None
    t0, t1 = parsed.ts.cast(pa.int64()).to_pylist()
    if t1 < t0:
        return None
    offset = parsed.offset_min[0].as_py()
    coords = np.radians(np.array([(p[1], p[0]) for p in positions], dtype="float64"))
    lat, lon = coords[:, 0], coords[:, 1]
    a = np.sin(np.diff(lat) / 2) ** 2 + np.cos(lat[:-1]) * np.cos(lat[1:]) * np.sin(np.diff(lon) / 2) ** 2
    steps = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    along = np.concatenate([[0.0], np.cumsum(steps)])
    fraction = along / along[-1] if along[-1] > 0 else np.linspace(0.0, 1.0, len(positions))
    # t0 + fraction·(t1 − t0) in integers, so that the ends are exact and nothing overflows
    span = t1 - t0
    us = [t0 + round(f * span) for f in fraction.tolist()]
    return [(v, offset) for v in us]


def _floats(parts: list[str]) -> tuple[float, ...] | None:
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        return None
    if not all(np.isfinite(values)):
        return None
    return values


class _Columns:
    """Points gathered from the XML, converted to Arrow a batch at a time."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.time: list[str | _Time | None] = []
        self.lon: list[float] = []
        self.lat: list[float] = []
        self.alt: list[float | None] = []
        self.speed: list[float | None] = []
        self.segment_start: list[bool] = []
        self.record: list[str] = []

    def __len__(self) -> int:
        return len(self.record)

    def add(
        self,
        time: str | _Time | None,
        position: tuple[float, ...],
        speed: float | None,
        segment_start: bool,
        record: str,
    ) -> None:
        self.time.append(time)
        self.lon.append(position[0])
        self.lat.append(position[1])
        self.alt.append(position[2] if len(position) > 2 else None)
        self.speed.append(speed)
        self.segment_start.append(segment_start)
        self.record.append(record)

    def flush(self, ctx: ParseContext) -> pa.Table:
        raw = pa.array([t if isinstance(t, str) else None for t in self.time], pa.string())
        parsed = times.iso_to_utc(raw)
        unreadable = parsed.ts.is_null().to_numpy(zero_copy_only=False) & raw.is_valid().to_numpy(zero_copy_only=False)
        ts, offset = parsed.ts, parsed.offset_min
        if any(isinstance(t, tuple) for t in self.time):
            resolved = [t if isinstance(t, tuple) else (None, None) for t in self.time]
            ts = pc.coalesce(pa.array([r[0] for r in resolved], pa.int64()).cast(TS), ts)
            offset = pc.if_else(
                pa.array([isinstance(t, tuple) for t in self.time]),
                pa.array([r[1] for r in resolved], pa.int16()),
                offset,
            )
        table = pa.Table.from_arrays(
            [
                ts,
                pa.array(self.lat, pa.float64()),
                pa.array(self.lon, pa.float64()),
                pa.array(self.alt, pa.float32()),
                pa.array(self.speed, pa.float32()),
                offset,
                pa.array(self.segment_start, pa.bool_()),
                pa.array(self.record, pa.string()),
            ],
            schema=_SCHEMA,
        )
        table = ctx.reject_rows(
            table, unreadable, lambda i: self.record[i], lambda i: f"unreadable time {self.time[i]!r}"
        )
        self._clear()
        return table
