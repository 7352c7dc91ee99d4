"""The sliding stay rule over whole numpy columns: which runs of points are stays.

The rule (trackintel's ``generate_staypoints(method="sliding")`` and e-mission's dwell filter):
from an **anchor** point, the run goes on while points stay within ``radius_m`` of the anchor;
it is a stay when it lasts at least ``min_duration_s`` (``edge_min_duration_s`` when it touches
the first or the last point). The next anchor is the first point after the run (after a stay)
or the next point (after a failed run). :func:`sliding_runs` gives the same runs as that
sequential loop, point for point (property tests compare them), without a loop per point:

1. *necessary test*, for every point at once: time is cut into buckets of 2^k µs, at most
   ``min_duration_s/4``; the first point of each of the next four buckets must lie within the
   radius of a point for that point to anchor a stay (those points all belong to any run long
   enough). Points that fail — almost every point of a trip — are never looked at again. Near
   the end of the data the last point stands in for buckets with no point (only the edge rule
   is left there). The four points are looked up once per bucket and spread over its points.
2. *exact runs* for the surviving candidates that the sequential rule can reach
   (:class:`_Explorer`): rounds examine block starts, then the successors of what was examined
   (first candidate after a stay's run, or after a failed candidate), plus bounded scans a few
   candidates ahead of each failure; a failure right after a non-failure is off the chain in
   all but rare cases, so its successor waits until the final walk asks for it. Exits are found
   by scanning forward in windows that grow fourfold (rows of a sliding-window view per
   round), so a long stay costs O(its points).
3. the sequential chain from the first point follows the successors: a loop over examined
   anchors on the chain (a few thousand a year), not over points.

Distances are equirectangular around each anchor (exact to < 0.1 % at these scales), with the
sequential rule's own formula wherever a decision is final.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from mobco2.segment.clean import Track
from mobco2.segment.geo import M_PER_DEG, cos_lat_fast, wrap_dlon
from mobco2.segment.params import SegmentParams

_BUCKETS = 4
_LOOKAHEAD = 8


class _Buckets:
    """A sorted track's points grouped by time bucket (``t >> shift``), with "the first point of
    the bucket ``j`` after this one" for every bucket, found without a binary search per point.

    Each point's table row is its bucket's id minus the first bucket's (a dense table over
    every id) or, for a sparse track over a long span, its occupied bucket's ordinal.
    """

    def __init__(self, t: np.ndarray, shift: int, extra: int) -> None:
        n = t.size
        b = t >> shift  # absolute buckets: where they start does not matter to the test
        starts = np.flatnonzero(b[1:] != b[:-1])
        starts += 1
        self.starts = np.concatenate([[0], starts])  # first point of each occupied bucket
        self.counts = np.diff(np.append(self.starts, n))
        bucket = b[self.starts]
        self.n = n
        nb = int(bucket[-1] - bucket[0]) + extra + 1
        if nb <= 4 * n + 1024:  # a table over every bucket id: "first point at or after"
            rel = bucket - bucket[0]
            table = np.full(nb, n, dtype=np.int64)
            table[rel] = self.starts
            self._first_after: np.ndarray | None = np.minimum.accumulate(table[::-1])[::-1]
            self._b, self._b0, self.rows = b, int(bucket[0]), rel
        else:  # search among the occupied buckets
            self._first_after = None
            self._b, self._b0, self.rows = None, 0, np.arange(self.starts.size)
        self._bucket = bucket

    def ahead(self, j: int) -> np.ndarray:
        """Per table row: the index of the first point in bucket id + ``j`` or later (n: none)."""
        if self._first_after is not None:
            return self._first_after[j : j + self.rows[-1] + 1]
        pos = np.searchsorted(self._bucket, self._bucket + j)
        return np.append(self.starts, self.n)[pos]

    def spread(self, per_row: np.ndarray) -> np.ndarray:
        """A per-row value repeated for every point of the row's bucket."""
        if self._first_after is not None:
            per_row = per_row[self.rows]
        return np.repeat(per_row, self.counts)

    def row_of(self, idx: np.ndarray) -> np.ndarray:
        """The table rows of the points ``idx``."""
        if self._b is not None:
            return np.take(self._b, idx) - self._b0
        return np.take(np.repeat(self.rows, self.counts), idx)


