"""What Google's on-device Timeline exports (2024+) share: Android ``Timeline.json``, iOS ``location-history.json``.

Both hold the same semantic segments (input-formats.md §1c); they differ in the envelope (an
object with ``semanticSegments``/``rawSignals`` on Android, a bare array on iOS) and in spelling:
iOS writes every number as a string, coordinates as ``"geo:lat,lng"`` strings instead of
``{"latLng": "lat°, lng°"}`` objects, ``placeID`` instead of ``placeId`` and activity types in
lower case with spaces. The Structs below accept both spellings, so one walker serves both
format modules (:mod:`google_timeline_android`, :mod:`google_timeline_ios`).

Each segment:

* ``visit`` → ``source_visits``: the top candidate's place; confidence the visit's
  ``probability``, else the top candidate's. Skipped (counted): visits with ``hierarchyLevel``
  > 0 (an enclosing place over the same time as the level-0 visit), timeless visits
  (``isTimelessVisit``: a bookmarked place, not a stay) and visits without ``placeLocation``.
* ``activity`` → ``source_segments``: ``topCandidate.type`` mapped with
  ``modes.map_mode("google_semantic", …)``; confidence the top candidate's ``probability``
  (0 means "not given"); distance ``distanceMeters``, else great-circle start → end.
* ``timelinePath`` → ``points``: each point's own ``time`` when present, else ``startTime`` +
  ``durationMinutesOffsetFromStartTime`` minutes (iOS); an offset that is not a number, negative,
  or past the segment's end is rejected. Points repeat across the overlapping 2-hour buckets;
  the importer's de-duplication removes the repeats.
* ``timelineMemory`` is ignored (no coordinates).

Times are UTC; ``tz_offset_min`` comes from ``startTimeTimezoneUtcOffsetMinutes`` or the ISO
text's offset (``Z``, Google's UTC, gives none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.ingest import modes
from mobco2.ingest.base import Batch, ParseContext, Source
from mobco2.ingest.jsonutil import (
    decode_error,
    decode_repairing,
    distance_or_great_circle,
    fraction,
    json_buffer,
    number,
    parse_latlng,
    place_type,
    plausible,
    typed_table,
    utc_times,
)
from mobco2.schema import POINTS, SOURCE_SEGMENTS, SOURCE_VISITS, TS, Mode

ACTIVITY_MATCH_S = 120
"""An Android ``activityRecord`` gives its mode hint to position fixes at most this far away in time."""
OFFSET_SLACK_MIN = 1
"""iOS offsets are whole minutes: allow this much past the segment's end before rejecting."""

MAX_OFFSET_MIN = 18 * 60
"""UTC offsets beyond ±18 h do not exist; a larger ``…TimezoneUtcOffsetMinutes`` is ignored."""

Num = float | str | None  # iOS writes numbers as strings


class _LatLng(msgspec.Struct):
    latLng: str | None = None
    LatLng: str | None = None


Coord = str | _LatLng | None


def _coord_text(c: Coord) -> str | None:
    if isinstance(c, _LatLng):
        return c.latLng or c.LatLng
    return c


class _Candidate(msgspec.Struct):
    type: str | None = None
    probability: Num = None
    placeId: str | None = None
    placeID: str | None = None
    semanticType: str | None = None
    placeLocation: Coord = None


class _Visit(msgspec.Struct):
    hierarchyLevel: Num = None
    probability: Num = None
    isTimelessVisit: bool | str | None = None
    topCandidate: _Candidate | None = None


class _Activity(msgspec.Struct):
    start: Coord = None
    end: Coord = None
    distanceMeters: Num = None
    probability: Num = None
    topCandidate: _Candidate | None = None


class _PathPoint(msgspec.Struct):
    point: str | None = None
    time: str | None = None
    durationMinutesOffsetFromStartTime: Num = None


class _Segment(msgspec.Struct):
    startTime: str | None = None
    endTime: str | None = None
    startTimeTimezoneUtcOffsetMinutes: Num = None
    visit: _Visit | None = None
    activity: _Activity | None = None
    timelinePath: list[_PathPoint] | None = None


