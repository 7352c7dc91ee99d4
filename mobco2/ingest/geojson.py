"""GeoJSON tracks: generic FeatureCollections, GPSLogger, GPSBabel and Overland (input-formats.md §2.4).

Shapes read:

- a ``FeatureCollection`` (or one top-level ``Feature``) of ``Point`` features with a time property,
  and ``LineString`` / ``MultiLineString`` / ``MultiPoint`` features with per-vertex times in
  ``properties.coordTimes``, ``properties.times`` or ``properties.coordinateProperties.times``
  (togeojson, Strava-style; nested lists for ``MultiLineString``);
- Overland (iOS) payloads ``{"locations": [Feature, …]}``: ``properties.motion`` gives a mode hint
  (the first value that is a mode of travel, ``stationary`` is not), ``horizontal_accuracy`` and
  ``speed`` (``-1`` = unknown); features without geometry (app events) are skipped and counted;
- GPSLogger GeoJSON (``time`` with the phone's offset, ``time_long`` epoch ms, ``accuracy``,
  ``altitude``, ``speed``) and GPSBabel output, which has no time at all.

Coordinates are ``[lon, lat(, alt)]``, lon first, numbers or numeric strings. The time of a point is
the first present of :data:`TIME_KEYS` (ISO 8601 with any offset, or epoch seconds/milliseconds
sniffed by magnitude). Speeds are m/s (``speed``, ``speed_mps``) or km/h (``speed_kmh``,
``speed_kph``); ``vel`` is left alone because files disagree on its unit.

Points without time:

- **a file with no time anywhere** (GPSBabel) is imported as geometry only: every point has a null
  ``ts``, which the importer keeps out of trips; ``ctx.warnings`` says so;
- in a file whose other features have times, a feature without any time is rejected
  (``ctx.reject``): it cannot be placed in the timeline;
- a line feature with one feature-level time but no per-vertex times gives that time to its
  first vertex only; the other vertices are geometry only, with a warning. Times are never
  spread along a line.

Never claimed by :func:`sniff`: e-mission processed trips (``{"metadata": {"key": "diary/…"}}``),
which are GeoJSON too, and Google files; their own parsers read them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import ijson
import numpy as np
import pandas as pd
import pyarrow as pa

from mobco2.errors import InputDataError
from mobco2.ingest import modes, times
from mobco2.ingest.base import Batch, ParseContext, Source, points_schema
from mobco2.ingest.jsonutil import StreamReader

FORMAT = "geojson"
DESCRIPTION = "GeoJSON points and tracks (GPSLogger, Overland, GPSBabel, togeojson)"

BATCH_ROWS = 50_000
TIME_KEYS = (
    "time",
    "timestamp",
    "datetime",
    "date_time",
    "when",
    "recorded_at",
    "date",
    "time_long",
    "timestamp_ms",
    "timestampMs",
    "epoch",
    "epoch_ms",
    "unix_time",
    "tst",
)
"""Feature-level time properties, most common first; ISO strings before epoch numbers so that a
GPSLogger ``time`` (with the local offset) wins over its ``time_long``."""
VERTEX_TIME_KEYS = ("coordTimes", "times")
MAX_COLLECTION_DEPTH = 8
ACCURACY_KEYS = ("accuracy", "horizontal_accuracy", "accuracy_m", "hacc", "acc")
ALTITUDE_KEYS = ("altitude", "elevation", "ele", "altitude_m", "alt")
HEADING_KEYS = ("course", "bearing", "heading", "cog")
SPEED_KEYS_MPS = ("speed", "speed_mps")
SPEED_KEYS_KMH = ("speed_kmh", "speed_kph")

_OBJECT_START = re.compile(rb"^\{")
_FEATURES = re.compile(rb'"features"\s*:\s*\[')
_LOCATIONS = re.compile(rb'"locations"\s*:\s*\[')
_FEATURE_TYPE = re.compile(rb'"type"\s*:\s*"Feature(?:Collection)?"')
_GEOMETRY = re.compile(rb'"geometry"\s*:')
# e-mission processed trips ({"data": [FeatureCollection…], "metadata": {"key": "diary/trips-…"}},
# metadata possibly at the end of a big file) and Google's files have their own parsers.
_FOREIGN = re.compile(
    rb'"(?:diary/|sensed_mode"|enter_fmt_time"|start_fmt_time"|latitudeE7"|timelineObjects"'
    rb'|semanticSegments"|timelinePath"|rawSignals")'
)
_NESTED_COLLECTION = re.compile(rb'\{\s*"data"\s*:\s*\[')

_SCHEMA = points_schema(
    "ts",
    "lat",
    "lon",
    "accuracy_m",
    "altitude_m",
    "speed_mps",
    "heading_deg",
    "tz_offset_min",
    "mode_hint",
    "segment_start",
)


def sniff(head: bytes) -> bool:
    """A JSON object holding GeoJSON features, or an Overland ``locations`` array of features."""
    if not _OBJECT_START.match(head) or _NESTED_COLLECTION.match(head) or _FOREIGN.search(head):
        return False
    if not (_FEATURE_TYPE.search(head) or _GEOMETRY.search(head)):
        return False
    if _FEATURES.search(head) or _LOCATIONS.search(head):
        return True
    return bool(re.match(rb'\{\s*"type"\s*:\s*"Feature"', head))


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """Points of every feature, in file order, as batches of up to :data:`BATCH_ROWS` rows."""
    head = source.head(64 * 1024)
    if _FEATURES.search(head):
        prefix, label = "features.item", "features[{}]"
    elif _LOCATIONS.search(head):
        prefix, label = "locations.item", "locations[{}]"
    else:
        prefix, label = "", "feature"
    timed = _Columns()
    untimed = _Columns()
    untimed_tables: list[pa.Table] = []
    saw_time = False
    index = -1
    with source.open() as stream:
        try:
            for index, feature in enumerate(ijson.items(StreamReader(stream), prefix, use_float=True)):
                record = label.format(index)
                if not isinstance(feature, dict) or feature.get("type", "Feature") != "Feature":
                    ctx.reject(record, "not a GeoJSON Feature")
                    continue
                _add_feature(feature, record, timed, untimed, ctx)
                if len(timed) >= BATCH_ROWS:
                    saw_time = True
                    yield Batch(points=timed.flush(ctx))
                    ctx.report_position(stream)
                if len(untimed) >= BATCH_ROWS:
                    untimed_tables.append(untimed.flush(ctx))
        except ijson.JSONError as e:
            raise InputDataError(
                f"malformed JSON after {index + 1} features ({e})",
                path=source.name,
                record=label.format(index + 1),
                hint="the file may be truncated; export it again",
            ) from None
    if len(timed):
        saw_time = True
        yield Batch(points=timed.flush(ctx))
    if len(untimed):
        untimed_tables.append(untimed.flush(ctx))
    if timed.lines_with_one_time:
        ctx.warnings.append(
            f"{timed.lines_with_one_time} line features carry one time for all their points: it was given "
            "to their first point, the others are geometry only"
        )
    yield from _untimed(untimed_tables, saw_time, ctx)
    if source.size is not None:
        ctx.report_progress(source.size)


def _untimed(tables: list[pa.Table], saw_time: bool, ctx: ParseContext) -> Iterator[Batch]:
    n = sum(t.num_rows for t in tables)
    if n == 0:
        return
    if saw_time:
        first = tables[0].column("record")[0].as_py()
        ctx.reject(first, "feature without a time, in a file whose other features have times", count=n)
        return
    ctx.warnings.append(f"no times anywhere in the file; {n} points imported as geometry only (not in trips)")
    for table in tables:
        yield Batch(points=table)


def _add_feature(
    feature: dict[str, Any], record: str, timed: _Columns, untimed: _Columns, ctx: ParseContext, depth: int = 0
) -> None:
    geometry = feature.get("geometry")
    props = feature.get("properties")
    props = props if isinstance(props, dict) else {}
    if not isinstance(geometry, dict):
        ctx.skip()  # Overland app events (will_terminate…) carry no geometry
        return
    common = _point_properties(props, ctx)
    time = _first(props, TIME_KEYS)
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Point":
        target = untimed if time is None else timed
        _add_vertex(target, coords, time, common, False, record, ctx)
        return
    if kind == "GeometryCollection":
        parts = geometry.get("geometries")
        if depth >= MAX_COLLECTION_DEPTH or not isinstance(parts, list):
            ctx.reject(record, "GeometryCollection nested too deep or without a geometries list")
            return
        for i, part in enumerate(parts):
            part_feature = {"geometry": part, "properties": props}
            _add_feature(part_feature, f"{record} geometry {i}", timed, untimed, ctx, depth + 1)
        return
    if kind in ("LineString", "MultiPoint"):
        lines, vertex_times = [coords], [_vertex_times(props)]
    elif kind == "MultiLineString":
        lines = coords if isinstance(coords, list) else [coords]
        nested = _vertex_times(props)
        if nested is None:
            vertex_times = [None] * len(lines)
        elif _is_nested(nested) and len(nested) == len(lines):
            vertex_times = nested
        else:
            ctx.reject(record, "per-vertex times are not one list per line of the MultiLineString")
            return
    else:
        ctx.skip()  # polygons are areas, not positions
        return
    for li, (line, line_times) in enumerate(zip(lines, vertex_times, strict=True)):
        where = record if len(lines) == 1 else f"{record} line {li}"
        _add_line(line, line_times, time, common, where, timed, untimed, ctx)


def _add_line(
    line: Any,
    line_times: Any,
    time: Any,
    common: dict[str, Any],
    where: str,
    timed: _Columns,
    untimed: _Columns,
    ctx: ParseContext,
) -> None:
    if not isinstance(line, list) or not line:
        ctx.reject(where, "empty or invalid line coordinates")
        return
    if isinstance(line_times, list):
        if len(line_times) != len(line):
            ctx.reject(where, f"{len(line_times)} times for {len(line)} coordinates", count=len(line))
            return
        for vi, (coords, t) in enumerate(zip(line, line_times, strict=True)):
            _add_vertex(timed, coords, t, common, vi == 0, f"{where} point {vi}", ctx)
        return
    if time is None:
        for vi, coords in enumerate(line):
            _add_vertex(untimed, coords, None, common, vi == 0, f"{where} point {vi}", ctx)
        return
    # One time for a whole line: it belongs to no vertex in particular. Give it to the first one
    # and keep the rest as geometry rather than invent a time for each vertex.
    _add_vertex(timed, line[0], time, common, True, f"{where} point 0", ctx)
    for vi, coords in enumerate(line[1:], start=1):
        _add_vertex(timed, coords, None, common, False, f"{where} point {vi}", ctx)
    if len(line) > 1:
        timed.lines_with_one_time += 1


def _add_vertex(
    columns: _Columns,
    coords: Any,
    time: Any,
    common: dict[str, Any],
    segment_start: bool,
    record: str,
    ctx: ParseContext,
) -> None:
    position = _position(coords)
    if position is None:
        ctx.reject(record, f"invalid coordinates {str(coords)[:60]!r}; expected [lon, lat(, alt)]")
        return
    lon, lat, alt = position
    columns.add(time, lat, lon, alt, common, segment_start, record)


def _position(coords: Any) -> tuple[float, float, float | None] | None:
    if not isinstance(coords, (list, tuple)) or not 2 <= len(coords) <= 4:
        return None
    if any(isinstance(c, bool) for c in coords):
        return None
    try:
        values = [float(c) for c in coords[:3]]
    except (TypeError, ValueError, OverflowError):
        return None
    if not all(math.isfinite(v) for v in values):
        return None
    return values[0], values[1], (values[2] if len(values) > 2 else None)


def _point_properties(props: dict[str, Any], ctx: ParseContext) -> dict[str, Any]:
    speed = _first(props, SPEED_KEYS_MPS)
    if speed is None:
        kmh = _number(_first(props, SPEED_KEYS_KMH))
        speed = None if kmh is None else kmh / 3.6
    mode = None
    motion = props.get("motion")
    if isinstance(motion, list):
        for raw in motion:
            if not isinstance(raw, str):
                continue
            mapped, known = modes.map_mode("overland", raw)
            if not known:
                ctx.unmapped(raw)
            if mapped is not None:
                mode = mapped.value
                break
    return {
        "acc": _first(props, ACCURACY_KEYS),
        "alt": _first(props, ALTITUDE_KEYS),
        "speed": speed,
        "heading": _first(props, HEADING_KEYS),
        "mode": mode,
    }


def _vertex_times(props: dict[str, Any]) -> Any:
    for key in VERTEX_TIME_KEYS:
        if key in props:
            return props[key]
    nested = props.get("coordinateProperties")
    if isinstance(nested, dict):
        for key in VERTEX_TIME_KEYS:
            if key in nested:
                return nested[key]
    return None


def _is_nested(values: Any) -> bool:
    return isinstance(values, list) and bool(values) and all(isinstance(v, list) for v in values)


def _first(props: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = props.get(key)
        if value is not None and value != "":
            return value
    return None


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


class _Columns:
    """Raw per-point values, converted to Arrow a batch at a time."""

    def __init__(self) -> None:
        self.lines_with_one_time = 0  # a count for the whole file, kept across flushes
        self._clear()

    def _clear(self) -> None:
        self.time: list[str | None] = []
        self.lat: list[float] = []
        self.lon: list[float] = []
        self.alt: list[Any] = []
        self.acc: list[Any] = []
        self.speed: list[Any] = []
        self.heading: list[Any] = []
        self.mode: list[str | None] = []
        self.segment_start: list[bool] = []
        self.record: list[str] = []

    def __len__(self) -> int:
        return len(self.record)

    def add(
        self,
        time: Any,
        lat: float,
        lon: float,
        alt: float | None,
        common: dict[str, Any],
        segment_start: bool,
        record: str,
    ) -> None:
        self.time.append(_time_text(time))
        self.lat.append(lat)
        self.lon.append(lon)
        self.alt.append(alt if alt is not None else common["alt"])
        self.acc.append(common["acc"])
        self.speed.append(common["speed"])
        self.heading.append(common["heading"])
        self.mode.append(common["mode"])
        self.segment_start.append(segment_start)
        self.record.append(record)

    def flush(self, ctx: ParseContext) -> pa.Table:
        raw_time = pa.array(self.time, pa.string())
        parsed = times.iso_to_utc(raw_time)
        unparsed = (parsed.ts.is_null().to_numpy(zero_copy_only=False)) & (
            raw_time.is_valid().to_numpy(zero_copy_only=False)
        )
        table = pa.Table.from_arrays(
            [
                parsed.ts,
                pa.array(self.lat, pa.float64()),
                pa.array(self.lon, pa.float64()),
                _measure(self.acc, negative_unknown=True),
                _measure(self.alt, negative_unknown=False),
                _measure(self.speed, negative_unknown=True),
                _measure(self.heading, negative_unknown=True),
                parsed.offset_min,
                pa.array(self.mode, pa.string()),
                pa.array(self.segment_start, pa.bool_()),
                pa.array(self.record, pa.string()),
            ],
            schema=_SCHEMA,
        )
        table = ctx.reject_rows(
            table, unparsed, lambda i: self.record[i], lambda i: f"unreadable time {self.time[i]!r}"
        )
        self._clear()
        return table


def _time_text(value: Any) -> str | None:
    """A time property as text for :func:`times.iso_to_utc` (numbers become epoch strings)."""
    if value is None or isinstance(value, bool):
        return None if value is None else "invalid"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _measure(values: list[Any], *, negative_unknown: bool) -> pa.Array:
    """Optional numbers (or numeric strings) → float32 with nulls; sources write -1 for unknown."""
    nums = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bad = ~np.isfinite(nums)
    if negative_unknown:
        bad |= nums < 0
    return pa.array(nums, mask=bad).cast(pa.float32())
