"""e-mission / TraceMob values as mobco2 tables: points, mode hints, labels, segments, visits.

:mod:`mobco2.ingest.emission` recognises and walks the documents (a raw dump's typed entries
grouped by key, a day's trip FeatureCollections); this module turns what it gathers into Arrow
tables in mobco2's schemas, applying the rules that module's docstring lists: epoch seconds →
UTC, IANA zones → ``tz_offset_min``, units, iOS's negative "unknown" values, motion activities →
``mode_hint`` (:data:`MAX_HINT_AGE_S`), tracking restarts → ``segment_start``, and the label and
sensed-mode vocabularies of :mod:`mobco2.ingest.modes`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.ingest import modes, times
from mobco2.ingest.base import ParseContext

ORIGIN = "emission"

MAX_HINT_AGE_S = 300.0
"""A motion activity older than this (s) says nothing about a location point."""
_RESTARTS = frozenset({3, 4, 11, 17})  # STOP_TRACKING, BOOTED, TRACKING_STOPPED (iOS), START_TRACKING
_PAUSES = frozenset({2})  # STOPPED_MOVING: the phone judged the trip over and stopped recording
_STARTS = _RESTARTS | _PAUSES
_SILENT = frozenset({"UNKNOWN", "TILTING", "NONE"})
_LEVELS = {"low": 0.5, "medium": 0.75, "high": 1.0}


# ----------------------------------------------------------------------------- raw dump


def _floats(values: list) -> np.ndarray:
    return np.array(values, dtype=np.float64)  # None becomes NaN


def location_points(entries: list[Any], idx: np.ndarray, ctx: ParseContext) -> pa.Table | None:
    """The location entries at ``idx`` as a points table in time order (degrees, metres, m/s,
    ``tz_offset_min``, ``record``); fixes without position or time, or with a negative accuracy,
    are rejected. None when nothing is left."""
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
    import pandas as pd  # not at import time: detection loads this module for every file
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


def activity_name(d: Any) -> str | None:
    """The MotionTypes name of a motion activity: Android's ``type``, else iOS's booleans."""
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


def attach_hints(points: pa.Table, entries: list[Any], idx: np.ndarray, ctx: ParseContext) -> pa.Table:
    """``points`` with ``mode_hint``/``mode_hint_conf`` (0–1) from the latest motion activity at
    ``idx`` no more than :data:`MAX_HINT_AGE_S` seconds before each point (UNKNOWN, TILTING and
    NONE are skipped: they say nothing about how one moves)."""
    import pandas as pd  # not at import time: detection loads this module for every file
    n = points.num_rows
    code = np.full(n, -1, np.int32)
    conf = np.full(n, np.nan)
    acts = [entries[i].data for i in idx]
    act_ts = _floats([a.ts for a in acts])
    # an activity that says nothing about motion does not hide the one before it: Android reports
    # TILTING at the same instant as ON_FOOT, iOS all-false (NONE) between walking samples
    said = np.isfinite(act_ts) & np.array([activity_name(a) not in _SILENT for a in acts], bool)
    acts = [a for a, ok in zip(acts, said, strict=True) if ok]
    act_ts = act_ts[said]
    dictionary: list[str] = []
    if acts:
        types = [a.type for a in acts]
        if all(type(t) is int for t in types):  # Android, and iOS dumps the server has typed
            uniq, inverse = np.unique(np.array(types, np.int64), return_inverse=True)
            names = [modes.EMISSION_MOTION_BY_INT.get(int(t), str(int(t))) for t in uniq]
        else:
            names, inverse = pd.factorize(pd.Series([activity_name(a) for a in acts], dtype=object))[::-1]
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


def mark_restarts(points: pa.Table, entries: list[Any], idx: np.ndarray) -> pa.Table:
    """``points`` (in time order) with ``segment_start``: the first point, and the first one at or
    after each tracking restart or pause (``stopped_moving``) among the transitions at ``idx``."""
    seg = np.zeros(points.num_rows, bool)
    seg[0] = True
    restarts = np.sort(
        np.array(
            [d.ts for d in (entries[i].data for i in idx) if d.transition in _STARTS and d.ts is not None],
            dtype=np.float64,
        )
    )
    if len(restarts):
        pt_ts = points.column("ts").cast(pa.int64()).to_numpy() / 1e6
        first_after = np.searchsorted(pt_ts, restarts, side="left")
        seg[first_after[first_after < len(seg)]] = True
    return points.append_column("segment_start", pa.array(seg))


def confirmed_labels(
    entries: list[Any], mode_idx: np.ndarray, purpose_idx: np.ndarray, ctx: ParseContext
) -> pa.Table | None:
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
    return label_table(
        [(start, end, row.get("mode", (None,))[0], row.get("purpose", (None,))[0],
          max(v[1] for v in row.values())) for (start, end), row in latest.items()],
        ctx,
    )  # fmt: skip


def label_table(rows: list[tuple], ctx: ParseContext) -> pa.Table:
    """Labels from ``(start, end, raw mode, purpose, set_at)`` rows (epoch seconds), the mode
    mapped with ``modes.EMISSION_LABEL``."""
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


def sensed_mode(raw: Any, ctx: ParseContext) -> tuple[str, str | None]:
    """A section's ``sensed_mode`` → (mobco2 mode, or ``unknown``; the raw value as text, or None)."""
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


def trip_points(pts: dict[str, list]) -> pa.Table:
    """The points of a day's sections as gathered in ``pts`` (``ts_ms`` epoch milliseconds, ``lat``/``lon``
    degrees, ``speed`` m/s, the section's ``mode``, ``seg`` for ``segment_start``, ``record``)."""
    ts_s = np.array(pts["ts_ms"], np.float64) / 1000.0
    return pa.table(
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


def segment_table(segments: list[dict], ctx: ParseContext) -> pa.Table:
    """``source_segments`` from the sections gathered (epoch seconds, degrees, ``distance`` m)."""
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


def visit_table(places: list[dict], ctx: ParseContext) -> pa.Table:
    """``source_visits`` from the places gathered (enter/exit epoch seconds, degrees)."""
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
