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
  activity at or before the point, if at most :data:`MAX_HINT_AGE_S` older. Android's integer
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
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.errors import InputDataError
from mobco2.ingest import modes, times
from mobco2.ingest.base import HEAD_BYTES, UTF8_BOM, Batch, ParseContext, Source

FORMAT = "emission"
DESCRIPTION = "e-mission / TraceMob raw timeseries dumps and processed trips (JSON)"
ORIGIN = "emission"

MAX_HINT_AGE_S = 300.0
"""A motion activity older than this (s) says nothing about a location point."""
BATCH_ROWS = 100_000
_RESTARTS = frozenset({3, 4, 11, 17})  # STOP_TRACKING, BOOTED, TRACKING_STOPPED (iOS), START_TRACKING
_LEVELS = {"low": 0.5, "medium": 0.75, "high": 1.0}
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
    labels = _labels(entries, groups.get(_MODE, empty), groups.get(_PURPOSE, empty), ctx)
    if labels is not None:
        yield Batch(labels=labels)
    points = _locations(entries, groups.get(wanted, empty), ctx)
    if points is None:
        return
    points = _attach_hints(points, entries, groups.get(_ACTIVITY, empty), ctx)
    points = _mark_restarts(points, entries, groups.get(_TRANSITION, empty))
    for start in range(0, points.num_rows, BATCH_ROWS):
        yield Batch(points=points.slice(start, BATCH_ROWS))


def _floats(values: list) -> np.ndarray:
    return np.array(values, dtype=np.float64)  # None becomes NaN


def _locations(entries: list[Any], idx: np.ndarray, ctx: ParseContext) -> pa.Table | None:
    if not len(idx):
        return None
    d = [entries[i].data for i in idx]
    lat = _floats([x.latitude for x in d])
    lon = _floats([x.longitude for x in d])
    for i in np.flatnonzero(np.isnan(lat) | np.isnan(lon)):  # only GeoJSON loc given (rare)
        lat[i], lon[i] = _coord(d[i], 1), _coord(d[i], 0)
    ts_s = _floats([x.ts for x in d])
    accuracy = _floats([x.accuracy for x in d])
    vacc = _floats([x.vaccuracy for x in d])
    altitude = _floats([x.altitude for x in d])
    speed = _floats([x.sensed_speed for x in d])
    heading = _floats([x.heading for x in d])
    for i in np.flatnonzero(np.isnan(heading)):
        heading[i] = np.nan if d[i].bearing is None else d[i].bearing
    zones = [entries[i].metadata.time_zone for i in idx]
    for i, zone in enumerate(zones):
        if zone is None and d[i].local_dt is not None:
            zones[i] = d[i].local_dt.timezone
    record = pc.binary_join_element_wise("entry", pa.array(idx + 1).cast(pa.string()), " ")

    bad = ~np.isfinite(lat) | ~np.isfinite(lon) | ~(np.abs(ts_s) < 9.2e12) | (accuracy < 0)
    if bad.any():
        first = int(np.argmax(bad))
        why = "negative accuracy (an invalid iOS fix)" if accuracy[first] < 0 else "no latitude/longitude or ts"
        ctx.reject(record[first].as_py(), why, int(bad.sum()))
        keep = ~bad
        lat, lon, ts_s, accuracy, vacc, altitude, speed, heading = (
            a[keep] for a in (lat, lon, ts_s, accuracy, vacc, altitude, speed, heading)
        )
        zones = [z for z, k in zip(zones, keep, strict=True) if k]
        record = record.filter(pa.array(keep))
    if not len(lat):
        return None
    altitude[vacc < 0] = np.nan
    speed[speed < 0] = np.nan
    heading[heading < 0] = np.nan
    order = np.argsort(ts_s, kind="stable")
    table = pa.table(
        {
            "ts": times.seconds_to_utc(ts_s),
            "lat": lat,
            "lon": lon,
            "accuracy_m": _f32(accuracy),
            "altitude_m": _f32(altitude),
            "speed_mps": _f32(speed),
            "heading_deg": _f32(heading),
            "tz_offset_min": _offsets(ts_s, zones, ctx),
            "record": record,
        }
    )
    return table.take(pa.array(order))


