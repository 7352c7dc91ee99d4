"""The pure segmentation pipeline: (points, source segments, labels, params) → stays, trips, legs.

``segment_points`` never touches the store; :mod:`mobco2.segment.store_io` feeds it one month
(plus margins) at a time. Same input, same output, same IDs:

* ``stay_id`` = ``s_`` + hash(user, start minute); ``trip_id`` = ``t_`` + hash(user, start
  minute); ``leg_id`` = ``l_`` + hash(user, start minute) — UTC minutes, so a trip keeps its ID
  when a later import adds a point a few seconds off; two objects in one minute get ``-2``, ``-3``.
* The source's own segments and visits join the points by time (:mod:`mobco2.segment.sources_merge`):
  visits are stays; a segment with no raw points inside (a day known only from Google's semantic
  history) becomes synthetic points at its ends, with its own distance and mode, which flow
  through the same stays/trips/legs code and can never be part of a stay; sparse legs take the
  source's distance. Short legs then merge into their neighbours (:mod:`mobco2.segment.smooth`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from mobco2.schema import LEGS, MODES, STAYS, TRIPS, conform
from mobco2.segment import infer, smooth, sources_merge
from mobco2.segment import trips as tripmod
from mobco2.segment.clean import (
    MODE_CODE,
    NO_MODE,
    NO_OFFSET,
    CleanStats,
    clean,
    concat_tracks,
    to_arrow,
    track_from_table,
    ts_to_us,
)
from mobco2.segment.params import SegmentParams
from mobco2.segment.stays import Stays, add_departures, find_stays, trip_end_rules
from mobco2.segment.tz import zones_for

if TYPE_CHECKING:
    import pandas as pd

_ABSORB_WALK_M = 200.0
"""A walk shorter than this between two legs of one inferred vehicle mode is a stop, not a transfer."""


@dataclass
class SegmentResult:
    stays: pa.Table
    trips: pa.Table
    legs: pa.Table
    clean_stats: CleanStats = field(default_factory=CleanStats)
    explanations: dict[str, list[dict[str, Any]]] | None = None
    trip_ends: dict[str, dict[str, str]] | None = None  # with explain: the rule that started/ended each trip
    kept_us: np.ndarray | None = None  # times of the points cleaning kept (UTC µs)
    outside_us: np.ndarray | None = None  # … of those in no stay and no kept trip (a piece too short to count)
    points_dropped: int = 0  # set per month by mobco2.segment.store_io
    points_outside: int = 0


def _outside(track_us: np.ndarray, kept_us: np.ndarray, ranges: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Times of the kept points that no ``first..last`` range of the track covers."""
    cover = np.zeros(track_us.size + 1, np.int64)
    for first, last in ranges:
        np.add.at(cover, first, 1)
        np.add.at(cover, last + 1, -1)
    uncovered = track_us[np.cumsum(cover[:-1]) == 0]
    # the source's synthetic points are not the user's: keep those among kept_us. A binary search in the
    # (already sorted) kept times, not np.isin, whose hashing of 1.5 M values cost a person-year 2.2 s.
    keys = kept_us if kept_us.size < 2 or bool(np.all(kept_us[1:] >= kept_us[:-1])) else np.sort(kept_us)
    at = np.searchsorted(keys, uncovered)
    found = at < keys.size
    found[found] = keys[at[found]] == uncovered[found]
    return uncovered[found]