class _Position(msgspec.Struct):
    LatLng: str | None = None
    latLng: str | None = None
    accuracyMeters: Num = None
    altitudeMeters: Num = None
    speedMetersPerSecond: Num = None
    timestamp: str | None = None


class _Probable(msgspec.Struct):
    type: str | None = None
    confidence: Num = None


class _ActivityRecord(msgspec.Struct):
    probableActivities: list[_Probable] | None = None
    timestamp: str | None = None


class _Signal(msgspec.Struct):
    position: _Position | None = None
    activityRecord: _ActivityRecord | None = None


SEGMENT = msgspec.json.Decoder(_Segment)
SIGNAL = msgspec.json.Decoder(_Signal)
_NAN = float("nan")


def _truthy(value: bool | str | None) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


class Collector:
    """Rows gathered while walking segments and signals; Arrow tables at the end."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.seg: dict[str, list] = {k: [] for k in ("record", "start", "end", "offset", "raw_mode",
                                                     "confidence", "distance", "from", "to")}  # fmt: skip
        self.vis: dict[str, list] = {k: [] for k in ("record", "start", "end", "offset", "where",
                                                     "place_id", "semantic_type", "confidence")}  # fmt: skip
        self.path: dict[str, list] = {k: [] for k in ("record", "start", "end", "time", "minutes", "point")}
        self.pos: dict[str, list] = {k: [] for k in ("record", "time", "point", "acc", "alt", "speed")}
        self.acts: dict[str, list] = {k: [] for k in ("time", "mode", "conf")}

    # ------------------------------------------------------------------ walking

    def segment(self, seg: _Segment, record: str, ctx: ParseContext) -> None:
        offset = number(seg.startTimeTimezoneUtcOffsetMinutes)
        if seg.visit is not None:
            self._visit(seg, seg.visit, offset, record, ctx)
        elif seg.activity is not None:
            self._activity(seg, seg.activity, offset, record, ctx)
        elif seg.timelinePath is not None:
            self._path(seg, seg.timelinePath, record, ctx)
        else:
            ctx.skip()  # timelineMemory and anything else without a position history

    def _times_ok(self, seg: _Segment, record: str, ctx: ParseContext) -> bool:
        if seg.startTime is None or seg.endTime is None:
            ctx.reject(record, "startTime or endTime missing")
            return False
        return True

    def _visit(self, seg: _Segment, visit: _Visit, offset: float | None, record: str, ctx: ParseContext) -> None:
        level = number(visit.hierarchyLevel)
        top = visit.topCandidate or _Candidate()
        where = _coord_text(top.placeLocation)
        if (level is not None and level > 0) or _truthy(visit.isTimelessVisit) or where is None:
            ctx.skip()
            return
        if not self._times_ok(seg, f"{record}.visit", ctx):
            return
        v = self.vis
        v["record"].append(f"{record}.visit")
        v["start"].append(seg.startTime)
        v["end"].append(seg.endTime)
        v["offset"].append(offset)
        v["where"].append(where)
        v["place_id"].append(top.placeId or top.placeID)
        v["semantic_type"].append(place_type(top.semanticType))
        conf = fraction(visit.probability, percent=False)
        v["confidence"].append(conf if conf is not None else fraction(top.probability, percent=False))

    def _activity(self, seg: _Segment, act: _Activity, offset: float | None, record: str, ctx: ParseContext) -> None:
        if not self._times_ok(seg, f"{record}.activity", ctx):
            return
        top = act.topCandidate or _Candidate()
        s = self.seg
        s["record"].append(f"{record}.activity")
        s["start"].append(seg.startTime)
        s["end"].append(seg.endTime)
        s["offset"].append(offset)
        s["raw_mode"].append(top.type)
        conf = fraction(top.probability, percent=False)
        s["confidence"].append(conf if conf is not None else fraction(act.probability, percent=False))
        distance = number(act.distanceMeters)
        s["distance"].append(_NAN if distance is None else distance)
        s["from"].append(_coord_text(act.start))
        s["to"].append(_coord_text(act.end))

    def _path(self, seg: _Segment, path: list[_PathPoint], record: str, ctx: ParseContext) -> None:
        p = self.path
        for j, point in enumerate(path):
            where = f"{record}.timelinePath[{j}]"
            minutes = None
            if point.time is None:  # iOS: minutes after the segment's start
                raw = point.durationMinutesOffsetFromStartTime
                minutes = number(raw)
                if seg.startTime is None or minutes is None:
                    ctx.reject(where, f"no time, and durationMinutesOffsetFromStartTime is {raw!r}")
                    continue
            p["record"].append(where)
            p["start"].append(seg.startTime)
            p["end"].append(seg.endTime)
            p["time"].append(point.time)
            p["minutes"].append(_NAN if minutes is None else minutes)
            p["point"].append(point.point)

    def signal(self, sig: _Signal, record: str, ctx: ParseContext) -> None:
        if sig.position is not None:
            pos = sig.position
            q = self.pos
            q["record"].append(f"{record}.position")
            q["time"].append(pos.timestamp)
            q["point"].append(pos.LatLng or pos.latLng)
            for key, value in (("acc", pos.accuracyMeters), ("alt", pos.altitudeMeters),
                               ("speed", pos.speedMetersPerSecond)):  # fmt: skip
                num = number(value)
                q[key].append(_NAN if num is None else num)
        elif sig.activityRecord is not None and sig.activityRecord.timestamp is not None:
            mode, conf = _best_probable(sig.activityRecord.probableActivities or [], ctx)
            if mode is not None:
                self.acts["time"].append(sig.activityRecord.timestamp)
                self.acts["mode"].append(mode)
                self.acts["conf"].append(conf)
        else:
            ctx.skip()  # wifiScan and the like: no position

    # ------------------------------------------------------------------ tables

    def batch(self, ctx: ParseContext) -> Batch | None:
        points = [t for t in (self._path_points(ctx), self._positions(ctx)) if t is not None and t.num_rows]
        batch = Batch(
            points=pa.concat_tables(points, promote_options="default") if points else None,
            source_segments=self._segments(ctx),
            source_visits=self._visits(ctx),
        )
        if batch.points is None and batch.source_segments is None and batch.source_visits is None:
            return None
        return batch

    def _segments(self, ctx: ParseContext) -> pa.Table | None:
        s = self.seg
        if not s["start"]:
            return None
        ts0, ts1, off, ok = _span(s, ctx)
        lat0, lon0 = plausible(*parse_latlng(s["from"]))
        lat1, lon1 = plausible(*parse_latlng(s["to"]))
        distance = distance_or_great_circle(np.array(s["distance"], dtype=np.float64), lat0, lon0, lat1, lon1)
        mode = [_mode(raw, ctx) for raw in s["raw_mode"]]
        table = typed_table(SOURCE_SEGMENTS, {
            "started_at": ts0, "finished_at": ts1, "mode": mode, "raw_mode": s["raw_mode"],
            "confidence": s["confidence"], "distance_m": distance, "start_lat": lat0, "start_lon": lon0,
            "end_lat": lat1, "end_lon": lon1, "tz_offset_min": off, "origin": [self.origin] * len(mode),
        })  # fmt: skip
        return table.filter(pa.array(ok))

    def _visits(self, ctx: ParseContext) -> pa.Table | None:
        v = self.vis
        if not v["start"]:
            return None
        ts0, ts1, off, ok = _span(v, ctx)
        lat, lon = plausible(*parse_latlng(v["where"]))
        table = typed_table(SOURCE_VISITS, {
            "started_at": ts0, "finished_at": ts1, "lat": lat, "lon": lon, "place_id": v["place_id"],
            "semantic_type": v["semantic_type"], "confidence": v["confidence"], "tz_offset_min": off,
            "origin": [self.origin] * len(ok),
        })  # fmt: skip
        return table.filter(pa.array(ok))

    def _path_points(self, ctx: ParseContext) -> pa.Table | None:
        p = self.path
        n = len(p["record"])
        if not n:
            return None
        own, own_off = utc_times(pa.array(p["time"], pa.string()))
        start, start_off = utc_times(pa.array(p["start"], pa.string()))
        end, _ = utc_times(pa.array(p["end"], pa.string()))
        minutes = np.array(p["minutes"], dtype=np.float64)
        by_offset = ~np.isnan(minutes)
        start_us = start.cast(pa.int64()).to_numpy(zero_copy_only=False)
        derived_us = start_us + np.round(np.nan_to_num(minutes) * 60e6).astype(np.int64)
        end_us = end.cast(pa.int64()).fill_null(np.iinfo(np.int64).max).to_numpy(zero_copy_only=False)
        bad = by_offset & (
            (minutes < 0) | (derived_us > end_us + OFFSET_SLACK_MIN * 60_000_000) | start.is_null().to_numpy(False)
        )
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            ctx.reject(p["record"][i], f"durationMinutesOffsetFromStartTime {minutes[i]:g} is negative or "
                       "past the segment's end", count=int(bad.sum()))  # fmt: skip
        derived = pa.array(derived_us, pa.int64(), mask=~by_offset | bad).cast(TS)
        ts = pc.if_else(pa.array(by_offset), derived, own)
        off = pc.if_else(pa.array(by_offset), start_off, own_off)
        lat, lon = parse_latlng(p["point"])
        keep = _located(lat, lon, ts, p["record"], ctx, ~bad)
        table = typed_table(POINTS, {"ts": ts, "lat": lat, "lon": lon, "tz_offset_min": off, "record": p["record"]})
        return table.filter(pa.array(keep))

    def _positions(self, ctx: ParseContext) -> pa.Table | None:
        q = self.pos
        if not q["record"]:
            return None
        ts, off = utc_times(pa.array(q["time"], pa.string()))
        lat, lon = parse_latlng(q["point"])
        keep = _located(lat, lon, ts, q["record"], ctx, np.ones(len(ts), dtype=bool))
        hint, conf = self._hints(ts)
        table = typed_table(POINTS, {
            "ts": ts, "lat": lat, "lon": lon, "accuracy_m": np.array(q["acc"], np.float32),
            "altitude_m": np.array(q["alt"], np.float32), "speed_mps": np.array(q["speed"], np.float32),
            "tz_offset_min": off, "mode_hint": hint, "mode_hint_conf": conf, "record": q["record"],
        })  # fmt: skip
        return table.filter(pa.array(keep))

    def _hints(self, ts: pa.Array) -> tuple[list[str | None], np.ndarray]:
        """Each fix's hint: the nearest activityRecord within ACTIVITY_MATCH_S (vectorised)."""
        n = len(ts)
        hint = np.full(n, None, dtype=object)
        conf = np.full(n, np.nan, dtype=np.float32)
        if not self.acts["time"] or n == 0:
            return hint.tolist(), conf
        at, _ = utc_times(pa.array(self.acts["time"], pa.string()))
        valid = at.is_valid().to_numpy(zero_copy_only=False)
        at_us = at.cast(pa.int64()).to_numpy(zero_copy_only=False)[valid]
        modes_ = np.array(self.acts["mode"], dtype=object)[valid]
        confs = np.array(self.acts["conf"], dtype=np.float32)[valid]
        if not len(at_us):
            return hint.tolist(), conf
        order = np.argsort(at_us, kind="stable")
        at_us, modes_, confs = at_us[order], modes_[order], confs[order]
        fix = ts.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        right = np.clip(np.searchsorted(at_us, fix), 0, len(at_us) - 1)
        left = np.clip(right - 1, 0, len(at_us) - 1)
        nearest = np.where(np.abs(at_us[left] - fix) <= np.abs(at_us[right] - fix), left, right)
        close = (np.abs(at_us[nearest] - fix) <= ACTIVITY_MATCH_S * 1_000_000) & ts.is_valid().to_numpy(False)
        hint[close] = modes_[nearest[close]]
        conf[close] = confs[nearest[close]]
        return hint.tolist(), conf


