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
  ``merge_gap_s`` apart, are one stay (a GPS jump or a walk to the next room splits a sliding run).

How it stays vectorised (no loop per point):

1. *necessary test*, for every point at once: time is cut into buckets of ``min_duration_s/4``;
   the first point of each of the next four buckets must lie within the radius of a point for
   that point to anchor a stay (those points all belong to any run long enough). Points that
   fail — almost every point of a trip — are never looked at again.
2. *exact runs* for the surviving candidates that the sequential rule can reach: a candidate is
   examined only if it is the first candidate of a block or the successor of an examined one
   (first candidate after its run, or after itself if it failed). Each round examines all such
   candidates together, finding their exits by scanning forward in chunks that double in size
   (a 2-D distance array per round), so a long stay costs O(its points).
3. the sequential chain from the first point follows the successors: a loop over *stays*, not
   points (a few thousand a year).

Distances are equirectangular around each anchor (exact to < 0.1 % at these scales).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from mobco2.segment.clean import CleanStats, Track, clean, to_arrow, track_from_table
from mobco2.segment.geo import M_PER_DEG, cos_lat_fast, haversine_m, local_d2_m2, needs_wrap, wrap_dlon
from mobco2.segment.params import SegmentParams

_BUCKETS = 4
_LOOKAHEAD = 8
CORE_SHARE = 0.5
TRIM_MAX_S = 120.0
"""A stay's ends are trimmed to points within CORE_SHARE of ``radius_m`` of its centre, when
what is trimmed lasts at most TRIM_MAX_S (walking in or out of the radius)."""


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

    def __len__(self) -> int:
        return len(self.first)


def _bucket_starts(t: np.ndarray, width: int, extra: int) -> tuple[np.ndarray, np.ndarray]:
    """Bucket of every point and, for every bucket id, the index of its first point (or later)."""
    n = t.size
    b = (t - t[0]) // width
    nb = int(b[-1]) + extra + 2
    if nb <= 4 * n + 1024:
        starts = np.full(nb, n, dtype=np.int64)
        first = np.flatnonzero(np.diff(b)) + 1
        starts[b[0]] = 0
        starts[b[first]] = first
        starts = np.minimum.accumulate(starts[::-1])[::-1]
        return b, starts
    # a sparse track over a long span: search the bucket edges instead of a dense table
    edges = t[0] + np.arange(nb, dtype=np.int64) * width
    return b, np.searchsorted(t, edges)


