"""Mode of every leg, by the priority of evidence in DESIGN §4.

1. **label** — a user label (``labels.origin == "user"``) set on the leg (``leg_id``), on its
   trip (``trip_id``), or covering at least ``label_overlap`` (50 %) of the leg's time. A label
   set on an id that no longer comes out of segmentation (new points moved the start minute the
   id is hashed from) applies by the target's time span it recorded, the same way;
2. **source** — the source's own confirmed label: a label with another origin (e-mission
   ``mode_confirm``…), or a source segment marked ``confirmed`` (Google "CONFIRMED"), matched
   the same way;
3. **sensed** — the source's sensed or semantic mode: the source segment covering most of the
   leg (≥ 50 %), else the points' ``mode_hint`` when hints cover ≥ 50 % of the leg's time
   (their time-weighted majority). Generic vehicle classes (``car`` from IN_VEHICLE, ``plane``
   from AIR_OR_HSR, ``train`` from IN_RAIL_VEHICLE) are refined by inference when it finds a
   more specific mode of the same family with confidence ≥ 0.6 (then the source is
   ``inferred`` and ``--explain`` says so);
4. **inferred** — the first rule of :data:`RULES` whose conditions all hold on the leg's
   features (see :func:`mobco2.segment.trips.leg_features`); thresholds are
   :class:`~mobco2.segment.params.SegmentParams` fields, so config can change them.

Labels also carry ``occupancy`` and ``vehicle`` (→ the leg) and ``purpose`` (→ the trip).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from mobco2.schema import MODES
from mobco2.segment.clean import NO_MODE, ts_to_us
from mobco2.segment.params import SegmentParams

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}


@dataclass(frozen=True)
class Rule:
    """``mode`` with confidence ``conf`` when every (feature, op, threshold) condition holds.

    A threshold is the name of a :class:`SegmentParams` field or a number.
    """

    name: str
    mode: str
    conf: float
    when: tuple[tuple[str, str, str | float], ...]
    why: str


RULES: tuple[Rule, ...] = (
    Rule(
        "plane-speed",
        "plane",
        0.9,
        (("speed_p95_mps", ">", "plane_speed_mps"), ("speed_median_mps", ">=", "plane_median_mps")),
        "sustained speeds beyond any train (TGVs and ICEs run at 300-320 km/h)",
    ),
    Rule(
        "plane-gap",
        "plane",
        0.8,
        (
            ("gap_share", ">=", 0.5),
            ("distance_m", ">=", "plane_gap_m"),
            ("speed_mean_mps", ">=", "plane_gap_speed_mps"),
            ("speed_p95_tracked_mps", "<", "train_speed_mps"),
        ),
        "a long jump across a signal gap, faster than road or classic rail, with airport-like ends: "
        "the fixes around the gap never move at rail speed (a train that loses its signal is seen "
        "running fast before and after)",
    ),
    Rule(
        "unseen",
        "unknown",
        0.0,
        (("gap_share", ">=", 0.8), ("n_points", "<=", 3), ("speed_mean_mps", "<", "bike_max_speed_mps")),
        "a bare jump across a signal gap at a speed many modes share (underground rail, a bus, a "
        "bike or a car with the tracker paused): nothing seen says which; label it, and the "
        "footprint bounds it meanwhile",
    ),
    Rule(
        "hsr",
        "hsr",
        0.75,
        (
            ("speed_p95_mps", ">=", "hsr_speed_mps"),
            ("speed_median_mps", ">=", "hsr_median_mps"),
            ("straightness", ">=", "rail_straightness"),
        ),
        "above ~200 km/h, cruising fast most of the time, on a straight, rail-like path",
    ),
    Rule(
        "train",
        "train",
        0.65,
        (
            ("speed_p95_mps", ">=", "train_speed_mps"),
            ("speed_median_mps", ">=", "train_median_mps"),
            ("turns_per_km", "<=", "car_max_turns_per_km"),
            ("stops_per_km", "<=", "train_max_stops_per_km"),
        ),
        "fast and fast most of the time, without the sharp turns and frequent stops of roads "
        "(sparse fixes hide a car's turns and stops, not its slow median in town)",
    ),
    Rule("car-fast", "car", 0.6, (("speed_p95_mps", ">=", "train_speed_mps"),), "fast with road-like turns or stops"),
    Rule(
        "bus",
        "bus",
        0.55,
        (
            ("speed_p95_mps", ">=", 7.5),
            ("speed_p95_mps", "<=", "bus_max_speed_mps"),
            ("speed_median_mps", "<=", "bus_max_median_mps"),
            ("stops_per_km", ">=", "bus_min_stops_per_km"),
        ),
        "urban top speeds, slow overall, a stop every few hundred metres",
    ),
    Rule("car", "car", 0.6, (("speed_p95_mps", ">=", "car_speed_mps"),), "motorised speeds without bus-like stops"),
    Rule(
        "bike",
        "bike",
        0.6,
        (("speed_median_mps", ">=", "walk_median_mps"), ("speed_p95_mps", "<", "bike_max_speed_mps")),
        "faster than walking, slower than traffic",
    ),
    Rule("walk", "walk", 0.7, (("speed_median_mps", "<", "walk_median_mps"),), "walking speed"),
)
"""The default inference rules, tried in order; a leg no rule fits is ``unknown``."""

_REFINE = {
    "car": {"bus", "coach", "tram", "metro", "train", "rer", "intercity", "hsr", "plane"},
    "plane": {"hsr", "train", "intercity"},
    "train": {"tram", "metro", "rer", "intercity", "hsr"},
}
"""Generic sensed modes and the more specific modes that inference may put in their place."""
_REFINE_MIN_CONF = 0.6
_GENERIC_RAW = {"IN_VEHICLE", "IN_ROAD_VEHICLE", "IN_RAIL_VEHICLE", "AIR_OR_HSR", "MOTIONTYPES.IN_VEHICLE"}


def threshold(params: SegmentParams, value: str | float) -> float:
    return float(getattr(params, value)) if isinstance(value, str) else float(value)


def apply_rules(features: dict[str, np.ndarray], params: SegmentParams, rules=RULES):
    """(mode, conf, rule index or -1) per leg: the first rule whose conditions all hold."""
    n = len(next(iter(features.values()))) if features else 0
    rule_idx = np.full(n, -1, np.int64)
    for i, rule in enumerate(rules):
        ok = rule_idx < 0
        for feat, op, value in rule.when:
            with np.errstate(invalid="ignore"):
                ok &= _OPS[op](features[feat], threshold(params, value))
        rule_idx[ok] = i
    modes = np.array([r.mode for r in rules] + ["unknown"], dtype=object)[rule_idx]
    conf = np.array([r.conf for r in rules] + [0.0])[rule_idx]
    return modes, conf, rule_idx


@dataclass
class Evidence:
    """Mode evidence as intervals: labels and source segments, normalised to arrays."""

    kind: np.ndarray  # "label" | "source" | "sensed"
    start_us: np.ndarray
    end_us: np.ndarray
    mode: np.ndarray  # object: canonical mode or None
    conf: np.ndarray
    trip_id: np.ndarray  # object or None
    leg_id: np.ndarray
    occupancy: np.ndarray  # float, NaN when unknown
    vehicle: np.ndarray
    purpose: np.ndarray
    generic: np.ndarray  # bool: a generic vehicle class (refinable)
    origin: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)

    def select(self, mask: np.ndarray) -> Evidence:
        return Evidence(**{k: v[mask] for k, v in self.__dict__.items()})


def _col(table: pa.Table, name: str, default: Any = None) -> np.ndarray:
    if table is None or name not in table.column_names:
        return np.full(0 if table is None else table.num_rows, default, dtype=object)
    return np.asarray(table.column(name).to_pylist(), dtype=object)


def _times(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, np.iinfo(np.int64).min, np.int64)
    return ts_to_us(table.column(name))


def gather_evidence(labels: pa.Table | None, segments: pa.Table | None) -> Evidence:
    """Labels and source segments as one :class:`Evidence` table."""
    parts = []
    if labels is not None and labels.num_rows:
        origin = _col(labels, "origin")
        kind = np.where(origin == "user", "label", "source").astype(object)
        occ = _col(labels, "occupancy")
        parts.append(
            dict(
                kind=kind,
                start_us=_times(labels, "started_at"),
                end_us=_times(labels, "finished_at"),
                mode=np.array([m if m in MODES and m != "unknown" else None for m in _col(labels, "mode")], object),
                conf=np.where(kind == "label", 1.0, 0.95),
                trip_id=_col(labels, "trip_id"),
                leg_id=_col(labels, "leg_id"),
                occupancy=np.array([np.nan if o is None else float(o) for o in occ]),
                vehicle=_col(labels, "vehicle"),
                purpose=_col(labels, "purpose"),
                generic=np.zeros(labels.num_rows, bool),
                origin=origin,
            )
        )
    if segments is not None and segments.num_rows:
        n = segments.num_rows
        confirmed = np.array([bool(c) for c in _col(segments, "confirmed", False)], bool)
        raw = [str(r).upper() if r is not None else "" for r in _col(segments, "raw_mode")]
        conf = np.array([np.nan if c is None else float(c) for c in _col(segments, "confidence")])
        parts.append(
            dict(
                kind=np.where(confirmed, "source", "sensed").astype(object),
                start_us=_times(segments, "started_at"),
                end_us=_times(segments, "finished_at"),
                mode=np.array([m if m in MODES and m != "unknown" else None for m in _col(segments, "mode")], object),
                conf=np.where(confirmed, 0.9, np.where(np.isfinite(conf), np.clip(conf, 0.3, 0.9), 0.7)),
                trip_id=np.full(n, None, object),
                leg_id=np.full(n, None, object),
                occupancy=np.full(n, np.nan),
                vehicle=np.full(n, None, object),
                purpose=np.full(n, None, object),
                generic=np.array([r.split(".")[-1] in _GENERIC_RAW or r in _GENERIC_RAW for r in raw], bool),
                origin=_col(segments, "origin"),
            )
        )
    if not parts:
        empty = {k: np.empty(0, object) for k in Evidence.__dataclass_fields__}
        empty.update(
            start_us=np.empty(0, np.int64), end_us=np.empty(0, np.int64), conf=np.empty(0),
            occupancy=np.empty(0), generic=np.empty(0, bool),
        )
        return Evidence(**empty)
    return Evidence(**{k: np.concatenate([p[k] for p in parts]) for k in parts[0]})


def best_overlap(s: np.ndarray, e: np.ndarray, ev: Evidence, chunk: int = 512):
    """For each interval [s, e): the evidence row covering most of it and that share (0..1)."""
    n = s.size
    best = np.full(n, -1, np.int64)
    share = np.zeros(n)
    timed = (ev.start_us != np.iinfo(np.int64).min) & (ev.end_us != np.iinfo(np.int64).min)
    if not timed.any() or n == 0:
        return best, share
    rows = np.flatnonzero(timed)
    e0, e1 = ev.start_us[rows], ev.end_us[rows]
    for c in range(0, n, chunk):
        ss, ee = s[c : c + chunk], e[c : c + chunk]
        near = (e0 < ee.max()) & (e1 > ss.min())
        if not near.any():
            continue
        r = rows[near]
        ov = np.clip(np.minimum(ee[:, None], e1[near][None, :]) - np.maximum(ss[:, None], e0[near][None, :]), 0, None)
        j = ov.argmax(axis=1)
        dur = np.maximum(ee - ss, 1)
        got = ov[np.arange(ss.size), j] / dur
        best[c : c + chunk] = np.where(got > 0, r[j], -1)
        share[c : c + chunk] = got
    return best, share


@dataclass
class Decision:
    mode: np.ndarray
    source: np.ndarray
    conf: np.ndarray
    occupancy: np.ndarray
    vehicle: np.ndarray
    evidence_row: np.ndarray  # the evidence that decided (-1: inference or point hints)
    rule_idx: np.ndarray  # the inference rule that fired (-1: none)
    note: np.ndarray  # object: a sentence for --explain


def tied_rows(ev: Evidence, trip_ids, leg_ids) -> np.ndarray:
    """Which evidence rows are tied to an id this run produced: a ``leg_id`` among ``leg_ids``,
    or (with no leg id) a ``trip_id`` among ``trip_ids``.

    Every other row, including a label whose leg or trip id is gone (a re-import moved the
    start minute the id hashes), applies by its recorded time span.
    """
    legs, trips = set(leg_ids.tolist()), set(trip_ids.tolist())
    return np.array(
        [(lid in legs) if lid is not None else (tid is not None and tid in trips)
         for lid, tid in zip(ev.leg_id, ev.trip_id, strict=True)],
        bool,
    )


def _match(kind: str, ev: Evidence, s, e, trip_ids, leg_ids, min_share: float):
    """Row of the ``kind`` evidence applying to each leg (-1: none): leg id, trip id, then time.

    Rows come oldest first (labels are read in ``set_at`` order): by id the newest wins; by
    time, the best overlap, the newest among equals.
    """
    sub = np.flatnonzero((ev.kind == kind) & np.array([m is not None for m in ev.mode], bool))
    out = np.full(s.size, -1, np.int64)
    how = np.full(s.size, "", dtype=object)
    if not sub.size:
        return out, how
    sel = ev.select(np.isin(np.arange(len(ev)), sub))
    tied = tied_rows(sel, trip_ids, leg_ids)
    by_leg = {lid: sub[i] for i, lid in enumerate(sel.leg_id) if tied[i] and lid is not None}
    by_trip = {tid: sub[i] for i, tid in enumerate(sel.trip_id) if tied[i] and sel.leg_id[i] is None}
    if by_leg or by_trip:
        for i in range(s.size):
            if leg_ids[i] in by_leg:
                out[i], how[i] = by_leg[leg_ids[i]], "leg id"
            elif trip_ids[i] in by_trip:
                out[i], how[i] = by_trip[trip_ids[i]], "trip id"
    untied = np.flatnonzero(~tied)[::-1]  # newest first: best_overlap keeps the first of equals
    if untied.size:
        j, share = best_overlap(s, e, sel.select(untied))
        use = (out < 0) & (j >= 0) & (share >= min_share)
        rows = sub[untied]
        out[use] = rows[j[use]]
        gone = np.array([sel.leg_id[k] is not None or sel.trip_id[k] is not None for k in untied], bool)
        how[use] = [
            f"covers {x:.0%} of the leg" + (" (its target id is gone: matched by time)" if g else "")
            for x, g in zip(share[use], gone[j[use]], strict=True)
        ]
    return out, how


def decide(
    s: np.ndarray,
    e: np.ndarray,
    trip_ids: np.ndarray,
    leg_ids: np.ndarray,
    features: dict[str, np.ndarray],
    hint_mode: np.ndarray,
    hint_share: np.ndarray,
    hint_conf: np.ndarray,
    ev: Evidence,
    params: SegmentParams,
    rules=RULES,
) -> Decision:
    """The mode of each leg by the priority of evidence (module docstring)."""
    n = s.size
    inf_mode, inf_conf, rule_idx = apply_rules(features, params, rules)
    mode = inf_mode.copy()
    source = np.full(n, "inferred", dtype=object)
    conf = inf_conf.astype(float)
    row = np.full(n, -1, np.int64)
    note = np.array([f"rule {rules[r].name}: {rules[r].why}" if r >= 0 else "no rule fits" for r in rule_idx], object)
    # sensed: point hints, then a source segment (stronger: it is the source's own segmentation)
    hinted = (hint_mode != NO_MODE) & (hint_share >= params.label_overlap)
    hm = np.array(MODES, dtype=object)[np.maximum(hint_mode, 0)]
    generic_hint = np.isin(hm, list(_REFINE))
    _set(hinted, hm, "sensed", np.clip(hint_share * np.nan_to_num(hint_conf, nan=0.7), 0.3, 0.9), -1, None,
         mode, source, conf, row, note, generic_hint, inf_mode, inf_conf, how="points' mode hints")
    for kind in ("sensed", "source", "label"):
        j, how = _match(kind, ev, s, e, trip_ids, leg_ids, params.label_overlap)
        hit = j >= 0
        if not hit.any():
            continue
        jj = np.maximum(j, 0)
        generic = np.where(hit, ev.generic[jj], False) if kind == "sensed" else np.zeros(n, bool)
        _set(hit, ev.mode[jj], kind, ev.conf[jj], j, ev.origin[jj], mode, source, conf, row, note,
             generic, inf_mode, inf_conf, how=how)
    rows = np.maximum(row, 0)
    from_label = (row >= 0) & np.isin(source, ["label", "source"])
    occupancy = np.where(from_label, ev.occupancy[rows] if len(ev) else np.nan, np.nan)
    vehicle = np.where(from_label, ev.vehicle[rows] if len(ev) else None, None)
    rule_used = np.where(source == "inferred", rule_idx, -1)
    return Decision(mode, source, conf.astype(np.float32), occupancy, vehicle, row, rule_used, note)


KIND_WORDS = {"source": "source (confirmed)", "sensed": "source (sensed)"}
"""How ``--explain`` names the two levels of a source's evidence, both stored as ``source``."""