def _best_probable(cands: list[_Probable], ctx: ParseContext) -> tuple[str | None, float]:
    """The most confident candidate that names a mode of travel (Records vocabulary, 0–1)."""
    best, best_conf = None, -1.0
    for cand in cands:
        mode, known = modes.map_mode("google_records", cand.type)
        if not known and cand.type:
            ctx.unmapped(cand.type)
        if mode is None:
            continue
        conf = number(cand.confidence)
        c = -1.0 if conf is None else conf
        if best is None or c > best_conf:
            best, best_conf = mode.value, c
    return best, (best_conf if best_conf >= 0 else _NAN)


def _mode(raw: str | None, ctx: ParseContext) -> str:
    mode, known = modes.map_mode("google_semantic", raw)
    if not known and raw is not None:
        ctx.unmapped(raw)
    return (mode or Mode.UNKNOWN).value


def _span(rows: dict[str, list], ctx: ParseContext) -> tuple[pa.Array, pa.Array, pa.Array, np.ndarray]:
    """UTC start/end, the local offset (the explicit minutes, else the ISO text's), and a mask
    of rows whose times parse (the others are rejected)."""
    ts0, iso_off = utc_times(pa.array(rows["start"], pa.string()))
    ts1, _ = utc_times(pa.array(rows["end"], pa.string()))
    given = pa.array(
        [round(o) if o is not None and abs(o) <= MAX_OFFSET_MIN else None for o in rows["offset"]], pa.int16()
    )
    off = pc.coalesce(given, iso_off)
    ok = pc.and_(ts0.is_valid(), ts1.is_valid()).to_numpy(zero_copy_only=False)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        ctx.reject(rows["record"][i], f"unreadable time {rows['start'][i]!r} → {rows['end'][i]!r}",
                   count=int((~ok).sum()))  # fmt: skip
    return ts0, ts1, off, ok