def _coord(data: Any, i: int) -> float | None:
    coords = data.loc.coordinates if data.loc is not None else None
    return coords[i] if coords is not None and len(coords) > i else None


def _f32(values: np.ndarray) -> pa.Array:
    values = values.astype(np.float32)
    return pa.array(values, pa.float32(), mask=~np.isfinite(values))


def _offsets(ts_s: np.ndarray, zones: list[str | None], ctx: ParseContext) -> pa.Array:
    """Minutes east of UTC of each instant in its IANA zone; null where the zone is unknown."""
    out = np.full(len(ts_s), np.nan)
    codes, names = pd.factorize(pd.Series(zones, dtype=object))
    in_range = np.abs(ts_s) < 9e9  # pandas' nanosecond clock ends in 2262; the importer refuses such dates
    for code, zone in enumerate(names):
        sel = np.flatnonzero((codes == code) & in_range)
        try:
            utc = pd.to_datetime(ts_s[sel], unit="s", utc=True)
            local = utc.tz_convert(zone).tz_localize(None)
        except Exception:  # pandas raises several types for an unknown zone
            ctx.warnings.append(f"{ctx.source_name}: unknown time zone {zone!r}; local offsets left empty")
            continue
        out[sel] = np.round((local - utc.tz_localize(None)).total_seconds().to_numpy() / 60.0)
    return pa.array(out, pa.float64(), mask=np.isnan(out)).cast(pa.int16())


def _activity_name(d: Any) -> str | None:
    t = d.type
    if isinstance(t, int):
        return modes.EMISSION_MOTION_BY_INT.get(t, str(t))
    if isinstance(t, str) and t:
        return t
    if d.automotive and d.stationary:
        return "STOPPED_WHILE_IN_VEHICLE"
    for flag, name in (
        (d.automotive, "IN_VEHICLE"),
        (d.cycling, "BICYCLING"),
        (d.running, "RUNNING"),
        (d.walking, "WALKING"),
        (d.stationary, "STILL"),
        (d.unknown, "UNKNOWN"),
    ):
        if flag:
            return name
    flags = (d.automotive, d.cycling, d.running, d.walking, d.stationary, d.unknown)
    return "NONE" if any(f is not None for f in flags) else None


def _confidences(acts: list[Any]) -> np.ndarray:
    """0–1 from 0–100 numbers, or from ``low``/``medium``/``high`` (in ``confidence`` or ``confidence_level``)."""
    values = [a.confidence for a in acts]
    try:
        out = np.clip(np.array(values, dtype=np.float64) / 100.0, 0.0, 1.0)
    except ValueError:  # some are words
        out = np.array([np.nan if isinstance(c, str) or c is None else c for c in values], np.float64)
        out = np.clip(out / 100.0, 0.0, 1.0)
    for i in np.flatnonzero(np.isnan(out)):
        word = acts[i].confidence if isinstance(acts[i].confidence, str) else acts[i].confidence_level
        out[i] = _LEVELS.get(word.strip().lower(), np.nan) if word else np.nan
    return out


