"""Stay (dwell) detection over whole numpy columns.

Definition (the classic sliding "staypoint" rule, made exact and fast):

* from an **anchor** point, the run goes on while points stay within ``radius_m`` of the
  anchor; the run is a stay when it lasts at least ``min_duration_s``. The next anchor is the
  first point after the run (after a stay) or the next point (after a failed run) — exactly
  the sequential algorithm of trackintel's ``generate_staypoints(method="sliding")`` and
  e-mission's dwell filter;
* **signal loss**: a gap of at least ``gap_s`` moving slower than ``gap_stay_max_speed_mps``
  is a stay by itself (iOS records only while moving; Android trackers switch off when they
  judge you arrived), from the last point before the gap to the first one after it. A gap that
  moves faster is a leg without points (a flight, a tunnel): never a stay;
* **edges of the data**: a run touching the first or the last point needs only
  ``edge_min_duration_s`` (the tracker stopped because you were not moving);
* **merge**: stays that overlap, or whose centres lie within ``radius_m`` and are less than
  ``merge_gap_s`` apart or separated by at most ``GLITCH_MAX_POINTS`` fixes (between stays of
  several fixes each), are one stay (a GPS jump or a walk to the next room splits a sliding run;
  a phone at rest that logs every five minutes turns a single 150 m jump into ten minutes away).

How it stays vectorised (no loop per point): the sliding rule's runs come from
:func:`mobco2.segment.sliding.sliding_runs` (a necessary test over every point, then exact runs
for the few candidates the sequential rule can reach); signal-loss stays and merging work on
those runs; stay centres come from sums between run boundaries (one streaming ``reduceat``), and
only the points within ``TRIM_MAX_S`` of a stay's ends are looked at to trim it.

Distances are equirectangular around each anchor (exact to < 0.1 % at these scales), with the
sequential rule's own formula wherever a decision is final, so the result is the sequential
rule's, point for point (a property test checks it against a plain loop).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from mobco2.schema import MODES
from mobco2.segment.clean import NO_MODE, CleanStats, Track, clean, concat_tracks, to_arrow, track_from_table
from mobco2.segment.geo import haversine_m, local_d2_m2
from mobco2.segment.params import SegmentParams
from mobco2.segment.sliding import sliding_runs

if TYPE_CHECKING:
    import pandas as pd

CORE_SHARE = 0.5
TRIM_MAX_S = 120.0
"""A stay's ends are trimmed to points within CORE_SHARE of ``radius_m`` of its centre, when
what is trimmed lasts at most TRIM_MAX_S (walking in or out of the radius)."""
_FOOT_HINT = np.array([m in ("walk", "run") for m in MODES])
ARRIVAL_NEXT_FIX_S = 60.0
"""A moving fix extends a trip into the stay after it only if the next fix follows within this."""
DEPARTURE_LOOK_S = 300.0
DEPARTURE_SPEED_RANGE = (0.5, 40.0)
DEPARTURE_MIN_STILL_S = 60.0
"""A departure's speed comes from the fixes within DEPARTURE_LOOK_S after the gap, clipped; a gap
whose travel leaves less than DEPARTURE_MIN_STILL_S still was slow travel, not a stay."""
GLITCH_MAX_POINTS = 2
GLITCH_MIN_STAY_POINTS = 5
"""Two stays at one place with at most GLITCH_MAX_POINTS fixes between them, each holding at least
GLITCH_MIN_STAY_POINTS, are one stay interrupted by a GPS jump (see ``find_stays``)."""


@dataclass
class Stays:
    """Stays as index ranges into a :class:`Track` (``first``..``last`` inclusive)."""

    first: np.ndarray
    last: np.ndarray
    start_us: np.ndarray
    end_us: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    n_points: np.ndarray
    arrived_by: np.ndarray | None = None  # index into ARRIVAL_RULES
    left_by: np.ndarray | None = None  # index into DEPARTURE_RULES

    def __post_init__(self) -> None:
        for name in ("arrived_by", "left_by"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(len(self.first), np.int8))

    def __len__(self) -> int:
        return len(self.first)


class _RangeMeans:
    """Means of columns over index ranges [first, last] whose ends come from a fixed set.

    Merging stays only unions ranges, so every range ever asked about starts at one of the
    initial ``first`` and ends at one of the initial ``last``: sums between consecutive such
    boundaries (one streaming ``reduceat``) and their prefix sums replace a prefix sum over the
    whole track, several times cheaper on a person-decade.
    """

    def __init__(self, columns: list[np.ndarray], first: np.ndarray, last: np.ndarray) -> None:
        n = columns[0].size
        self.bounds = np.unique(np.concatenate([first, last + 1]))
        inner = self.bounds[self.bounds < n]
        # prefix[i]: the sum from bounds[0] up to bounds[i] (the last bound may be n)
        self.prefix = [np.concatenate([[0.0], np.cumsum(np.add.reduceat(c, inner))]) for c in columns]

    def means(self, first: np.ndarray, last: np.ndarray) -> list[np.ndarray]:
        i = np.searchsorted(self.bounds, first)
        j = np.searchsorted(self.bounds, last + 1)
        return [(p[j] - p[i]) / (last - first + 1) for p in self.prefix]


class _Centres:
    """Stay centres: the mean of the points, with longitudes near the antimeridian averaged on
    [0°, 360°) — the plain mean of 179.9997 and -179.9997 is Greenwich, half a world away.

    Only a track that comes near ±180° pays for it: a stay with points both east of 90°E and
    west of 90°W (at one place, so on both sides of the antimeridian) takes the shifted mean.
    """

    def __init__(self, lat: np.ndarray, lon: np.ndarray, first: np.ndarray, last: np.ndarray, wrap: bool) -> None:
        self.wrap = wrap
        columns = [lat, lon]
        if wrap:
            columns += [np.mod(lon, 360.0), (lon < -90.0).astype(np.float64), (lon > 90.0).astype(np.float64)]
        self.sums = _RangeMeans(columns, first, last)

    def means(self, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = self.sums.means(first, last)
        clat, clon = found[0], found[1]
        if self.wrap:
            lon360, west, east = found[2:]
            across = (west > 0) & (east > 0)
            clon = np.where(across, (lon360 + 180.0) % 360.0 - 180.0, clon)
        return clat, clon


def _window_indices(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, window number) of every index in the windows [lo, hi), window by window."""
    lengths = hi - lo
    total = int(lengths.sum())
    win = np.repeat(np.arange(lo.size), lengths)
    return lo[win] + (np.arange(total) - (np.cumsum(lengths) - lengths)[win]), win


