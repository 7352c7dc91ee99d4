"""e-mission / TraceMob: raw timeseries dumps and processed trips (``diary/trips-…``).

Raw dump — a JSON array of ``{_id, user_id, metadata{key, platform, time_zone, write_ts}, data}``
(a single entry object is accepted too):

- ``background/filtered_location`` → points; ``background/location`` only when the file has
  no filtered locations (old iOS dumps). The filtered stream is what e-mission itself segments
  (the phone's accuracy filter, duplicates removed); importing both would add the rejected
  fixes back. The unused stream is counted in ``ctx.skipped``.
  ``ts`` (float epoch seconds) → ``ts``; ``accuracy`` → ``accuracy_m``; ``altitude`` →
  ``altitude_m`` (null when iOS ``vaccuracy`` < 0); ``sensed_speed`` → ``speed_mps`` and
  ``heading``/``bearing`` → ``heading_deg``, null when negative (iOS −1 = unknown). A negative
  ``accuracy`` is iOS's mark of an invalid fix: the point is rejected. ``tz_offset_min`` is the
  offset of ``metadata.time_zone`` (else ``local_dt.timezone``) at that instant, computed per
  distinct zone. ``fmt_time`` is never read (Android writes it in the phone's locale).
- ``background/motion_activity`` → ``mode_hint``/``mode_hint_conf`` of each point: the latest
  activity at or before the point, if at most
  :data:`~mobco2.ingest.emission_tables.MAX_HINT_AGE_S` older. Android's integer
  ``type`` (MotionTypes) or, when absent, iOS booleans in this order: automotive+stationary
  (stopped in vehicle), automotive, cycling, running, walking, stationary, unknown, none.
  Confidence 0–100 → 0–1; ``low``/``medium``/``high`` → 0.5/0.75/1.0 (e-mission's own mapping).
  STILL, TILTING, NONE are not modes: the hint is null.
- ``statemachine/transition`` emits no row: a tracking restart (STOP_TRACKING, BOOTED,
  TRACKING_STOPPED, START_TRACKING) sets ``segment_start`` on the next point (the first point
  of the file has it too). Battery, ``config/*``, ``stats/*``, ``manual/replaced_mode`` and any
  other key are not read and are counted in ``ctx.skipped``, with entries lacking metadata or data.
- ``manual/mode_confirm`` and ``manual/purpose_confirm`` → labels, matched on equal
  ``start_ts``/``end_ts`` (the latest ``write_ts`` wins per trip and kind); mode, occupancy and
  vehicle from ``modes.EMISSION_LABEL``; ``not_a_trip`` keeps ``raw_mode`` with a null mode; an
  unknown label becomes ``unknown`` and is counted. ``manual/replaced_mode`` (the counterfactual
  mode) is not a label of the trip taken. Labels carry no ``user_id`` (the importer adds it).

Processed trips — ``{"metadata": {"key": "diary/trips-…"}, "data": [trip…]}``, ``{"timeline":
[trip…]}`` or a bare list of trip FeatureCollections:

- each ``section`` → a ``source_segments`` row: ``sensed_mode`` ``MotionTypes.X`` or
  ``PredictedModeTypes.X`` (a bare integer is read as MotionTypes), ``distance``, ends from the
  LineString; the section's ``timestamps`` (ms) with its coordinates (and ``speeds``) → points,
  ``segment_start`` on each section's first. These are the server's 30 s resampling: importing
  them beside the raw dump of the same day adds resampled points next to the raw ones.
- ``start_place``/``end_place`` with an exit after the enter time → ``source_visits`` (once per
  place id). The day's first place (enter = exit = the trip's start: e-mission does not know
  when it began) and the last (no exit yet) are not stays: skipped. A trip's ``user_input``
  mode/purpose → labels.

Decoding: msgspec typed Structs over the whole file (unknown fields skipped in C); if one entry
does not fit the types, entries are decoded one by one and only that one is rejected or skipped.

This module recognises, decodes and walks the documents; the conversions above, into points,
labels, segments and visits tables, are in :mod:`mobco2.ingest.emission_tables`.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from mobco2.errors import InputDataError
from mobco2.ingest.base import HEAD_BYTES, UTF8_BOM, Batch, ParseContext, Source
from mobco2.ingest.emission_tables import (
    attach_hints,
    confirmed_labels,
    label_table,
    location_points,
    mark_restarts,
    segment_table,
    sensed_mode,
    trip_points,
    visit_table,
)
from mobco2.ingest.jsonutil import valid_utf8

FORMAT = "emission"
DESCRIPTION = "e-mission / TraceMob raw timeseries dumps and processed trips (JSON)"

BATCH_ROWS = 100_000
_LOCATION, _FILTERED = "background/location", "background/filtered_location"
_ACTIVITY, _TRANSITION = "background/motion_activity", "statemachine/transition"
_MODE, _PURPOSE = "manual/mode_confirm", "manual/purpose_confirm"
_USED = frozenset({_LOCATION, _FILTERED, _ACTIVITY, _TRANSITION, _MODE, _PURPOSE})

_SNIFF_KEY = re.compile(rb'"key"\s*:\s*"(?:background|statemachine|manual|config|stats|analysis|segmentation|diary)/')
_SNIFF_TRIP = re.compile(rb'"feature_type"\s*:\s*"(?:trip|section|start_place|end_place)"')


def sniff(head: bytes) -> bool:
    """An array or object of e-mission entries (``metadata.key``) or trip FeatureCollections."""
    if head[:1] not in (b"[", b"{"):
        return False
    return (b'"metadata"' in head and _SNIFF_KEY.search(head) is not None) or (_SNIFF_TRIP.search(head) is not None)


class _Point(msgspec.Struct, gc=False):
    coordinates: list[float | None] | None = None


class _LocalDt(msgspec.Struct, gc=False):
    timezone: str | None = None


class _Data(msgspec.Struct, gc=False):
    ts: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    loc: _Point | None = None
    accuracy: float | None = None
    vaccuracy: float | None = None
    altitude: float | None = None
    sensed_speed: float | None = None
    heading: float | None = None
    bearing: float | None = None
    local_dt: _LocalDt | None = None
    type: int | str | None = None
    confidence: float | str | None = None
    confidence_level: str | None = None
    automotive: bool | None = None
    cycling: bool | None = None
    running: bool | None = None
    walking: bool | None = None
    stationary: bool | None = None
    unknown: bool | None = None
    transition: int | str | None = None
    start_ts: float | None = None
    end_ts: float | None = None
    label: str | None = None


class _Meta(msgspec.Struct, gc=False):
    key: str | None = None
    time_zone: str | None = None
    write_ts: float | None = None


class _Entry(msgspec.Struct, gc=False):
    metadata: _Meta | None = None
    data: _Data | None = None


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """Points, labels, source segments and visits of an e-mission file."""
    try:
        with source.open() as stream:
            data = stream.read()
    except (EOFError, OSError, zlib.error) as exc:  # a damaged .gz
        raise InputDataError(f"cannot decompress: {exc}", path=source.name, hint="download the file again") from None
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    data = valid_utf8(data, ctx.warnings)  # a badly encoded label or place name costs no entry
    head = data[:HEAD_BYTES].lstrip()
    try:
        if head[:1] == b"[":
            trip = _SNIFF_TRIP.search(head)
            key = _SNIFF_KEY.search(head)
            if trip is not None and (key is None or key.start() > trip.start()):
                yield from _trips(msgspec.json.decode(data), source.name, ctx)
            else:
                yield from _dump(_decode_entries(data, ctx), ctx)
            return
        if head[:1] == b"{":
            top = msgspec.json.decode(data, type=dict[str, msgspec.Raw])
            if "timeline" in top or _is_trips_doc(top):
                yield from _trips(msgspec.json.decode(top.get("timeline") or top["data"]), source.name, ctx)
            else:  # a single entry
                yield from _dump(_decode_entries(b"[" + data + b"]", ctx), ctx)
            return
    except msgspec.DecodeError as exc:
        raise _malformed(source.name, data, exc) from None
    raise InputDataError(
        "not an e-mission dump: the JSON is neither an array nor an object",
        path=source.name,
        hint="export the raw data (JSON dump) or the day's trips from e-mission / TraceMob",
    )


def _malformed(name: str, data: bytes, exc: Exception) -> InputDataError:
    message = str(exc)
    found = re.search(r"byte (\d+)", message)
    if found:
        offset = int(found.group(1))
        message = message[: found.start()].rstrip(" (")
    else:  # "Input data was truncated": it ends too early
        offset = len(data)
        message = "the file ends in the middle of a value (truncated)"
    line = data.count(b"\n", 0, offset) + 1
    hint = "the file is cut short or damaged; download the dump again"
    return InputDataError(f"malformed JSON: {message}", path=name, record=f"line {line}, byte {offset}", hint=hint)


def _is_trips_doc(top: dict[str, msgspec.Raw]) -> bool:
    meta = _obj(msgspec.json.decode(top["metadata"])) if "metadata" in top and "data" in top else {}
    return str(meta.get("key", "")).startswith("diary/trips")


def _decode_entries(data: bytes, ctx: ParseContext) -> list[Any]:
    """Typed entries; None for one that does not fit the types (rejected or skipped, by key)."""
    try:
        return msgspec.json.decode(data, type=list[_Entry])
    except msgspec.ValidationError:
        pass
    items = msgspec.json.decode(data, type=list[msgspec.Raw])
    out: list[Any] = []
    for i, item in enumerate(items, 1):
        try:
            out.append(msgspec.json.decode(item, type=_Entry))
        except msgspec.ValidationError as exc:
            out.append(None)
            meta = _obj(_obj(msgspec.json.decode(item)).get("metadata"))
            if meta.get("key") in _USED:
                ctx.reject(f"entry {i}", f"{meta['key']}: {exc}")
            else:
                ctx.skip()
    return out


# ----------------------------------------------------------------------------- raw dump


def _dump(entries: list[Any], ctx: ParseContext) -> Iterator[Batch]:
    keys = [e.metadata.key if e is not None and e.metadata is not None and e.data is not None else None
            for e in entries]  # fmt: skip
    codes, names = pd.factorize(pd.Series(keys, dtype=object))
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(names) + 1))
    groups = {name: order[bounds[c] : bounds[c + 1]] for c, name in enumerate(names)}
    no_key = np.flatnonzero(codes < 0)
    wanted = _FILTERED if _FILTERED in groups else _LOCATION
    read = {wanted, _MODE, _PURPOSE, _ACTIVITY, _TRANSITION}
    unread = sum(len(v) for k, v in groups.items() if k not in read)
    shapeless = sum(1 for i in no_key if entries[i] is not None)  # None: counted when decoded
    ctx.skip(unread + shapeless)
    empty = np.zeros(0, np.int64)
    labels = confirmed_labels(entries, groups.get(_MODE, empty), groups.get(_PURPOSE, empty), ctx)
    if labels is not None:
        yield Batch(labels=labels)
    points = location_points(entries, groups.get(wanted, empty), ctx)
    if points is None:
        return
    points = attach_hints(points, entries, groups.get(_ACTIVITY, empty), ctx)
    points = mark_restarts(points, entries, groups.get(_TRANSITION, empty))
    for start in range(0, points.num_rows, BATCH_ROWS):
        yield Batch(points=points.slice(start, BATCH_ROWS))


# ----------------------------------------------------------------------------- processed trips


def _obj(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _point(value: Any) -> tuple[float, float]:
    """``[lon, lat, …]`` → (lat, lon), NaN where absent or not numbers."""
    if isinstance(value, list) and len(value) >= 2:
        return _number(value[1]), _number(value[0])
    return np.nan, np.nan


def _features(trip: dict) -> Iterator[dict]:
    """Every Feature under a trip, however deeply the FeatureCollections nest."""
    stack = [trip]
    while stack:
        node = stack.pop()
        if node.get("type") == "Feature":
            yield node
        children = node.get("features")
        if isinstance(children, list):
            stack.extend(reversed([c for c in children if isinstance(c, dict)]))


def _trips(trips: Any, name: str, ctx: ParseContext) -> Iterator[Batch]:
    if not isinstance(trips, list):
        raise InputDataError("e-mission trips: 'data' is not a list of trips", path=name)
    segments: list[dict] = []
    visits: dict[str, dict] = {}
    label_rows: list[tuple] = []
    skipped_places: set[str] = set()
    pts: dict[str, list] = {k: [] for k in ("ts_ms", "lat", "lon", "speed", "seg", "mode", "record")}
    for t, trip in enumerate(trips, 1):
        if not isinstance(trip, dict):
            ctx.reject(f"trip {t}", "not a JSON object")
            continue
        props = _obj(trip.get("properties"))
        user_input = _obj(props.get("user_input"))
        mode, purpose = _text(user_input.get("mode_confirm")), _text(user_input.get("purpose_confirm"))
        start, end = _number(props.get("start_ts")), _number(props.get("end_ts"))
        if (mode or purpose) and np.isfinite(start) and np.isfinite(end):
            label_rows.append((start, end, mode, purpose, end))
        for f in _features(trip):
            p = _obj(f.get("properties"))
            kind = p.get("feature_type")
            if kind == "section":
                _section(f, p, f"trip {t} section {len(segments) + 1}", segments, pts, ctx)
            elif kind in ("start_place", "end_place"):
                enter, leave = _number(p.get("enter_ts")), _number(p.get("exit_ts"))
                place_id = _text(f.get("id")) or f"{enter}-{leave}"
                if leave > enter:
                    lat, lon = _point(_obj(f.get("geometry")).get("coordinates"))
                    zone = _text(_obj(p.get("enter_local_dt")).get("timezone"))
                    visits.setdefault(place_id, {"enter": enter, "exit": leave, "lat": lat, "lon": lon,
                                                 "id": _text(f.get("id")), "name": _text(p.get("display_name")),
                                                 "zone": zone})  # fmt: skip
                elif place_id not in visits:
                    skipped_places.add(place_id)
    ctx.skip(len(skipped_places - set(visits)))
    if segments:
        yield Batch(source_segments=segment_table(segments, ctx))
    if visits:
        yield Batch(source_visits=visit_table(list(visits.values()), ctx))
    if label_rows:
        yield Batch(labels=label_table(label_rows, ctx))
    if pts["lat"]:
        yield Batch(points=trip_points(pts))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else np.nan


def _section(f: dict, p: dict, record: str, segments: list, pts: dict, ctx: ParseContext) -> None:
    start, end = _number(p.get("start_ts")), _number(p.get("end_ts"))
    if not (np.isfinite(start) and np.isfinite(end)):
        ctx.reject(record, "section without start_ts/end_ts")
        return
    coords = _obj(f.get("geometry")).get("coordinates")
    coords = [_point(c) for c in coords] if isinstance(coords, list) else []
    mode, raw = sensed_mode(p.get("sensed_mode"), ctx)
    segments.append(
        {
            "start": start,
            "end": end,
            "mode": mode,
            "raw": raw,
            "distance": _number(p.get("distance")),
            "first": coords[0] if coords else (np.nan, np.nan),
            "last": coords[-1] if coords else (np.nan, np.nan),
            "zone": _text(_obj(p.get("start_local_dt")).get("timezone")),
        }
    )
    stamps, speeds = p.get("timestamps"), p.get("speeds")
    if isinstance(stamps, list) and len(stamps) == len(coords) and coords:
        speeds = speeds if isinstance(speeds, list) and len(speeds) == len(coords) else [None] * len(coords)
        for i, (stamp, (lat, lon), speed) in enumerate(zip(stamps, coords, speeds, strict=True)):
            pts["ts_ms"].append(_number(stamp))
            pts["lat"].append(lat)
            pts["lon"].append(lon)
            pts["speed"].append(_number(speed))
            pts["seg"].append(i == 0)
            pts["mode"].append(None if mode == "unknown" else mode)
            pts["record"].append(f"{record} point {i + 1}")
