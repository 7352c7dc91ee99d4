"""GeoJSON and GeoParquet renderers, and path simplification on request.

Geometry: points and stays are ``Point``; a leg is a ``LineString`` through every stored point of
its path (a ``MultiLineString`` when a privacy zone cut it); a trip is the ``MultiLineString`` of
its legs' paths (a ``LineString`` when that is one line). A leg with no stored point between its
start and finish has a ``null`` geometry. GeoJSON lines carry ``coordTimes`` (UTC, one per vertex,
nested like the coordinates), so mobco2 and other tools re-import them with their times.

Both formats are written batch by batch, so an export of millions of points stays in bounded
memory: GeoJSON as a stream of features, GeoParquet (WKB geometry, GeoParquet 1.0 metadata, CRS
OGC:CRS84 = WGS 84 lon/lat) as one Parquet row group per batch. Geometries are built with shapely,
so ``geopandas.read_parquet`` / ``geopandas.read_file`` read the files back.

``simplify_m`` (``--simplify-m``) thins every line with Douglas–Peucker at that tolerance in metres
(on a local equirectangular projection); without it, lines keep all their points.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2.export.query import FlatPaths, iso_utc
from mobco2.schema import SCHEMA_VERSION

EARTH_RADIUS_M = 6_371_008.8
GEO_METADATA = {
    "version": "1.0.0",
    "primary_column": "geometry",
    "columns": {"geometry": {"encoding": "WKB", "geometry_types": []}},
}


def simplify_mask(lat: np.ndarray, lon: np.ndarray, tolerance_m: float) -> np.ndarray:
    """Douglas–Peucker: which vertices a line keeps at ``tolerance_m`` metres (ends always kept)."""
    n = len(lat)
    keep = np.zeros(n, dtype=bool)
    if n <= 2:
        keep[:] = True
        return keep
    lat0 = math.radians(float(np.mean(lat)))
    x = np.radians(lon) * math.cos(lat0) * EARTH_RADIUS_M
    y = np.radians(lat) * EARTH_RADIUS_M
    keep[0] = keep[-1] = True
    stack = [(0, n - 1)]
    while stack:
        a, b = stack.pop()
        if b - a < 2:
            continue
        dx, dy = x[b] - x[a], y[b] - y[a]
        px, py = x[a + 1:b] - x[a], y[a + 1:b] - y[a]
        norm = math.hypot(dx, dy)
        if norm == 0.0:
            d = np.hypot(px, py)
        else:
            d = np.abs(px * dy - py * dx) / norm
        k = int(np.argmax(d))
        if d[k] > tolerance_m:
            m = a + 1 + k
            keep[m] = True
            stack.append((a, m))
            stack.append((m, b))
    return keep


class _Lines:
    """The pieces of one batch's paths, as coordinate arrays (simplified on request)."""

    def __init__(self, flat: FlatPaths, fraction: bool, simplify_m: float | None) -> None:
        self.flat = flat
        self.times = iso_utc(flat.ts_us, fraction)
        self.simplify_m = simplify_m

    def piece(self, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        lat, lon, t = self.flat.lat[lo:hi], self.flat.lon[lo:hi], self.times[lo:hi]
        if self.simplify_m:
            m = simplify_mask(lat, lon, self.simplify_m)
            lat, lon, t = lat[m], lon[m], t[m]
        return lat, lon, t

    def of_rows(self, rows: Iterable[int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        return [self.piece(lo, hi) for i in rows for lo, hi in self.flat.pieces(i)]


def _row_lines(table: str, batch: pa.RecordBatch, fraction: bool, simplify_m: float | None) -> list[list]:
    """For each row of a trips/legs batch, its lines (lat, lon, times), in order."""
    if table == "legs":
        lines = _Lines(FlatPaths.of(batch.column("path")), fraction, simplify_m)
        return [lines.of_rows([i]) for i in range(batch.num_rows)]
    legs_path = batch.column("legs_path")
    offsets = pc.subtract(legs_path.offsets, legs_path.offsets[0]).to_numpy()
    lines = _Lines(FlatPaths.of(pc.list_flatten(legs_path).field("path")), fraction, simplify_m)
    return [lines.of_rows(range(int(offsets[i]), int(offsets[i + 1]))) for i in range(batch.num_rows)]


def _geojson_geometry(lines: list) -> tuple[dict | None, list | None]:
    coords = [np.column_stack((np.round(lon, 7), np.round(lat, 7))).tolist() for lat, lon, _ in lines]
    times = [t.tolist() for _, _, t in lines]
    if not coords:
        return None, None
    if len(coords) == 1:
        return {"type": "LineString", "coordinates": coords[0]}, times[0]
    return {"type": "MultiLineString", "coordinates": coords}, times


def write_geojson(batches: Iterable[pa.RecordBatch], fh: IO[str], table: str, *, fraction: bool = False,
                  iso_rows: Callable[[pa.RecordBatch], list[dict]], simplify_m: float | None = None) -> int:
    """Write a GeoJSON FeatureCollection, one feature per row; returns the number of features."""
    fh.write(f'{{"type": "FeatureCollection", "schema_version": {SCHEMA_VERSION}, "features": [\n')
    n = 0
    for batch in batches:
        rows = iso_rows(batch)
        row_lines = _row_lines(table, batch, fraction, simplify_m) if table in ("trips", "legs") else None
        for i, props in enumerate(rows):
            if row_lines is None:
                geom = {"type": "Point", "coordinates": [props.pop("lon"), props.pop("lat")]}
                if table == "points":
                    props["time"] = props.pop("ts")
            else:
                geom, times = _geojson_geometry(row_lines[i])
                if times is not None:
                    props["coordTimes"] = times
            feature = {"type": "Feature", "geometry": geom, "properties": props}
            fh.write((",\n" if n else "") + json.dumps(feature, ensure_ascii=False))
            n += 1
    fh.write("\n]}\n")
    return n


def _shapely_geometry(table: str, batch: pa.RecordBatch, simplify_m: float | None) -> Any:
    import shapely

    if table in ("points", "stays"):
        lat = batch.column("lat").to_numpy(zero_copy_only=False)
        lon = batch.column("lon").to_numpy(zero_copy_only=False)
        return shapely.points(lon, lat)
    out = []
    for lines in _row_lines(table, batch, False, simplify_m):
        parts = [np.column_stack((lon, lat)) for lat, lon, _ in lines]
        parts = [p if len(p) > 1 else np.vstack((p, p)) for p in parts]  # a 1-point piece: a zero-length line
        if not parts:
            out.append(None)
        elif len(parts) == 1:
            out.append(shapely.linestrings(parts[0]))
        else:
            out.append(shapely.multilinestrings([shapely.linestrings(p) for p in parts]))
    return np.array(out, dtype=object)


def write_geoparquet(batches: Iterable[pa.RecordBatch], out: Path | IO[bytes], table: str,
                     simplify_m: float | None = None, *, schema: pa.Schema) -> int:
    """Write GeoParquet (row group per batch); returns the number of rows. ``schema`` is the
    stream's, so that an empty export is still a readable file."""
    import pyarrow.parquet as pq
    import shapely

    writer = None
    n = 0
    empty = [pa.RecordBatch.from_pylist([], schema=schema)]
    try:
        for batch in _or_empty(batches, empty):
            geom = shapely.to_wkb(_shapely_geometry(table, batch, simplify_m))
            drop = [c for c in ("path", "legs_path", "cut_before") if c in batch.schema.names]
            t = pa.Table.from_batches([batch]).drop_columns(drop)
            t = t.append_column("geometry", pa.array(geom, type=pa.binary()))
            if writer is None:
                meta = dict(t.schema.metadata or {})
                meta[b"geo"] = json.dumps(GEO_METADATA).encode()
                schema = t.schema.with_metadata(meta)
                writer = pq.ParquetWriter(out, schema, compression="zstd")
            writer.write_table(t.replace_schema_metadata(writer.schema.metadata))
            n += t.num_rows
    finally:
        if writer is not None:
            writer.close()
    return n


def _or_empty(batches: Iterable[pa.RecordBatch], empty: list[pa.RecordBatch]) -> Iterable[pa.RecordBatch]:
    seen = False
    for b in batches:
        seen = True
        yield b
    if not seen:
        yield from empty