def _trim_to_core(track: Track, first, last, end_us, clat, clon, core_m: float, wrap: bool = False):
    """Move each stay's ends in to its first/last point within ``core_m`` of its centre.

    A sliding run keeps going until the walk away leaves the radius (about 75 s of walking for
    100 m); trimming gives that time back to the trip. Only what lies within TRIM_MAX_S of each
    end can be trimmed, so only those points are looked at.
    """
    if first.size == 0:
        return first, last, end_us
    t = track.t_us
    max_us = int(TRIM_MAX_S * 1e6)
    kx = np.cos(np.radians(clat))

    def core_points(lo, hi):
        idx, win = _window_indices(lo, hi)
        core = local_d2_m2(clat[win], clon[win], kx[win], track.lat[idx], track.lon[idx], wrap) <= core_m * core_m
        return idx[core], win[core]

    # the first core point within TRIM_MAX_S of the start, the last one within it of the end
    head_hi = np.minimum(np.searchsorted(t, t[first] + max_us, side="right"), last + 1)
    idx, win = core_points(first, head_hi)
    new_first = first.copy()
    found = np.r_[True, win[1:] != win[:-1]] if win.size else np.empty(0, bool)
    new_first[win[found]] = idx[found]
    tail_lo = np.maximum(np.searchsorted(t, t[last] - max_us, side="left"), first)
    idx, win = core_points(tail_lo, last + 1)
    new_last = last.copy()
    latest = np.r_[win[1:] != win[:-1], True] if win.size else np.empty(0, bool)
    extended = end_us > t[last]  # the stay goes on across a still gap after its last point
    # trim only what looks like walking in or out: a tail lasting longer is a slow drift or a
    # pause in recording, still part of the stay
    tail_ok = ~extended[win[latest]]
    new_last[win[latest][tail_ok]] = idx[latest][tail_ok]
    new_end = np.where(extended, end_us, t[new_last])
    return new_first, new_last, new_end


