"""Benchmark: mobco2's stay detection against trackintel and movingpandas, and a person-year.

One run, the same generated traces (tests/segment/gen.py) of 10^4, 10^5 and 10^6 points:

* ``mobco2.segment.detect_stays`` (100 m, 5 min; cleaning included) — best of 5;
* trackintel ``generate_staypoints(method="sliding", dist_threshold=100, time_threshold=5)`` —
  best of 5 (best of 3 at 10^6, ~4.5 s a call), on a fresh copy of the positionfixes each time;
* movingpandas ``TrajectoryStopDetector.get_stop_time_ranges(max_diameter=200, 5 min)`` — it
  needs about 0.2 ms a point, so 10^6 runs only with ``--full`` (else extrapolated, marked ~);

then the full ``segment_points`` of a generated person-year (~1.4 M points) in one call and
through a store month by month, and trackintel's leg modes on the multimodal week.

trackintel (1.4.2 installs and runs on pandas 3.1) runs in a child interpreter so that its
imports and memory do not disturb ours: ``--trackintel-python PATH`` (default:
``$MOBCO2_TRACKINTEL_PYTHON``, else this interpreter). The trace goes to it as Parquet; it prints
timings and results as JSON. Install it with ``pip install trackintel`` (the ``bench`` extra).

Usage: ``python bench/bench_segment.py [--full] [--sizes 10000,100000,1000000]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mobco2.segment import detect_stays, segment_points  # noqa: E402
from tests.segment import gen  # noqa: E402

TRACKINTEL_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd, geopandas as gpd, trackintel as ti
path, what = sys.argv[1], sys.argv[2]
df = pd.read_parquet(path)
pfs = gpd.GeoDataFrame(
    {"user_id": 1, "tracked_at": pd.to_datetime(df["ts"], utc=True)},
    geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326",
)
pfs = ti.Positionfixes(pfs) if hasattr(ti, "Positionfixes") else pfs
repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 1
t_sp = float("inf")
for _ in range(repeat):  # best of `repeat`, like our side: the first call also pays lazy imports
    fresh = pfs.copy()
    t0 = time.perf_counter()
    out_pfs, sp = fresh.generate_staypoints(method="sliding", dist_threshold=100, time_threshold=5.0)
    t_sp = min(t_sp, time.perf_counter() - t0)
pfs = out_pfs
out = {"seconds": t_sp, "n_staypoints": int(len(sp)), "version": ti.__version__,
       "pandas": pd.__version__}
if what == "legs":
    pfs, tpls = pfs.generate_triplegs(sp)
    tpls = tpls.predict_transport_mode(method="simple-coarse")
    out["legs"] = [[str(a), str(b), m] for a, b, m in zip(tpls["started_at"], tpls["finished_at"], tpls["mode"])]
    out["staypoints"] = [[str(a), str(b)] for a, b in zip(sp["started_at"], sp["finished_at"])]
print(json.dumps(out))
"""


def _table(points: pd.DataFrame) -> pa.Table:
    return pa.table(
        {
            "ts": pa.array(points.ts.astype("datetime64[us, UTC]")),
            "lat": points.lat.to_numpy(),
            "lon": points.lon.to_numpy(),
        }
    )


def best_of(fn, repeat: int = 5) -> tuple[float, float]:
    """Best wall time and best CPU time (s) of ``repeat`` runs: a shared machine inflates wall time."""
    walls, cpus = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return min(walls), min(cpus)


def run_trackintel(
    python: str | None, points: pd.DataFrame, what: str = "stays", timeout: float = 1800, repeat: int = 1
):
    if not python or not Path(python).exists():
        return None
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "trace.parquet"
        pq.write_table(_table(points), path)
        script = Path(d) / "ti.py"
        script.write_text(TRACKINTEL_SCRIPT)
        try:
            res = subprocess.run(
                [python, str(script), str(path), what, str(repeat)],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=True,
            )
        except (subprocess.SubprocessError, OSError) as e:
            print(f"trackintel failed: {e}", file=sys.stderr)
            return None
        return json.loads(res.stdout.strip().splitlines()[-1])


