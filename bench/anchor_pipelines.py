"""The anchors of bench/bench_person_year.py, run by ANOTHER interpreter (``--anchor-python``).

Not part of mobco2 and never imported by it: it needs trackintel 1.4.2, movingpandas and gpxpy,
which are not project dependencies (``python3.11 -m venv /work/ti-venv &&
/work/ti-venv/bin/pip install trackintel==1.4.2 movingpandas gpxpy``).

``python anchor_pipelines.py TASK INPUT``, TASK one of:

- ``trackintel-table``: INPUT is a CSV file of ``ts, lat, lon``, read before the clock
  starts; timed: positionfixes → ``generate_staypoints`` → ``generate_triplegs`` →
  ``create_activity_flag`` + ``generate_trips`` → ``predict_transport_mode``.
- ``trackintel-files``: INPUT is the folder of GPX files; timed: ``trackintel.io.read_gpx`` and
  the same chain.
- ``movingpandas-files``: INPUT is the folder; timed: every file parsed by gpxpy, one
  ``TrajectoryCollection`` (a trajectory per track segment), ``TrajectoryStopDetector``.

Prints one JSON object: wall and CPU seconds, peak RSS, counts.
"""

from __future__ import annotations

import json
import resource
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path

warnings.filterwarnings("ignore")

# the same thresholds as mobco2's defaults where the tools share a notion
STAY_DIST_M, STAY_TIME_MIN, GAP_MIN = 100, 5.0, 15


def trackintel_chain(pfs):  # type: ignore[no-untyped-def]
    pfs, sp = pfs.generate_staypoints(method="sliding", dist_threshold=STAY_DIST_M, time_threshold=STAY_TIME_MIN)
    pfs, tpls = pfs.generate_triplegs(sp, gap_threshold=GAP_MIN)
    sp = sp.create_activity_flag(method="time_threshold", time_threshold=15)
    sp, tpls, trips = sp.generate_trips(tpls, gap_threshold=GAP_MIN)
    tpls = tpls.predict_transport_mode(method="simple-coarse")
    return {"staypoints": len(sp), "triplegs": len(tpls), "trips": len(trips),
            "modes": {str(k): int(v) for k, v in tpls["mode"].value_counts().items()}}


def trackintel_table(path: str) -> dict:
    import geopandas as gpd
    import pandas as pd
    import trackintel as ti

    df = pd.read_csv(path)
    df["ts"] = pd.to_datetime(df["ts"], utc=True, format="ISO8601")
    t0, c0 = time.perf_counter(), time.process_time()
    pfs = gpd.GeoDataFrame(
        {"user_id": 1, "tracked_at": pd.to_datetime(df["ts"], utc=True)},
        geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs="EPSG:4326",
    )
    out = trackintel_chain(ti.Positionfixes(pfs))
    return {**out, "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "points": len(df),
            "version": ti.__version__}


def trackintel_files(folder: str) -> dict:
    import trackintel as ti

    t0, c0 = time.perf_counter(), time.process_time()
    pfs = ti.io.read_gpx(folder)
    out = trackintel_chain(pfs)
    return {**out, "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "points": len(pfs)}


def movingpandas_files(folder: str) -> dict:
    import geopandas as gpd
    import gpxpy
    import movingpandas as mpd
    import pandas as pd

    t0, c0 = time.perf_counter(), time.process_time()
    rows = []
    for k, f in enumerate(sorted(Path(folder).glob("*.gpx"))):
        with open(f, encoding="utf-8") as fh:
            doc = gpxpy.parse(fh)
        for i, track in enumerate(doc.tracks):
            for j, seg in enumerate(track.segments):
                traj = f"{k}-{i}-{j}"
                rows.extend((traj, p.time, p.longitude, p.latitude) for p in seg.points)
    frame = pd.DataFrame(rows, columns=["traj", "t", "lon", "lat"])
    frame["t"] = pd.to_datetime(frame["t"], utc=True).dt.tz_localize(None)
    gdf = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame.lon, frame.lat), crs=4326)
    parsed = time.perf_counter() - t0
    tc = mpd.TrajectoryCollection(gdf, "traj", t="t")
    stops = mpd.TrajectoryStopDetector(tc).get_stop_time_ranges(
        min_duration=timedelta(minutes=STAY_TIME_MIN), max_diameter=2 * STAY_DIST_M
    )
    return {"stops": len(stops), "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0,
            "parse_s": parsed, "points": len(frame), "version": mpd.__version__}


def main() -> None:
    task, target = sys.argv[1], sys.argv[2]
    out = {"trackintel-table": trackintel_table, "trackintel-files": trackintel_files,
           "movingpandas-files": movingpandas_files}[task](target)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
