"""Segmentation: cleaning, stay (dwell) detection, trips, single-mode legs, mode inference.

Public API::

    from mobco2.segment import detect_stays, segment, segment_points, explain

    stays = detect_stays(points_df, radius_m=100, min_duration_s=300)   # one user's ts/lat/lon
    result = segment_points(points, source_segments, labels)            # pure: stays, trips, legs
    summary = segment(store, user_id="me", since="2024-01-01")           # incremental, in the store
    why = explain(store, "t_3f9a2c1b7d4e")                               # why each leg got its mode

Stages, one module each: :mod:`~mobco2.segment.clean` (accuracy, order, duplicates, spikes),
:mod:`~mobco2.segment.stays` (vectorised sliding dwell detection with gap handling),
:mod:`~mobco2.segment.trips` (trips between stays, legs at mode changes, leg features),
:mod:`~mobco2.segment.infer` (mode by the priority of evidence, documented rules),
:mod:`~mobco2.segment.tz` (IANA zones), :mod:`~mobco2.segment.store_io` (the store).
Thresholds: :class:`~mobco2.segment.params.SegmentParams` (``segment.*`` settings).
"""

from mobco2.segment.infer import RULES, Rule
from mobco2.segment.params import SegmentParams
from mobco2.segment.pipeline import SegmentResult, segment_points
from mobco2.segment.stays import detect_stays
from mobco2.segment.store_io import SegmentSummary, explain, segment

__all__ = [
    "RULES",
    "Rule",
    "SegmentParams",
    "SegmentResult",
    "SegmentSummary",
    "detect_stays",
    "explain",
    "segment",
    "segment_points",
]