def run_movingpandas(points: pd.DataFrame) -> float | None:
    try:
        from tests.segment.test_vs_movingpandas import movingpandas_stops
    except Exception:  # movingpandas not installed
        return None
    t0 = time.perf_counter()
    movingpandas_stops(points)
    return time.perf_counter() - t0


def fmt_rate(n: int, seconds: float | None, approx: bool = False) -> str:
    if seconds is None:
        return "n/a"
    return f"{'~' if approx else ''}{n / seconds / 1e6:.3f} M/s"


def stays_table(sizes, ti_python, full: bool) -> list[dict]:
    rows = []
    mp_rate = None
    for n in sizes:
        points = gen.trace_with_points(n, seed=1)
        table = _table(points)
        t_ours, cpu_ours = best_of(lambda table=table: detect_stays(table))
        # trackintel cleans nothing: our stays without the cleaning step, for like with like
        t_core, _ = best_of(lambda table=table: detect_stays(table, clean_points=False))
        n_ours = detect_stays(table).num_rows
        ti = run_trackintel(ti_python, points, repeat=5 if n <= 100_000 else 3)
        mp_s, approx = None, False
        if n <= 100_000 or full:
            mp_s = run_movingpandas(points)
            if mp_s is not None:
                mp_rate = n / mp_s
        elif mp_rate:
            mp_s, approx = n / mp_rate, True
        rows.append(
            {
                "points": n,
                "mobco2_s": t_ours,
                "mobco2_rate": fmt_rate(n, t_ours),
                "mobco2_cpu_s": cpu_ours,
                "mobco2_no_cleaning_s": t_core,
                "mobco2_cpu_rate": fmt_rate(n, cpu_ours),
                "mobco2_stays": n_ours,
                "trackintel_s": ti["seconds"] if ti else None,
                "trackintel_rate": fmt_rate(n, ti["seconds"]) if ti else "n/a",
                "trackintel_staypoints": ti["n_staypoints"] if ti else None,
                "ratio_vs_trackintel": (ti["seconds"] / t_ours) if ti else None,
                "ratio_vs_trackintel_no_cleaning": (ti["seconds"] / t_core) if ti else None,
                "movingpandas_s": mp_s,
                "movingpandas_rate": fmt_rate(n, mp_s, approx),
                "ratio_vs_movingpandas": (mp_s / t_ours) if mp_s else None,
            }
        )
        print(json.dumps(rows[-1], default=str), flush=True)
    return rows