def _attach_hints(points: pa.Table, entries: list[Any], idx: np.ndarray, ctx: ParseContext) -> pa.Table:
    n = points.num_rows
    code = np.full(n, -1, np.int32)
    conf = np.full(n, np.nan)
    acts = [entries[i].data for i in idx]
    act_ts = _floats([a.ts for a in acts])
    acts = [a for a, t in zip(acts, act_ts, strict=True) if np.isfinite(t)]
    act_ts = act_ts[np.isfinite(act_ts)]
    dictionary: list[str] = []
    if acts:
        types = [a.type for a in acts]
        if all(type(t) is int for t in types):  # Android, and iOS dumps the server has typed
            uniq, inverse = np.unique(np.array(types, np.int64), return_inverse=True)
            names = [modes.EMISSION_MOTION_BY_INT.get(int(t), str(int(t))) for t in uniq]
        else:
            names, inverse = pd.factorize(pd.Series([_activity_name(a) for a in acts], dtype=object))[::-1]
            names = list(names)
        counts = np.bincount(inverse[inverse >= 0], minlength=len(names))
        mode_of = np.full(len(names) + 1, -1, np.int32)  # last slot: activities without a name
        for k, (raw, count) in enumerate(zip(names, counts, strict=True)):
            mode, known = modes.map_mode("emission_motion", raw)
            if not known:
                ctx.unmapped(raw, int(count))
            if mode is not None:
                if mode.value not in dictionary:
                    dictionary.append(mode.value)
                mode_of[k] = dictionary.index(mode.value)
        act_mode = mode_of[np.where(inverse >= 0, inverse, len(names))]
        act_conf = _confidences(acts)
        order = np.argsort(act_ts, kind="stable")
        act_ts, act_mode, act_conf = act_ts[order], act_mode[order], act_conf[order]
        pt_ts = points.column("ts").cast(pa.int64()).to_numpy() / 1e6
        at = np.searchsorted(act_ts, pt_ts, side="right") - 1
        ok = (at >= 0) & (pt_ts - act_ts[np.maximum(at, 0)] <= MAX_HINT_AGE_S)
        code[ok] = act_mode[at[ok]]
        conf[ok] = act_conf[at[ok]]
        conf[code < 0] = np.nan
    hint = pa.DictionaryArray.from_arrays(pa.array(code, mask=code < 0), pa.array(dictionary, pa.string()))
    return points.append_column("mode_hint", hint.dictionary_decode()).append_column("mode_hint_conf", _f32(conf))


def _mark_restarts(points: pa.Table, entries: list[Any], idx: np.ndarray) -> pa.Table:
    seg = np.zeros(points.num_rows, bool)
    seg[0] = True
    restarts = np.sort(
        np.array(
            [d.ts for d in (entries[i].data for i in idx) if d.transition in _RESTARTS and d.ts is not None],
            dtype=np.float64,
        )
    )
    if len(restarts):
        pt_ts = points.column("ts").cast(pa.int64()).to_numpy() / 1e6
        first_after = np.searchsorted(pt_ts, restarts, side="left")
        seg[first_after[first_after < len(seg)]] = True
    return points.append_column("segment_start", pa.array(seg))


def _labels(entries: list[Any], mode_idx: np.ndarray, purpose_idx: np.ndarray, ctx: ParseContext) -> pa.Table | None:
    """One row per (start_ts, end_ts): the latest mode and purpose confirmations."""
    latest: dict[tuple[float, float], dict[str, Any]] = {}
    for kind, idx in (("mode", mode_idx), ("purpose", purpose_idx)):
        for i in idx:
            e = entries[i]
            d = e.data
            if d.start_ts is None or d.end_ts is None or d.label is None:
                ctx.reject(f"entry {i + 1}", f"{e.metadata.key} without start_ts, end_ts or label")
                continue
            row = latest.setdefault((d.start_ts, d.end_ts), {})
            set_at = e.metadata.write_ts if e.metadata.write_ts is not None else d.end_ts
            if kind not in row or set_at >= row[kind][1]:
                row[kind] = (d.label, set_at)
    if not latest:
        return None
    return _label_table(
        [(start, end, row.get("mode", (None,))[0], row.get("purpose", (None,))[0],
          max(v[1] for v in row.values())) for (start, end), row in latest.items()],
        ctx,
    )  # fmt: skip


