"""Exports of a store of ~1 M points stream in bounded memory (issue 10: < 500 MB peak RSS).

A generated stretch of one person's life (``tests/segment/gen.py``, GPS every ~2 s on the move,
every minute at rest) is written as monthly GPX files by a child process, imported and segmented.
Then each export runs as a fresh ``mobco2`` process, as a user runs it, writing to a file: points
as CSV, JSON lines, GPX and GeoParquet; legs and trips (with the full path of every point) as
GeoJSON, GPX and GeoParquet. Each row gives wall seconds, user+sys CPU seconds, peak RSS and the
output size. The anchor, in the same run, is DuckDB copying the same points to CSV in a fresh
process with no rounding, no time zones and no privacy zones (``COPY … TO … (FORMAT csv)``): the
ratio says what the formatting, the paths and the zones cost. Privacy zones are on (two drop zones
at the generated home and work), as a careful user would have them.

Usage: ``python bench/bench_export.py [--days 250] [--keep DIR]`` (250 days ≈ 1 M points; a few
minutes; ``--keep`` reuses a generated store).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._util import REPO, machine, table
from bench.bench_person_year import _WRAPPER, write_monthly_gpx

BUDGET_MB = 500.0
EXPORTS = [
    ("points", "csv"), ("points", "jsonl"), ("points", "gpx"), ("points", "parquet"),
    ("legs", "geojson"), ("legs", "gpx"), ("legs", "parquet"), ("trips", "geojson"), ("trips", "gpx"),
]
_ANCHOR = """
import duckdb, resource, sys
con = duckdb.connect()
con.execute(f"COPY (SELECT * FROM read_parquet('{sys.argv[1]}/points/**/*.parquet')) TO '{sys.argv[2]}' (FORMAT csv)")
print("peak_rss_kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def measured(argv: list[str]) -> dict:
    """Run ``argv``: wall s, user+sys CPU s of the child, its peak RSS (printed by the wrapper)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, env=_env(), check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[-6:])} exited {proc.returncode}: {proc.stderr[-2000:]}")
    rss_kb = int(proc.stderr.strip().splitlines()[-1].split()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss_kb / 1024}


def mobco2(store: Path, *args: str) -> dict:
    return measured([sys.executable, "-c", _WRAPPER, "--store", str(store), *args])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=250)
    ap.add_argument("--keep", type=Path, help="keep the generated store in this folder (reused when there)")
    ap.add_argument("--write-to", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = ap.parse_args()
    if args.write_to is not None:
        from tests.segment import gen

        trace = gen.person_trace(args.days, seed=2024, cfg=gen.Config(move_dt_s=1.7, stay_dt_s=60.0))
        print(write_monthly_gpx(trace.points, args.write_to))
        return
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        store = (args.keep or tmp) / "store"
        if not store.exists():
            folder = tmp / "gpx"
            folder.mkdir()
            child = [sys.executable, __file__, "--days", str(args.days), "--write-to", str(folder)]
            subprocess.run(child, capture_output=True, text=True, check=True, env=_env())
            mobco2(store, "-q", "import", str(folder), "--user", "me")
            mobco2(store, "-q", "segment")
        from mobco2.store import Store

        n = Store(store).query("SELECT count(*) AS n FROM points").to_pylist()[0]["n"]
        # two drop zones at the most frequent stays (home and work), as `privacy suggest` would give
        from mobco2.privacy import detect_places, suggestion_toml

        cfg = tmp / "config.toml"
        cfg.write_text(suggestion_toml(detect_places(Store(store))), encoding="utf-8")
        os.environ["MOBCO2_CONFIG"] = str(cfg)
        anchor = measured([sys.executable, "-c", _ANCHOR, str(store), str(tmp / "anchor.csv")])
        rows = [{"export": "anchor: DuckDB COPY points → CSV (raw)", "wall s": anchor["wall_s"],
                 "CPU s": anchor["cpu_s"], "× anchor CPU": 1.0, "peak RSS MB": anchor["peak_rss_mb"],
                 "MB out": (tmp / "anchor.csv").stat().st_size / 1e6}]
        worst = 0.0
        for tbl, fmt in EXPORTS:
            out = tmp / f"{tbl}.{fmt}"
            r = mobco2(store, "-q", "export", tbl, "--format", fmt, "--out", str(out))
            worst = max(worst, r["peak_rss_mb"])
            rows.append({"export": f"`export {tbl} --format {fmt}`", "wall s": r["wall_s"], "CPU s": r["cpu_s"],
                         "× anchor CPU": r["cpu_s"] / anchor["cpu_s"], "peak RSS MB": r["peak_rss_mb"],
                         "MB out": out.stat().st_size / 1e6})
            out.unlink()
    print(f"machine: {machine()}")
    print(f"{n:,} points over {args.days} days; load before/after {os.getloadavg()}; "
          f"uptime: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}\n")
    print(table(rows, ["export", "wall s", "CPU s", "× anchor CPU", "peak RSS MB", "MB out"]))
    print(f"\nbudget: peak RSS < {BUDGET_MB:g} MB → {'ok' if worst < BUDGET_MB else 'OVER'} (worst {worst:.0f} MB)")


if __name__ == "__main__":
    main()