def _located(
    lat: np.ndarray, lon: np.ndarray, ts: pa.Array, records: list[str], ctx: ParseContext, candidates: np.ndarray
) -> np.ndarray:
    """Which of the ``candidates`` rows have readable coordinates and time; the others are rejected."""
    ok = ~(np.isnan(lat) | np.isnan(lon)) & ts.is_valid().to_numpy(zero_copy_only=False)
    bad = candidates & ~ok
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        ctx.reject(records[i], "unreadable coordinates or time", count=int(bad.sum()))
    return candidates & ok


Lists = Callable[[Any], tuple[tuple[str, list[msgspec.Raw]], tuple[str, list[msgspec.Raw]]]]


def parse_export(source: Source, ctx: ParseContext, origin: str, root: Any, lists: Lists, what: str) -> Iterator[Batch]:
    """Decode ``source`` as ``root`` and walk it; ``lists(doc)`` gives the raw segments and raw
    signals, each with the JSON path prefix that locates them (``semanticSegments``, ``""``)."""
    c = Collector(origin)
    with json_buffer(source) as (buf, _mm, bom):
        try:
            doc = decode_repairing(msgspec.json.Decoder(root), buf, ctx.warnings)
        except msgspec.DecodeError as exc:
            raise decode_error(source.name, exc, buf, bom=bom, what=what) from None
        _walk(lists(doc), c, ctx)
        del doc  # its raw items point into the mapped file
        ctx.report_progress(len(buf) + bom)
    batch = c.batch(ctx)
    if batch is not None:
        yield batch


def _walk(lists, c: Collector, ctx: ParseContext) -> None:  # type: ignore[no-untyped-def]
    (seg_prefix, segments), (sig_prefix, signals) = lists
    for prefix, raws, decoder, handle in (
        (seg_prefix, segments, SEGMENT, c.segment),
        (sig_prefix, signals, SIGNAL, c.signal),
    ):
        for i, raw in enumerate(raws):
            record = f"{prefix}[{i}]"
            try:
                item = decode_repairing(decoder, raw, ctx.warnings)
            except msgspec.DecodeError as exc:
                ctx.reject(record, str(exc))
                continue
            handle(item, record, ctx)
