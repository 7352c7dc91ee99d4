"""The source's own segments and visits merged with the points by time (DESIGN §2, §4).

Google's semantic history and on-device Timeline, and e-mission's processed trips, already say
where the person stayed (``source_visits``) and how they moved between (``source_segments``,
with a mode and a distance). Segmentation keeps the points' geometry and the source's
knowledge, placed on one timeline by these rules (docs/segmentation-sources.md):

1. **A source visit is a stay** over its whole span, whatever the points do inside it: it always
   ends the trip before it and starts the next one, and is never a transfer joined over. A stay
   the points show that overlaps a visit is merged with it. The one exception is the user's:
   a visit lying wholly inside the span of one user label (``labels.origin == "user"`` with both
   times) was merged by the user into one trip, and is not a stay; nor is a stay the points
   show there.
2. **A stay the points show inside a source segment that moves** (a known mode other than
   ``unknown``: a traffic jam, a long red light, a phone that went quiet in the car) is not a stay:
   the source saw the movement. Visits win over segments where the two overlap.
3. **Time**: a source segment classes the steps inside it (foot or vehicle, see
   :mod:`mobco2.segment.trips`), so legs begin and end at its boundaries wherever points exist
   there. Its ends become points of their own (*anchors*) when no raw point lies within
   ``source_sparse_step_s`` of them, and a segment with fewer than two raw points inside
   becomes its two end points carrying its distance.
4. **Mode**: a source segment covering at least ``label_overlap`` of a leg decides its mode when
   no label does (:mod:`mobco2.segment.infer`, ``mode_source`` ``source``; the evidence level,
   ``source (confirmed)`` when the user confirmed it in the app or ``source (sensed)``, is in
   ``--explain``). When the points' speed profile alone says a
   mode of another family (walking speeds in a "car" segment), the source still decides and
   ``--explain`` reports the conflict.
5. **Distance**: a leg covered by source segments for at least ``label_overlap`` of its time
   and whose points are too sparse to measure its path (steps longer than
   ``source_sparse_step_s`` hold at least half its time) takes the source's distance for the
   covered time (each segment's distance pro rata of the time the leg shares with it) plus the
   points' distance for the rest. Otherwise the points measure it. Either way a leg is never
   shorter than the straight line between its ends (raised, and said so).

``--explain`` shows, per leg, ``distance_from`` (``points``, ``source``, ``straight line``) and
any ``conflict``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from mobco2.schema import MODES
from mobco2.segment.clean import MODE_CODE, NO_MODE, Track, ts_to_us
from mobco2.segment.geo import haversine_m
from mobco2.segment.params import SegmentParams
from mobco2.segment.stays import ARRIVAL_RULES, DEPARTURE_RULES, Stays

FAMILY = {
    "walk": "foot", "run": "foot",
    "bike": "cycle", "ebike": "cycle", "escooter": "cycle",
    "scooter": "road", "moto": "road", "car": "road", "bus": "road", "coach": "road",
    "tram": "rail", "metro": "rail", "train": "rail", "rer": "rail", "intercity": "rail", "hsr": "rail",
    "plane": "air", "ferry": "water",
}
"""Mode families: a conflict is a disagreement across families, not car against bus."""
_CONFLICT_MIN_CONF = 0.6
_CONFLICT_MIN_POINTS = 10
"""Inference contradicts a source only with this confidence, from at least this many raw points."""

# order of synthetic points at one instant: a segment ends, then a visit ends, then one begins,
# then a segment begins (each stay and trip then holds its own ends)
_SEG_END, _VISIT_END, _VISIT_START, _SEG_START = 0, 1, 2, 3


@dataclass
class Visits:
    """Source visits as sorted arrays (UTC µs, degrees)."""

    start_us: np.ndarray
    end_us: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def __len__(self) -> int:
        return len(self.start_us)


@dataclass
class SourceSegments:
    """Source segments with a time span, sorted by start: mode code, distance, ends."""

    start_us: np.ndarray
    end_us: np.ndarray
    code: np.ndarray
    conf: np.ndarray
    distance_m: np.ndarray
    lat0: np.ndarray
    lon0: np.ndarray
    lat1: np.ndarray
    lon1: np.ndarray

    def __len__(self) -> int:
        return len(self.start_us)


@dataclass
class TimeConflicts:
    """Where the points and the source disagree in time, and how the rules resolved it."""

    start_us: np.ndarray
    end_us: np.ndarray
    text: np.ndarray  # object: a sentence for --explain

    @classmethod
    def of(cls, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> TimeConflicts:
        parts = [p for p in parts if p[0].size]
        if not parts:
            return cls(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, object))
        return cls(*(np.concatenate([p[i] for p in parts]) for i in range(3)))


def _hhmm(t_us: np.ndarray) -> list[str]:
    return [str(x)[11:16] for x in t_us.astype("datetime64[us]")]


def _floats(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.nan)
    return table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False).astype(float)


def read_segments(segments: pa.Table | None) -> SourceSegments | None:
    """The usable source segments (both times, end after start), sorted by start."""
    if segments is None or segments.num_rows == 0:
        return None
    s0, s1 = ts_to_us(segments.column("started_at")), ts_to_us(segments.column("finished_at"))
    modes = segments.column("mode").to_pylist()
    code = np.array([MODE_CODE.get(m, NO_MODE) if m != "unknown" else NO_MODE for m in modes], np.int16)
    conf = _floats(segments, "confidence")
    dist = _floats(segments, "distance_m")
    cols = [_floats(segments, c) for c in ("start_lat", "start_lon", "end_lat", "end_lon")]
    ok = (s1 > s0) & (s0 != np.iinfo(np.int64).min)
    order = np.flatnonzero(ok)[np.argsort(s0[ok], kind="stable")]
    return SourceSegments(s0[order], s1[order], code[order], conf[order], dist[order], *(c[order] for c in cols))


def read_visits(visits: pa.Table | None, labels: pa.Table | None = None) -> Visits:
    """The source visits that are stays (rule 1): timed, placed, not merged away by the user."""
    empty = Visits(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0))
    if visits is None or visits.num_rows == 0:
        return empty
    v0, v1 = ts_to_us(visits.column("started_at")), ts_to_us(visits.column("finished_at"))
    lat, lon = _floats(visits, "lat"), _floats(visits, "lon")
    ok = (v1 > v0) & (v0 != np.iinfo(np.int64).min) & np.isfinite(lat) & np.isfinite(lon)
    ok &= ~merged_by_user(v0, v1, labels)
    order = np.flatnonzero(ok)[np.argsort(v0[ok], kind="stable")]
    if not order.size:
        return empty
    return Visits(v0[order], v1[order], lat[order], lon[order])


def merged_by_user(start_us: np.ndarray, end_us: np.ndarray, labels: pa.Table | None) -> np.ndarray:
    """Which spans lie wholly inside one user label's span: the user made one trip of them."""
    out = np.zeros(start_us.size, bool)
    if labels is None or not labels.num_rows or not {"started_at", "finished_at", "origin"} <= set(labels.column_names):
        return out
    user = np.array([o == "user" for o in labels.column("origin").to_pylist()], bool)
    l0, l1 = ts_to_us(labels.column("started_at")), ts_to_us(labels.column("finished_at"))
    timed = user & (l0 != np.iinfo(np.int64).min) & (l1 != np.iinfo(np.int64).min) & (l1 > l0)
    for a, b in zip(l0[timed].tolist(), l1[timed].tolist(), strict=True):  # a user's few labels
        out |= (start_us >= a) & (end_us <= b)
    return out