def _candidates(track: Track, radius_m: float, min_duration_us: int, wrap: bool) -> np.ndarray:
    """Indices of the points that may anchor a run lasting ``min_duration_us`` (a necessary test).

    Works in float32 metres (0.5 m resolution is plenty for a test with 2 % slack); a NaN
    sentinel after the last point makes "no such point" pass the test.
    """
    t, lat, lon = track.t_us, track.lat, track.lon
    n = t.size
    width = max(min_duration_us // _BUCKETS, 1)
    b, starts = _bucket_starts(t, width, _BUCKETS)
    y = np.empty(n + 1, np.float32)
    x = np.empty(n + 1, np.float32)
    np.multiply(lat, M_PER_DEG, out=y[:n], casting="same_kind")
    np.multiply(lon, M_PER_DEG, out=x[:n], casting="same_kind")
    y[n] = x[n] = np.nan
    if wrap:
        # near the antimeridian float32 metres would jump by 40 000 km: test in float64 instead
        x = x.astype(np.float64)
        x[:n] = lon * M_PER_DEG
    lo_lat, hi_lat = float(lat.min()), float(lat.max())
    if hi_lat - lo_lat <= 1.0:  # a town or a region: one scale factor is within the 2 % slack
        kx = np.float32(np.cos(np.radians(max(abs(lo_lat), abs(hi_lat)))))
    else:
        kx = cos_lat_fast(lat).astype(np.float32)
    y0, x0 = y[:n], x[:n]
    r2 = np.float32((radius_m * 1.02) ** 2)
    # the farthest bucket first, over every point; the nearer ones only over the survivors
    idx = None  # all points in the first pass (no gathers), then the survivors' indices
    for j in range(_BUCKETS, 0, -1):
        if idx is None:
            k = starts[b + j]
            dy, dx = y[k] - y0, x[k] - x0
        else:
            k = starts[b[idx] + j]
            dy, dx = y[k] - y0[idx], x[k] - x0[idx]
        if wrap:
            dx = wrap_dlon(dx / M_PER_DEG) * M_PER_DEG
        dx *= kx if idx is None or np.ndim(kx) == 0 else kx[idx]
        dy *= dy
        dx *= dx
        dx += dy
        keep = ~(dx > r2)
        idx = np.flatnonzero(keep) if idx is None else idx[keep]
    return np.arange(n) if idx is None else idx


class _RunFinder:
    """Exact exits of runs for many anchors at once."""

    def __init__(self, track: Track, radius_m: float, wrap: bool) -> None:
        self.lat, self.lon = track.lat, track.lon
        self.moving = track.moving if track.moving.any() else None
        self.n = track.t_us.size
        self.r2 = radius_m * radius_m
        self.wrap = wrap

    def exits(self, anchors: np.ndarray, limit: np.ndarray | None = None) -> np.ndarray:
        """For each anchor, the index of the first later point outside its radius (or n).

        With ``limit``, an anchor's scan stops before index ``limit``: -1 then means "no exit
        before the limit" (the run is known to be long enough, its end is not).
        """
        n, lat, lon = self.n, self.lat, self.lon
        out = np.full(anchors.size, n, dtype=np.int64)
        lim = np.full(anchors.size, n, dtype=np.int64) if limit is None else np.minimum(limit, n)
        active = np.arange(anchors.size)
        lat0, lon0 = lat[anchors], lon[anchors]
        kx0 = np.cos(np.radians(lat0))
        offset, width = 1, 16
        while active.size:
            a = anchors[active]
            idx = a[:, None] + (offset + np.arange(width))[None, :]
            beyond = idx >= lim[active, None]
            idc = np.minimum(idx, n - 1)
            d2 = local_d2_m2(
                lat0[active, None], lon0[active, None], kx0[active, None], lat[idc], lon[idc], self.wrap
            )
            leave = d2 > self.r2
            if self.moving is not None:
                leave |= self.moving[idc]
            stop = leave | beyond
            hit = stop.any(axis=1)
            rows = np.arange(a.size)
            first = stop.argmax(axis=1)
            found = np.minimum(idx[rows, first], n)
            # reaching the limit (not the end of the data) without leaving: exit unknown
            unknown = ~leave[rows, first] & (found < n)
            found = np.where(unknown, -1, found)
            out[active[hit]] = found[hit]
            active = active[~hit]
            offset += width
            width = min(width * 2, 1 << 16)
        return out


def _sliding_runs(track: Track, params: SegmentParams) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) index of every sliding-rule stay, in order."""
    t = track.t_us
    n = t.size
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    wrap = needs_wrap(track.lon)
    min_us = int(params.min_duration_s * 1e6)
    edge_us = int(min(params.edge_min_duration_s, params.min_duration_s) * 1e6)
    cand_idx = _candidates(track, params.radius_m, min_us, wrap)
    if not cand_idx.size or cand_idx[0] != 0:  # the leading edge rule needs the first point examined
        cand_idx = np.concatenate([[0], cand_idx])
    finder = _RunFinder(track, params.radius_m, wrap)

    def next_candidate(x: np.ndarray) -> np.ndarray:
        pos = np.searchsorted(cand_idx, x)
        return np.where(pos < cand_idx.size, cand_idx[np.minimum(pos, cand_idx.size - 1)], n)

    block_first = cand_idx[np.r_[True, np.diff(cand_idx) > 1]]
    seen_a: list[np.ndarray] = []
    seen_e: list[np.ndarray] = []
    seen_ok: list[np.ndarray] = []
    seen_next: list[np.ndarray] = []
    # state: 0 not examined, 1 known to anchor a stay but its exit not computed, 2 done
    state = np.zeros(n, np.int8)
    # a block that starts soon after the previous one is most likely the same stay interrupted
    # by a GPS jump: test it with a bounded scan; only blocks after a real break get a full one
    pos = np.searchsorted(cand_idx, block_first)
    prev = cand_idx[np.maximum(pos - 1, 0)]
    soon = (pos > 0) & (t[block_first] - t[prev] < min_us)
    full, spec = block_first[~soon], block_first[soon]
    while full.size or spec.size:
        anchors = np.concatenate([full, spec])
        limit = np.concatenate([np.full(full.size, n), np.searchsorted(t, t[spec] + min_us) + 1])
        e = finder.exits(anchors, limit)
        partial = e < 0  # speculative and long enough: needs a full scan if the chain reaches it
        state[anchors[partial]] = np.maximum(state[anchors[partial]], 1)
        a, e = anchors[~partial], e[~partial]
        dur = t[e - 1] - t[a]
        ok = dur >= min_us
        ok |= ((e == n) | (a == 0)) & (dur >= edge_us) & (e - 1 > a)
        nxt = np.where(ok, next_candidate(e), next_candidate(a + 1))
        seen_a.append(a)
        seen_e.append(e)
        seen_ok.append(ok)
        seen_next.append(nxt)
        state[a] = 2
        todo = np.unique(nxt[nxt < n])
        full = todo[state[todo] < 2]
        # a failed candidate is usually followed by more failures (the tail of a dwell that is
        # too short): test the next few candidates of each in the same round, with scans bounded
        # by min_duration_s (a failure's whole run; a success's first minutes)
        failed = a[~ok]
        spec = np.empty(0, np.int64)
        if failed.size:
            pos = np.searchsorted(cand_idx, failed + 1)
            ahead = (pos[:, None] + np.arange(_LOOKAHEAD)[None, :]).ravel()
            ahead = np.unique(cand_idx[ahead[ahead < cand_idx.size]])
            spec = ahead[(state[ahead] == 0) & ~np.isin(ahead, full)]
    anchors = np.concatenate(seen_a)
    order = np.argsort(anchors)
    anchors = anchors[order]
    exits = np.concatenate(seen_e)[order]
    oks = np.concatenate(seen_ok)[order]
    nexts = np.concatenate(seen_next)[order]
    # successor positions, then walk the chain: one step per examined anchor on the chain
    succ = np.searchsorted(anchors, nexts)
    succ[nexts >= n] = -1
    succ_l, ok_l = succ.tolist(), oks.tolist()
    chain: list[int] = []
    pos = 0  # anchors[0] == 0: the chain starts at the first point
    while pos >= 0:
        if ok_l[pos]:
            chain.append(pos)
        pos = succ_l[pos]
    sel = np.asarray(chain, dtype=np.int64)
    return anchors[sel], exits[sel] - 1


def _range_means(cum: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Mean of a column over index ranges [first, last], from its prefix sums ``cum`` (len n+1)."""
    return (cum[last + 1] - cum[first]) / (last - first + 1)


