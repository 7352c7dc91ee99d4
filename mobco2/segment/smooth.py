"""Leg smoothing: a change of mode is accepted only for a leg long enough to be one.

Dense GPS at borderline speeds (a cyclist slowing for lights, walking pace up a hill) makes
the speed classes flip every few hundred metres; people do not change mode that often. After
the modes are decided, a leg lasting less than ``min_leg_s`` **or** going less than
``min_leg_m`` (its path) is merged into a neighbour of the same trip, the shortest first:

* into both neighbours when they share a mode (bike, a 40 s "walk", bike → one bike leg);
* else into the neighbour with the longer path.

Never merged:

* **a walk between two motorised legs** (the walk to the platform, a change of bus): a real
  transfer, however short — this is what keeps the walk to the station its own leg;
* a leg whose mode a label decided (``mode_source`` ``label``: the user's; or a mode the user
  confirmed in the source app, ``source (confirmed)`` in ``--explain``). A source's *sensed*
  mode (Google's activity type, e-mission's motion type) is a guess like ours and goes the
  same way: Google's 80 m "walk" from the car to the door is not a change of mode worth a leg;
* a trip's only leg (there is no change of mode to accept; ``min_trip_m`` ≥ ``min_leg_m`` keeps
  it from being shorter than a leg);
* into an ``unknown`` leg (a bare jump across a signal gap): the known mode would be lost.

The merged leg takes its neighbour's decision (mode, ``mode_source``, confidence, evidence).
"""

from __future__ import annotations

import numpy as np

from mobco2.segment import infer
from mobco2.segment import trips as tripmod
from mobco2.segment.params import SegmentParams

NOT_MOTORISED = frozenset({"walk", "run", "bike", "ebike", "escooter"})
"""Modes that are not a motorised leg (``unknown``, a bare jump across a gap, counts as motorised:
it is mostly a metro or a vehicle with the tracker paused)."""
_PASSES = 6


def merge_equal(legs: tripmod.Legs, dec: infer.Decision) -> tuple[tripmod.Legs, infer.Decision]:
    """Neighbouring legs of one trip with the same mode and ``mode_source`` as one leg."""
    n = len(legs)
    if n == 0:
        return legs, dec
    new = np.ones(n, bool)
    new[1:] = (legs.trip[1:] != legs.trip[:-1]) | (dec.mode[1:] != dec.mode[:-1]) | (dec.source[1:] != dec.source[:-1])
    g = np.flatnonzero(new)
    if g.size == n:
        return legs, dec
    last_of = np.append(g[1:], n) - 1
    merged = tripmod.Legs(
        trip=legs.trip[g], lo=legs.lo[g], hi=legs.hi[last_of], first=legs.first[g], last=legs.last[last_of]
    )
    return merged, infer.Decision(**{k: v[g] for k, v in dec.__dict__.items()})


def _copy_from(dec: infer.Decision, dst: np.ndarray, src: np.ndarray, why: np.ndarray) -> None:
    for name in ("mode", "source", "conf", "occupancy", "vehicle", "evidence_row", "rule_idx"):
        arr = getattr(dec, name)
        arr[dst] = arr[src]
    dec.note[dst] = why


def smooth_legs(
    legs: tripmod.Legs, dec: infer.Decision, steps: tripmod.Steps, t_us: np.ndarray, params: SegmentParams
) -> tuple[tripmod.Legs, infer.Decision]:
    """Legs after merging the too-short ones into their neighbours (module docstring)."""
    legs, dec = merge_equal(legs, dec)
    cum = np.concatenate([[0.0], np.cumsum(steps.dist_m)])
    for _ in range(_PASSES):
        n = len(legs)
        if n < 2:
            break
        dur = (t_us[legs.last] - t_us[legs.first]) * 1e-6
        dist = cum[legs.hi] - cum[legs.lo]
        prev_same = np.r_[False, legs.trip[1:] == legs.trip[:-1]]
        next_same = np.r_[legs.trip[1:] == legs.trip[:-1], False]
        motor = ~np.isin(dec.mode, list(NOT_MOTORISED))
        prev_motor = np.r_[False, motor[:-1]] & prev_same
        next_motor = np.r_[motor[1:], False] & next_same
        transfer_walk = (dec.mode == "walk") & prev_motor & next_motor
        # an unknown leg (a bare jump across a gap) absorbs nothing: what is known would be lost
        known = dec.mode != "unknown"
        prev_ok = prev_same & np.r_[False, known[:-1]]
        next_ok = next_same & np.r_[known[1:], False]
        short = (dur < params.min_leg_s) | (dist < params.min_leg_m)
        labelled = np.isin(dec.source, ["label", "source"])
        cand = short & ~transfer_walk & ~labelled & (prev_ok | next_ok)
        if not cand.any():
            break
        # shortest first; a candidate waits when a neighbour candidate is shorter (ties: the earlier)
        key = dur + dist / 1000.0
        prev_key = np.r_[np.inf, key[:-1]]
        next_key = np.r_[key[1:], np.inf]
        prev_cand = np.r_[False, cand[:-1]] & prev_same
        next_cand = np.r_[cand[1:], False] & next_same
        go = cand & ~(prev_cand & (prev_key <= key)) & ~(next_cand & (next_key < key))
        idx = np.flatnonzero(go)
        prev_mode = np.r_[None, dec.mode[:-1]]
        next_mode = np.r_[dec.mode[1:], None]
        prev_dist = np.r_[-1.0, dist[:-1]]
        next_dist = np.r_[dist[1:], -1.0]
        both = prev_ok[idx] & next_ok[idx] & (prev_mode[idx] == next_mode[idx])
        into_prev = both | (prev_ok[idx] & (~next_ok[idx] | (prev_dist[idx] >= next_dist[idx])))
        src = np.where(into_prev, idx - 1, idx + 1)
        why = np.array(
            [f"a {m} of {d:.0f} m / {s:.0f} s is below the minimum leg (segment.min_leg_m, segment.min_leg_s): "
             f"merged into the neighbouring {dec.mode[j]} leg"
             for m, d, s, j in zip(dec.mode[idx], dist[idx], dur[idx], src, strict=True)],
            dtype=object,
        )
        _copy_from(dec, idx, src, why)
        legs, dec = merge_equal(legs, dec)
    return legs, dec


__all__ = ["NOT_MOTORISED", "merge_equal", "smooth_legs"]
