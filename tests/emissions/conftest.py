"""Builders: trips and legs written into a real Store, as segmentation would write them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from mobco2 import schema
from mobco2.store import Store


def leg(
    trip_id: str,
    leg_id: str,
    start: str,
    minutes: float,
    mode: str,
    km: float,
    tz: str | None = "Europe/Paris",
    user_id: str = "me",
    **extra: Any,
) -> dict[str, Any]:
    """One leg; ``start`` is an ISO UTC time (``2024-01-31T22:30``)."""
    started = datetime.fromisoformat(start + "+00:00")
    return {
        "user_id": user_id,
        "trip_id": trip_id,
        "leg_id": leg_id,
        "started_at": started,
        "finished_at": started + timedelta(minutes=minutes),
        "mode": mode,
        "mode_source": "inferred",
        "distance_m": km * 1000.0,
        "tz": tz,
        **extra,
    }


def write_trips_and_legs(
    store: Store, legs: list[dict[str, Any]], trip_tz: dict[str, str | None] | None = None
) -> None:
    """Append legs, and one trip per trip_id spanning its legs (tz from ``trip_tz`` or the first leg)."""
    trips: dict[tuple[str, str], dict[str, Any]] = {}
    for g in legs:
        key = (g["user_id"], g["trip_id"])
        t = trips.setdefault(
            key,
            {
                "user_id": g["user_id"],
                "trip_id": g["trip_id"],
                "started_at": g["started_at"],
                "finished_at": g["finished_at"],
                "distance_m": 0.0,
                "n_legs": 0,
                "tz": (trip_tz or {}).get(g["trip_id"], g.get("tz")),
            },
        )
        t["started_at"] = min(t["started_at"], g["started_at"])
        t["finished_at"] = max(t["finished_at"], g["finished_at"])
        t["distance_m"] += g["distance_m"]
        t["n_legs"] += 1
    with store.writer() as w:
        w.append("trips", schema.conform(pa.Table.from_pylist(list(trips.values())), schema.TRIPS))
        # from_pylist takes its columns from the first row: give every row every key
        keys = {k for g in legs for k in g}
        full = [{k: g.get(k) for k in keys} for g in legs]
        w.append("legs", schema.conform(pa.Table.from_pylist(full), schema.LEGS))


@pytest.fixture
def store(tmp_path) -> Store:
    return Store(tmp_path / "store")