def _trim_to_hints(track: Track, first, last, end_us, params: SegmentParams):
    """Move each stay's start past the last fix the phone's motion activity calls moving.

    A sliding run starts as soon as the fixes come within ``radius_m`` of where they will dwell:
    the last minute or two of walking in (or out) is counted as stay. Where the source reports
    motion activity (an activity of at least ``arrival_hint_min_conf`` that is not still), the
    trip goes on up to the last fix so marked within ``arrival_hint_max_s`` of the stay's start.
    Without hints nothing changes. (The same at departures moved long stays' ends minutes early
    on real days: a phone on a desk reports walking now and then.)
    """
    if first.size == 0 or params.arrival_hint_max_s <= 0:
        return first, last, end_us
    t = track.t_us
    # a moving fix tells about the time up to the next fix only when that comes soon: a phone that
    # records only while moving (iOS) has its last moving fix minutes before the next one
    moving = _moving_hints(track, params)
    if moving is None:
        return first, last, end_us
    max_us = int(params.arrival_hint_max_s * 1e6)
    # after the last moving fix among the head, leaving the stay one fix at least
    head_hi = np.minimum(np.searchsorted(t, t[first] + max_us, side="right"), last)
    idx, win = _window_indices(first, head_hi)
    mv = moving[idx]
    new_first = first.copy()
    if mv.any():
        i_mv, w_mv = idx[mv], win[mv]
        latest = np.r_[w_mv[1:] != w_mv[:-1], True]
        new_first[w_mv[latest]] = i_mv[latest] + 1
    return new_first, last, end_us


def _moving_hints(track: Track, params: SegmentParams) -> np.ndarray | None:
    """Per fix, whether the source's motion activity calls it moving (confidently, and with the
    next fix within ARRIVAL_NEXT_FIX_S: the activity speaks for the time up to it); None: no hints."""
    if "hint" in track._filled:
        return None
    moving = (track.hint != NO_MODE) & (np.nan_to_num(track.hint_conf, nan=1.0) >= params.arrival_hint_min_conf)
    moving[:-1] &= np.diff(track.t_us) <= int(ARRIVAL_NEXT_FIX_S * 1e6)
    moving[-1] = False
    return moving if moving.any() else None


def _drop_driven_runs(track: Track, first: np.ndarray, last: np.ndarray, params: SegmentParams):
    """Sliding runs without the short ones the phone's motion activity calls riding.

    Five minutes within 100 m is a stay by the sliding rule, and so is a vehicle crawling in a
    jam or waiting at lights. When the source says the person was in a vehicle or on a bike for
    at least ``vehicle_stay_share`` of a run lasting at most ``vehicle_stay_max_s``, the run is
    travel. Walking hints do not count: on the real days, 3-5 minute errands (a shop, a stop to
    talk) are walked, and dropping those runs lost real stays. Without hints nothing changes.
    """
    if first.size == 0 or params.vehicle_stay_max_s <= 0:
        return first, last
    moving = _moving_hints(track, params)
    if moving is None:
        return first, last
    moving &= ~_FOOT_HINT[np.maximum(track.hint, 0)]  # a walk round a market is an errand
    t = track.t_us
    dt = np.diff(t).astype(np.float64)
    cum = np.concatenate([[0.0], np.cumsum(np.where(moving[:-1], dt, 0.0))])
    dur = (t[last] - t[first]).astype(np.float64)
    share = (cum[last] - cum[first]) / np.maximum(dur, 1.0)
    drop = (dur <= params.vehicle_stay_max_s * 1e6) & (share >= params.vehicle_stay_share)
    return first[~drop], last[~drop]


def _gaps(track: Track, params: SegmentParams) -> np.ndarray:
    """Indices ``g`` of the gaps (g, g + 1) long enough to be examined as signal loss: at least
    ``gap_s``, or ``paused_gap_s`` before the first point of a new source track segment (the
    recorder paused because the phone judged the trip over: e-mission's ``stopped_moving``)."""
    dt = np.diff(track.t_us)
    long = dt >= int(params.gap_s * 1e6)
    if "seg_start" not in track._filled:
        long |= track.seg_start[1:] & (dt >= int(params.paused_gap_s * 1e6))
    return np.flatnonzero(long)