def person_year() -> dict:
    cfg = gen.Config(move_dt_s=1.7, stay_dt_s=60.0)
    trace = gen.person_trace(365, seed=2024, cfg=cfg)
    points = trace.points
    table = pa.Table.from_pandas(points.assign(ts=points.ts.astype("datetime64[us, UTC]")), preserve_index=False)
    t0 = time.perf_counter()
    res = segment_points(table, user_id="u1")
    t_pure = time.perf_counter() - t0
    acc = gen.leg_mode_accuracy(res.legs.to_pandas(), trace.legs)
    out = {
        "points": len(points),
        "segment_points_s": t_pure,
        "stays": res.stays.num_rows,
        "trips": res.trips.num_rows,
        "legs": res.legs.num_rows,
        "leg_mode_accuracy": acc,
    }
    try:
        from mobco2.segment import segment
        from mobco2.store import Store

        with tempfile.TemporaryDirectory() as d:
            store = Store(Path(d) / "store")
            pts = points.assign(
                ts=points.ts.astype("datetime64[us, UTC]"), user_id="u1", source_format="gpx", import_id="bench"
            )
            t0 = time.perf_counter()
            with store.writer() as w:
                w.append("points", pa.Table.from_pandas(pts, preserve_index=False))
            out["store_append_s"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            summary = segment(store)
            out["store_segment_s"] = time.perf_counter() - t0
            out["store_months"] = summary.months_recomputed
            t0 = time.perf_counter()
            segment(store)
            out["store_rerun_noop_s"] = time.perf_counter() - t0
    except ImportError:
        pass
    print(json.dumps(out), flush=True)
    return out


def leg_modes(ti_python) -> dict:
    """Time-weighted leg-mode accuracy on the multimodal week: mobco2 vs trackintel."""
    trace = gen.person_trace(8, seed=31)
    ours = segment_points(trace.points).legs.to_pandas()
    out = {"mobco2_accuracy": gen.leg_mode_accuracy(ours, trace.legs)}
    coarse = {"walk": "slow", "bike": "slow", "car": "motor", "bus": "motor", "train": "motor"}
    ours_c = ours.assign(mode=ours["mode"].map(lambda m: coarse.get(m, m)))
    truth_c = trace.legs.assign(mode=trace.legs["mode"].map(coarse))
    out["mobco2_coarse_accuracy"] = gen.leg_mode_accuracy(ours_c, truth_c)
    ti = run_trackintel(ti_python, trace.points, what="legs")
    if ti:
        legs = pd.DataFrame(ti["legs"], columns=["started_at", "finished_at", "mode"])
        legs["started_at"] = pd.to_datetime(legs.started_at, utc=True, format="ISO8601")
        legs["finished_at"] = pd.to_datetime(legs.finished_at, utc=True, format="ISO8601")
        # trackintel's classes mapped generously onto ours: slow = walk, motorized = car
        strict = legs.assign(
            mode=legs["mode"].map({"slow_mobility": "walk", "motorized_mobility": "car", "fast_mobility": "train"})
        )
        out["trackintel_accuracy"] = gen.leg_mode_accuracy(strict, trace.legs)
        tc = legs.assign(
            mode=legs["mode"].map({"slow_mobility": "slow", "motorized_mobility": "motor", "fast_mobility": "motor"})
        )
        out["trackintel_coarse_accuracy"] = gen.leg_mode_accuracy(tc, truth_c)
        out["trackintel_legs"] = len(legs)
        out["trackintel_modes"] = legs["mode"].value_counts().to_dict()
    out["true_legs"] = len(trace.legs)
    out["mobco2_legs"] = len(ours)
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--full", action="store_true", help="run movingpandas on 10^6 points too (minutes)")
    default_ti = os.environ.get("MOBCO2_TRACKINTEL_PYTHON", sys.executable)
    ap.add_argument("--trackintel-python", default=default_ti)
    ap.add_argument("--skip-year", action="store_true")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"numpy {np.__version__}, pandas {pd.__version__}, cores {os.cpu_count()}", flush=True)
    rows = stays_table(sizes, args.trackintel_python, args.full)
    legs = leg_modes(args.trackintel_python)
    year = None if args.skip_year else person_year()
    print(
        "\n| points | mobco2 wall | mobco2 CPU | no cleaning | trackintel | ratio (no cleaning) "
        "| movingpandas | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        ti_ratio = (
            f"{r['ratio_vs_trackintel']:.0f}× ({r['ratio_vs_trackintel_no_cleaning']:.0f}×)"
            if r["ratio_vs_trackintel"]
            else "n/a"
        )
        mp_ratio = f"{r['ratio_vs_movingpandas']:.0f}×" if r["ratio_vs_movingpandas"] else "n/a"
        print(
            f"| {r['points']:,} | {r['mobco2_rate']} ({r['mobco2_s'] * 1000:.1f} ms) | {r['mobco2_cpu_rate']} | "
            f"{fmt_rate(r['points'], r['mobco2_no_cleaning_s'])} | "
            f"{r['trackintel_rate']} | "
            f"{ti_ratio} | {r['movingpandas_rate']} | {mp_ratio} |"
        )
    print("\nleg modes:", json.dumps(legs))
    if year:
        print("person-year:", json.dumps(year))


if __name__ == "__main__":
    main()
