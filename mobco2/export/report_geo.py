"""The map's geometry: the period's legs as polylines of their recorded points, and its stays.

Privacy zones (``privacy.zones``) apply here, to what is drawn, never to the store: a point in a
``drop`` zone is removed (a line through it is cut in two), a point in a ``blur`` zone is moved
to its zone's blurred cell centre (:func:`mobco2.privacy.apply`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from mobco2.export.periods import Period

MAX_POINTS_PER_LEG = 400


@dataclass
class Line:
    mode: str
    lat: np.ndarray
    lon: np.ndarray


@dataclass
class Geometry:
    """Polylines (one or more per leg, by mode) and stay dots (degrees, WGS 84)."""

    lines: list[Line] = field(default_factory=list)
    stay_lat: np.ndarray = field(default_factory=lambda: np.zeros(0))
    stay_lon: np.ndarray = field(default_factory=lambda: np.zeros(0))
    hidden_points: int = 0

    @property
    def empty(self) -> bool:
        return not self.lines and not len(self.stay_lat)


def read_geometry(store: Any, legs: pa.Table, period: Period, user_id: str | None, zones: Any) -> Geometry:
    """Points along each of ``legs`` (thinned to at most :data:`MAX_POINTS_PER_LEG`) and the stays
    that overlap the legs' time span, privacy zones applied."""
    from mobco2.privacy import zones_from_config

    zone_list = zones_from_config(list(zones or []))
    geo = Geometry()
    if not legs.num_rows:
        return geo
    user_where = " AND s.user_id = ?" if user_id else ""
    with store.reader() as con:
        con.register("report_period_legs", legs)
        try:
            pts = con.sql(f"""
                WITH g AS (SELECT *, row_number() OVER (ORDER BY user_id, started_at, leg_id) AS k
                           FROM report_period_legs),
                p AS (
                    SELECT g.k, p.ts, p.lat, p.lon,
                           row_number() OVER (PARTITION BY g.k ORDER BY p.ts) AS i,
                           count(*) OVER (PARTITION BY g.k) AS n
                    FROM points p JOIN g ON p.user_id = g.user_id AND p.ts >= g.started_at AND p.ts <= g.finished_at
                    WHERE p.ts >= (SELECT min(started_at) FROM g) AND p.ts <= (SELECT max(finished_at) FROM g)
                )
                SELECT k, lat, lon FROM p
                WHERE n <= {MAX_POINTS_PER_LEG} OR i = 1 OR i = n
                      OR (i - 1) % ((n + {MAX_POINTS_PER_LEG} - 1) // {MAX_POINTS_PER_LEG}) = 0
                ORDER BY k, ts
            """).to_arrow_table()
            lo = legs.column("started_at").to_pylist()
            hi = legs.column("finished_at").to_pylist()
            params: list[Any] = [min(lo), max(hi)] + ([user_id] if user_id else [])
            stays = con.sql(
                f"SELECT lat, lon FROM stays s WHERE s.finished_at >= ? AND s.started_at <= ?{user_where} "
                "ORDER BY s.started_at, s.stay_id", params=params).to_arrow_table()
        finally:
            con.unregister("report_period_legs")
    k = pts.column("k").to_numpy().astype(np.int64) - 1
    lat = pts.column("lat").to_numpy()
    lon = pts.column("lon").to_numpy()
    modes = legs.column("mode").to_pylist()
    ends = [legs.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
            for c in ("start_lat", "start_lon", "end_lat", "end_lon")]
    with_points = set(np.unique(k).tolist())
    # legs without recorded points (from a source's segments) are drawn from end to end
    extra = [i for i in range(legs.num_rows) if i not in with_points and np.isfinite([e[i] for e in ends]).all()]
    if extra:
        k = np.concatenate([k, np.repeat(extra, 2)])
        lat = np.concatenate([lat, np.ravel([[ends[0][i], ends[2][i]] for i in extra])])
        lon = np.concatenate([lon, np.ravel([[ends[1][i], ends[3][i]] for i in extra])])
        order = np.argsort(k, kind="stable")
        k, lat, lon = k[order], lat[order], lon[order]
    keep, lat, lon = _apply(lat, lon, zone_list)
    geo.hidden_points = int((~keep).sum())
    # a new piece starts at each leg and after each dropped point
    cut = np.r_[True, (k[1:] != k[:-1]) | ~keep[:-1]]
    piece = np.cumsum(cut)
    piece = piece[keep]
    k, lat, lon = k[keep], lat[keep], lon[keep]
    if len(k):
        starts = np.flatnonzero(np.r_[True, piece[1:] != piece[:-1]])
        stops = np.r_[starts[1:], len(k)]
        for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
            if b - a >= 2:
                geo.lines.append(Line(modes[int(k[a])] or "unknown", lat[a:b], lon[a:b]))
    s_lat = stays.column("lat").to_numpy().astype(np.float64)
    s_lon = stays.column("lon").to_numpy().astype(np.float64)
    s_keep, s_lat, s_lon = _apply(s_lat, s_lon, zone_list)
    geo.stay_lat, geo.stay_lon = s_lat[s_keep], s_lon[s_keep]
    geo.hidden_points += int((~s_keep).sum())
    return geo


def _apply(lat: np.ndarray, lon: np.ndarray, zones: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`mobco2.privacy.apply`, then also hiding a blurred point whose cell centre falls in a
    drop zone: nothing is drawn inside a drop zone, not even another zone's cell."""
    from mobco2.privacy import apply, zone_index

    keep, lat_out, lon_out = apply(lat, lon, zones)
    drop = [i for i, z in enumerate(zones) if z.action == "drop"]
    if drop and keep.any():
        keep &= ~np.isin(zone_index(lat_out, lon_out, zones), drop)
    return keep, lat_out, lon_out