def add_departures(track: Track, params: SegmentParams) -> tuple[Track, np.ndarray]:
    """``track`` with a departure point in each still gap that ends somewhere else.

    A phone that stops recording at a place (iOS records only while moving; Android's e-mission
    sleeps in a geofence) wakes up once you are already some way off: the first fix after the
    gap lies ``d`` metres from the last one before it. When ``d`` exceeds ``radius_m`` and the gap
    is still (slower than ``gap_stay_max_speed_mps`` overall), you stayed at the first place and
    then travelled ``d``: the departure is put ``d / v`` seconds before the first fix, at the
    place, ``v`` being the trip's speed over its first fixes (``departure_speed_mps`` when they
    do not tell), so that the stay ends
    there and the trip starts there instead of the whole gap being one stay at one of the ends.
    Returns the new track and the indices of the departure points in it (for :func:`find_stays`:
    the time before each is still, however short what is left of the gap).
    """
    n = len(track)
    none = np.empty(0, np.int64)
    if n < 2 or params.departure_speed_mps <= 0:
        return track, none
    g = _gaps(track, params)
    if g.size == 0:
        return track, none
    t, lat, lon = track.t_us, track.lat, track.lon
    d = haversine_m(lat[g], lon[g], lat[g + 1], lon[g + 1])
    dt_s = (t[g + 1] - t[g]) * 1e-6
    sel = (d > params.radius_m) & (d / dt_s <= params.gap_stay_max_speed_mps) & ~track.moving[g + 1]
    if not sel.any():
        return track, none
    g, d = g[sel], d[sel]
    # the speed of the trip as its first fixes after the gap show it (path over time, as e-mission
    # extrapolates a trip's start), within DEPARTURE_SPEED_RANGE; ``departure_speed_mps`` if unseen
    step = np.concatenate([[0.0], np.cumsum(haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:]))])
    a = g + 1
    b = np.minimum(np.searchsorted(t, t[a] + int(DEPARTURE_LOOK_S * 1e6), side="right") - 1, n - 1)
    span_s = (t[b] - t[a]) * 1e-6
    v = np.where(span_s > 0, (step[b] - step[a]) / np.maximum(span_s, 1e-3), params.departure_speed_mps)
    v = np.clip(v, *DEPARTURE_SPEED_RANGE)
    travel_us = (d / v * 1e6).astype(np.int64)
    # a gap that the travel alone fills was slow travel: no stay to end in it
    keep = t[g + 1] - travel_us >= t[g] + int(DEPARTURE_MIN_STILL_S * 1e6)
    if not keep.any():
        return track, none
    g, travel_us = g[keep], travel_us[keep]
    dep = track.take(g + 1)  # the departure's mode hint is the trip's
    dep.t_us = t[g + 1] - travel_us
    dep.lat, dep.lon = lat[g].copy(), lon[g].copy()
    dep.moving = np.ones(g.size, bool)  # the first point of the trip: no sliding run takes it in
    dep._filled.discard("moving")
    if "accuracy_m" not in dep._filled:
        dep.accuracy_m = track.accuracy_m[g].copy()
    if "speed_mps" not in dep._filled:
        dep.speed_mps = np.full(g.size, np.nan)
    # each departure lands between its gap's two fixes: in the merged track, after g + k earlier ones
    return concat_tracks([track, dep]), g + 1 + np.arange(g.size)


