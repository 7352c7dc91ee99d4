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


# --- suggesting zones from the stays table (`mobco2 privacy suggest`, the FMD's places) ---

NIGHT_HOUR = 3
"""A stay is a night at home when it covers 03:00 local time."""
DAY_HOURS = (10, 16)
"""A stay is a working day when, on a weekday, it covers at least :data:`DAY_MIN_H` of 10:00–16:00."""
DAY_MIN_H = 3.0
CLUSTER_M = 200.0
"""Stays whose centres are this close (metres) are the same place."""


@dataclass(frozen=True)
class Place:
    """A frequent place found in the stays: ``kind`` is ``home`` or ``work``; ``days`` the nights or
    working days it explains; ``first_day``/``last_day`` the local dates they span."""

    kind: str
    lat: float
    lon: float
    days: int
    first_day: str
    last_day: str


def _night_and_day_counts(stays: list[dict]) -> list[tuple[set[str], set[str]]]:
    """For each stay: the local dates of the nights (03:00) and of the working days it covers."""
    from datetime import datetime, timedelta

    out = []
    for s in stays:
        start, end = s["start_local"], s["end_local"]
        nights, days = set(), set()
        day = datetime(start.year, start.month, start.day)
        while day <= end:
            night = day + timedelta(hours=NIGHT_HOUR)
            if start <= night <= end:
                nights.add(day.date().isoformat())
            if day.weekday() < 5:
                lo = max(start, day + timedelta(hours=DAY_HOURS[0]))
                hi = min(end, day + timedelta(hours=DAY_HOURS[1]))
                if (hi - lo).total_seconds() >= DAY_MIN_H * 3600:
                    days.add(day.date().isoformat())
            day += timedelta(days=1)
        out.append((nights, days))
    return out


def _clusters(stays: list[dict], weights: list[set[str]]) -> list[tuple[float, float, set[str]]]:
    """Greedy clustering of stays with some weight (in time order): ``(lat, lon, dates)`` per place,
    the centre being the median of its stays."""
    groups: list[dict] = []
    for s, dates in zip(stays, weights, strict=True):
        if not dates:
            continue
        for g in groups:
            if _distance_m(np.array([s["lat"]]), np.array([s["lon"]]), Zone(g["lat"], g["lon"], 1.0))[0] <= CLUSTER_M:
                g["lats"].append(s["lat"])
                g["lons"].append(s["lon"])
                g["dates"] |= dates
                break
        else:
            groups.append({"lat": s["lat"], "lon": s["lon"], "lats": [s["lat"]], "lons": [s["lon"]],
                           "dates": set(dates)})
    return [(float(np.median(g["lats"])), float(np.median(g["lons"])), g["dates"]) for g in groups]


def detect_places(store: Any, user_id: str | None = None) -> list[Place]:
    """Home (the place of most nights) and work (the place of most working days, not home), from
    the stays table, in local time (each stay's ``tz``). Either may be missing.

    Example::

        for place in detect_places(Store("~/s")):
            print(place.kind, place.lat, place.lon, place.days)
    """
    sql = ("SELECT lat, lon, timezone(coalesce(tz, 'UTC'), started_at) AS start_local, "
           "timezone(coalesce(tz, 'UTC'), finished_at) AS end_local FROM stays")
    params: list[object] = []
    if user_id:
        sql += " WHERE user_id = ?"
        params.append(user_id)
    with store.reader() as con:
        stays = [dict(zip(("lat", "lon", "start_local", "end_local"), r, strict=True))
                 for r in con.execute(sql + " ORDER BY started_at, lat, lon", params).fetchall()]
    counts = _night_and_day_counts(stays)
    places: list[Place] = []
    homes = _clusters(stays, [n for n, _ in counts])
    home = max(homes, key=lambda c: (len(c[2]), -c[0], -c[1]), default=None)
    if home is not None:
        places.append(Place("home", round(home[0], 5), round(home[1], 5), len(home[2]), min(home[2]), max(home[2])))
    home_zone = [Zone(home[0], home[1], CLUSTER_M)] if home else []
    works = [c for c in _clusters(stays, [d for _, d in counts])
             if not home_zone or not inside([c[0]], [c[1]], home_zone)[0]]
    work = max(works, key=lambda c: (len(c[2]), -c[0], -c[1]), default=None)
    if work is not None:
        places.append(Place("work", round(work[0], 5), round(work[1], 5), len(work[2]), min(work[2]), max(work[2])))
    return places


def suggestion_toml(places: Sequence[Place], radius_m: float = 300.0, action: str = "drop") -> str:
    """TOML to paste into ``config.toml``: a privacy zone per place, and ``[places]`` for the FMD."""
    if not places:
        return "# no home or work found: segment some data first (`mobco2 segment`)\n"
    lines = ["# suggested by `mobco2 privacy suggest`: check each place before you paste it", ""]
    for p in places:
        what = "nights" if p.kind == "home" else "working days"
        lines += [f"# {p.kind}: {p.days} {what} between {p.first_day} and {p.last_day}",
                  "[[privacy.zones]]", f'name = "{p.kind}"', f"lat = {p.lat:.5f}", f"lon = {p.lon:.5f}",
                  f"radius_m = {radius_m:g}", f'action = "{action}"', ""]
    lines.append("[places]")
    lines += [f"{p.kind} = [{p.lat:.5f}, {p.lon:.5f}]" for p in places]
    return "\n".join(lines) + "\n"