def synthetic_points(track: Track, segs: SourceSegments | None, visits: Visits, params: SegmentParams) -> Track | None:
    """Points the source adds to the track (rules 1 and 3): visit ends, segment ends.

    A segment with fewer than two raw points inside becomes its two ends, the end one carrying
    the segment's distance (its ``step_m``); a segment whose raw points stop short of an end by
    more than ``source_sparse_step_s`` gets an anchor there (no distance of its own). End points
    are ``moving``: a step into one is never a still gap.
    """
    parts: list[tuple[np.ndarray, ...]] = []  # (t, lat, lon, hint, conf, moving, step_m, rank)
    t = track.t_us
    if segs is not None and len(segs):
        coords = np.stack([segs.lat0, segs.lon0, segs.lat1, segs.lon1])
        placed = np.all(np.isfinite(coords), axis=0)
        lo = np.searchsorted(t, segs.start_us)
        hi = np.searchsorted(t, segs.end_us, side="right")
        inside = hi - lo
        bare = placed & (inside < 2)
        gap = int(params.source_sparse_step_s * 1e6)
        first_in = t[np.minimum(lo, max(t.size - 1, 0))] if t.size else np.zeros(len(segs), np.int64)
        last_in = t[np.maximum(hi - 1, 0)] if t.size else np.zeros(len(segs), np.int64)
        anchor0 = placed & ~bare & (first_in - segs.start_us > gap)
        anchor1 = placed & ~bare & (segs.end_us - last_in > gap)
        dist = np.where(np.isfinite(segs.distance_m) & (segs.distance_m >= 0), segs.distance_m,
                        haversine_m(segs.lat0, segs.lon0, segs.lat1, segs.lon1))
        conf = np.where(np.isfinite(segs.conf), segs.conf, 0.7).astype(np.float32)
        start = bare | anchor0
        end = bare | anchor1
        n0, n1 = int(start.sum()), int(end.sum())
        parts.append((segs.start_us[start], segs.lat0[start], segs.lon0[start], segs.code[start], conf[start],
                      np.zeros(n0, bool), np.full(n0, np.nan), np.full(n0, _SEG_START)))
        parts.append((segs.end_us[end], segs.lat1[end], segs.lon1[end], segs.code[end], conf[end],
                      np.ones(n1, bool), np.where(bare[end], dist[end], np.nan), np.full(n1, _SEG_END)))
    if len(visits):
        n = len(visits)
        for when, rank in ((visits.start_us, _VISIT_START), (visits.end_us, _VISIT_END)):
            parts.append((when, visits.lat, visits.lon, np.full(n, NO_MODE, np.int16), np.full(n, np.nan, np.float32),
                          np.zeros(n, bool), np.full(n, np.nan), np.full(n, rank)))
    if not parts or sum(p[0].size for p in parts) == 0:
        return None
    cols = [np.concatenate([p[i] for p in parts]) for i in range(8)]
    order = np.lexsort((cols[7], cols[0]))
    t_us, lat, lon, hint, hconf, moving, step_m, _ = (c[order] for c in cols)
    return Track(t_us=t_us.astype(np.int64), lat=lat.astype(float), lon=lon.astype(float),
                 hint=hint.astype(np.int16), hint_conf=hconf.astype(np.float32), moving=moving.astype(bool),
                 step_m=step_m.astype(float))