def make_ids(prefix: str, user_id: str, t_us: np.ndarray) -> np.ndarray:
    """Stable IDs from the user and the UTC start minute (see the module docstring)."""
    minutes = (t_us // 60_000_000).tolist()
    digest = lambda m: hashlib.blake2b(f"{prefix}|{user_id}|{m}".encode(), digest_size=6).hexdigest()  # noqa: E731
    ids = np.array([f"{prefix}_{digest(m)}" for m in minutes], dtype=object)
    seen: dict[str, int] = {}  # the n-th repeat of an ID (in time order) gets "-n+1"; a dict, not pandas
    for k, i in enumerate(ids.tolist()):
        rank = seen.get(i, 0)
        seen[i] = rank + 1
        if rank:
            ids[k] = f"{i}-{rank + 1}"
    return ids


def _segment_arrays(segments: pa.Table | None):
    """Source segments as sorted arrays (start, end, mode code, conf) for per-step hints."""
    if segments is None or segments.num_rows == 0:
        return None
    s0 = ts_to_us(segments.column("started_at"))
    s1 = ts_to_us(segments.column("finished_at"))
    modes = segments.column("mode").to_pylist()
    code = np.array([MODE_CODE.get(m, NO_MODE) if m != "unknown" else NO_MODE for m in modes], np.int16)
    conf = (
        segments.column("confidence").cast(pa.float32()).fill_null(0.7).to_numpy(zero_copy_only=False)
        if "confidence" in segments.column_names
        else np.full(segments.num_rows, 0.7, np.float32)
    )
    order = np.argsort(s0, kind="stable")
    return s0[order], s1[order], code[order], conf[order]


def _hint_majority(steps: tripmod.Steps, legs: tripmod.Legs):
    """Per leg: the time-weighted majority hint, its share of the leg's time and mean confidence."""
    nl = len(legs)
    nm = len(MODES)
    sidx, leg_of_step = tripmod.leg_steps(legs)
    w = np.maximum(steps.dt_s[sidx], 1e-3)
    hint = steps.hint[sidx]
    hint_conf = steps.hint_conf[sidx]
    hinted = hint != NO_MODE
    tot = np.bincount(leg_of_step, weights=w, minlength=nl)
    table = np.bincount(
        leg_of_step[hinted] * nm + hint[hinted], weights=w[hinted], minlength=nl * nm
    ).reshape(nl, nm)
    best = table.argmax(axis=1)
    share = table[np.arange(nl), best] / np.maximum(tot, 1e-9)
    conf_sum = np.bincount(leg_of_step[hinted], weights=np.nan_to_num(hint_conf[hinted], nan=0.7), minlength=nl)
    cnt = np.bincount(leg_of_step[hinted], minlength=nl)
    mode = np.where(table.sum(axis=1) > 0, best, NO_MODE)
    return mode, share, conf_sum / np.maximum(cnt, 1)


def _merge_legs(legs: tripmod.Legs, dec: infer.Decision, dist: np.ndarray):
    """Absorb short walks between two legs of one inferred mode; merge equal neighbours."""
    mode, source = dec.mode.copy(), dec.source.copy()
    n = len(legs)
    if n == 0:  # every trip was too short to keep: nothing to merge
        return legs, dec
    if n >= 3:
        same_trip = (legs.trip[:-2] == legs.trip[1:-1]) & (legs.trip[1:-1] == legs.trip[2:])
        mid = np.arange(1, n - 1)
        absorb = (
            same_trip
            & (mode[mid] == "walk")
            & (source[mid] == "inferred")
            & (mode[mid - 1] == mode[mid + 1])
            & (mode[mid - 1] != "walk")
            & (source[mid - 1] == "inferred")
            & (source[mid + 1] == "inferred")
            & (dist[mid] < _ABSORB_WALK_M)
        )
        mode[mid[absorb]] = mode[mid[absorb] - 1]
        dec.note[mid[absorb]] = "a short stop on foot between two legs of the same mode: absorbed"
    return smooth.merge_equal(legs, infer.Decision(**{**dec.__dict__, "mode": mode, "source": source}))


PUBLIC_TRANSPORT = frozenset({"bus", "coach", "tram", "metro", "train", "rer", "intercity", "hsr", "ferry", "plane"})
"""Modes one waits for: a short stay just before boarding one is a transfer, not an activity."""


def _transfers(trips: tripmod.Trips, stays, legs: tripmod.Legs, mode: np.ndarray, ok_trip, params) -> np.ndarray:
    """Per trip, whether it continues into the next one across a transfer.

    A transfer is a stay of at most ``transfer_max_s`` between two kept trips whose second one
    starts by boarding public transport (:data:`PUBLIC_TRANSPORT`): waiting at a bus stop, on a
    platform, for a connection. The sliding rule sees a stay there; the person is still on the
    way (trackintel likewise lets only stays of 25 minutes or more end a trip).
    """
    nt = len(trips)
    join = np.zeros(nt, bool)
    if nt < 2 or len(legs) == 0:
        return join
    d = trips.dest[:-1]
    linked = (d >= 0) & (trips.origin[1:] == d) & ok_trip[:-1] & ok_trip[1:]
    dd = np.maximum(d, 0)
    short = (stays.end_us[dd] - stays.start_us[dd]) <= params.transfer_max_s * 1e6 if len(stays) else linked
    first_leg = np.searchsorted(legs.trip, np.arange(1, nt))  # legs come trip by trip
    has_leg = first_leg < len(legs)
    fl = np.minimum(first_leg, len(legs) - 1)
    boards = has_leg & (legs.trip[fl] == np.arange(1, nt)) & np.isin(mode[fl], list(PUBLIC_TRANSPORT))
    join[:-1] = linked & short & boards
    return join


def _join_trips(trips: tripmod.Trips, stays, group: np.ndarray, ok_trip: np.ndarray, trip_dist: np.ndarray):
    """Trips joined by ``group`` (trip -> new trip), with the transfer stays between them removed."""
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    ends = np.r_[starts[1:], group.size] - 1
    inner = np.ones(group.size, bool)
    inner[ends] = False  # the destination stay of a trip that is not the last of its group
    dropped = trips.dest[inner]
    dropped = dropped[dropped >= 0]
    keep = np.ones(len(stays), bool)
    keep[dropped] = False
    new_index = np.cumsum(keep) - 1
    remap = lambda idx: np.where(idx >= 0, new_index[np.maximum(idx, 0)] if len(stays) else -1, -1)  # noqa: E731
    joined = tripmod.Trips(
        first=trips.first[starts],
        last=trips.last[ends],
        origin=remap(trips.origin[starts]),
        dest=remap(trips.dest[ends]),
    )
    kept_stays = Stays(*(getattr(stays, f.name)[keep] for f in fields(Stays)))
    ok = np.logical_and.reduceat(ok_trip, starts)
    dist = np.add.reduceat(trip_dist, starts)
    return joined, kept_stays, ok, dist


def _ts(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype(np.int64), pa.timestamp("us", tz="UTC"))


def _empty_result(stats: CleanStats, kept_us: np.ndarray | None = None) -> SegmentResult:
    kept_us = np.empty(0, np.int64) if kept_us is None else kept_us
    return SegmentResult(STAYS.empty_table(), TRIPS.empty_table(), LEGS.empty_table(), stats, {},
                         kept_us=kept_us, outside_us=kept_us)


def segment_points(
    points: pa.Table | pd.DataFrame,
    source_segments: pa.Table | pd.DataFrame | None = None,
    labels: pa.Table | pd.DataFrame | None = None,
    params: SegmentParams | None = None,
    *,
    source_visits: pa.Table | pd.DataFrame | None = None,
    user_id: str | None = None,
    explain: bool = False,
) -> SegmentResult:
    """Stays, trips and legs (Arrow tables in :mod:`mobco2.schema` shapes) of one user.

    ``points`` needs ``ts``, ``lat``, ``lon`` (other :data:`~mobco2.schema.POINTS` columns are
    used when present); ``source_segments``, ``source_visits`` and ``labels`` follow their
    schemas (how the source's segments and visits join the points:
    :mod:`mobco2.segment.sources_merge`). ``co2e_kg``,
    ``baseline_co2e_kg`` and ``factor_id`` are left null for :mod:`mobco2.emissions`.
    With ``explain`` the result carries, per trip id, why each leg got its mode.
    """
    params = params or SegmentParams()
    pts = to_arrow(points)
    segs = to_arrow(source_segments) if source_segments is not None else None
    labs = to_arrow(labels) if labels is not None else None
    if user_id is None:
        for t in (pts, segs):
            if t is not None and "user_id" in t.column_names and t.num_rows:
                users = t.column("user_id").unique().to_pylist()
                if len(users) > 1:
                    raise ValueError(f"segment_points works on one user at a time, got {len(users)}")
                user_id = users[0]
                break
    user_id = user_id or "me"
    stats = CleanStats()
    track = clean(track_from_table(pts), params, stats) if pts.num_rows else track_from_table(pts)
    kept_us = track.t_us.copy()
    src = sources_merge.read_segments(segs)
    visits = sources_merge.read_visits(to_arrow(source_visits) if source_visits is not None else None, labs)
    synth = sources_merge.synthetic_points(track, src, visits, params)
    if synth is not None:
        track = concat_tracks([track, synth])
    if len(track) < 2:
        return _empty_result(stats, kept_us)
    track, departures = add_departures(track, params)
    stays = find_stays(track, params, departures)
    stays, from_visit, time_conflicts = sources_merge.merge_visit_stays(track, stays, visits, src, labs, params)
    trips = tripmod.build_trips(track, stays, params)
    seg_arrays = _segment_arrays(segs)
    steps = tripmod.build_steps(track, trips, params, seg_arrays)
    legs = tripmod.build_legs(track, steps, params)
    # trips too short to matter go, with their legs
    trip_dist = np.bincount(steps.trip, weights=steps.dist_m, minlength=len(trips))
    ok_trip = trip_dist >= params.min_trip_m
    t = track.t_us
    trip_ids_all = make_ids("t", user_id, t[trips.first])
    keep_leg = ok_trip[legs.trip]
    legs = tripmod.Legs(*(a[keep_leg] for a in (legs.trip, legs.lo, legs.hi, legs.first, legs.last)))
    feats = tripmod.leg_features(track, steps, legs, params)
    hint_mode, hint_share, hint_conf = _hint_majority(steps, legs)
    ev = infer.gather_evidence(labs, segs)
    s_us, e_us = t[legs.first], t[legs.last]
    pre_ids = make_ids("l", user_id, s_us)
    dec = infer.decide(
        s_us, e_us, trip_ids_all[legs.trip], pre_ids, feats, hint_mode, hint_share, hint_conf, ev, params
    )
    join = _transfers(trips, stays, legs, dec.mode, ok_trip, params)
    join = sources_merge.keep_visits_apart(join, trips.dest, from_visit)
    group = np.arange(len(trips))  # trip -> trip after joining those around a transfer
    if join.any():
        group = np.concatenate([[0], np.cumsum(~join[:-1])])
        trips, stays, ok_trip, trip_dist = _join_trips(trips, stays, group, ok_trip, trip_dist)
        trip_ids_all = make_ids("t", user_id, t[trips.first])
        # again, now that a label set on the whole trip's id reaches the legs after the transfer
        dec = infer.decide(
            s_us, e_us, trip_ids_all[group[legs.trip]], pre_ids, feats, hint_mode, hint_share, hint_conf, ev, params
        )
    # legs.trip still counts trips as cut by stays: legs never merge across a transfer
    legs, dec = _merge_legs(legs, dec, feats["distance_m"])
    legs, dec = smooth.smooth_legs(legs, dec, steps, track.t_us, params)
    feats = tripmod.leg_features(track, steps, legs, params)
    feats["distance_m"], distance_from = sources_merge.leg_distances(track, steps, legs, src, params)
    legs.trip = group[legs.trip]
    trip_dist, _ = sources_merge.trip_distances(track, trips, legs.trip, feats["distance_m"])
    s_us, e_us = t[legs.first], t[legs.last]
    leg_ids = make_ids("l", user_id, s_us)
    leg_trip_ids = trip_ids_all[legs.trip]
    # stays
    stay_ids = make_ids("s", user_id, stays.start_us)
    first_off = track.tz_offset_min[stays.first] if len(stays) else np.empty(0, np.int16)
    stay_tz = zones_for(stays.lat, stays.lon, stays.start_us, first_off)
    stays_tbl = pa.table(
        {
            "user_id": pa.array([user_id] * len(stays), pa.string()),
            "stay_id": pa.array(stay_ids, pa.string()),
            "started_at": _ts(stays.start_us),
            "finished_at": _ts(stays.end_us),
            "lat": stays.lat,
            "lon": stays.lon,
            "n_points": pa.array(stays.n_points.astype(np.int32)),
            "tz": pa.array(stay_tz, pa.string()),
        }
    )
    # trips
    kept = np.flatnonzero(ok_trip)
    nl_per_trip = np.bincount(legs.trip, minlength=len(trips))
    longest = np.full(len(trips), -1, np.int64)
    if len(legs):
        order = np.lexsort((-feats["distance_m"], legs.trip))
        firsts = np.flatnonzero(np.r_[True, legs.trip[order][1:] != legs.trip[order][:-1]])
        longest[legs.trip[order][firsts]] = order[firsts]
    main_mode = np.full(len(trips), None, dtype=object)
    main_mode[longest >= 0] = dec.mode[longest[longest >= 0]]
    tf, tl = trips.first[kept], trips.last[kept]
    trip_tz = zones_for(track.lat[tf], track.lon[tf], t[tf], track.tz_offset_min[tf])
    purpose = _purposes(t[tf], t[tl], trip_ids_all[kept], ev, params)
    sid = lambda idx: np.where(idx >= 0, stay_ids[np.maximum(idx, 0)] if len(stays) else None, None)  # noqa: E731
    trips_tbl = pa.table(
        {
            "user_id": pa.array([user_id] * kept.size, pa.string()),
            "trip_id": pa.array(trip_ids_all[kept], pa.string()),
            "started_at": _ts(t[tf]),
            "finished_at": _ts(t[tl]),
            "origin_stay_id": pa.array(sid(trips.origin[kept]), pa.string()),
            "dest_stay_id": pa.array(sid(trips.dest[kept]), pa.string()),
            "distance_m": trip_dist[kept],
            "main_mode": pa.array(main_mode[kept], pa.string()),
            "n_legs": pa.array(nl_per_trip[kept].astype(np.int16)),
            "purpose": pa.array(purpose, pa.string()),
            "tz": pa.array(trip_tz, pa.string()),
        }
    )
    leg_tz = zones_for(track.lat[legs.first], track.lon[legs.first], s_us, track.tz_offset_min[legs.first])
    occ = dec.occupancy
    legs_tbl = pa.table(
        {
            "user_id": pa.array([user_id] * len(legs), pa.string()),
            "trip_id": pa.array(leg_trip_ids, pa.string()),
            "leg_id": pa.array(leg_ids, pa.string()),
            "started_at": _ts(s_us),
            "finished_at": _ts(e_us),
            "mode": pa.array(dec.mode, pa.string()),
            "mode_source": pa.array(infer.stored_mode_source(dec.source), pa.string()),
            "mode_conf": pa.array(dec.conf, pa.float32()),
            "distance_m": feats["distance_m"],
            "occupancy": pa.array(np.where(np.isfinite(occ), occ, 0).astype(np.int16), mask=~np.isfinite(occ)),
            "vehicle": pa.array(dec.vehicle, pa.string()),
            "n_points": pa.array(feats["n_points"].astype(np.int32)),
            "speed_median_mps": pa.array(feats["speed_median_mps"], pa.float32()),
            "speed_p95_mps": pa.array(feats["speed_p95_mps"], pa.float32()),
            "start_lat": track.lat[legs.first],
            "start_lon": track.lon[legs.first],
            "end_lat": track.lat[legs.last],
            "end_lon": track.lon[legs.last],
            "tz": pa.array(leg_tz, pa.string()),
        }
    )
    explanations = trip_ends = None
    if explain:
        inferred, inferred_conf, _ = infer.apply_rules(feats, params)
        extra = {
            "distance_from": distance_from,
            "conflict": sources_merge.conflict_notes(
                sources_merge.conflicts(dec, inferred, inferred_conf, feats["n_points"]), s_us, time_conflicts
            ),
        }
        explanations = _explanations(leg_trip_ids, leg_ids, dec, feats, ev, params, extra)
        trip_ends = trip_end_rules(trip_ids_all[kept], trips.origin[kept], trips.dest[kept], stays)
    outside_us = _outside(t, kept_us, [(stays.first, stays.last), (trips.first[kept], trips.last[kept])])
    return SegmentResult(
        conform(stays_tbl, STAYS), conform(trips_tbl, TRIPS), conform(legs_tbl, LEGS), stats, explanations, trip_ends,
        kept_us=kept_us, outside_us=outside_us,
    )


def _purposes(s: np.ndarray, e: np.ndarray, trip_ids: np.ndarray, ev: infer.Evidence, params: SegmentParams):
    """Trip purpose from labels: the user's over the source's; by trip id, else by time overlap
    (also for a label whose trip id no longer comes out of segmentation)."""
    out = np.full(s.size, None, dtype=object)
    if not len(ev):
        return out
    has = np.array([p is not None for p in ev.purpose], bool) & np.isin(ev.kind, ["label", "source"])
    for kind in ("source", "label"):  # the user's last, so it wins
        sel = has & (ev.kind == kind)
        if not sel.any():
            continue
        sub = ev.select(sel)
        known = set(trip_ids.tolist())
        tied = np.array([tid is not None and tid in known for tid in sub.trip_id], bool)
        by_trip = {tid: p for tid, p, ok in zip(sub.trip_id, sub.purpose, tied, strict=True) if ok}
        timed = sub.select(~tied)
        if len(timed):
            j, share = infer.best_overlap(s, e, timed)
            use = (j >= 0) & (share >= params.label_overlap)
            out[use] = timed.purpose[j[use]]
        for i, tid in enumerate(trip_ids):
            if tid in by_trip:
                out[i] = by_trip[tid]
    return out


def _explanations(trip_ids, leg_ids, dec, feats, ev, params, extra) -> dict[str, list[dict[str, Any]]]:
    """Per trip id, one entry per leg: decision, evidence, features and the rule's thresholds."""
    out: dict[str, list[dict[str, Any]]] = {}
    stored = infer.stored_mode_source(dec.source)
    for i in range(len(leg_ids)):
        r = int(dec.rule_idx[i])
        rule = None
        if r >= 0:
            rr = infer.RULES[r]
            rule = {
                "name": rr.name,
                "why": rr.why,
                "conditions": [
                    {"feature": f, "op": op, "threshold": infer.threshold(params, v), "value": float(feats[f][i]),
                     **({"param": v} if isinstance(v, str) else {})}
                    for f, op, v in rr.when
                ],
            }
        j = int(dec.evidence_row[i])
        evidence = None
        if j >= 0:
            evidence = {
                "kind": infer.KIND_WORDS.get(ev.kind[j], ev.kind[j]), "origin": ev.origin[j], "mode": ev.mode[j],
                "started_at": int(ev.start_us[j]), "finished_at": int(ev.end_us[j]),
            }
        out.setdefault(str(trip_ids[i]), []).append(
            {
                "leg_id": str(leg_ids[i]),
                "mode": dec.mode[i],
                "mode_source": stored[i],
                "mode_conf": round(float(dec.conf[i]), 3),
                "reason": dec.note[i],
                "evidence": evidence,
                "rule": rule,
                **{k: v[i] for k, v in extra.items()},
                "features": {k: (None if not np.isfinite(v[i]) else round(float(v[i]), 3)) for k, v in feats.items()},
            }
        )
    return out


__all__ = ["NO_OFFSET", "SegmentResult", "make_ids", "segment_points"]
