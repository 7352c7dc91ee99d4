"""IANA time zone of stays, trips and legs.

From coordinates with the offline ``timezonefinder`` (looked up once per 0.01° cell, ~1 km,
never per point), checked against the source's own UTC offset where points carry one
(``tz_offset_min``): when the coordinates' zone disagrees with what the device said at that
instant (a border, a phone on home time), the device wins and the zone becomes the fixed
``Etc/GMT±h`` of its offset (or the coordinates' zone when the offset is not whole hours).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np

from mobco2.segment.clean import NO_OFFSET

_CELL_DEG = 0.01


@cache
def _finder():
    from timezonefinder import TimezoneFinder

    return TimezoneFinder(in_memory=True)


@cache
def zone_at_cell(lat_cell: int, lon_cell: int) -> str:
    """Zone name at the centre of a 0.01° cell ("UTC" when none is known, e.g. at sea)."""
    lat = lat_cell * _CELL_DEG
    lon = lon_cell * _CELL_DEG
    try:
        name = _finder().timezone_at(lng=lon, lat=lat)
    except ValueError:
        name = None
    return name or "UTC"


@cache
def _offset_min(zone: str, hour_key: int) -> int:
    when = datetime.fromtimestamp(hour_key * 3600, tz=UTC)
    off = ZoneInfo(zone).utcoffset(when)
    return int(off.total_seconds() // 60) if off is not None else 0


def zones_for(lat: np.ndarray, lon: np.ndarray, t_us: np.ndarray, offset_min: np.ndarray | None = None) -> np.ndarray:
    """IANA zone names (object array) for places at times (µs UTC), honouring device offsets."""
    n = lat.size
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    cells = np.stack([np.rint(lat / _CELL_DEG), np.rint(lon / _CELL_DEG)], axis=1).astype(np.int64)
    uniq, inv = np.unique(cells, axis=0, return_inverse=True)
    names = np.array([zone_at_cell(int(a), int(b)) for a, b in uniq], dtype=object)
    out[:] = names[inv.reshape(-1)]
    if offset_min is None:
        return out
    known = np.flatnonzero(offset_min != NO_OFFSET)
    for i in known.tolist():  # one check per stay/trip that carries an offset, cached per hour
        off = int(offset_min[i])
        if _offset_min(out[i], int(t_us[i] // 3_600_000_000)) != off and off % 60 == 0:
            h = -off // 60  # POSIX sign: Etc/GMT-2 is UTC+2
            out[i] = "UTC" if h == 0 else f"Etc/GMT{h:+d}"
    return out