VISIT_ARRIVAL = len(ARRIVAL_RULES) - 1
VISIT_DEPARTURE = len(DEPARTURE_RULES) - 1
"""The trip-end rules (``segment --explain``) of a stay that holds a source visit."""


def merge_visit_stays(
    track: Track, stays: Stays, visits: Visits, segs: SourceSegments | None, labels: pa.Table | None,
    params: SegmentParams,
) -> tuple[Stays, np.ndarray, TimeConflicts]:
    """Stays with the source visits in (rules 1 and 2), which of them hold a visit, and the
    disagreements in time those rules resolved."""
    t = track.t_us
    keep = ~merged_by_user(stays.start_us, stays.end_us, labels)
    conflicts = []
    if segs is not None and len(stays) and (segs.code != NO_MODE).any():
        moves = segs.code != NO_MODE
        ms0, ms1 = segs.start_us[moves], segs.end_us[moves]
        j = np.searchsorted(ms0, stays.start_us, side="right") - 1
        inside = keep & (j >= 0) & (stays.end_us <= ms1[np.maximum(j, 0)])
        keep &= ~inside
        modes = np.array(MODES, dtype=object)[segs.code[moves][np.maximum(j[inside], 0)]]
        mins = (stays.end_us[inside] - stays.start_us[inside]) / 60e6
        conflicts.append((stays.start_us[inside], stays.end_us[inside], np.array(
            [f"the points stand still {m:.0f} min from {h} inside the source's {mode} segment: not a stay "
             "(the source saw the movement)" for m, h, mode in zip(mins, _hhmm(stays.start_us[inside]), modes,
                                                                     strict=True)], dtype=object)))
    if not len(visits):
        kept = Stays(*(getattr(stays, f)[keep] for f in Stays.__dataclass_fields__))
        return kept, np.zeros(len(kept), bool), TimeConflicts.of(conflicts)
    vf = np.searchsorted(t, visits.start_us)
    vl = np.searchsorted(t, visits.end_us, side="right") - 1
    conflicts.append(_moving_visits(track, visits, vf, vl, params))
    first = np.concatenate([stays.first[keep], vf])
    last = np.concatenate([stays.last[keep], vl])
    end_us = np.concatenate([stays.end_us[keep], visits.end_us])
    lat = np.concatenate([stays.lat[keep], visits.lat])
    lon = np.concatenate([stays.lon[keep], visits.lon])
    arrived = np.concatenate([stays.arrived_by[keep], np.full(len(visits), VISIT_ARRIVAL, np.int8)])
    left = np.concatenate([stays.left_by[keep], np.full(len(visits), VISIT_DEPARTURE, np.int8)])
    is_visit = np.r_[np.zeros(int(keep.sum()), bool), np.ones(len(visits), bool)]
    ok = last >= first
    cols = (first, last, end_us, lat, lon, is_visit, arrived, left)
    first, last, end_us, lat, lon, is_visit, arrived, left = (a[ok] for a in cols)
    order = np.lexsort((~is_visit, first))
    cols = (first, last, end_us, lat, lon, is_visit, arrived, left)
    first, last, end_us, lat, lon, is_visit, arrived, left = (a[order] for a in cols)
    # overlapping ranges are one stay; it is placed at its (first) visit when it holds one
    reach = np.maximum.accumulate(last)
    new = np.r_[True, first[1:] > reach[:-1]]
    g = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    has_visit = np.bincount(group, weights=is_visit, minlength=g.size) > 0
    pick = np.full(g.size, -1)
    vis_idx = np.flatnonzero(is_visit)
    pick[group[vis_idx][::-1]] = vis_idx[::-1]  # the first visit of each group
    pick = np.where(pick >= 0, pick, g)
    f2 = first[g]
    l2 = np.maximum.reduceat(last, g)
    e2 = np.maximum(np.maximum.reduceat(end_us, g), t[l2])
    merged = Stays(first=f2, last=l2, start_us=t[f2], end_us=e2, lat=lat[pick], lon=lon[pick],
                   n_points=(l2 - f2 + 1).astype(np.int64), arrived_by=arrived[pick], left_by=left[pick])
    return merged, has_visit, TimeConflicts.of(conflicts)


