"""A generated cohort on disk: a folder of GPX exports per participant and a manifest CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from tests.segment import gen


def write_gpx(points: pd.DataFrame, path: Path) -> int:
    """``points`` (ts, lat, lon) as one GPX 1.1 track; returns the number of points."""
    ts = pd.to_datetime(points.ts, utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ").to_numpy()
    lat = np.char.mod("%.7f", points.lat.to_numpy())
    lon = np.char.mod("%.7f", points.lon.to_numpy())
    rows = "".join(
        f'<trkpt lat="{a}" lon="{o}"><time>{t}</time></trkpt>\n' for a, o, t in zip(lat, lon, ts, strict=True)
    )
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<gpx version="1.1" creator="mobco2-tests" xmlns="http://www.topografix.com/GPX/1/1">\n'
        f"<trk><name>{path.stem}</name><trkseg>\n{rows}</trkseg></trk>\n</gpx>\n",
        encoding="utf-8",
    )
    return len(points)


def make_cohort(
    root: Path, n: int = 20, points: int = 3000, *, corrupt: tuple[int, ...] = (), no_consent: tuple[int, ...] = (),
    big: dict[int, int] | None = None, files_per_participant: int = 2,
) -> Path:
    """``n`` participants ``p00``… with ``points`` points each (``big``: more for some), each in
    its own folder of GPX files; ``corrupt`` get a truncated extra file; returns the manifest."""
    big = big or {}
    exports = root / "exports"
    rows = []
    for i in range(n):
        pid = f"p{i:02d}"
        folder = exports / pid
        folder.mkdir(parents=True)
        trace = gen.trace_with_points(big.get(i, points), seed=100 + i)
        for k, part in enumerate(np.array_split(np.arange(len(trace)), files_per_participant)):
            write_gpx(trace.iloc[part], folder / f"track-{k}.gpx")
        if i in corrupt:
            text = (folder / "track-0.gpx").read_text()
            (folder / "broken.gpx").write_text(text[: len(text) // 2])
        rows.append([pid, f"exports/{pid}", "no" if i in no_consent else "yes", "la-rochelle" if i % 2 else "niort"])
    manifest = root / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["participant_id", "path", "consent", "territory"])
        w.writerows(rows)
    return manifest