def _candidates(track: Track, radius_m: float, min_duration_us: int, edge_us: int, wrap: bool) -> np.ndarray:
    """Indices of the points that may anchor a stay (a necessary test; the caller adds point 0).

    Time is cut into buckets of 2^k µs, the largest power of two up to ``min_duration_us / 4``
    (shifts, not divisions): a run lasting that long from a point contains the first point of
    each of the next four buckets, so each must lie within the radius. Near the end of the data
    such a bucket may be empty; the run can then be a stay only by the edge rule, reaching the
    last point, which stands in for it (and a point less than ``edge_us`` before the end can
    anchor nothing). The four points depend only on a point's bucket: they are looked up per
    bucket and spread over the bucket's points with ``repeat`` (sequential copies, not
    gathers). Works in float32 metres, which resolve 0.5-2 m at Earth scale: the test has 2 % +
    4 m of slack.
    """
    t, lat, lon = track.t_us, track.lat, track.lon
    n = t.size
    last_anchor = int(np.searchsorted(t, t[-1] - edge_us, side="right"))  # t is sorted
    if min_duration_us < _BUCKETS:
        return np.arange(last_anchor)
    shift = (min_duration_us // _BUCKETS).bit_length() - 1
    buckets = _Buckets(t, shift, _BUCKETS)
    y = np.empty(n + 1, np.float32)
    x = np.empty(n + 1, np.float32)
    np.multiply(lat, M_PER_DEG, out=y[:n], casting="same_kind")
    np.multiply(lon, M_PER_DEG, out=x[:n], casting="same_kind")
    y[n], x[n] = y[n - 1], x[n - 1]  # no point in a bucket past the end: the last one stands in
    if wrap:
        # near the antimeridian float32 metres would jump by 40 000 km: test in float64 instead
        x = x.astype(np.float64)
        x[:n] = lon * M_PER_DEG
    lo_lat, hi_lat, _, _ = track.bounds()
    if hi_lat - lo_lat <= 1.0:  # a town or a region: one scale factor is within the 2 % slack
        kx = np.float32(np.cos(np.radians(max(abs(lo_lat), abs(hi_lat)))))
    else:
        kx = cos_lat_fast(lat).astype(np.float32)
    r2 = np.float32((radius_m * 1.02 + 4.0) ** 2)

    def within(dy: np.ndarray, dx: np.ndarray, kx: np.floating | np.ndarray) -> np.ndarray:
        if wrap:
            dx = wrap_dlon(dx / M_PER_DEG) * M_PER_DEG
        dx *= kx
        dy *= dy
        dx *= dx
        dx += dy
        return dx <= r2

    # the farthest bucket over every point (spread over each bucket's points: sequential
    # copies, not gathers), then the nearer ones over the survivors (about a third of a track's
    # points; nearly all of them pass those, so they are filtered once, at the end)
    k = buckets.ahead(_BUCKETS)
    keep = within(buckets.spread(y[k]) - y[:n], buckets.spread(x[k]) - x[:n], kx)
    idx = np.flatnonzero(keep[:last_anchor])
    rows = buckets.row_of(idx)
    y0, x0 = np.take(y, idx), np.take(x, idx)
    if np.ndim(kx):
        kx = np.take(kx, idx)
    ok = np.ones(idx.size, bool)
    for j in range(_BUCKETS - 1, 0, -1):
        k = buckets.ahead(j)
        ok &= within(np.take(y[k], rows) - y0, np.take(x[k], rows) - x0, kx)
    return idx if ok.all() else np.take(idx, np.flatnonzero(ok))


_MAX_WIDTH = 1 << 16
"""Widest scan window (points) of one round of :meth:`_RunFinder.exits`."""
_FAR_LAT = 1.0e4
"""Latitude of the stand-in points past the end of a track: outside every radius."""


class _RunFinder:
    """Exact exits of runs for many anchors at once.

    Each round compares a window of consecutive points after every anchor still scanning with
    that anchor: rows of a sliding-window view (one block copy per anchor, not a gather per
    point), distances in place. Windows that run past the end of the track read a copy of its
    last points padded with points that leave every radius, so the end needs no test of its own.
    """

    def __init__(self, track: Track, radius_m: float, wrap: bool) -> None:
        self.lat, self.lon = track.lat, track.lon
        self.moving = track.moving if track.has_moving() else None
        self.n = track.t_us.size
        self.r2 = radius_m * radius_m
        self.wrap = wrap
        self._tail: tuple[int, list[np.ndarray | None]] | None = None
        self._tail_width = 0
        self._view_cache: dict[tuple[bool, int], list[np.ndarray | None]] = {}

    def _columns(self) -> list[np.ndarray | None]:
        return [self.lat, self.lon, self.moving]

    def _tails(self, width: int) -> tuple[int, list[np.ndarray | None]]:
        """(base, columns from point ``base`` = n - ``width`` on, then ``width`` points that leave).

        Kept for the next round, and rebuilt only when a wider window needs it (a stay that
        lasts until the end of the data).
        """
        if self._tail is None or self._tail_width < width:
            base = max(self.n - width, 0)
            fills = (np.full(width, _FAR_LAT), np.zeros(width), np.ones(width, bool))
            cols = [
                None if c is None else np.concatenate([c[base:], f])
                for c, f in zip(self._columns(), fills, strict=True)
            ]
            self._tail, self._tail_width = (base, cols), width
            self._view_cache = {k: v for k, v in self._view_cache.items() if not k[0]}  # views of the old tail
        return self._tail

    def _windows(self, starts: np.ndarray, width: int) -> list[np.ndarray | None]:
        """lat, lon and moving of points ``starts[i]`` to ``starts[i] + width - 1``, one row per start."""
        edge = starts + width > self.n
        if not edge.any():
            return [None if v is None else v[starts] for v in self._views(False, width)]
        base, _ = self._tails(width)
        if edge.all():
            return [None if v is None else v[starts - base] for v in self._views(True, width)]
        inner = ~edge
        out: list[np.ndarray | None] = []
        for full, tail in zip(self._views(False, width), self._views(True, width), strict=True):
            if full is None or tail is None:
                out.append(None)
                continue
            rows = np.empty((starts.size, width), full.dtype)
            rows[inner] = full[starts[inner]]
            rows[edge] = tail[starts[edge] - base]
            out.append(rows)
        return out

    def _views(self, tail: bool, width: int) -> list[np.ndarray | None]:
        """Sliding-window views of the columns (or of the tail copies), made once per width."""
        key = (tail, width)
        if key not in self._view_cache:
            cols = self._tails(width)[1] if tail else self._columns()
            self._view_cache[key] = [None if c is None else sliding_window_view(c, width) for c in cols]
        return self._view_cache[key]

    def exits(self, anchors: np.ndarray, limit: np.ndarray | None = None) -> np.ndarray:
        """For each anchor, the index of the first later point outside its radius (or n).

        With ``limit``, an anchor's scan stops before index ``limit``: -1 then means "no exit
        before the limit" (the run is known to be long enough, its end is not). A point at the
        limit that is outside the radius is still the exit.
        """
        n = self.n
        out = np.full(anchors.size, n, dtype=np.int64)
        lim = np.full(anchors.size, n, dtype=np.int64) if limit is None else np.minimum(limit, n)
        active = np.arange(anchors.size)
        lat0, lon0 = self.lat[anchors], self.lon[anchors]
        kx0 = np.cos(np.radians(lat0))
        offset, width = 1, 32
        while active.size:
            starts = anchors[active] + offset
            lat, lon, moving = self._windows(starts, width)
            assert lat is not None and lon is not None
            # local_d2_m2's arithmetic, in the same order, in place on the window copies
            lat -= lat0[active, None]
            lat *= M_PER_DEG
            lon -= lon0[active, None]
            if self.wrap:
                lon = wrap_dlon(lon)
            lon *= kx0[active, None]
            lon *= M_PER_DEG
            lon *= lon
            lat *= lat
            lon += lat
            leave = lon > self.r2
            if moving is not None:
                leave |= moving
            first = leave.argmax(axis=1)
            first = np.where(leave[np.arange(starts.size), first], first, width)
            rel_lim = lim[active] - starts
            stop = np.minimum(first, rel_lim)
            hit = stop < width
            found = starts + stop
            # stopped at the limit (not the end of the data) without leaving: exit unknown
            found = np.where(first <= rel_lim, np.minimum(found, n), np.where(found < n, -1, n))
            out[active[hit]] = found[hit]
            active = active[~hit]
            offset += width
            width = min(width * 4, _MAX_WIDTH)  # few rounds: each costs ~25 numpy calls
        return out


def _sorted_unique(x: np.ndarray) -> np.ndarray:
    """``np.unique`` for the small integer arrays of one exploration round (a sort and a diff)."""
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if x.size else x


def _window_union(starts: np.ndarray, width: int, end: int) -> np.ndarray:
    """The sorted union of ``range(s, min(s + width, end))`` over sorted, distinct ``starts``.

    Each window is clipped to begin where the windows before it ended, then all are written out
    with one ``repeat``: no sort or hash of the ``width`` × ``starts`` values.
    """
    stop = np.minimum(starts + width, end)
    begin = np.maximum(starts, np.r_[0, np.maximum.accumulate(stop)[:-1]])
    size = np.maximum(stop - begin, 0)
    offset = np.cumsum(size) - size
    return np.repeat(begin - offset, size) + np.arange(int(size.sum()))


_UNKNOWN, _PROVEN, _STAY, _FAILS = 0, 1, 2, 3
"""Anchor states: not examined; a bounded scan proved a stay (exit unknown); examined."""


class _Explorer:
    """Outcomes of candidate anchors under the sliding rule, explored in vectorised rounds.

    Each examined anchor gets its exit, whether its run is a stay, and its successor in the
    sequential rule (the next candidate after its exit if a stay, after itself if not). A round
    examines the successors found in the previous one (a stay's to their exit) plus, bounded by
    ``min_duration_s``, a few candidates ahead of each failure, which usually fail too (the tail
    of a dwell too short to count). The chain from point 0 is then a walk over examined anchors.

    A failure right after a candidate that is not a failure cannot be on the chain unless that
    candidate is skipped by a stay, so its successor is left alone: that is what kept earlier
    versions scanning the same long stay from several anchors. If the walk does reach such a
    successor, it is examined then.
    """

    def __init__(self, track: Track, cand: np.ndarray, params: SegmentParams, wrap: bool) -> None:
        self.t = track.t_us
        self.n = self.t.size
        self.cand = cand
        self.min_us = int(params.min_duration_s * 1e6)
        self.edge_us = int(min(params.edge_min_duration_s, params.min_duration_s) * 1e6)
        self.finder = _RunFinder(track, params.radius_m, wrap)
        self.state = np.zeros(self.n, np.int8)
        self.queued = np.zeros(self.n, bool)  # scratch: the anchors of the next round's full scans
        self.cand_then_n = np.append(cand, self.n)  # the candidate after position p is cand_then_n[p + 1]
        self.seen: list[tuple[np.ndarray, ...]] = []  # (anchor, exit, stay?, successor) per round

    def next_candidate(self, x: np.ndarray) -> np.ndarray:
        cand = self.cand
        pos = np.searchsorted(cand, x)
        return np.where(pos < cand.size, cand[np.minimum(pos, cand.size - 1)], self.n)

    def explore(self, full: np.ndarray, spec: np.ndarray) -> None:
        """Examine ``full`` (to their exit) and ``spec`` (bounded) anchors, and what follows.

        Anchors are always candidates, so a failure's successor and look-ahead come from its
        position in ``cand`` (one search per round), and which anchors were asked for in full
        is carried along rather than searched for.
        """
        t, n, state, cand = self.t, self.n, self.state, self.cand
        while full.size or spec.size:
            anchors = np.concatenate([full, spec])
            asked_full = np.arange(anchors.size) < full.size
            limit = np.concatenate([np.full(full.size, n), np.searchsorted(t, t[spec] + self.min_us) + 1])
            e = self.finder.exits(anchors, limit)
            proven = e < 0  # a stay whose end is not needed yet
            if proven.any():
                p = anchors[proven]
                state[p] = np.maximum(state[p], _PROVEN)
                examined = ~proven
                anchors, e, asked_full = anchors[examined], e[examined], asked_full[examined]
            a = anchors
            dur = t[e - 1] - t[a]
            ok = dur >= self.min_us
            ok |= ((e == n) | (a == 0)) & (dur >= self.edge_us) & (e - 1 > a)
            bad = ~ok
            pos = np.searchsorted(cand, a[bad])  # failures: their positions in cand
            nxt = np.empty(a.size, np.int64)
            nxt[ok] = self.next_candidate(e[ok])
            nxt[bad] = self.cand_then_n[pos + 1]
            self.seen.append((a, e, ok, nxt))
            state[a] = np.where(ok, _STAY, _FAILS)
            prev = state[cand[np.maximum(pos - 1, 0)]]
            live = (pos == 0) | (prev == _FAILS) | (prev == _UNKNOWN) | asked_full[bad]
            follow = np.concatenate([nxt[ok], nxt[bad][live]])
            todo = _sorted_unique(follow[follow < n])
            full = todo[(state[todo] == _UNKNOWN) | (state[todo] == _PROVEN)]
            spec = np.empty(0, np.int64)
            pos = pos[live]
            if pos.size:
                ahead = cand[_window_union(np.sort(pos) + 1, _LOOKAHEAD, cand.size)]  # the next candidates
                self.queued[full] = True
                spec = ahead[(state[ahead] == _UNKNOWN) & ~self.queued[ahead]]
                self.queued[full] = False

    def chain(self) -> tuple[np.ndarray, np.ndarray]:
        """(anchor, exit) of the stays on the sequential rule's chain from point 0."""
        n = self.n
        while True:
            a, e, ok, nxt = (np.concatenate(c) for c in zip(*self.seen, strict=True))
            order = np.argsort(a)
            a, e, ok, nxt = a[order], e[order], ok[order], nxt[order]
            succ = np.searchsorted(a, nxt)
            examined = a[np.minimum(succ, a.size - 1)] == nxt
            succ = np.where(nxt >= n, -1, np.where(examined, succ, -2))  # -2: not examined
            succ_l, ok_l = succ.tolist(), ok.tolist()
            stays: list[int] = []
            pos = 0  # a[0] == 0: the chain starts at the first point
            while True:
                if ok_l[pos]:
                    stays.append(pos)
                if succ_l[pos] < 0:
                    break
                pos = succ_l[pos]
            if succ_l[pos] == -1:
                sel = np.asarray(stays, dtype=np.int64)
                return a[sel], e[sel]
            # the walk reached a successor left alone: examine it (and on), then walk again
            self.explore(nxt[pos : pos + 1], np.empty(0, np.int64))


def sliding_runs(track: Track, params: SegmentParams) -> tuple[np.ndarray, np.ndarray]:
    """(first, last) index of every run the sliding rule makes a stay, in order (``track`` cleaned)."""
    t = track.t_us
    n = t.size
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    wrap = track.wraps()
    min_us = int(params.min_duration_s * 1e6)
    edge_us = int(min(params.edge_min_duration_s, params.min_duration_s) * 1e6)
    cand = _candidates(track, params.radius_m, min_us, edge_us, wrap)
    if not cand.size or cand[0] != 0:  # the leading edge rule needs the first point examined
        cand = np.concatenate([[0], cand])
    explorer = _Explorer(track, cand, params, wrap)
    block_first = cand[np.r_[True, np.diff(cand) > 1]]
    # a block that starts soon after the previous one is most likely the same stay interrupted
    # by a GPS jump: test it with a bounded scan; only blocks after a real break get a full one
    pos = np.searchsorted(cand, block_first)
    prev = cand[np.maximum(pos - 1, 0)]
    soon = (pos > 0) & (t[block_first] - t[prev] < min_us)
    explorer.explore(block_first[~soon], block_first[soon])
    first, exit_ = explorer.chain()
    return first, exit_ - 1


__all__ = ["sliding_runs"]
