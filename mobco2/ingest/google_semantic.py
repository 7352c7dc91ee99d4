"""Google Takeout Semantic Location History: ``Semantic Location History/YYYY/YYYY_MONTH.json``.

``{"timelineObjects": [{"activitySegment": …} | {"placeVisit": …}, …]}`` (input-formats.md §1b).

activitySegment → one ``source_segments`` row:

* times: ``duration.startTimestamp``/``endTimestamp``, or the older ``…TimestampMs``; the text is
  sniffed (ISO, ``"2025-03-24 20:07:24 +0100"``, epoch s or ms as strings); ``tz_offset_min``
  only where the text carries an offset (``Z`` is Google's UTC, not the user's zone);
* mode: ``activityType``, else ``activities[0].activityType``, through
  ``modes.map_mode("google_semantic", …)``. STILL and segments without any type become
  ``unknown`` (``raw_mode`` keeps what was there); an unmapped type becomes ``unknown`` and is
  counted;
* confidence: the ``confidence`` enum (:data:`CONFIDENCE`), else the chosen activity's
  ``probability`` / 100 (``0.0``, common in old files, means "not given");
* ``confirmed``: ``editConfirmationStatus == "CONFIRMED"`` (null when absent);
* start/end: ``startLocation``/``endLocation``, else the first/last ``waypointPath`` waypoint,
  else the first/last ``simplifiedRawPath`` point;
* distance: ``waypointPath.distanceMeters``, else ``simplifiedRawPath.distanceMeters``, else
  ``distance``, else the great-circle distance start → end.

placeVisit → one ``source_visits`` row: coordinates from ``location``, else
``centerLatE7``/``centerLngE7``, else ``otherCandidateLocations[0]`` (whose ``placeId``/``name``
then stand in for the missing ones); ``semantic_type`` normalised (``TYPE_HOME`` → ``HOME``);
confidence ``visitConfidence`` / 100, else the ``placeConfidence`` enum.

``simplifiedRawPath`` points (on segments and visits) are the only timestamped fixes in this
format: they become ``points``. ``waypointPath`` waypoints have no time, so they are used only for
a segment's ends, never as points.

Decisions:

* ``childVisits`` are ignored: they are places inside the parent visit (a shop in a mall) over
  the same or a shorter time span, so the parent already covers that stay and importing them
  would add overlapping visits.
* An item with a start time but no end time (seen in dawarich's fixtures) cannot be a segment or
  a visit; its known position at its known time is kept as a point instead, and a warning says
  how many items were turned into points. An item with neither time is rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.ingest import modes
from mobco2.ingest.base import Batch, ParseContext, Source
from mobco2.ingest.jsonutil import (
    E7_LAT_WRAP,
    E7_LON_WRAP,
    decode_error,
    decode_repairing,
    distance_or_great_circle,
    e7_to_degrees,
    fraction,
    json_buffer,
    place_type,
    plausible,
    typed_table,
    utc_times,
)
from mobco2.schema import POINTS, SOURCE_SEGMENTS, SOURCE_VISITS, Mode

FORMAT = "google_semantic"
DESCRIPTION = "Google Takeout Semantic Location History monthly files (segments with modes, visits)"
WHAT = "Semantic Location History (Google Takeout)"

CONFIDENCE: dict[str, float] = {
    "LOW": 0.3,
    "MEDIUM": 0.6,
    "HIGH": 0.9,
    "LOW_CONFIDENCE": 0.3,
    "MEDIUM_CONFIDENCE": 0.6,
    "HIGH_CONFIDENCE": 0.9,
    "USER_CONFIRMED": 1.0,
}
"""Google's confidence enums as 0–1 (our reading: three even steps, a user's word is certain)."""

_HEAD = re.compile(rb'^\{\s*"timelineObjects"\s*:')
_NAN = float("nan")

Stamp = str | int | float | None


def sniff(head: bytes) -> bool:
    """``{"timelineObjects": …``."""
    return bool(_HEAD.match(head))


class _Place(msgspec.Struct):
    latitudeE7: float | None = None
    longitudeE7: float | None = None
    placeId: str | None = None
    name: str | None = None
    semanticType: str | None = None


class _PathPoint(msgspec.Struct):
    latE7: float | None = None
    lngE7: float | None = None
    accuracyMeters: float | None = None
    timestamp: Stamp = None
    timestampMs: Stamp = None


class _RawPath(msgspec.Struct):
    points: list[_PathPoint] = []
    distanceMeters: float | None = None


class _Waypoints(msgspec.Struct):
    waypoints: list[_PathPoint] = []
    distanceMeters: float | None = None


class _Duration(msgspec.Struct):
    startTimestamp: Stamp = None
    endTimestamp: Stamp = None
    startTimestampMs: Stamp = None
    endTimestampMs: Stamp = None


class _Candidate(msgspec.Struct):
    activityType: str | None = None
    probability: float | None = None


class _Segment(msgspec.Struct):
    startLocation: _Place | None = None
    endLocation: _Place | None = None
    duration: _Duration | None = None
    distance: float | None = None
    activityType: str | None = None
    confidence: str | float | None = None
    activities: list[_Candidate] | None = None
    waypointPath: _Waypoints | None = None
    simplifiedRawPath: _RawPath | None = None
    editConfirmationStatus: str | None = None


class _Visit(msgspec.Struct):
    location: _Place | None = None
    duration: _Duration | None = None
    placeConfidence: str | None = None
    visitConfidence: float | None = None
    centerLatE7: float | None = None
    centerLngE7: float | None = None
    otherCandidateLocations: list[_Place] | None = None
    semanticType: str | None = None
    simplifiedRawPath: _RawPath | None = None


class _Item(msgspec.Struct):
    activitySegment: _Segment | None = None
    placeVisit: _Visit | None = None


class _Root(msgspec.Struct):
    timelineObjects: list[msgspec.Raw] = []


_ROOT = msgspec.json.Decoder(_Root)
_ITEM = msgspec.json.Decoder(_Item)


def _stamp(value: Stamp) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() else repr(value)
    return str(value)


def _xy(place: _Place | _PathPoint | None) -> tuple[float, float] | None:
    """E7 coordinates of a place or path point, if it has both."""
    if place is None:
        return None
    if isinstance(place, _Place):
        lat, lon = place.latitudeE7, place.longitudeE7
    else:
        lat, lon = place.latE7, place.lngE7
    return None if lat is None or lon is None else (lat, lon)


def _ends(seg: _Segment) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    paths = [p for p in ((seg.waypointPath and seg.waypointPath.waypoints),
                         (seg.simplifiedRawPath and seg.simplifiedRawPath.points)) if p]  # fmt: skip
    start, end = _xy(seg.startLocation), _xy(seg.endLocation)
    for path in paths:
        start = start or _xy(path[0])
        end = end or _xy(path[-1])
    return start, end


def _segment_mode(seg: _Segment) -> tuple[str | None, _Candidate | None]:
    if seg.activityType:
        chosen = next((a for a in seg.activities or () if a.activityType == seg.activityType), None)
        return seg.activityType, chosen
    if seg.activities:
        return seg.activities[0].activityType, seg.activities[0]
    return None, None


def _confidence(seg: _Segment, chosen: _Candidate | None) -> float | None:
    if isinstance(seg.confidence, str) and seg.confidence in CONFIDENCE:
        return CONFIDENCE[seg.confidence]
    if isinstance(seg.confidence, float):
        return fraction(seg.confidence, percent=seg.confidence > 1)
    return fraction(chosen.probability, percent=True) if chosen is not None else None


class _Collector:
    """Rows gathered while walking the items; turned into Arrow tables at the end."""

    def __init__(self) -> None:
        self.seg: dict[str, list] = {k: [] for k in (
            "record", "start", "end", "raw_mode", "confidence", "confirmed", "distance",
            "lat0", "lon0", "lat1", "lon1")}  # fmt: skip
        self.vis: dict[str, list] = {k: [] for k in (
            "record", "start", "end", "lat", "lon", "place_id", "name", "semantic_type", "confidence")}  # fmt: skip
        self.pts: dict[str, list] = {k: [] for k in ("ts", "lat", "lon", "accuracy", "record")}
        self.orphans = 0

    def point(self, ts: str | None, xy: tuple[float, float] | None, acc: float | None, record: str) -> bool:
        if ts is None or xy is None:
            return False
        self.pts["ts"].append(ts)
        self.pts["lat"].append(xy[0])
        self.pts["lon"].append(xy[1])
        self.pts["accuracy"].append(_NAN if acc is None else acc)
        self.pts["record"].append(record)
        return True

    def raw_path(self, path: _RawPath | None, record: str, ctx: ParseContext) -> None:
        for j, p in enumerate(path.points if path is not None else ()):
            if not self.point(_stamp(p.timestamp) or _stamp(p.timestampMs), _xy(p), p.accuracyMeters,
                              f"{record}.simplifiedRawPath.points[{j}]"):  # fmt: skip
                ctx.skip()


def _times(d: _Duration | None) -> tuple[str | None, str | None]:
    if d is None:
        return None, None
    return (_stamp(d.startTimestamp) or _stamp(d.startTimestampMs),
            _stamp(d.endTimestamp) or _stamp(d.endTimestampMs))  # fmt: skip


def _add_segment(c: _Collector, seg: _Segment, record: str, ctx: ParseContext) -> None:
    start_t, end_t = _times(seg.duration)
    start, end = _ends(seg)
    c.raw_path(seg.simplifiedRawPath, record, ctx)
    if start_t is None or end_t is None:
        _orphan(c, start_t, start, end_t, end, record, ctx)
        return
    raw, chosen = _segment_mode(seg)
    distance = None
    for candidate in (seg.waypointPath, seg.simplifiedRawPath):
        if distance is None and candidate is not None:
            distance = candidate.distanceMeters
    if distance is None:
        distance = seg.distance
    s = c.seg
    s["record"].append(record)
    s["start"].append(start_t)
    s["end"].append(end_t)
    s["raw_mode"].append(raw)
    s["confidence"].append(_confidence(seg, chosen))
    status = seg.editConfirmationStatus
    s["confirmed"].append(None if status is None else status == "CONFIRMED")
    s["distance"].append(_NAN if distance is None else distance)
    for key, xy in (("0", start), ("1", end)):
        s["lat" + key].append(_NAN if xy is None else xy[0])
        s["lon" + key].append(_NAN if xy is None else xy[1])


def _orphan(c: _Collector, start_t, start, end_t, end, record: str, ctx: ParseContext) -> None:  # type: ignore[no-untyped-def]
    """An item missing one of its times: keep its position at the time it has, as a point."""
    if start_t is None and end_t is None:
        ctx.reject(record, "no start or end time")
        return
    kept = c.point(start_t, start, None, record) if start_t is not None else c.point(end_t, end, None, record)
    if kept:
        c.orphans += 1
    else:
        ctx.skip()


def _add_visit(c: _Collector, visit: _Visit, record: str, ctx: ParseContext) -> None:
    start_t, end_t = _times(visit.duration)
    loc = visit.location or _Place()
    xy = _xy(loc)
    source = loc
    if xy is None and visit.centerLatE7 is not None and visit.centerLngE7 is not None:
        xy = (visit.centerLatE7, visit.centerLngE7)
    if xy is None and visit.otherCandidateLocations:
        source = visit.otherCandidateLocations[0]
        xy = _xy(source)
    c.raw_path(visit.simplifiedRawPath, record, ctx)
    if start_t is None or end_t is None:
        _orphan(c, start_t, xy, end_t, xy, record, ctx)
        return
    v = c.vis
    v["record"].append(record)
    v["start"].append(start_t)
    v["end"].append(end_t)
    v["lat"].append(_NAN if xy is None else xy[0])
    v["lon"].append(_NAN if xy is None else xy[1])
    v["place_id"].append(loc.placeId or source.placeId)
    v["name"].append(loc.name or source.name)
    v["semantic_type"].append(place_type(loc.semanticType or visit.semanticType or source.semanticType))
    conf = fraction(visit.visitConfidence, percent=True)
    if conf is None and visit.placeConfidence in CONFIDENCE:
        conf = CONFIDENCE[visit.placeConfidence]  # type: ignore[index]
    v["confidence"].append(conf)


def _span(ctx: ParseContext, rows: dict[str, list]) -> tuple[pa.Array, pa.Array, pa.Array, np.ndarray]:
    """UTC start/end, start offset, and a mask of rows whose times parse (the rest rejected)."""
    ts0, off0 = utc_times(pa.array(rows["start"], pa.string()))
    ts1, _ = utc_times(pa.array(rows["end"], pa.string()))
    ok = pc.and_(pc.is_valid(ts0), pc.is_valid(ts1)).to_numpy(zero_copy_only=False)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        reason = f"unreadable time in {rows['start'][i]!r} → {rows['end'][i]!r}"
        ctx.reject(rows["record"][i], reason, count=int((~ok).sum()))
    return ts0, ts1, off0, ok


def _segments_table(c: _Collector, ctx: ParseContext) -> pa.Table | None:
    s = c.seg
    if not s["start"]:
        return None
    ts0, ts1, off0, ok = _span(ctx, s)
    lat0, lon0 = _degrees(s["lat0"], s["lon0"])
    lat1, lon1 = _degrees(s["lat1"], s["lon1"])
    distance = distance_or_great_circle(np.array(s["distance"], dtype=np.float64), lat0, lon0, lat1, lon1)
    mode = [_mode(raw, ctx) for raw in s["raw_mode"]]
    table = typed_table(SOURCE_SEGMENTS, {
        "started_at": ts0, "finished_at": ts1, "mode": mode, "raw_mode": s["raw_mode"],
        "confidence": s["confidence"], "confirmed": s["confirmed"], "distance_m": distance,
        "start_lat": lat0, "start_lon": lon0, "end_lat": lat1, "end_lon": lon1,
        "tz_offset_min": off0, "origin": [FORMAT] * len(mode),
    })  # fmt: skip
    return table.filter(pa.array(ok))


def _degrees(lat_e7: list[float], lon_e7: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """E7 lists → plausible degrees (NaN where missing or impossible)."""
    return plausible(e7_to_degrees(np.array(lat_e7), E7_LAT_WRAP), e7_to_degrees(np.array(lon_e7), E7_LON_WRAP))


def _mode(raw: str | None, ctx: ParseContext) -> str:
    mode, known = modes.map_mode("google_semantic", raw)
    if not known and raw is not None:
        ctx.unmapped(raw)
    return (mode or Mode.UNKNOWN).value


def _visits_table(c: _Collector, ctx: ParseContext) -> pa.Table | None:
    v = c.vis
    if not v["start"]:
        return None
    ts0, ts1, off0, ok = _span(ctx, v)
    lat, lon = _degrees(v["lat"], v["lon"])
    table = typed_table(SOURCE_VISITS, {
        "started_at": ts0, "finished_at": ts1, "lat": lat, "lon": lon,
        "place_id": v["place_id"], "name": v["name"], "semantic_type": v["semantic_type"],
        "confidence": v["confidence"], "tz_offset_min": off0, "origin": [FORMAT] * len(ok),
    })  # fmt: skip
    return table.filter(pa.array(ok))


def _points_table(c: _Collector, ctx: ParseContext) -> pa.Table | None:
    p = c.pts
    if not p["ts"]:
        return None
    ts, off = utc_times(pa.array(p["ts"], pa.string()))
    ok = ts.is_valid().to_numpy(zero_copy_only=False)
    if not ok.all():
        i = int(np.flatnonzero(~ok)[0])
        ctx.reject(p["record"][i], f"unreadable time {p['ts'][i]!r}", count=int((~ok).sum()))
    table = typed_table(POINTS, {
        "ts": ts, "lat": e7_to_degrees(np.array(p["lat"]), E7_LAT_WRAP),
        "lon": e7_to_degrees(np.array(p["lon"]), E7_LON_WRAP),
        "accuracy_m": np.array(p["accuracy"], dtype=np.float32), "tz_offset_min": off,
        "record": p["record"],
    })  # fmt: skip
    return table.filter(pa.array(ok))


def _walk(items: list[msgspec.Raw], c: _Collector, ctx: ParseContext) -> None:
    for i, raw in enumerate(items):
        record = f"timelineObjects[{i}]"
        try:
            item = decode_repairing(_ITEM, raw, ctx.warnings)
        except msgspec.DecodeError as exc:
            ctx.reject(record, str(exc))
            continue
        if item.activitySegment is not None:
            _add_segment(c, item.activitySegment, f"{record}.activitySegment", ctx)
        elif item.placeVisit is not None:
            _add_visit(c, item.placeVisit, f"{record}.placeVisit", ctx)
        else:
            ctx.skip()


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """A monthly Semantic Location History file → one batch of segments, visits and points."""
    c = _Collector()
    with json_buffer(source) as (buf, _mm, bom):
        try:
            items = decode_repairing(_ROOT, buf, ctx.warnings).timelineObjects
        except msgspec.DecodeError as exc:
            raise decode_error(source.name, exc, buf, bom=bom, what=WHAT) from None
        _walk(items, c, ctx)
        del items  # they point into the mapped file
        ctx.report_progress(len(buf) + bom)
    if c.orphans:
        ctx.warnings.append(
            f"{c.orphans} segment(s) or visit(s) without an end or start time were imported as single points"
        )
    batch = Batch(
        points=_points_table(c, ctx), source_segments=_segments_table(c, ctx), source_visits=_visits_table(c, ctx)
    )
    if batch.points is not None or batch.source_segments is not None or batch.source_visits is not None:
        yield batch
