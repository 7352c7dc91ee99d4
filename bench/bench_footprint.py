"""Emissions over 1 M generated legs: per-leg computation, local-time totals, and a store footprint.

Target (issue 5): a footprint over 1 M legs "well under a second" — one vectorised resolution
per distinct (mode, energy, size, occupancy) key, numpy gathers, DuckDB for the totals.

Usage: python bench/bench_footprint.py [--legs N] [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._util import machine, table
from mobco2 import schema
from mobco2.emissions import apply, compute, footprint
from mobco2.emissions.compute import leg_emissions
from mobco2.emissions.factors import DEFAULT_SET, load_factor_set
from mobco2.emissions.footprint import aggregate, local_start_us
from mobco2.emissions.profile import Profile
from mobco2.store import Store

# A plausible mix: mostly walking, cars and urban transit; some trains, a few flights and unknowns.
MIX = {
    "walk": 0.30, "car": 0.25, "bike": 0.08, "bus": 0.08, "tram": 0.04, "metro": 0.05, "train": 0.04,
    "rer": 0.02, "hsr": 0.01, "intercity": 0.01, "ebike": 0.02, "escooter": 0.01, "scooter": 0.01,
    "moto": 0.01, "coach": 0.005, "plane": 0.005, "ferry": 0.002, "unknown": 0.04, "other": 0.008,
}  # fmt: skip
TYPICAL_KM = {"walk": 1.2, "bike": 4, "ebike": 6, "plane": 1500, "hsr": 400, "intercity": 200, "coach": 150}
ZONES = ["Europe/Paris", "Europe/London", "America/New_York", "Asia/Tokyo"]


def generate(n: int, seed: int = 7) -> pa.Table:
    """``n`` legs conforming to ``schema.LEGS`` spread over 2024, with trips of ~2.5 legs."""
    rng = np.random.default_rng(seed)
    modes = np.array(list(MIX))
    p = np.array(list(MIX.values()))
    mode = modes[rng.choice(len(modes), size=n, p=p / p.sum())]
    km = rng.gamma(2.0, 0.5, size=n) * np.select([mode == m for m in TYPICAL_KM], list(TYPICAL_KM.values()), 12.0)
    start_s = np.sort(rng.integers(1_704_067_200, 1_735_689_600, size=n))
    dur_s = np.maximum(60, km / rng.uniform(5, 60, size=n) * 3600).astype(np.int64)
    lat0 = rng.uniform(43, 50, size=n)
    lon0 = rng.uniform(-2, 7, size=n)
    bearing = rng.uniform(0, 2 * np.pi, size=n)
    lat1 = lat0 + np.cos(bearing) * km / 111.0
    lon1 = lon0 + np.sin(bearing) * km / 80.0
    occupancy = np.where((mode == "car") & (rng.random(n) < 0.2), rng.integers(2, 5, size=n), 0)
    vehicle = np.where((mode == "car") & (rng.random(n) < 0.1), "electric", None)
    trip = np.arange(n) * 2 // 5
    ts = pa.array(start_s * 1_000_000, pa.int64()).cast(schema.TS)
    te = pa.array((start_s + dur_s) * 1_000_000, pa.int64()).cast(schema.TS)
    return schema.conform(
        pa.table(
            {
                "user_id": pa.array(["bench"] * n),
                "trip_id": pa.array(np.char.add("t", trip.astype(str))),
                "leg_id": pa.array(np.char.add("l", np.arange(n).astype(str))),
                "started_at": ts,
                "finished_at": te,
                "mode": pa.array(mode),
                "mode_source": pa.array(["inferred"] * n),
                "distance_m": km * 1000.0,
                "occupancy": pa.array(occupancy, pa.int16(), mask=occupancy == 0),
                "vehicle": pa.array(vehicle, pa.string()),
                "speed_median_mps": pa.array(km * 1000.0 / dur_s, pa.float32()),
                "start_lat": lat0,
                "start_lon": lon0,
                "end_lat": lat1,
                "end_lon": lon1,
                "tz": pa.array(np.array(ZONES)[trip % len(ZONES)]),
            }
        ),
        schema.LEGS,
    )


def trips_of(legs: pa.Table) -> pa.Table:
    """One trip per trip_id, spanning its legs, in the legs' time zone."""
    g = legs.group_by(["user_id", "trip_id"], use_threads=False).aggregate(
        [("started_at", "min"), ("finished_at", "max"), ("distance_m", "sum"), ("tz", "first")]
    )
    names = {"started_at_min": "started_at", "finished_at_max": "finished_at", "distance_m_sum": "distance_m"}
    g = g.rename_columns([names.get(c, c.removesuffix("_first")) for c in g.column_names])
    return schema.conform(g, schema.TRIPS)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--legs", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n, rep = args.legs, args.repeat
    legs = generate(n)
    computed = compute(legs)
    trip_code = pa.array(np.arange(n) * 2 // 5)  # generate()'s trips, numbered as read_legs numbers them
    with_ts = legs.append_column("trip_started_at", legs.column("started_at")).append_column("trip_code", trip_code)
    fs = load_factor_set(DEFAULT_SET)
    em = leg_emissions(legs, fs, "full", Profile.coerce(None))
    rows = [
        {"what": "compute() per-leg co2e, bounds, baseline", "seconds": best(lambda: compute(legs), rep)},
        {"what": "apply() at segmentation time", "seconds": best(lambda: apply(legs), rep)},
        {"what": "compute(scope='usage', coach set)",
         "seconds": best(lambda: compute(legs, factors="ademe-basecarbone-coachco2", scope="usage"), rep)},
        {"what": "totals by month in local time",
         "seconds": best(lambda: aggregate(with_ts, em, local_start_us(with_ts)[0], "month"), rep)},
        {"what": "leg_emissions() arrays only (what footprint uses)",
         "seconds": best(lambda: leg_emissions(legs, fs, "full", Profile.coerce(None)), rep)},
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        store = Store(Path(d) / "store")
        with store.writer() as w:
            w.append("legs", legs)
            w.append("trips", trips_of(legs))
        rows.append({"what": "footprint(store, by='month') end to end", "seconds": best(lambda: footprint(store), rep)})
        rows.append(
            {
                "what": "footprint(store, by='mode') end to end",
                "seconds": best(lambda: footprint(store, by="mode"), rep),
            }
        )
    for r in rows:
        r["legs"] = n
        r["legs_per_s"] = int(n / r["seconds"])
    status = computed.column("emission_status").value_counts().to_pylist()
    print(f"Emissions over {n:,} generated legs (best of {rep}) — {machine()}")
    print(table(rows, ["what", "legs", "seconds", "legs_per_s"]))
    print("legs by status: " + ", ".join(f"{s['values']} {s['counts']:,}" for s in status))


if __name__ == "__main__":
    main()
