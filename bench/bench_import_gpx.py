"""GPX import into a real store: points/s and peak RSS on a generated 1 M-point GPX (DESIGN §8: ≥ 300 k points/s).

Usage: python bench/bench_import_gpx.py [--points N] [--style plain|extensions]

``extensions`` adds a Garmin TrackPointExtension v2 (speed, heart rate) to every point, as watches
and GPSLogger write it.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._util import machine, run_measured, table


def write_gpx(path: Path, n: int, style: str = "plain") -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with open(path, "w") as f:
        f.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<gpx version="1.1" creator="bench" '
            'xmlns="http://www.topografix.com/GPX/1/1" '
            'xmlns:gpxtpx="http://www.garmin.com/xmlschemas/TrackPointExtension/v2">\n<trk><trkseg>\n'
        )
        for i in range(n):
            t = (start + timedelta(seconds=5 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")
            lat = 46.15 + (i % 5000) * 1e-5
            lon = -1.15 + (i // 5000) * 1e-4
            ext = (
                "<extensions><gpxtpx:TrackPointExtension>"
                f"<gpxtpx:speed>{i % 97 / 10:.2f}</gpxtpx:speed><gpxtpx:hr>{90 + i % 80}</gpxtpx:hr>"
                "</gpxtpx:TrackPointExtension></extensions>"
                if style == "extensions"
                else ""
            )
            f.write(f'<trkpt lat="{lat:.7f}" lon="{lon:.7f}"><ele>{i % 50}.0</ele><time>{t}</time>{ext}</trkpt>\n')
        f.write("</trkseg></trk>\n</gpx>\n")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--style", choices=("plain", "extensions"), default="plain")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        gpx = Path(d) / "big.gpx"
        write_gpx(gpx, args.points, args.style)
        size_mb = gpx.stat().st_size / 1e6
        rows = []
        for label, extra in (("mobco2 import", ""), ("mobco2 import --low-memory", ", low_memory=True")):
            store = Path(d) / f"store{len(rows)}"
            r = run_measured(
                "from mobco2.store import Store\nfrom mobco2.ingest import import_paths\n"
                f"s = import_paths(Store({str(store)!r}), [{str(gpx)!r}], user_id='bench'{extra})\n"
                "__out['added'] = s.total('added')\n"
            )
            rows.append(
                {
                    "what": label,
                    "points": r["added"],
                    "wall_s": r["wall_s"],
                    "points_per_s": int(r["added"] / r["wall_s"]),
                    "peak_rss_mb": r["peak_rss_mb"],
                }
            )
        r = run_measured(
            f"import gpxpy\ng = gpxpy.parse(open({str(gpx)!r}))\n"
            "__out['n'] = sum(len(s.points) for t in g.tracks for s in t.segments)\n"
        )
        rows.append(
            {
                "what": "gpxpy.parse (reference, parse only)",
                "points": r["n"],
                "wall_s": r["wall_s"],
                "points_per_s": int(r["n"] / r["wall_s"]),
                "peak_rss_mb": r["peak_rss_mb"],
            }
        )
        base = rows[-1]["points_per_s"]
        for row in rows:
            row["vs_gpxpy"] = f"{row['points_per_s'] / base:.1f}×"
    print(f"GPX import ({args.style}), {args.points:,} points, {size_mb:.0f} MB — {machine()}")
    print(table(rows, ["what", "points", "wall_s", "points_per_s", "peak_rss_mb", "vs_gpxpy"]))


if __name__ == "__main__":
    main()
