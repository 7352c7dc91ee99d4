"""A person-year from files to a monthly report, through the command line (DESIGN §8: < 5 s),
and side by side with trackintel's and movingpandas' pipelines on the same year (issue 13).

A generated year of one person (``tests/segment/gen.py``, GPS every ~2 s on the move and every
minute at rest, ~1.5 M points) is written as one GPX file per month (the generated year spans
~10 of them), the way a tracking app exports it, and as a Parquet points table, by a child
process (Linux carries a parent's peak RSS over into the children it starts, so this one stays
small). Then, each in a fresh ``mobco2`` process exactly as a user or a cron job runs them:

1. ``mobco2 import <folder> --user me`` (the monthly GPX files into a new store);
2. ``mobco2 segment`` (stays, trips, legs, modes, emissions, month by month);
3. ``mobco2 report --month <last>`` when the command exists, else ``mobco2 footprint --by month``.

``--runs`` repeats the three on a new store. Each step's wall time includes the interpreter's
start-up, as the user sees it; CPU is user+sys of the process; peak RSS is the step's own.
Then once: ``mobco2 --help``, ``footprint --by month`` and a second ``segment`` (nothing to do).

Side by side (``--anchor-python``: an interpreter with trackintel 1.4.2, movingpandas and gpxpy,
see bench/anchor_pipelines.py; what it cannot run is printed):

- in process, a points table in memory → trips with modes: mobco2's ``segment_points`` against
  trackintel's positionfixes → staypoints → triplegs → trips → ``predict_transport_mode``;
- files → trips: ``mobco2 import`` + ``mobco2 segment`` against trackintel's ``read_gpx`` + the
  chain, and gpxpy → movingpandas ``TrajectoryCollection`` + ``TrajectoryStopDetector``.

Usage: ``python bench/bench_person_year.py [--days 365] [--runs 3] [--anchor-python PY]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._util import REPO, machine, table
from tests.segment import gen

BUDGET_S = 5.0


def write_monthly_gpx(points: pd.DataFrame, folder: Path) -> int:
    """One GPX 1.1 file per calendar month (UTC); returns the number of points written."""
    ts = pd.to_datetime(points.ts, utc=True)
    text_time = ts.dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()
    lat = np.char.mod("%.7f", points.lat.to_numpy())
    lon = np.char.mod("%.7f", points.lon.to_numpy())
    month = ts.dt.strftime("%Y-%m").to_numpy()
    written = 0
    for m in np.unique(month):
        sel = month == m
        rows = [
            f'<trkpt lat="{a}" lon="{o}"><time>{t}</time></trkpt>\n'
            for a, o, t in zip(lat[sel], lon[sel], text_time[sel], strict=True)
        ]
        (folder / f"track-{m}.gpx").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<gpx version="1.1" creator="bench" xmlns="http://www.topografix.com/GPX/1/1">\n'
            f"<trk><name>{m}</name><trkseg>\n" + "".join(rows) + "</trkseg></trk>\n</gpx>\n",
            encoding="utf-8",
        )
        written += len(rows)
    return written


_WRAPPER = """
import resource, runpy, sys
sys.argv = ["mobco2", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("mobco2", run_name="__main__")
except SystemExit as e:
    code = e.code or 0
u = resource.getrusage(resource.RUSAGE_SELF)
print("rusage", u.ru_utime + u.ru_stime, u.ru_maxrss, file=sys.stderr)
sys.exit(code)
"""

_ENV = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def run(store: Path, *args: str, check: bool = True) -> dict:
    """One ``mobco2`` command in a fresh process: wall and CPU seconds (start-up included), peak RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, "--store", str(store), *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, env=_ENV, check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 and check:
        raise RuntimeError(f"mobco2 {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    rss_kb = int(proc.stderr.strip().splitlines()[-1].split()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss_kb / 1024, "stdout": proc.stdout,
            "stderr": proc.stderr, "code": proc.returncode}


def has_report() -> bool:
    return run(Path(tempfile.gettempdir()) / "mobco2-bench-none", "report", "--help", check=False)["code"] == 0


_IN_PROCESS = """
import json, resource, sys, time
import pyarrow.parquet as pq
from mobco2.segment import segment_points
table = pq.read_table(sys.argv[1])
t0, c0 = time.perf_counter(), time.process_time()
res = segment_points(table, user_id="me")
out = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "trips": res.trips.num_rows,
       "legs": res.legs.num_rows, "stays": res.stays.num_rows, "points": table.num_rows}
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def in_process(parquet: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", _IN_PROCESS, str(parquet)], capture_output=True, text=True,
                          env=_ENV, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def anchor(python: str | None, task: str, target: Path, timeout_s: float) -> tuple[dict | None, str]:
    """One task of bench/anchor_pipelines.py in the other interpreter; (result, why not)."""
    if not python:
        return None, "no --anchor-python given"
    if not Path(python).exists():
        return None, f"{python} does not exist"
    script = Path(__file__).with_name("anchor_pipelines.py")
    try:
        proc = subprocess.run([python, str(script), task, str(target)], capture_output=True, text=True,
                              timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {timeout_s:g} s (--anchor-timeout)"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return None, f"failed: {last[:200]}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--runs", type=int, default=3, help="fresh stores files → report (default 3)")
    ap.add_argument("--anchor-python", help="interpreter with trackintel 1.4.2, movingpandas and gpxpy")
    ap.add_argument("--anchor-timeout", type=float, default=900.0, help="seconds per anchor task")
    ap.add_argument("--skip", default="", help="comma-separated: movingpandas, trackintel-files, trackintel-table")
    ap.add_argument("--write-to", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = ap.parse_args()
    if args.write_to is not None:
        trace = gen.person_trace(args.days, seed=2024, cfg=gen.Config(move_dt_s=1.7, stay_dt_s=60.0))
        folder = args.write_to / "gpx"
        folder.mkdir()
        n = write_monthly_gpx(trace.points, folder)
        pts = trace.points
        frame = pd.DataFrame({"ts": pd.to_datetime(pts.ts, utc=True).astype("datetime64[us, UTC]"),
                              "lat": pts.lat.to_numpy(), "lon": pts.lon.to_numpy()})
        frame.to_parquet(args.write_to / "points.parquet", index=False)
        frame.to_csv(args.write_to / "points.csv", index=False)  # the anchors' interpreter may lack pyarrow
        print(n)
        return
    skip = set(filter(None, args.skip.split(",")))
    report_cmd = has_report()
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        child = [sys.executable, __file__, "--days", str(args.days), "--write-to", str(root)]
        n = int(subprocess.run(child, capture_output=True, text=True, check=True, env=_ENV).stdout.split()[-1])
        folder = root / "gpx"
        files = sorted(folder.iterdir())
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        last_month = files[-2 if len(files) > 1 else -1].stem.removeprefix("track-")  # the last complete one
        report = ("report", "--month", last_month) if report_cmd else ("footprint", "--by", "month")
        steps = [
            (f"import {len(files)} monthly GPX files", ("-q", "import", str(folder), "--user", "me")),
            ("segment", ("-q", "segment")),
            (" ".join(report), report),
        ]
        runs, report_text = [], ""
        for i in range(args.runs):
            store = root / f"store{i}"
            r = {label: run(store, *cmd) for label, cmd in steps}
            report_text = r[steps[-1][0]]["stdout"]
            runs.append(r)
        store = root / "store0"
        extra = {
            "mobco2 --help": run(store, "--help"),
            "footprint --by month": run(store, "footprint", "--by", "month"),
            "segment again (nothing changed)": run(store, "segment"),
        }
        ours_table = in_process(root / "points.parquet")
        anchors = {}
        for task, target in (("trackintel-table", root / "points.csv"), ("trackintel-files", folder),
                             ("movingpandas-files", folder)):
            if task.split("-")[0] in skip or task in skip:
                anchors[task] = (None, "skipped (--skip)")
                continue
            anchors[task] = anchor(args.anchor_python, task, target, args.anchor_timeout)
    load = os.getloadavg()
    print(f"machine: {machine()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {load[0]:.1f} {load[1]:.1f} "
          f"{load[2]:.1f}")
    print(f"{n:,} points in {size_mb:,.0f} MB of GPX over {args.days} days\n")
    rows = []
    for label, _ in steps:
        walls = [r[label]["wall_s"] for r in runs]
        rows.append({"step": label, "wall s (runs)": " / ".join(f"{w:.2f}" for w in walls),
                     "CPU s (best)": min(r[label]["cpu_s"] for r in runs),
                     "peak RSS MB": max(r[label]["peak_rss_mb"] for r in runs)})
    totals = [sum(r[label]["wall_s"] for label, _ in steps) for r in runs]
    rows.append({"step": "**files → monthly report**", "wall s (runs)": " / ".join(f"{t:.2f}" for t in totals),
                 "CPU s (best)": min(sum(r[label]["cpu_s"] for label, _ in steps) for r in runs),
                 "peak RSS MB": max(r[label]["peak_rss_mb"] for r in runs for label, _ in steps)})
    for label, r in extra.items():
        rows.append({"step": label, "wall s (runs)": f"{r['wall_s']:.2f}", "CPU s (best)": r["cpu_s"],
                     "peak RSS MB": r["peak_rss_mb"]})
    print(table(rows, ["step", "wall s (runs)", "CPU s (best)", "peak RSS MB"]))
    best = min(totals)
    print(f"\nDESIGN §8 budget: < {BUDGET_S:g} s → {'ok' if best < BUDGET_S else 'SLOW'} (best {best:.2f} s)")
    print(f"segment again said: {extra['segment again (nothing changed)']['stderr'].strip().splitlines()[0]}")

    print("\nside by side, the same year:\n")
    side = [{"what": "mobco2 segment_points (table in memory → trips with modes)", "wall s": ours_table["wall_s"],
             "CPU s": ours_table["cpu_s"], "peak RSS MB": ours_table["peak_rss_mb"],
             "trips": ours_table["trips"], "legs": ours_table["legs"]}]
    files_wall = min(r[steps[0][0]]["wall_s"] + r[steps[1][0]]["wall_s"] for r in runs)
    files_cpu = min(r[steps[0][0]]["cpu_s"] + r[steps[1][0]]["cpu_s"] for r in runs)
    side.append({"what": "mobco2 import + segment (files → trips, 2 CLI processes)", "wall s": files_wall,
                 "CPU s": files_cpu, "peak RSS MB": max(r[steps[0][0]]["peak_rss_mb"] for r in runs)})
    names = {"trackintel-table": "trackintel 1.4.2 chain (table in memory → trips with modes)",
             "trackintel-files": "trackintel read_gpx + chain (files → trips)",
             "movingpandas-files": "gpxpy → movingpandas TrajectoryCollection + StopDetector (files → stops)"}
    missing = []
    for task, (res, why) in anchors.items():
        if res is None:
            missing.append(f"{names[task]}: {why}")
            continue
        side.append({"what": names[task], "wall s": res["wall_s"], "CPU s": res["cpu_s"],
                     "peak RSS MB": res["peak_rss_mb"], "trips": res.get("trips", ""),
                     "legs": res.get("triplegs", res.get("stops", ""))})
    print(table(side, ["what", "wall s", "CPU s", "peak RSS MB", "trips", "legs"]))
    ti_table, ti_files = anchors["trackintel-table"][0], anchors["trackintel-files"][0]
    if ti_table:
        print(f"\nin process, table → trips with modes: mobco2 {ti_table['wall_s'] / ours_table['wall_s']:.1f}× "
              f"faster than trackintel (wall), {ti_table['cpu_s'] / ours_table['cpu_s']:.1f}× (CPU); target ≥ 10×")
    if ti_files:
        print(f"files → trips: mobco2 {ti_files['wall_s'] / files_wall:.1f}× faster than trackintel (wall), "
              f"{ti_files['cpu_s'] / files_cpu:.1f}× (CPU); recorded, no target")
    mp = anchors["movingpandas-files"][0]
    if mp:
        print(f"files → stops: mobco2 (import + segment) {mp['wall_s'] / files_wall:.1f}× faster than movingpandas")
    for line in missing:
        print(f"could not run: {line}")
    print("\nthe report's first lines:\n" + "\n".join(report_text.splitlines()[:8]))


if __name__ == "__main__":
    main()
