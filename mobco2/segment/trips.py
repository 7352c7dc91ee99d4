"""Trips between consecutive stays, and single-mode legs inside each trip.

A **trip** runs from the end of one stay to the start of the next (a trip before the first or
after the last stay has no origin or destination stay). A signal loss longer than
``untracked_gap_s`` (12 h) that is not flight-fast ends a trip: the time is untracked.

Legs come from the **steps** between consecutive points of a trip. Each step gets a speed from
a window of ± ``speed_window_s`` around it (the displacement over the window, which GPS noise
barely inflates; a device's own Doppler speed when it has one; a source segment's own distance
for synthetic steps), and a class: on foot (≤ ``walk_max_mps`` or a walk/run hint) or fast.
Every change of vehicle passes through walking, so the runs of classes are the legs once noise
is smoothed away: fast blips shorter than ``min_fast_s`` become foot, then foot runs that are not
real walks (shorter than ``min_walk_s`` or going less than ``min_walk_m`` from end to end: a
vehicle stopped at a light, a stop or a station) become fast, until nothing changes. Walking time
counts only steps at ``stop_max_mps`` or more: a train standing three minutes at a station while
its noisy fixes drift 50 m has walked nowhere. The walk to the station is thus its own leg, and a
bus's or a train's stops are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mobco2.schema import MODES
from mobco2.segment.clean import NO_MODE, Track
from mobco2.segment.geo import haversine_m
from mobco2.segment.params import SegmentParams
from mobco2.segment.stays import Stays

FOOT, FAST = 0, 1
_FOOT_MODES = np.array([m in ("walk", "run") for m in MODES])
STOP_MIN_S = 5.0
STOP_GAP_S = 10.0
TURN_SPACING_M = 50.0
TURN_MIN_DEG = 60.0
TURN_MIN_SPEED_MPS = 3.0
HINT_FILL_S = 90.0


@dataclass
class Trips:
    """Trips as point-index ranges (``first``..``last`` inclusive) with their stays (-1: none)."""

    first: np.ndarray
    last: np.ndarray
    origin: np.ndarray
    dest: np.ndarray

    def __len__(self) -> int:
        return len(self.first)


@dataclass
class Steps:
    """The steps k → k+1 of every trip, flattened in order."""

    k: np.ndarray
    trip: np.ndarray
    dt_s: np.ndarray
    dist_m: np.ndarray
    v_mps: np.ndarray
    hint: np.ndarray
    hint_conf: np.ndarray
    cls: np.ndarray
    synthetic: np.ndarray  # the step is a source segment without raw points: never smoothed away


@dataclass
class Legs:
    """Legs as step ranges [lo, hi) into :class:`Steps`, with their trip and point range."""

    trip: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    first: np.ndarray
    last: np.ndarray

    def __len__(self) -> int:
        return len(self.trip)


def build_trips(track: Track, stays: Stays, params: SegmentParams) -> Trips:
    """Trips between stays, before the first and after the last, cut at untracked gaps."""
    t = track.t_us
    n = t.size
    ns = len(stays)
    if n < 2:
        z = np.empty(0, np.int64)
        return Trips(z, z, z, z)
    if ns == 0:
        first, last = np.array([0]), np.array([n - 1])
        origin, dest = np.array([-1]), np.array([-1])
    else:
        after = np.searchsorted(t, stays.end_us)  # first point at or after each stay's end
        first = np.concatenate([[0], after])
        last = np.concatenate([stays.first, [n - 1]])
        origin = np.arange(-1, ns)
        dest = np.concatenate([np.arange(ns), [-1]])
        # before the first stay / after the last one only if there is movement there
        dest[-1] = -1
    keep = last > first
    first, last, origin, dest = first[keep], last[keep], origin[keep], dest[keep]
    if first.size == 0:  # every point is inside a stay: nothing moved
        z = np.empty(0, np.int64)
        return Trips(z, z, z, z)
    # untracked gaps cut trips (e-mission: > 12 h without flight-like displacement)
    dt = np.diff(t) * 1e-6
    gaps = np.flatnonzero(dt >= params.untracked_gap_s)
    if gaps.size:
        d = haversine_m(track.lat[gaps], track.lon[gaps], track.lat[gaps + 1], track.lon[gaps + 1])
        gaps = gaps[d / dt[gaps] < params.plane_gap_speed_mps]
    if gaps.size:
        cut_trip = np.searchsorted(first, gaps, side="right") - 1
        inside = (cut_trip >= 0) & (gaps < last[np.maximum(cut_trip, 0)])
        gaps, cut_trip = gaps[inside], cut_trip[inside]
    if gaps.size:
        # a loop over the few trips that contain such a gap
        cut = set(cut_trip.tolist())
        pieces = []
        for i in range(first.size):
            if i not in cut:
                pieces.append((first[i], last[i], origin[i], dest[i]))
                continue
            g = gaps[cut_trip == i]
            fs = [first[i], *(g + 1).tolist()]
            ls = [*g.tolist(), last[i]]
            for m, (f, la) in enumerate(zip(fs, ls, strict=True)):
                pieces.append((f, la, origin[i] if m == 0 else -1, dest[i] if m == len(fs) - 1 else -1))
        arr = np.array(pieces, dtype=np.int64).reshape(-1, 4)
        keep = arr[:, 1] > arr[:, 0]
        first, last, origin, dest = (arr[keep, c] for c in range(4))
    return Trips(first, last, origin, dest)


def _filled_point_hints(track: Track) -> tuple[np.ndarray, np.ndarray]:
    hint, conf, t = track.hint, track.hint_conf, track.t_us
    has = hint != NO_MODE
    if not has.any() or has.all():
        return hint, conf
    n = hint.size
    idx = np.arange(n)
    before = np.maximum.accumulate(np.where(has, idx, -1))
    after = np.minimum.accumulate(np.where(has, idx, n)[::-1])[::-1]
    window = int(HINT_FILL_S * 1e6)
    use_b = (before >= 0) & (t - t[np.maximum(before, 0)] <= window)
    use_a = ~use_b & (after < n) & (t[np.minimum(after, n - 1)] - t <= window)
    src = np.where(use_b, before, np.where(use_a, after, -1))
    fill = ~has & (src >= 0)
    hint = hint.copy()
    conf = conf.copy()
    hint[fill] = hint[src[fill]]
    conf[fill] = conf[src[fill]]
    return hint, conf


def _step_hints(track: Track, k: np.ndarray, segments: tuple[np.ndarray, ...] | None):
    """Mode evidence per step: the source segment containing its midpoint, else a point hint.

    Point hints (activity samples) come every few tens of seconds: a point without one takes
    the nearest earlier hinted point's, else the nearest later one's, within HINT_FILL_S.
    """
    ph, pc = _filled_point_hints(track)
    hint = ph[k + 1].copy()
    conf = pc[k + 1].copy()
    missing = hint == NO_MODE
    hint[missing] = ph[k[missing]]
    conf[missing] = pc[k[missing]]
    if segments is not None and segments[0].size:
        s0, s1, smode, sconf = segments
        mid = (track.t_us[k] + track.t_us[k + 1]) // 2
        j = np.searchsorted(s0, mid, side="right") - 1
        inside = (j >= 0) & (mid < s1[np.maximum(j, 0)]) & (smode[np.maximum(j, 0)] != NO_MODE)
        hint[inside] = smode[j[inside]]
        conf[inside] = sconf[j[inside]]
    return hint, conf


def build_steps(
    track: Track, trips: Trips, params: SegmentParams, segments: tuple[np.ndarray, ...] | None = None
) -> Steps:
    """Per-step time, distance, windowed speed, mode hint and foot/fast class."""
    t, lat, lon = track.t_us, track.lat, track.lon
    lengths = trips.last - trips.first
    total = int(lengths.sum())
    trip = np.repeat(np.arange(len(trips)), lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    k = trips.first[trip] + (np.arange(total) - offsets[trip])
    dt = (t[k + 1] - t[k]) * 1e-6
    raw = haversine_m(lat[k], lon[k], lat[k + 1], lon[k + 1])
    w = int(params.speed_window_s * 1e6)
    lo = np.maximum(np.searchsorted(t, t[k] - w), trips.first[trip])
    hi = np.minimum(np.searchsorted(t, t[k + 1] + w, side="right") - 1, trips.last[trip])
    span = np.maximum((t[hi] - t[lo]) * 1e-6, 1e-3)
    v = haversine_m(lat[lo], lon[lo], lat[hi], lon[hi]) / span
    # a long step is its own evidence (a gap: tunnel, flight); so is a device's Doppler speed
    long_step = dt > 2 * params.speed_window_s
    v = np.where(long_step, raw / np.maximum(dt, 1e-3), v)
    sp = track.speed_mps
    sp = np.where(sp >= 0, sp, np.nan)
    doppler = None
    if np.isfinite(sp).any():
        a, b = sp[k], sp[k + 1]
        doppler = np.where(np.isfinite(a), np.where(np.isfinite(b), 0.5 * (a + b), a), b)
    if doppler is not None:
        use = np.isfinite(doppler) & ~long_step
        v = np.where(use, doppler, v)
    dist = np.where(long_step, raw, v * dt)
    override = track.step_m[k + 1]
    synthetic = np.isfinite(override)
    dist = np.where(synthetic, override, dist)
    v = np.where(synthetic, override / np.maximum(dt, 1e-3), v)
    hint, conf = _step_hints(track, k, segments)
    cls = np.where(v <= params.walk_max_mps, FOOT, FAST).astype(np.int8)
    hinted = hint != NO_MODE
    cls[hinted] = np.where(_FOOT_MODES[hint[hinted]], FOOT, FAST)
    return Steps(k, trip, dt, dist, v, hint, conf, cls, synthetic)


def _run_starts(cls: np.ndarray, trip: np.ndarray) -> np.ndarray:
    change = np.ones(cls.size, bool)
    change[1:] = (cls[1:] != cls[:-1]) | (trip[1:] != trip[:-1])
    return np.flatnonzero(change)


def build_legs(track: Track, steps: Steps, params: SegmentParams) -> Legs:
    """Single-mode legs: runs of foot/fast steps after smoothing (see the module docstring)."""
    lat, lon = track.lat, track.lon
    cls = steps.cls.copy()
    # a run holding a source segment's own step keeps its class: the source said so
    fixed = steps.synthetic
    n = cls.size
    if n == 0:
        z = np.empty(0, np.int64)
        return Legs(z, z, z, z, z)
    for _ in range(8):
        changed = False
        for target in (FAST, FOOT):
            starts = _run_starts(cls, steps.trip)
            ends = np.append(starts[1:], n)
            c = cls[starts]
            tr = steps.trip[starts]
            dur = np.add.reduceat(steps.dt_s, starts)
            # time actually spent moving at walking pace: a vehicle standing at a station for
            # minutes, its fixes drifting tens of metres, walks nowhere
            walked = np.add.reduceat(np.where(steps.v_mps >= params.stop_max_mps, steps.dt_s, 0.0), starts)
            # displacement, not path: a vehicle waiting at a station accumulates GPS noise, not metres
            a, b = steps.k[starts], steps.k[ends - 1] + 1
            dist = haversine_m(lat[a], lon[a], lat[b], lon[b])
            prev_same = np.r_[False, tr[1:] == tr[:-1]]
            next_same = np.r_[tr[1:] == tr[:-1], False]
            has_neighbour = prev_same | next_same
            if target == FAST:
                bad = (c == FAST) & (dur < params.min_fast_s) & has_neighbour
            else:
                # a walk is seen walking: at least three steps (a stop in a tunnel is one long step)
                short = (walked < params.min_walk_s) | (dist < params.min_walk_m) | (ends - starts < 3)
                bad = (c == FOOT) & short & has_neighbour
            bad &= ~np.maximum.reduceat(fixed, starts)
            if bad.any():
                flip = np.repeat(bad, ends - starts)
                cls[flip] = 1 - cls[flip]
                changed = True
        if not changed:
            break
    starts = _run_starts(cls, steps.trip)
    ends = np.append(starts[1:], n)
    steps.cls = cls
    return Legs(
        trip=steps.trip[starts],
        lo=starts,
        hi=ends,
        first=steps.k[starts],
        last=steps.k[ends - 1] + 1,
    )


def weighted_quantiles(values, weights, group, n_groups: int, qs: tuple[float, ...]) -> list[np.ndarray]:
    """Per-group weighted quantiles (the value where the cumulative weight reaches each q).

    ``group`` must be sorted (steps come leg by leg): one argsort of a composite key then
    orders values within every group at once.
    """
    if values.size == 0:
        return [np.full(n_groups, np.nan) for _ in qs]
    v = np.nan_to_num(values, nan=0.0, posinf=0.0)
    span = float(v.max() - v.min()) + 1.0
    order = np.argsort(group * span + (v - v.min()))
    v, w = v[order], weights[order]
    cw = np.cumsum(w)
    totals = np.bincount(group, weights=w, minlength=n_groups)
    starts = np.searchsorted(group, np.arange(n_groups))
    ends = np.maximum(np.searchsorted(group, np.arange(n_groups), side="right") - 1, 0)
    base = np.where(starts > 0, cw[np.maximum(starts - 1, 0)], 0.0)
    out = []
    for q in qs:
        idx = np.clip(np.searchsorted(cw, base + q * totals, side="left"), starts, ends)
        out.append(np.where(totals > 0, v[np.minimum(idx, v.size - 1)], np.nan))
    return out


def _fill_brief_moves(stopped: np.ndarray, group: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """``stopped`` with moving spells shorter than STOP_GAP_S between stopped steps filled in."""
    n = stopped.size
    moving = ~stopped
    if n < 3 or not moving.any() or not stopped.any():
        return stopped
    starts = moving.copy()
    starts[1:] &= stopped[:-1] | (group[1:] != group[:-1])
    spell = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    size = np.bincount(spell[moving], minlength=first.size)
    last = first + size - 1
    dur = np.bincount(spell[moving], weights=dt[moving], minlength=first.size)
    before = np.maximum(first - 1, 0)
    after = np.minimum(last + 1, n - 1)
    inner = (first > 0) & (last < n - 1) & stopped[before] & stopped[after]
    inner &= (group[before] == group[first]) & (group[after] == group[last])
    brief = inner & (dur < STOP_GAP_S)
    out = stopped.copy()
    out[moving] |= brief[spell[moving]]
    return out


def leg_steps(legs: Legs) -> tuple[np.ndarray, np.ndarray]:
    """(step index, leg index) of every step that belongs to a leg, in order."""
    lengths = legs.hi - legs.lo
    total = int(lengths.sum())
    leg_of_step = np.repeat(np.arange(len(legs)), lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    sidx = legs.lo[leg_of_step] + (np.arange(total) - offsets[leg_of_step])
    return sidx, leg_of_step


def leg_features(track: Track, steps: Steps, legs: Legs, params: SegmentParams) -> dict[str, np.ndarray]:
    """Features of every leg (units in the names), all computed over whole columns."""
    nl = len(legs)
    t, lat, lon = track.t_us, track.lat, track.lon
    sidx, leg_of_step = leg_steps(legs)
    lo_local = np.concatenate([[0], np.cumsum(legs.hi - legs.lo)[:-1]]).astype(np.int64)
    dt = steps.dt_s[sidx]
    dist_m = steps.dist_m[sidx]
    k_of = steps.k[sidx]
    hint = steps.hint[sidx]
    duration = (t[legs.last] - t[legs.first]) * 1e-6
    distance = np.bincount(leg_of_step, weights=dist_m, minlength=nl)
    w = np.maximum(dt, 1e-3)
    v = steps.v_mps[sidx]
    med, p95 = weighted_quantiles(v, w, leg_of_step, nl, (0.5, 0.95))
    vmax = np.full(nl, 0.0)
    if v.size and nl:
        vmax = np.maximum.reduceat(v, lo_local)
    # stops: runs of stopped steps lasting at least STOP_MIN_S
    stopped = v < params.stop_max_mps
    # hysteresis: GPS noise lifts a standing vehicle's speed above the threshold for a few
    # seconds; moving spells shorter than STOP_GAP_S between two stopped ones stay stopped
    stopped = _fill_brief_moves(stopped, leg_of_step, dt)
    start = stopped.copy()
    start[1:] &= ~stopped[:-1] | (leg_of_step[1:] != leg_of_step[:-1])
    run_id = np.cumsum(start) - 1
    run_dur = np.bincount(run_id[stopped], weights=dt[stopped], minlength=int(start.sum()))
    run_leg = leg_of_step[start]
    stops = np.bincount(run_leg[run_dur >= STOP_MIN_S], minlength=nl).astype(float)
    km = np.maximum(distance / 1000.0, 0.05)
    straight = haversine_m(lat[legs.first], lon[legs.first], lat[legs.last], lon[legs.last])
    # sharp turns: headings between points about TURN_SPACING_M apart along the leg
    cum = np.cumsum(dist_m)
    leg_base = np.concatenate([[0.0], cum])[lo_local][leg_of_step]
    mark_bin = np.floor((cum - leg_base) / TURN_SPACING_M)
    mark = np.ones(v.size, bool)
    mark[1:] = (mark_bin[1:] != mark_bin[:-1]) | (leg_of_step[1:] != leg_of_step[:-1])
    mark &= v >= TURN_MIN_SPEED_MPS  # headings from a standing vehicle are GPS noise
    mk = k_of[mark] + 1
    ml = leg_of_step[mark]
    turns = np.zeros(nl)
    if mk.size > 2:
        hx = np.diff(lon[mk]) * np.cos(np.radians(lat[mk[:-1]]))
        hy = np.diff(lat[mk])
        heading = np.degrees(np.arctan2(hy, hx))
        same = ml[1:] == ml[:-1]
        dh = np.abs((np.diff(heading) + 180.0) % 360.0 - 180.0)
        valid = same[1:] & same[:-1]
        turns = np.bincount(ml[2:][valid & (dh > TURN_MIN_DEG)], minlength=nl).astype(float)
    long_step = dt >= params.gap_s
    gap_time = np.bincount(leg_of_step[long_step], weights=dt[long_step], minlength=nl)
    # speed where the leg is actually seen (signal gaps left out): 0 for a leg that is all gap
    tracked = ~long_step
    (p95_tracked,) = weighted_quantiles(v[tracked], w[tracked], leg_of_step[tracked], nl, (0.95,))
    hinted = hint != NO_MODE
    hint_share = np.bincount(leg_of_step[hinted], weights=w[hinted], minlength=nl) / np.maximum(
        np.bincount(leg_of_step, weights=w, minlength=nl), 1e-9
    )
    return {
        "duration_s": duration,
        "distance_m": distance,
        "n_points": (legs.last - legs.first + 1).astype(float),
        "speed_median_mps": med,
        "speed_p95_mps": p95,
        "speed_max_mps": vmax,
        "speed_p95_tracked_mps": np.nan_to_num(p95_tracked, nan=0.0),
        "speed_mean_mps": distance / np.maximum(duration, 1e-3),
        "stops_per_km": stops / km,
        "turns_per_km": turns / km,
        "straightness": np.where(distance > 0, np.minimum(straight / np.maximum(distance, 1e-9), 1.0), 0.0),
        "gap_share": gap_time / np.maximum(duration, 1e-3),
        "hint_share": hint_share,
    }