def _moving_visits(track: Track, visits: Visits, vf: np.ndarray, vl: np.ndarray, params: SegmentParams):
    """Visits whose points go farther than twice the stay radius from the place (rule 1 overrides them)."""
    lengths = np.maximum(vl - vf + 1, 0)
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, object)
    win = np.repeat(np.arange(len(visits)), lengths)
    idx = vf[win] + (np.arange(total) - (np.cumsum(lengths) - lengths)[win])
    d = haversine_m(visits.lat[win], visits.lon[win], track.lat[idx], track.lon[idx])
    far = np.zeros(len(visits))
    np.maximum.at(far, win, d)
    bad = far > 2 * params.radius_m
    text = np.array(
        [f"the points move up to {x:.0f} m from the source's visit {a}-{b}: it is a stay all the same "
         "(a source visit always ends a trip)"
         for x, a, b in zip(far[bad], _hhmm(visits.start_us[bad]), _hhmm(visits.end_us[bad]), strict=True)],
        dtype=object,
    )
    return visits.start_us[bad], visits.end_us[bad], text


def conflict_notes(mode_conflicts: np.ndarray, leg_start_us: np.ndarray, times: TimeConflicts) -> np.ndarray:
    """Per leg, every conflict it is concerned by: its own mode conflict, and each time conflict
    attached to the last leg starting at or before it (the leg it lies in, or the one before a visit)."""
    out = mode_conflicts.copy()
    if not len(times.text) or not leg_start_us.size:
        return out
    order = np.argsort(leg_start_us, kind="stable")
    j = np.searchsorted(leg_start_us[order], times.start_us, side="right") - 1
    for k, text in zip(j.tolist(), times.text.tolist(), strict=True):  # a handful per month
        if k >= 0:
            i = order[k]
            out[i] = text if out[i] is None else f"{out[i]}; {text}"
    return out


def keep_visits_apart(join: np.ndarray, dest: np.ndarray, from_visit: np.ndarray) -> np.ndarray:
    """``join`` (trip -> joined with the next across a transfer) never across a source visit."""
    if not from_visit.any():
        return join
    at_visit = (dest >= 0) & from_visit[np.maximum(dest, 0)]
    return join & ~at_visit


def _cumulative(segs: SourceSegments, moving_only: bool = True):
    """Knots of the cumulative source time and distance over time (overlaps clipped away)."""
    sel = segs.code != NO_MODE if moving_only else np.ones(len(segs), bool)
    s0, s1 = segs.start_us[sel], segs.end_us[sel]
    dist = np.where(np.isfinite(segs.distance_m), segs.distance_m,
                    haversine_m(segs.lat0, segs.lon0, segs.lat1, segs.lon1))[sel]
    dist = np.where(np.isfinite(dist) & (dist >= 0), dist, np.nan)
    prev_end = np.maximum.accumulate(np.r_[np.iinfo(np.int64).min, s1[:-1]]) if s1.size else s1
    a = np.maximum(s0, prev_end)  # a later segment's overlap with an earlier one is not counted twice
    b = np.maximum(s1, a)
    frac = (b - a) / np.maximum(s1 - s0, 1)
    d = np.nan_to_num(dist) * frac
    knots_t = np.ravel(np.column_stack([a, b])).astype(float)
    def at_knots(per_segment: np.ndarray) -> np.ndarray:  # 0 at each start, +value at each end
        return np.cumsum(np.ravel(np.column_stack([np.zeros(a.size), per_segment.astype(float)])))

    known = (b - a) * np.isfinite(dist)
    return knots_t, at_knots(b - a), at_knots(d), at_knots(known)