def find_stays(track: Track, params: SegmentParams, departures: np.ndarray | None = None) -> Stays:
    """Stays of a cleaned :class:`Track` (see the module docstring); ``departures`` are the
    departure points :func:`add_departures` put in it."""
    t, lat, lon = track.t_us, track.lat, track.lon
    n = t.size
    first, last = sliding_runs(track, params)
    first, last = _drop_driven_runs(track, first, last, params)
    end_us = t[last] if n else np.empty(0, np.int64)
    if n > 1:
        gap = _gaps(track, params)
        if departures is not None and departures.size:
            gap = np.union1d(gap, departures - 1)
        if gap.size:
            d = haversine_m(lat[gap], lon[gap], lat[gap + 1], lon[gap + 1])
            dt_gap = np.maximum((t[gap + 1] - t[gap]) * 1e-6, 1e-3)
            still = (d / dt_gap <= params.gap_stay_max_speed_mps) & ~track.moving[gap + 1]
            if departures is not None and departures.size:
                still |= np.isin(gap + 1, departures)
            g = gap[still]
            first = np.concatenate([first, g])
            last = np.concatenate([last, g])
            end_us = np.concatenate([end_us, t[g + 1]])
            order = np.lexsort((last, first))
            first, last, end_us = first[order], last[order], end_us[order]
    if first.size == 0:
        z = np.empty(0, np.int64)
        return Stays(z, z, z, z, np.empty(0), np.empty(0), z)
    wrap = track.wraps()
    centres = _Centres(lat, lon, first, last, wrap)
    merge_us = params.merge_gap_s * 1e6
    cum_moving = np.concatenate([[0], np.cumsum(track.moving)]) if track.has_moving() else None
    for _ in range(3):
        clat, clon = centres.means(first, last)
        if first.size < 2:
            break
        close = haversine_m(clat[:-1], clon[:-1], clat[1:], clon[1:]) <= params.radius_m
        # against everything before, not just the previous stay: a long run may contain several
        overlap = first[1:] <= np.maximum.accumulate(last)[:-1]
        soon = (t[first[1:]] - np.maximum.accumulate(end_us)[:-1]) <= merge_us
        # one or two fixes between two well-sampled stays at the same place are a GPS jump,
        # however long the sampling interval (a phone at rest logs every few minutes), not a trip
        # there and back; a source segment's own end points between them are a real trip
        prev_last = np.maximum.accumulate(last)[:-1]
        npts = last - first + 1
        glitch = first[1:] - prev_last - 1 <= GLITCH_MAX_POINTS
        glitch &= np.minimum(npts[:-1], npts[1:]) >= GLITCH_MIN_STAY_POINTS
        if cum_moving is not None:
            glitch &= cum_moving[first[1:]] == cum_moving[prev_last + 1]
        join = overlap | (close & (soon | glitch))
        if not join.any():
            break
        starts = np.flatnonzero(np.r_[True, ~join])
        first = first[starts]
        last = np.maximum.reduceat(last, starts)
        end_us = np.maximum.reduceat(end_us, starts)
    clat, clon = centres.means(first, last)
    first, last, end_us = _trim_to_core(track, first, last, end_us, clat, clon, params.radius_m * CORE_SHARE, wrap)
    before_hints = first
    first, last, end_us = _trim_to_hints(track, first, last, end_us, params)
    arrived, left = _stay_rules(track, first, last, end_us, first != before_hints, departures)
    return Stays(
        first=first,
        last=last,
        start_us=t[first],
        end_us=np.maximum(end_us, t[last]),
        lat=clat,
        lon=clon,
        n_points=(last - first + 1).astype(np.int64),
        arrived_by=arrived,
        left_by=left,
    )


ARRIVAL_RULES = (
    "dwell: the fixes stay within radius_m for min_duration_s (sliding rule)",
    "dwell, from the fix after the last one the phone's motion activity calls moving",
    "signal loss: a still gap of gap_s or more after the trip's last fix",
    "recorder pause: a still gap of paused_gap_s or more before the phone's next track segment",
    "a place visit in the source (the source's own visits are stays)",
)
DEPARTURE_RULES = (
    "the dwell's last fix (the next one is beyond radius_m)",
    "signal loss: the first fix after a still gap",
    "recorder pause: the first fix of the phone's next track segment",
    "a still gap ending elsewhere: departure dated d / speed before the first fix after it",
    "the end of a place visit in the source",
)
NO_ORIGIN = "the first fix of the data or after an untracked gap"
NO_DESTINATION = "the last fix of the data or before an untracked gap"
"""Why a trip ends at a stay (``Stays.arrived_by``) and starts from one (``Stays.left_by``)."""