def _trim_to_core(track: Track, first, last, end_us, clat, clon, core_m: float):
    """Move each stay's ends in to its first/last point within ``core_m`` of its centre.

    A sliding run keeps going until the walk away leaves the radius (about 75 s of walking for
    100 m); trimming gives that time back to the trip.
    """
    lengths = last - first + 1
    total = int(lengths.sum())
    if total == 0:
        return first, last, end_us
    sid = np.repeat(np.arange(first.size), lengths)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    idx = first[sid] + (np.arange(total) - offsets[sid])
    kx = np.cos(np.radians(clat))
    core = local_d2_m2(clat[sid], clon[sid], kx[sid], track.lat[idx], track.lon[idx]) <= core_m * core_m
    new_first = np.minimum.reduceat(np.where(core, idx, np.iinfo(np.int64).max), offsets)
    new_last = np.maximum.reduceat(np.where(core, idx, -1), offsets)
    has = new_last >= 0
    t = track.t_us
    extended = end_us > t[last]  # the stay goes on across a still gap after its last point
    # trim only what looks like walking in or out: a tail lasting longer is a slow drift or a
    # pause in recording, still part of the stay
    max_us = int(TRIM_MAX_S * 1e6)
    head_ok = has & (t[np.where(has, new_first, first)] - t[first] <= max_us)
    tail_ok = has & ~extended & (t[last] - t[np.where(has, new_last, last)] <= max_us)
    new_first = np.where(head_ok, new_first, first)
    new_last = np.where(tail_ok, new_last, last)
    new_end = np.where(extended, end_us, track.t_us[new_last])
    return new_first, new_last, new_end


