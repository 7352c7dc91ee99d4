"""A person-year from files to a monthly report, through the command line (DESIGN §8: < 5 s).

A generated year of one person (``tests/segment/gen.py``, GPS every ~2 s on the move and every
minute at rest, ~1.5 M points) is written as one GPX file per month (the generated year spans
~10 of them), the way a tracking app exports it, by a child process (Linux carries a parent's
peak RSS over into the children it starts, so this one stays small). Then, each in a fresh
``mobco2`` process exactly as a user or a cron job runs them:

1. ``mobco2 import <folder> --user me`` (the monthly GPX files into a new store);
2. ``mobco2 segment`` (stays, trips, legs, modes, emissions, month by month);
3. ``mobco2 footprint --by month`` (the report).

Each step's wall time includes the interpreter's start-up, as the user sees it; peak RSS is the
step's own. Usage: ``python bench/bench_person_year.py [--days 365]``.
"""

from __future__ import annotations

import argparse
import os
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


def run(store: Path, *args: str) -> dict:
    """One ``mobco2`` command in a fresh process: wall seconds (start-up included), its own CPU
    seconds (user + sys), peak RSS, output."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _WRAPPER, "--store", str(store), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=env,
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"mobco2 {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    _, cpu, rss_kb = proc.stderr.strip().splitlines()[-1].split()
    return {"wall_s": wall, "cpu_s": float(cpu), "peak_rss_mb": int(rss_kb) / 1024, "stdout": proc.stdout}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--write-to", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = ap.parse_args()
    if args.write_to is not None:
        trace = gen.person_trace(args.days, seed=2024, cfg=gen.Config(move_dt_s=1.7, stay_dt_s=60.0))
        print(write_monthly_gpx(trace.points, args.write_to))
        return
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "gpx"
        folder.mkdir()
        env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        child = [sys.executable, __file__, "--days", str(args.days), "--write-to", str(folder)]
        n = int(subprocess.run(child, capture_output=True, text=True, check=True, env=env).stdout.split()[-1])
        size_mb = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
        store = Path(d) / "store"
        steps = [
            (f"import {len(list(folder.iterdir()))} monthly GPX files", ("-q", "import", str(folder), "--user", "me")),
            ("segment", ("-q", "segment")),
            ("footprint --by month", ("footprint", "--by", "month")),
        ]
        rows, total, report = [], 0.0, ""
        for label, cmd in steps:
            r = run(store, *cmd)
            total += r["wall_s"]
            rows.append({"step": label, "wall s": r["wall_s"], "peak RSS MB": r["peak_rss_mb"]})
            report = r["stdout"]
        rows.append({"step": "**files → monthly report**", "wall s": total, "peak RSS MB": ""})
    print(f"machine: {machine()}")
    print(f"{n:,} points in {size_mb:,.0f} MB of GPX over {args.days} days; load {os.getloadavg()[0]:.1f}\n")
    print(table(rows, ["step", "wall s", "peak RSS MB"]))
    verdict = "ok" if total < BUDGET_S else "SLOW"
    print(f"\nDESIGN §8 budget: < {BUDGET_S:g} s → {verdict} ({total:.2f} s)\n")
    print("the report's first lines:\n" + "\n".join(report.splitlines()[:8]))


if __name__ == "__main__":
    main()