def leg_distances(
    track: Track,
    steps,
    legs,
    segs: SourceSegments | None,
    params: SegmentParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Each leg's distance (m) and what measured it: ``points``, ``source`` or ``straight line`` (rule 5)."""
    from mobco2.segment.trips import leg_steps

    nl = len(legs)
    t = track.t_us
    sidx, leg_of_step = leg_steps(legs)
    dist_pts = np.bincount(leg_of_step, weights=steps.dist_m[sidx], minlength=nl)
    dist = dist_pts.copy()
    how = np.full(nl, "points", dtype=object)
    # a leg made only of a bare segment's own step is measured by the source already
    synth = np.bincount(leg_of_step, weights=steps.synthetic[sidx].astype(float), minlength=nl)
    nsteps = np.bincount(leg_of_step, minlength=nl)
    how[(synth > 0) & (synth == nsteps)] = "source"
    if segs is not None and len(segs) and nl:
        kt, ctime, cdist, cknown = _cumulative(segs)
        if kt.size:
            s, e = t[legs.first].astype(float), t[legs.last].astype(float)
            f = lambda x, c: np.interp(x, kt, c)  # noqa: E731
            covered = f(e, ctime) - f(s, ctime)
            known = f(e, cknown) - f(s, cknown)
            src = f(e, cdist) - f(s, cdist)
            dur = np.maximum(e - s, 1.0)
            dt = steps.dt_s[sidx]
            sparse_time = np.bincount(
                leg_of_step, weights=np.where((dt > params.source_sparse_step_s) | steps.synthetic[sidx], dt, 0.0),
                minlength=nl,
            )
            sparse = sparse_time * 1e6 >= 0.5 * dur
            # the points' distance of steps outside every segment (midpoint rule)
            k = steps.k[sidx]
            mid = (t[k] + t[k + 1]) // 2
            outside = (f(mid.astype(float) + 0.5, ctime) - f(mid.astype(float) - 0.5, ctime)) <= 0
            rest = np.bincount(leg_of_step, weights=np.where(outside, steps.dist_m[sidx], 0.0), minlength=nl)
            use = sparse & (covered >= params.label_overlap * dur) & (known >= 0.999 * covered) & (covered > 0)
            dist = np.where(use, src + rest, dist)
            how[use] = "source"
    straight = haversine_m(track.lat[legs.first], track.lon[legs.first], track.lat[legs.last], track.lon[legs.last])
    short = dist < straight - 1e-6
    dist = np.where(short, straight, dist)
    how[short] = "straight line"
    return dist, how


def trip_distances(track: Track, trips, leg_trip: np.ndarray, leg_dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per trip: the sum of its legs' distances, never less than the straight line between its
    ends; and whether it was raised to that line."""
    n = len(trips)
    total = np.bincount(leg_trip, weights=leg_dist, minlength=n)
    straight = haversine_m(track.lat[trips.first], track.lon[trips.first], track.lat[trips.last], track.lon[trips.last])
    raised = total < straight - 1e-6
    return np.where(raised, straight, total), raised


def conflicts(dec, inferred_mode: np.ndarray, inferred_conf: np.ndarray, n_raw: np.ndarray) -> np.ndarray:
    """Per leg, a sentence when the points' own inference contradicts the source's mode (rule 4)."""
    out = np.full(len(dec.mode), None, dtype=object)
    from_source = np.isin(dec.source, ["source", "sensed"]) & (dec.evidence_row >= 0)
    for i in np.flatnonzero(from_source).tolist():
        a, b = FAMILY.get(dec.mode[i]), FAMILY.get(inferred_mode[i])
        if a and b and a != b and inferred_conf[i] >= _CONFLICT_MIN_CONF and n_raw[i] >= _CONFLICT_MIN_POINTS:
            out[i] = (f"the points' speed profile says {inferred_mode[i]}, the source says {dec.mode[i]}: "
                      "the source decides (DESIGN §4)")
    return out


__all__ = [
    "SourceSegments",
    "TimeConflicts",
    "Visits",
    "conflict_notes",
    "conflicts",
    "keep_visits_apart",
    "leg_distances",
    "merge_visit_stays",
    "read_segments",
    "read_visits",
    "synthetic_points",
    "trip_distances",
]