def _label_table(rows: list[tuple], ctx: ParseContext) -> pa.Table:
    mode, occupancy, vehicle = [], [], []
    for _, _, raw, _, _ in rows:
        key = None if raw is None else raw.strip().lower()
        if key is None or key in modes.EMISSION_NOT_A_TRIP:
            m, occ, veh = None, None, None
        elif key in modes.EMISSION_LABEL:
            m, occ, veh = modes.EMISSION_LABEL[key]
            m = m.value
        else:
            ctx.unmapped(raw)
            m, occ, veh = "unknown", None, None
        mode.append(m)
        occupancy.append(occ)
        vehicle.append(veh)
    column = list(zip(*rows, strict=True))
    return pa.table(
        {
            "started_at": times.seconds_to_utc(np.array(column[0], np.float64)),
            "finished_at": times.seconds_to_utc(np.array(column[1], np.float64)),
            "mode": pa.array(mode, pa.string()),
            "raw_mode": pa.array(column[2], pa.string()),
            "occupancy": pa.array(occupancy, pa.int16()),
            "vehicle": pa.array(vehicle, pa.string()),
            "purpose": pa.array(column[3], pa.string()),
            "origin": pa.array([ORIGIN] * len(rows), pa.string()),
            "set_at": times.seconds_to_utc(np.array(column[4], np.float64)),
        }
    )


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
        yield Batch(source_segments=_segment_table(segments, ctx))
    if visits:
        yield Batch(source_visits=_visit_table(list(visits.values()), ctx))
    if label_rows:
        yield Batch(labels=_label_table(label_rows, ctx))
    if pts["lat"]:
        ts_s = np.array(pts["ts_ms"], np.float64) / 1000.0
        table = pa.table(
            {
                "ts": times.seconds_to_utc(ts_s),
                "lat": np.array(pts["lat"], np.float64),
                "lon": np.array(pts["lon"], np.float64),
                "speed_mps": _f32(np.array(pts["speed"], np.float64)),
                "mode_hint": pa.array(pts["mode"], pa.string()),
                "segment_start": pa.array(pts["seg"], pa.bool_()),
                "record": pa.array(pts["record"], pa.string()),
            }
        )
        yield Batch(points=table)


def _sensed_mode(raw: Any, ctx: ParseContext) -> tuple[str, str | None]:
    if isinstance(raw, bool) or raw is None:
        return "unknown", None
    if isinstance(raw, int | float):
        text = modes.EMISSION_MOTION_BY_INT.get(int(raw), str(raw))
        vocabulary = "emission_motion"
    else:
        text = str(raw)
        vocabulary = "emission_predicted" if text.startswith("PredictedModeTypes.") else "emission_motion"
    mode, known = modes.map_mode(vocabulary, text)
    if not known:
        ctx.unmapped(text)
    return ("unknown" if mode is None else mode.value), str(raw)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else np.nan


def _section(f: dict, p: dict, record: str, segments: list, pts: dict, ctx: ParseContext) -> None:
    start, end = _number(p.get("start_ts")), _number(p.get("end_ts"))
    if not (np.isfinite(start) and np.isfinite(end)):
        ctx.reject(record, "section without start_ts/end_ts")
        return
    coords = _obj(f.get("geometry")).get("coordinates")
    coords = [_point(c) for c in coords] if isinstance(coords, list) else []
    mode, raw = _sensed_mode(p.get("sensed_mode"), ctx)
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


def _segment_table(segments: list[dict], ctx: ParseContext) -> pa.Table:
    start = np.array([s["start"] for s in segments])
    return pa.table(
        {
            "started_at": times.seconds_to_utc(start),
            "finished_at": times.seconds_to_utc(np.array([s["end"] for s in segments])),
            "mode": pa.array([s["mode"] for s in segments], pa.string()),
            "raw_mode": pa.array([s["raw"] for s in segments], pa.string()),
            "confirmed": pa.array([False] * len(segments)),
            "distance_m": np.array([s["distance"] for s in segments], np.float64),
            "start_lat": np.array([s["first"][0] for s in segments], np.float64),
            "start_lon": np.array([s["first"][1] for s in segments], np.float64),
            "end_lat": np.array([s["last"][0] for s in segments], np.float64),
            "end_lon": np.array([s["last"][1] for s in segments], np.float64),
            "tz_offset_min": _offsets(start, [s["zone"] for s in segments], ctx),
            "origin": pa.array([ORIGIN] * len(segments), pa.string()),
        }
    )


def _visit_table(places: list[dict], ctx: ParseContext) -> pa.Table:
    enter = np.array([v["enter"] for v in places], np.float64)
    return pa.table(
        {
            "started_at": times.seconds_to_utc(enter),
            "finished_at": times.seconds_to_utc(np.array([v["exit"] for v in places], np.float64)),
            "lat": np.array([v["lat"] for v in places], np.float64),
            "lon": np.array([v["lon"] for v in places], np.float64),
            "place_id": pa.array([v["id"] for v in places], pa.string()),
            "name": pa.array([v["name"] for v in places], pa.string()),
            "tz_offset_min": _offsets(enter, [v["zone"] for v in places], ctx),
            "origin": pa.array([ORIGIN] * len(places), pa.string()),
        }
    )
