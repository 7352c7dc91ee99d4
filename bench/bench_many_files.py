"""A folder of many small GPX files through ``mobco2 import`` (issue 15: ≥ 500 files/s).

Writes ``--files`` one-point-to-few-point GPX files (as a phone logger that writes a file per
fix or per minute does) into a folder, then runs ``mobco2 -q import <folder>`` in a fresh
process, start-up included, and once more on the same folder (every file already imported).
Reports files/s, wall and CPU seconds (user+sys) and peak RSS, with the load average.

Usage: ``python bench/bench_many_files.py [--files 10000] [--points 1]``.
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

TARGET_FILES_S = 500.0


def write_files(folder: Path, files: int, points: int) -> int:
    total = 0
    for i in range(files):
        day, minute = divmod(i * points, 24 * 60)
        rows = []
        for k in range(points):
            m = minute + k
            rows.append(
                f'<trkpt lat="{46.15 + (i * points + k) * 1e-5:.7f}" lon="{-1.15 - k * 1e-5:.7f}">'
                f"<time>2024-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}T{m // 60 % 24:02d}:{m % 60:02d}:00Z</time>"
                "</trkpt>"
            )
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<gpx version="1.1" creator="bench" xmlns="http://www.topografix.com/GPX/1/1">\n'
            f"<trk><trkseg>{''.join(rows)}</trkseg></trk></gpx>\n"
        )
        (folder / f"fix-{i:06d}.gpx").write_text(text, encoding="utf-8")
        total += points
    return total


def run(store: Path, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mobco2", "--store", str(store), *args],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, env=env, check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"mobco2 {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak_rss_mb": after.ru_maxrss / 1024,
        "stderr": proc.stderr,
        "stdout": proc.stdout,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--points", type=int, default=1, help="points per file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d) / "gpx"
        folder.mkdir()
        n_points = write_files(folder, args.files, args.points)
        size_mb = sum(f.stat().st_size for f in folder.iterdir()) / 1e6
        store = Path(d) / "store"
        first = run(store, "-q", "import", str(folder), "--user", "me")
        again = run(store, "import", str(folder), "--user", "me")
        check = run(store, "sql", "select count(*) as n from points", "--csv")
    rows = [
        {"run": "import (new store)", "wall s": first["wall_s"], "CPU s": first["cpu_s"],
         "files/s": args.files / first["wall_s"], "files/CPU-s": args.files / first["cpu_s"],
         "peak RSS MB": first["peak_rss_mb"]},
        {"run": "import again (all already imported)", "wall s": again["wall_s"], "CPU s": again["cpu_s"],
         "files/s": args.files / again["wall_s"], "files/CPU-s": args.files / again["cpu_s"],
         "peak RSS MB": again["peak_rss_mb"]},
    ]
    print(f"machine: {machine()}")
    print(f"{args.files:,} GPX files, {n_points:,} points, {size_mb:,.1f} MB; load {os.getloadavg()[0]:.1f}\n")
    print(table(rows, ["run", "wall s", "CPU s", "files/s", "files/CPU-s", "peak RSS MB"]))
    rate = args.files / first["wall_s"]
    print(f"\ntarget ≥ {TARGET_FILES_S:g} files/s → {'ok' if rate >= TARGET_FILES_S else 'SLOW'} ({rate:,.0f})")
    print("second run said:", again["stderr"].strip().splitlines()[-1])
    print("points stored:", check["stdout"].split()[-1], "of", n_points)


if __name__ == "__main__":
    main()
