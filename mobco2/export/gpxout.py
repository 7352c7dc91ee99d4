"""GPX 1.1 renderer.

- ``trips``: one ``<trk>`` per trip (``<name>`` its id, ``<type>`` its main mode), one
  ``<trkseg>`` per leg holding the leg's full path (every stored point from its start to its
  finish), the leg's id and mode in the segment's ``<extensions>``;
- ``legs``: one ``<trk>`` per leg, ``<type>`` its mode, one ``<trkseg>`` with its path;
- ``points``: one ``<trk>`` per user, one ``<trkseg>`` (cut where a privacy zone removed points);
- ``stays``: one ``<wpt>`` per stay, at its start time.

A path crossing a ``drop`` privacy zone is cut there: the leg then has one ``<trkseg>`` per piece
outside the zone. Times are UTC (``Z``). Emission figures of trips and legs go in ``<desc>`` and in
``mobco2:`` extensions (namespace :data:`NAMESPACE`), which GPX readers ignore. Paths are
simplified only on request (``simplify_m``, as in :mod:`mobco2.export.geo`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO, Any
from xml.sax.saxutils import escape

import numpy as np
import pyarrow as pa

from mobco2 import __version__
from mobco2.export.query import FlatPaths, iso_utc

NAMESPACE = "urn:mobco2:gpx:1"
_EXT_FIELDS = ("distance_m", "co2e_kg", "baseline_co2e_kg", "saved_co2e_kg", "mode_source",
               "factor_set_id", "scope")


def _header() -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<gpx version="1.1" creator="mobco2 {escape(__version__)}" '
            f'xmlns="http://www.topografix.com/GPX/1/1" xmlns:mobco2="{NAMESPACE}">\n')


def _trkpts(flat: FlatPaths, lo: int, hi: int, times: np.ndarray, simplify_m: float | None) -> str:
    lat, lon, t = flat.lat[lo:hi], flat.lon[lo:hi], times[lo:hi]
    if simplify_m:
        from mobco2.export.geo import simplify_mask

        keep = simplify_mask(lat, lon, simplify_m)
        lat, lon, t = lat[keep], lon[keep], t[keep]
    return "".join(
        f'<trkpt lat="{a:.7f}" lon="{o:.7f}"><time>{w}</time></trkpt>\n'
        for a, o, w in zip(lat.tolist(), lon.tolist(), t.tolist(), strict=True)
    )


def _ext(row: dict[str, Any]) -> str:
    parts = []
    for k in _EXT_FIELDS:
        v = row.get(k)
        if v is None:
            continue
        if isinstance(v, float):
            v = f"{v:.0f}" if k == "distance_m" else f"{v:.3f}"
        parts.append(f"<mobco2:{k}>{escape(str(v))}</mobco2:{k}>")
    return "<extensions>" + "".join(parts) + "</extensions>" if parts else ""


def _desc(row: dict[str, Any]) -> str:
    km = (row.get("distance_m") or 0.0) / 1000.0
    co2 = row.get("co2e_kg")
    text = f"{row.get('started_at')} → {row.get('finished_at')}, {km:.1f} km"
    if co2 is not None:
        text += f", {co2:.3f} kgCO2e"
    return f"<desc>{escape(text)}</desc>"


def write_gpx(batches: Iterable[pa.RecordBatch], fh: IO[str], table: str, *, fraction: bool = False,
              iso_rows: Any = None, simplify_m: float | None = None) -> int:
    """Write ``batches`` (with paths for trips and legs) as GPX to ``fh``; returns the rows written.

    ``iso_rows(batch)`` gives the batch's rows with local ISO times and rounded numbers, for
    names and descriptions."""
    fh.write(_header())
    n = 0
    user: str | None = None
    open_trk = False
    for batch in batches:
        rows = iso_rows(batch)
        n += len(rows)
        if table == "stays":
            for r in rows:
                fh.write(f'<wpt lat="{r["lat"]:.7f}" lon="{r["lon"]:.7f}"><time>{_utc(r["started_at"])}</time>'
                         f'<name>{escape(r["stay_id"])}</name><type>stay</type></wpt>\n')
        elif table == "points":
            lat = batch.column("lat").to_numpy(zero_copy_only=False)
            lon = batch.column("lon").to_numpy(zero_copy_only=False)
            ts = batch.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False)
            times = iso_utc(ts, fraction)
            has_t = batch.column("ts").is_valid().to_numpy(zero_copy_only=False)
            cut = batch.column("cut_before").to_numpy(zero_copy_only=False)
            users = batch.column("user_id").to_pylist()
            for i in range(batch.num_rows):
                if users[i] != user:
                    if open_trk:
                        fh.write("</trkseg></trk>\n")
                    user = users[i]
                    fh.write(f"<trk><name>{escape(user)}</name><trkseg>\n")
                    open_trk = True
                elif cut[i]:
                    fh.write("</trkseg><trkseg>\n")
                t = f"<time>{times[i]}</time>" if has_t[i] else ""
                fh.write(f'<trkpt lat="{lat[i]:.7f}" lon="{lon[i]:.7f}">{t}</trkpt>\n')
        elif table == "legs":
            flat = FlatPaths.of(batch.column("path"))
            times = iso_utc(flat.ts_us, fraction)
            for i, r in enumerate(rows):
                fh.write(f"<trk><name>{escape(r['leg_id'])}</name>{_desc(r)}<type>{escape(r['mode'])}</type>"
                         f"{_ext(r)}\n")
                for lo, hi in flat.pieces(i):
                    fh.write("<trkseg>\n" + _trkpts(flat, lo, hi, times, simplify_m) + "</trkseg>\n")
                fh.write("</trk>\n")
        else:
            _write_trips(fh, batch, rows, fraction, simplify_m)
    if open_trk:
        fh.write("</trkseg></trk>\n")
    fh.write("</gpx>\n")
    return n


def _write_trips(fh: IO[str], batch: pa.RecordBatch, rows: list[dict], fraction: bool,
                 simplify_m: float | None) -> None:
    import pyarrow.compute as pc

    legs_path = batch.column("legs_path")
    legs = pc.list_flatten(legs_path)
    leg_offsets = pc.subtract(legs_path.offsets, legs_path.offsets[0]).to_numpy()
    flat = FlatPaths.of(legs.field("path"))
    times = iso_utc(flat.ts_us, fraction)
    leg_ids = legs.field("leg_id").to_pylist()
    modes = legs.field("mode").to_pylist()
    for i, r in enumerate(rows):
        fh.write(f"<trk><name>{escape(r['trip_id'])}</name>{_desc(r)}"
                 f"<type>{escape(r.get('main_mode') or 'unknown')}</type>{_ext(r)}\n")
        for j in range(int(leg_offsets[i]), int(leg_offsets[i + 1])):
            ext = (f"<extensions><mobco2:leg_id>{escape(leg_ids[j])}</mobco2:leg_id>"
                   f"<mobco2:mode>{escape(modes[j] or 'unknown')}</mobco2:mode></extensions>")
            for lo, hi in flat.pieces(j):
                fh.write("<trkseg>\n" + _trkpts(flat, lo, hi, times, simplify_m) + ext + "</trkseg>\n")
        fh.write("</trk>\n")


def _utc(iso_local: str) -> str:
    """``2025-09-01T08:12:00+02:00`` → ``2025-09-01T06:12:00Z``."""
    from datetime import UTC, datetime

    return datetime.fromisoformat(iso_local).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
