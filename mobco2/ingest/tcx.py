"""TCX (Garmin Training Center XML) activities (input-formats.md §2.6).

Read, by local element name: every ``Activity`` (its ``Sport`` attribute becomes the mode hint
of its points), ``Lap/Track/Trackpoint`` with ``Time`` (UTC ISO 8601), ``Position``
(``LatitudeDegrees``, ``LongitudeDegrees``), ``AltitudeMeters`` and the Garmin ``ActivityExtension``
``TPX/Speed`` (m/s) when present. The first point of every ``Track`` starts a segment.

Skipped and counted (``ctx.skip``): trackpoints without a ``Position`` (indoor activities, or
a watch that lost GPS), and every trackpoint of a ``Course``: a course is a planned route whose
times are made up by the planner, not a journey.

``Sport`` is one of ``Running``, ``Biking``, ``Other``; ``Other`` is TCX's catch-all for any
activity, so it gives no hint rather than the ``other`` mode.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from mobco2.ingest import modes, times
from mobco2.ingest.base import Batch, ParseContext, Source, finite_float, points_schema
from mobco2.ingest.kml import walk_xml

FORMAT = "tcx"
DESCRIPTION = "Garmin TCX activities (Trackpoints with Sport as the mode hint)"

BATCH_ROWS = 50_000
NO_HINT_SPORTS = frozenset({"other"})

_ROOT = re.compile(
    rb"\A(?:<\?[^>]*\?>\s*|<!--.*?-->\s*|<!DOCTYPE(?:[^\[>]|\[.*?\])*>\s*)*"
    rb"<(?:[A-Za-z_][\w.-]*:)?TrainingCenterDatabase[\s/>]",
    re.S,
)

_SCHEMA = points_schema("ts", "lat", "lon", "altitude_m", "speed_mps", "tz_offset_min", "mode_hint", "segment_start")


def sniff(head: bytes) -> bool:
    """A ``<TrainingCenterDatabase>`` root element (after an optional prolog)."""
    return bool(_ROOT.match(head))


@dataclass
class _Trackpoint:
    time: str | None = None
    lat: str | None = None
    lon: str | None = None
    alt: str | None = None
    speed: str | None = None


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """Trackpoints of every activity, as batches of up to :data:`BATCH_ROWS` rows."""
    state = _TcxState(ctx)
    for _ in walk_xml(source, ctx, state.start, state.end):
        if len(state.out) >= BATCH_ROWS:
            yield Batch(points=state.out.flush(ctx))
    if len(state.out):
        yield Batch(points=state.out.flush(ctx))
    if state.course_points:
        ctx.warnings.append(f"{state.course_points} trackpoints of planned Courses skipped (routes, not journeys)")


class _TcxState:
    """The open Activity, Track and Trackpoint, and the points read so far."""

    def __init__(self, ctx: ParseContext) -> None:
        self.ctx = ctx
        self.out = _Columns()
        self.mode: str | None = None
        self.in_course = False
        self.new_segment = True
        self.point: _Trackpoint | None = None
        self.n_points = self.course_points = 0

    def start(self, tag: str, parent: str, attrs: dict[str, str]) -> None:
        if tag == "Trackpoint":
            self.n_points += 1
            self.point = _Trackpoint()
        elif tag == "Track":
            self.new_segment = True
        elif tag == "Activity":
            self.mode = _sport_hint(attrs.get("Sport"), self.ctx)
        elif tag == "Course":
            self.in_course = True

    def end(self, tag: str, parent: str, text: str | None) -> None:
        point = self.point
        if point is not None:
            if tag == "Time" and parent == "Trackpoint":
                point.time = text
            elif tag == "LatitudeDegrees" and parent == "Position":
                point.lat = text
            elif tag == "LongitudeDegrees" and parent == "Position":
                point.lon = text
            elif tag == "AltitudeMeters" and parent == "Trackpoint":
                point.alt = text
            elif tag == "Speed" and parent == "TPX":
                point.speed = text
            elif tag == "Trackpoint":
                if self.in_course:
                    self.course_points += 1
                    self.ctx.skip()
                elif _add_point(point, self.mode, self.new_segment, f"Trackpoint {self.n_points}", self.out, self.ctx):
                    self.new_segment = False
                self.point = None
        elif tag == "Activity":
            self.mode = None
        elif tag == "Course":
            self.in_course = False


def _sport_hint(sport: str | None, ctx: ParseContext) -> str | None:
    if not sport or sport.strip().lower() in NO_HINT_SPORTS:
        return None
    mode, known = modes.map_mode("free_text", sport)
    if not known:
        ctx.unmapped(sport)
    return mode.value if mode is not None else None


def _add_point(
    point: _Trackpoint, mode: str | None, new_segment: bool, record: str, out: _Columns, ctx: ParseContext
) -> bool:
    """Add one trackpoint; False when it had no position (skipped) or was rejected."""
    if point.lat is None or point.lon is None:
        ctx.skip()
        return False
    try:
        lat, lon = float(point.lat), float(point.lon)
    except ValueError:
        ctx.reject(record, f"invalid Position ({point.lat!r}, {point.lon!r})")
        return False
    if not (np.isfinite(lat) and np.isfinite(lon)):
        ctx.reject(record, f"invalid Position ({point.lat!r}, {point.lon!r})")
        return False
    out.add(point, lat, lon, mode, new_segment, record)
    return True


class _Columns:
    """Trackpoints gathered from the XML, converted to Arrow a batch at a time."""

    def __init__(self) -> None:
        self._clear()

    def _clear(self) -> None:
        self.time: list[str | None] = []
        self.lat: list[float] = []
        self.lon: list[float] = []
        self.alt: list[float | None] = []
        self.speed: list[float | None] = []
        self.mode: list[str | None] = []
        self.segment_start: list[bool] = []
        self.record: list[str] = []

    def __len__(self) -> int:
        return len(self.record)

    def add(
        self, point: _Trackpoint, lat: float, lon: float, mode: str | None, segment_start: bool, record: str
    ) -> None:
        self.time.append(point.time)
        self.lat.append(lat)
        self.lon.append(lon)
        self.alt.append(finite_float(point.alt))
        speed = finite_float(point.speed)
        self.speed.append(speed if speed is None or speed >= 0 else None)
        self.mode.append(mode)
        self.segment_start.append(segment_start)
        self.record.append(record)

    def flush(self, ctx: ParseContext) -> pa.Table:
        raw = pa.array(self.time, pa.string())
        parsed = times.iso_to_utc(raw)
        # A trackpoint always has a Time in the schema: missing or unreadable, it is rejected.
        bad = parsed.ts.is_null().to_numpy(zero_copy_only=False)
        table = pa.Table.from_arrays(
            [
                parsed.ts,
                pa.array(self.lat, pa.float64()),
                pa.array(self.lon, pa.float64()),
                pa.array(self.alt, pa.float32()),
                pa.array(self.speed, pa.float32()),
                parsed.offset_min,
                pa.array(self.mode, pa.string()),
                pa.array(self.segment_start, pa.bool_()),
                pa.array(self.record, pa.string()),
            ],
            schema=_SCHEMA,
        )
        table = ctx.reject_rows(
            table, bad, lambda i: self.record[i], lambda i: f"missing or unreadable Time {self.time[i]!r}"
        )
        self._clear()
        return table