def stored_mode_source(kind: np.ndarray) -> np.ndarray:
    """The ``mode_source`` column (:data:`mobco2.schema.MODE_SOURCES`) of the decision's evidence
    levels: a source's sensed mode ranks below its confirmed one here, but both are the source's."""
    return np.where(kind == "sensed", "source", kind).astype(object)


def _set(hit, new_mode, kind, new_conf, rows, origin, mode, source, conf, row, note, generic, inf_mode, inf_conf, how):
    """Apply evidence of ``kind`` where ``hit``; generic classes give way to specific inference."""
    idx = np.flatnonzero(hit)
    for i in idx.tolist():
        m = new_mode[i]
        h = how if isinstance(how, str) else how[i]
        org = "" if origin is None else f" ({origin[i]})"
        if generic[i] and inf_mode[i] in _REFINE.get(m, ()) and inf_conf[i] >= _REFINE_MIN_CONF:
            mode[i], source[i], conf[i] = inf_mode[i], "inferred", inf_conf[i]
            said = f"{KIND_WORDS.get(kind, kind)}{org} says {m} ({h})"
            note[i] = f"{said}, a generic class: refined to {inf_mode[i]} by inference"
            row[i] = rows if isinstance(rows, int) else rows[i]
            continue
        mode[i], source[i], conf[i] = m, kind, float(new_conf[i])
        row[i] = rows if isinstance(rows, int) else rows[i]
        note[i] = f"{KIND_WORDS.get(kind, kind)}{org}: {m} ({h})"
