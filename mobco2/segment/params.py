"""Segmentation parameters: one frozen dataclass, read from config (``segment.*`` settings).

Every threshold that decides a stay, a trip, a leg or a mode lives here with its unit in its
name, so that ``mobco2 segment --explain`` can show it and ``params_hash`` can tell when a
change of settings makes stored results stale.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

# 3: stay centres on the antimeridian; 4: bare gaps at mixed speeds are unknown; 5: real-phone trip ends;
# 6: source visits are stays, source distances for sparse legs, leg smoothing;
# 7: mode_source is label/source/inferred (a source's sensed mode is stored as source)
ALGORITHM_VERSION = 7
"""Bump when the algorithm changes in a way that changes results: every month is recomputed."""


@dataclass(frozen=True)
class SegmentParams:
    """Thresholds for cleaning, stays, trips, legs and mode inference (units in the names)."""

    # cleaning
    max_accuracy_m: float = 200.0
    max_speed_mps: float = 300.0
    # stays
    radius_m: float = 100.0
    min_duration_s: float = 300.0
    gap_s: float = 600.0
    gap_stay_max_speed_mps: float = 0.5
    edge_min_duration_s: float = 120.0
    merge_gap_s: float = 300.0
    untracked_gap_s: float = 12 * 3600.0
    # real-phone trip ends (issue 14, docs/real-days.md)
    paused_gap_s: float = 180.0
    departure_speed_mps: float = 1.3
    arrival_hint_max_s: float = 120.0
    arrival_hint_min_conf: float = 0.5
    vehicle_stay_max_s: float = 600.0
    vehicle_stay_share: float = 0.5
    # trips and legs
    min_trip_m: float = 150.0  # no less than min_leg_m: a trip is at least one leg that can stand alone
    transfer_max_s: float = 1800.0
    speed_window_s: float = 8.0
    walk_max_mps: float = 2.3
    stop_max_mps: float = 1.0
    min_walk_s: float = 60.0
    min_walk_m: float = 40.0
    min_fast_s: float = 30.0
    label_overlap: float = 0.5
    # mode inference thresholds (see mobco2.segment.infer.RULES)
    plane_speed_mps: float = 97.0
    plane_median_mps: float = 55.0
    plane_gap_m: float = 100_000.0
    plane_gap_speed_mps: float = 55.0
    hsr_speed_mps: float = 55.0
    hsr_median_mps: float = 35.0
    rail_straightness: float = 0.8
    train_speed_mps: float = 22.0
    train_median_mps: float = 12.0
    car_max_turns_per_km: float = 0.15
    train_max_stops_per_km: float = 0.3
    bus_min_stops_per_km: float = 1.5
    bus_max_speed_mps: float = 18.0
    bus_max_median_mps: float = 6.5
    car_speed_mps: float = 9.0
    bike_max_speed_mps: float = 12.0
    walk_median_mps: float = 2.2
    # leg smoothing and source evidence (mobco2.segment.smooth, mobco2.segment.sources_merge)
    min_leg_s: float = 60.0
    min_leg_m: float = 150.0
    source_sparse_step_s: float = 60.0

    @classmethod
    def from_config(cls, cfg: Any = None, **overrides: Any) -> SegmentParams:
        """Parameters from a :class:`mobco2.config.Config` (its ``segment.*`` keys), then overrides."""
        values: dict[str, Any] = {}
        if cfg is not None:
            known = {f.name for f in fields(cls)}
            values = {k: v for k, v in cfg.section("segment").items() if k in known}
        values.update(overrides)
        return cls(**values)

    def with_(self, **changes: Any) -> SegmentParams:
        return replace(self, **changes)

    def params_hash(self) -> str:
        """A short hash of every parameter and the algorithm version (stale-result detection)."""
        blob = json.dumps({"v": ALGORITHM_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()
