"""Privacy zones: places (home, work, …) hidden from everything mobco2 shows or exports.

Zones live in ``config.toml`` and are applied when data leaves the store (exports, the report's map
and place names, the FMD attestation); the stored data itself is never changed::

    [[privacy.zones]]
    lat = 46.1591
    lon = -1.1520
    radius_m = 300
    action = "drop"      # points inside are removed
    name = "home"        # optional: shown instead of coordinates

    [[privacy.zones]]
    lat = 46.1700
    lon = -1.1800
    radius_m = 200
    action = "blur"      # points inside are moved to one point that reveals only a ~radius-sized cell

A point is inside a zone when its great-circle distance to the centre is at most ``radius_m``.
Where zones overlap, ``drop`` wins over ``blur``.

Example::

    zones = zones_from_config(config.load())
    keep, lat, lon = apply(points_lat, points_lon, zones)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mobco2.errors import ConfigError

EARTH_RADIUS_M = 6_371_008.8
ACTIONS = ("drop", "blur")


@dataclass(frozen=True)
class Zone:
    """A disc hidden from outputs: centre in degrees (WGS 84), radius in metres, what to do inside."""

    lat: float
    lon: float
    radius_m: float
    action: str = "drop"
    name: str = ""

    def blurred_point(self) -> tuple[float, float]:
        """Where a ``blur`` zone's points are shown: the centre of the grid cell (side ``2 × radius_m``,
        at least 500 m) that holds the zone's centre, so the output tells the cell, not the place."""
        cell_m = max(2.0 * self.radius_m, 500.0)
        dlat = math.degrees(cell_m / EARTH_RADIUS_M)
        lat = (math.floor(self.lat / dlat) + 0.5) * dlat
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        lon = (math.floor(self.lon / dlon) + 0.5) * dlon
        return round(lat, 5), round(((lon + 180.0) % 360.0) - 180.0, 5)


def zone_from_mapping(item: Mapping[str, Any], where: str) -> Zone:
    """One ``[[privacy.zones]]`` table, checked; ``where`` names it in errors."""
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where} is not a table", hint="write [[privacy.zones]] with lat, lon, radius_m, action")
    unknown = sorted(set(item) - {"lat", "lon", "radius_m", "action", "name"})
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}", hint="keys are lat, lon, radius_m, action, name")
    try:
        lat, lon, radius = float(item["lat"]), float(item["lon"]), float(item.get("radius_m", 200.0))
    except KeyError as e:
        raise ConfigError(f"{where}: missing {e.args[0]}", hint="a zone needs lat and lon (degrees)") from None
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: lat, lon and radius_m must be numbers", hint="e.g. lat = 46.16") from None
    if not (math.isfinite(lat) and -90.0 <= lat <= 90.0 and math.isfinite(lon) and -180.0 <= lon <= 180.0):
        raise ConfigError(f"{where}: ({lat}, {lon}) is not a coordinate", hint="lat in [-90, 90], lon in [-180, 180]")
    if not (math.isfinite(radius) and 0.0 < radius <= 100_000.0):
        raise ConfigError(f"{where}: radius_m = {radius} is out of range", hint="use 1 to 100000 metres")
    action = str(item.get("action", "drop"))
    if action not in ACTIONS:
        raise ConfigError(f"{where}: action = {action!r} is not allowed", hint="use drop or blur")
    return Zone(lat, lon, radius, action, str(item.get("name", "")))


def zones_from_config(cfg: Any) -> tuple[Zone, ...]:
    """The zones of a :class:`mobco2.config.Config` (or a list of mappings)."""
    items = cfg["privacy.zones"] if not isinstance(cfg, list | tuple) else cfg
    return tuple(zone_from_mapping(item, f"privacy.zones[{i}]") for i, item in enumerate(items))


def _distance_m(lat: np.ndarray, lon: np.ndarray, zone: Zone) -> np.ndarray:
    """Haversine distance of each point to the zone's centre, in metres."""
    p1, p2 = np.radians(lat), math.radians(zone.lat)
    dp = p1 - p2
    dl = np.radians(lon) - math.radians(zone.lon)
    h = np.sin(dp / 2.0) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dl / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def zone_index(
    lat: Sequence[float] | np.ndarray, lon: Sequence[float] | np.ndarray, zones: Iterable[Zone]
) -> np.ndarray:
    """For each point, the index of the zone that governs it (``-1`` outside every zone).

    A ``drop`` zone governs over a ``blur`` zone; among zones of one action, the first listed.
    Points with a missing (NaN) coordinate are outside every zone."""
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    out = np.full(lat.shape, -1, dtype=np.int64)
    zones = list(zones)
    for action in ("blur", "drop"):  # drop last, so it overwrites blur
        for i in reversed(range(len(zones))):  # the first listed wins within an action
            z = zones[i]
            if z.action == action:
                with np.errstate(invalid="ignore"):
                    out[_distance_m(lat, lon, z) <= z.radius_m] = i
    return out


def inside(lat: Sequence[float] | np.ndarray, lon: Sequence[float] | np.ndarray, zones: Iterable[Zone]) -> np.ndarray:
    """Whether each point is inside any zone."""
    return zone_index(lat, lon, zones) >= 0


def apply(
    lat: Sequence[float] | np.ndarray, lon: Sequence[float] | np.ndarray, zones: Iterable[Zone]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply zones to points: ``(keep, lat_out, lon_out)``.

    ``keep`` is False for points in a ``drop`` zone (the caller removes them); points in a ``blur``
    zone are kept with their coordinates replaced by :meth:`Zone.blurred_point`. Inputs are not changed.
    """
    zones = list(zones)
    lat_out = np.array(lat, dtype=np.float64, copy=True)
    lon_out = np.array(lon, dtype=np.float64, copy=True)
    idx = zone_index(lat_out, lon_out, zones)
    keep = np.ones(lat_out.shape, dtype=bool)
    for i, z in enumerate(zones):
        hit = idx == i
        if not hit.any():
            continue
        if z.action == "drop":
            keep[hit] = False
        else:
            lat_out[hit], lon_out[hit] = z.blurred_point()
    return keep, lat_out, lon_out


def place_label(lat: float, lon: float, zones: Iterable[Zone]) -> str | None:
    """What to show for a place inside a zone (its name, or "private zone"); ``None`` outside."""
    zones = list(zones)
    i = int(zone_index([lat], [lon], zones)[0])
    if i < 0:
        return None
    return zones[i].name or "private zone"