def trip_end_rules(trip_ids, origin: np.ndarray, dest: np.ndarray, stays: Stays) -> dict[str, dict[str, str]]:
    """Per trip id, the rule that started it (``started_by``) and the one that ended it (``ended_by``)."""
    out = {}
    for tid, o, d in zip(trip_ids, origin.tolist(), dest.tolist(), strict=True):
        out[str(tid)] = {
            "started_by": DEPARTURE_RULES[int(stays.left_by[o])] if o >= 0 else NO_ORIGIN,
            "ended_by": ARRIVAL_RULES[int(stays.arrived_by[d])] if d >= 0 else NO_DESTINATION,
        }
    return out


def _stay_rules(track: Track, first, last, end_us, hinted, departures):
    """Per stay, the index into ARRIVAL_RULES and DEPARTURE_RULES of what bounds it."""
    t = track.t_us
    n = t.size
    over_gap = end_us > t[last]
    after = np.minimum(last + 1, n - 1)
    gap_only = over_gap & (first == last)
    paused = track.seg_start[after] & over_gap
    arrived = np.where(gap_only, np.where(paused, 3, 2), np.where(hinted, 1, 0)).astype(np.int8)
    dep = np.isin(after, departures) if departures is not None and departures.size else np.zeros(first.size, bool)
    left = np.where(over_gap, np.where(dep, 3, np.where(paused, 2, 1)), 0).astype(np.int8)
    return arrived, left


def detect_stays(
    points: pa.Table | pd.DataFrame,
    radius_m: float = 100.0,
    min_duration_s: float = 300.0,
    gap_s: float = 600.0,
    gap_stay_max_speed_mps: float = 0.5,
    *,
    edge_min_duration_s: float = 120.0,
    merge_gap_s: float = 300.0,
    max_accuracy_m: float = 200.0,
    clean_points: bool = True,
) -> pa.Table | pd.DataFrame:
    """Stays (dwells) of one user's points.

    Parameters
    ----------
    points : pandas.DataFrame or pyarrow.Table
        ``ts`` (UTC timestamps), ``lat``, ``lon`` in degrees; optional ``accuracy_m``.
    radius_m : float, metres
        A stay's points lie within this distance of its first point.
    min_duration_s : float, seconds
        Shortest stay.
    gap_s : float, seconds
        Signal loss at least this long, moving slower than ``gap_stay_max_speed_mps`` (m/s),
        is a stay by itself.
    edge_min_duration_s, merge_gap_s, max_accuracy_m
        See :class:`mobco2.segment.params.SegmentParams`.
    clean_points : bool
        Apply :func:`mobco2.segment.clean.clean` first (accuracy, order, duplicates, spikes).

    Returns
    -------
    The same kind of table as ``points``: ``started_at``, ``finished_at`` (UTC), ``lat``,
    ``lon`` (degrees, the mean of the stay's points), ``n_points``.

    Example
    -------
    >>> stays = detect_stays(df, radius_m=100, min_duration_s=300)  # doctest: +SKIP
    """
    params = SegmentParams(
        radius_m=radius_m,
        min_duration_s=min_duration_s,
        gap_s=gap_s,
        gap_stay_max_speed_mps=gap_stay_max_speed_mps,
        edge_min_duration_s=edge_min_duration_s,
        merge_gap_s=merge_gap_s,
        max_accuracy_m=max_accuracy_m,
    )
    track = track_from_table(to_arrow(points))
    if clean_points:
        track = clean(track, params, CleanStats())
    elif track.t_us.size > 1 and (np.diff(track.t_us) < 0).any():
        track = track.take(np.argsort(track.t_us, kind="stable"))
    stays = find_stays(track, params)
    table = pa.table(
        {
            "started_at": pa.array(stays.start_us, pa.timestamp("us", tz="UTC")),
            "finished_at": pa.array(stays.end_us, pa.timestamp("us", tz="UTC")),
            "lat": pa.array(stays.lat, pa.float64()),
            "lon": pa.array(stays.lon, pa.float64()),
            "n_points": pa.array(stays.n_points.astype(np.int32), pa.int32()),
        }
    )
    pandas = sys.modules.get("pandas")  # a DataFrame exists only once pandas is imported
    if pandas is not None and isinstance(points, pandas.DataFrame):
        return table.to_pandas()
    return table


__all__ = [
    "ARRIVAL_RULES", "DEPARTURE_RULES", "Stays", "add_departures", "detect_stays", "find_stays", "trip_end_rules",
]