def find_stays(track: Track, params: SegmentParams) -> Stays:
    """Stays of a cleaned :class:`Track` (see the module docstring)."""
    t, lat, lon = track.t_us, track.lat, track.lon
    n = t.size
    first, last = _sliding_runs(track, params)
    end_us = t[last] if n else np.empty(0, np.int64)
    if n > 1:
        gap = np.flatnonzero(np.diff(t) >= int(params.gap_s * 1e6))
        if gap.size:
            d = haversine_m(lat[gap], lon[gap], lat[gap + 1], lon[gap + 1])
            dt_gap = (t[gap + 1] - t[gap]) * 1e-6
            still = (d / dt_gap <= params.gap_stay_max_speed_mps) & ~track.moving[gap + 1]
            g = gap[still]
            first = np.concatenate([first, g])
            last = np.concatenate([last, g])
            end_us = np.concatenate([end_us, t[g + 1]])
            order = np.lexsort((last, first))
            first, last, end_us = first[order], last[order], end_us[order]
    if first.size == 0:
        z = np.empty(0, np.int64)
        return Stays(z, z, z, z, np.empty(0), np.empty(0), z)
    cum_lat = np.concatenate([[0.0], np.cumsum(lat)])
    cum_lon = np.concatenate([[0.0], np.cumsum(lon)])
    merge_us = params.merge_gap_s * 1e6
    for _ in range(3):
        clat = _range_means(cum_lat, first, last)
        clon = _range_means(cum_lon, first, last)
        if first.size < 2:
            break
        close = haversine_m(clat[:-1], clon[:-1], clat[1:], clon[1:]) <= params.radius_m
        # against everything before, not just the previous stay: a long run may contain several
        overlap = first[1:] <= np.maximum.accumulate(last)[:-1]
        soon = (t[first[1:]] - np.maximum.accumulate(end_us)[:-1]) <= merge_us
        join = overlap | (close & soon)
        if not join.any():
            break
        starts = np.flatnonzero(np.r_[True, ~join])
        first = first[starts]
        last = np.maximum.reduceat(last, starts)
        end_us = np.maximum.reduceat(end_us, starts)
    clat = _range_means(cum_lat, first, last)
    clon = _range_means(cum_lon, first, last)
    first, last, end_us = _trim_to_core(track, first, last, end_us, clat, clon, params.radius_m * CORE_SHARE)
    return Stays(
        first=first,
        last=last,
        start_us=t[first],
        end_us=np.maximum(end_us, t[last]),
        lat=clat,
        lon=clon,
        n_points=(last - first + 1).astype(np.int64),
    )


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
    if isinstance(points, pd.DataFrame):
        return table.to_pandas()
    return table


__all__ = ["Stays", "detect_stays", "find_stays"]
