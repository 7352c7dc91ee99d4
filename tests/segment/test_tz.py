"""Time zones: from coordinates, looked up per ~1 km cell, overridden by a device's own offset."""

from __future__ import annotations

import numpy as np

from mobco2.segment.clean import NO_OFFSET
from mobco2.segment.tz import zone_at_cell, zones_for

SUMMER = np.int64(1_720_000_000) * 1_000_000  # 2024-07-03, µs


def test_zones_from_coordinates():
    lat = np.array([46.16, 37.39, -33.87, 0.0])
    lon = np.array([-1.15, -122.09, 151.21, -30.0])
    got = zones_for(lat, lon, np.full(4, SUMMER)).tolist()
    assert got[:3] == ["Europe/Paris", "America/Los_Angeles", "Australia/Sydney"]
    assert got[3].startswith("Etc/") or got[3] == "UTC"  # mid-Atlantic


def test_lookups_are_cached_per_cell_not_per_point():
    zone_at_cell.cache_clear()
    lat = 46.16 + np.random.default_rng(0).uniform(0, 0.004, 10_000)
    zones_for(lat, np.full(lat.size, -1.15), np.full(lat.size, SUMMER))
    assert zone_at_cell.cache_info().currsize <= 2


def test_a_device_offset_that_disagrees_wins():
    lat, lon = np.array([46.16, 46.16]), np.array([-1.15, -1.15])
    off = np.array([120, 60], np.int16)  # Paris in July is UTC+2; the second phone says +1
    got = zones_for(lat, lon, np.full(2, SUMMER), off).tolist()
    assert got == ["Europe/Paris", "Etc/GMT-1"]
    assert zones_for(lat, lon, np.full(2, SUMMER), np.full(2, NO_OFFSET, np.int16)).tolist() == ["Europe/Paris"] * 2
