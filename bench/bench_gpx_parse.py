"""GPX parse throughput: mobco2's parser against gpxpy on the same generated file.

Generates a GPX 1.1 track of ``--points`` points into a temporary folder (deleted afterwards,
never committed), then parses it in a fresh subprocess per run so that each peak RSS
(``resource.getrusage``) belongs to one parser alone. Prints a table of points/s, peak RSS
and speed relative to gpxpy. DESIGN §8 budgets the *whole* GPX import at ≥ 300 k points/s,
so parsing alone must be well above that.

Usage::

    python bench/bench_gpx_parse.py                    # 1 M points, plain Garmin-like track
    python bench/bench_gpx_parse.py --points 200000 --style extensions --repeat 3
    python bench/bench_gpx_parse.py --skip-gpxpy       # gpxpy needs ~1 min and GBs for 1 M points

``--style plain`` writes ``<ele>`` and ``<time>`` per point (Garmin eTrex, Strava);
``extensions`` adds a Garmin TrackPointExtension v2 with ``speed`` and ``hr`` (GPSLogger, watches).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<gpx version="1.1" creator="mobco2 bench" xmlns="http://www.topografix.com/GPX/1/1"\n'
    '  xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">\n'
    "  <metadata><time>2024-05-01T06:00:00Z</time></metadata>\n"
    "  <trk>\n    <name>bench</name>\n    <type>cycling</type>\n    <trkseg>\n"
)
SEGMENT_POINTS = 50_000


def generate(path: Path, points: int, style: str, seed: int = 1) -> None:
    """A random walk near La Rochelle, one point per second, a new trkseg every 50 000 points."""
    rng = random.Random(seed)
    lat, lon = 46.16, -1.15
    start = dt.datetime(2024, 5, 1, 6, 0, tzinfo=dt.UTC)
    with open(path, "w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(points):
            lat += rng.uniform(-5e-5, 5e-5)
            lon += rng.uniform(-5e-5, 5e-5)
            when = (start + dt.timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            out.write(
                f'      <trkpt lat="{lat:.7f}" lon="{lon:.7f}">\n'
                f"        <ele>{20 + (i % 400) / 10:.1f}</ele>\n        <time>{when}</time>\n"
            )
            if style == "extensions":
                speed, heart = rng.uniform(0, 12), rng.randint(90, 170)
                out.write(
                    "        <extensions><gpxtpx:TrackPointExtension>"
                    f"<gpxtpx:speed>{speed:.2f}</gpxtpx:speed><gpxtpx:hr>{heart}</gpxtpx:hr>"
                    "</gpxtpx:TrackPointExtension></extensions>\n"
                )
            out.write("      </trkpt>\n")
            if i % SEGMENT_POINTS == SEGMENT_POINTS - 1 and i + 1 < points:
                out.write("    </trkseg>\n    <trkseg>\n")
        out.write("    </trkseg>\n  </trk>\n</gpx>\n")


def child(parser: str, path: str) -> None:
    """Run one parser on ``path`` in this (fresh) process and print a JSON line of results."""
    if parser in ("mobco2", "mobco2-expat"):
        from mobco2.ingest import gpx
        from mobco2.ingest.base import ParseContext, Source

        start = time.perf_counter()
        ctx = ParseContext(source_name=path)
        points = 0
        for batch in gpx.parse(Source.from_path(Path(path)), ctx, fast=parser == "mobco2"):
            points += batch.points.num_rows
        seconds = time.perf_counter() - start
    elif parser == "gpxpy":
        import gpxpy

        start = time.perf_counter()
        with open(path, encoding="utf-8") as f:
            doc = gpxpy.parse(f)
        points = sum(len(s.points) for t in doc.tracks for s in t.segments)
        seconds = time.perf_counter() - start
    elif parser == "baseline":  # the interpreter and our imports, parsing nothing
        import mobco2.ingest.gpx  # noqa: F401

        points, seconds = 0, 0.0
    else:
        raise SystemExit(f"unknown parser {parser!r}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    print(json.dumps({"points": points, "seconds": seconds, "peak_rss_mb": peak_mb}))


def run_child(parser: str, path: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, __file__, "--child", parser, str(path)], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{parser} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--style", choices=("plain", "extensions"), default="plain")
    ap.add_argument("--repeat", type=int, default=3, help="runs per mobco2 parser; the best is shown")
    ap.add_argument("--skip-gpxpy", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("PARSER", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return

    with tempfile.TemporaryDirectory(prefix="mobco2-bench-") as tmp:
        path = Path(tmp) / "bench.gpx"
        t0 = time.perf_counter()
        generate(path, args.points, args.style)
        size_mb = path.stat().st_size / 1e6
        print(f"generated {args.points:,} points ({args.style}), {size_mb:.0f} MB in {time.perf_counter() - t0:.0f} s")
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        results: dict[str, dict] = {"baseline": run_child("baseline", path)}
        for parser in ("mobco2", "mobco2-expat"):
            runs = [run_child(parser, path) for _ in range(max(1, args.repeat))]
            results[parser] = min(runs, key=lambda r: r["seconds"])
        if not args.skip_gpxpy:
            results["gpxpy"] = run_child("gpxpy", path)

    reference = results.get("gpxpy")
    print("\n| parser | points | seconds | points/s | MB/s | peak RSS MB | speed vs gpxpy |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    labels = {
        "mobco2": "mobco2 gpx (vectorised; expat check in a second process)",
        "mobco2-expat": "mobco2 gpx, expat handlers only",
        "gpxpy": "gpxpy 1.6 (reference)",
    }
    for name, label in labels.items():
        r = results.get(name)
        if r is None:
            continue
        rate = r["points"] / r["seconds"]
        ratio = f"{reference['seconds'] / r['seconds']:.1f}×" if reference else "–"
        print(
            f"| {label} | {r['points']:,} | {r['seconds']:.2f} | {rate / 1e3:,.0f} k | {size_mb / r['seconds']:.0f} "
            f"| {r['peak_rss_mb']:.0f} | {ratio} |"
        )
    print(f"| python + imports, nothing parsed | | | | | {results['baseline']['peak_rss_mb']:.0f} | |")
    if results["mobco2"]["points"] != args.points:
        raise SystemExit(f"mobco2 read {results['mobco2']['points']} points, expected {args.points}")


if __name__ == "__main__":
    main()
