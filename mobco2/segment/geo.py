"""Distances over whole numpy columns.

Two flavours: :func:`haversine_m` (exact on the sphere, for anything that may span hundreds of
kilometres) and :func:`local_d2_m2` (equirectangular squared distance around an anchor, about
4× cheaper and accurate to well under 0.1 % below a few kilometres: what stay detection needs).
"""

from __future__ import annotations

import numpy as np

EARTH_RADIUS_M = 6_371_008.8
M_PER_DEG = np.pi / 180.0 * EARTH_RADIUS_M
"""Metres per degree of latitude (and of longitude at the equator)."""


def wrap_dlon(dlon: np.ndarray) -> np.ndarray:
    """Longitude differences in degrees folded into [-180, 180) (the antimeridian is not a wall)."""
    return (dlon + 540.0) % 360.0 - 180.0


def haversine_m(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in metres between arrays of points given in degrees."""
    p1 = np.radians(lat1)
    p2 = np.radians(lat2)
    dphi = p2 - p1
    dlon = np.asarray(lon2) - np.asarray(lon1)
    if dlon.size and np.abs(dlon).max() > 180.0:  # only across the antimeridian
        dlon = wrap_dlon(dlon)
    dlmb = np.radians(dlon)
    a = np.sin(dphi * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def cos_lat(lat: np.ndarray) -> np.ndarray:
    """cos(latitude), the east-west metres-per-degree scale factor."""
    return np.cos(np.radians(lat))


def local_d2_m2(lat0, lon0, kx0, lat, lon, wrap: bool = False) -> np.ndarray:
    """Squared equirectangular distance in m² from anchors (lat0, lon0; kx0 = cos lat0)."""
    dy = (lat - lat0) * M_PER_DEG
    dlon = lon - lon0
    if wrap:
        dlon = wrap_dlon(dlon)
    dx = dlon * kx0 * M_PER_DEG
    return dx * dx + dy * dy


def needs_wrap(lon: np.ndarray) -> bool:
    """Whether a track comes near the antimeridian (then longitude differences must be folded)."""
    return bool(lon.size) and bool(lon.max() > 179.0 or lon.min() < -179.0)  # no |lon| temporary


_COS_LUT = np.cos(np.radians(np.arange(-900, 901) / 10.0))


def cos_lat_fast(lat: np.ndarray) -> np.ndarray:
    """cos(latitude) from a 0.1° table (relative error < 0.2 %): for tests that have slack."""
    return _COS_LUT[np.rint(lat * 10.0).astype(np.intp) + 900]
