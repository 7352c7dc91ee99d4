"""Export the store's tables as CSV, Parquet, JSON lines, GeoJSON or GPX.

Times of stays, trips and legs are written in ISO 8601 with the local offset of their ``tz``
(``2025-09-01T08:12:00+02:00``); points keep UTC (``+00:00``). Units are in column names.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import IO

import duckdb

from mobco2.errors import OutputError, UsageError
from mobco2.schema import SCHEMA_VERSION
from mobco2.store import Store

TABLES = ("points", "stays", "trips", "legs")
FORMATS = ("csv", "parquet", "jsonl", "geojson", "gpx")
_TIME_COLUMNS = {"points": ("ts",), "stays": ("started_at", "finished_at"), "trips": ("started_at", "finished_at"),
                 "legs": ("started_at", "finished_at")}


def _local_iso(col: str, tz: str | None) -> str:
    """SQL for an ISO 8601 string of ``col`` in zone ``tz`` (a column or NULL → UTC), with offset."""
    if tz is None:
        return f"strftime({col}, '%Y-%m-%dT%H:%M:%S') || '+00:00'"
    zone = f"coalesce({tz}, 'UTC')"
    local = f"timezone({zone}, {col})"
    off = f"(epoch({local}::TIMESTAMP) - epoch({col}))::BIGINT"
    return (
        f"CASE WHEN {col} IS NULL THEN NULL ELSE strftime({local}, '%Y-%m-%dT%H:%M:%S') || "
        f"CASE WHEN {off} < 0 THEN '-' ELSE '+' END || "
        f"lpad((abs({off}) // 3600)::VARCHAR, 2, '0') || ':' || lpad(((abs({off}) % 3600) // 60)::VARCHAR, 2, '0') END"
    )


def select_sql(
    table: str,
    *,
    user_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
    mode: str | None = None,
    iso_times: bool = True,
) -> tuple[str, list[object]]:
    """The SQL (and parameters) that selects ``table``'s rows for an export or a listing."""
    if table not in TABLES:
        raise UsageError(f"unknown table {table!r}", hint="use one of: " + ", ".join(TABLES))
    tcol = _TIME_COLUMNS[table][0]
    where, params = ["true"], []
    if user_id:
        where.append("user_id = ?")
        params.append(user_id)
    if since:
        where.append(f"{tcol} >= ?::TIMESTAMPTZ")
        params.append(since.isoformat())
    if until:
        where.append(f"{tcol} < (?::DATE + INTERVAL 1 DAY)::TIMESTAMPTZ")
        params.append(until.isoformat())
    if mode:
        col = "main_mode" if table == "trips" else "mode"
        if table not in ("trips", "legs"):
            raise UsageError("--mode applies to trips and legs only")
        where.append(f"{col} = ?")
        params.append(mode)
    exclude = ["year", "month"]
    replace = []
    if iso_times:
        tz = "tz" if table != "points" else None
        for c in _TIME_COLUMNS[table]:
            replace.append(f"{_local_iso(c, tz)} AS {c}")
    sel = f"* EXCLUDE ({', '.join(exclude)})"
    if replace:
        sel = f"* EXCLUDE ({', '.join(exclude)}) REPLACE ({', '.join(replace)})"
    order = "user_id, " + tcol
    return f"SELECT {sel} FROM {table} WHERE {' AND '.join(where)} ORDER BY {order}", params


def export_table(
    store: Store,
    table: str,
    fmt: str,
    out: Path | None = None,
    *,
    user_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
    mode: str | None = None,
) -> int:
    """Write ``table`` in ``fmt`` to ``out`` (stdout when None); returns the number of rows.

    Example::

        export_table(Store("~/s"), "trips", "jsonl", Path("trips.jsonl"))
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", hint="use one of: " + ", ".join(FORMATS))
    if fmt == "parquet" and out is None:
        raise UsageError("Parquet is binary: name a file with --out")
    sql, params = select_sql(table, user_id=user_id, since=since, until=until, mode=mode,
                             iso_times=fmt not in ("parquet",))
    with store.reader() as con:
        if fmt in ("csv", "parquet", "jsonl") and out is not None:
            return _copy(con, sql, params, fmt, out)
        rel = con.sql(sql, params=params or None)
        rows = rel.fetchall()
        cols = rel.columns
    records = [dict(zip(cols, r, strict=True)) for r in rows]
    with _open_out(out) as fh:
        if fmt == "jsonl":
            for r in records:
                fh.write(json.dumps({"schema_version": SCHEMA_VERSION, **r}, default=str) + "\n")
        elif fmt == "csv":
            import csv

            w = csv.writer(fh, lineterminator="\n")
            w.writerow(cols)
            w.writerows([["" if v is None else v for v in r] for r in rows])
        elif fmt == "geojson":
            json.dump(_geojson(table, records), fh, default=str)
            fh.write("\n")
        elif fmt == "gpx":
            fh.write(_gpx(table, records))
    return len(records)


def _copy(con: duckdb.DuckDBPyConnection, sql: str, params: list[object], fmt: str, out: Path) -> int:
    options = {"csv": "FORMAT csv, HEADER", "parquet": "FORMAT parquet, COMPRESSION zstd",
               "jsonl": "FORMAT json"}[fmt]
    target = str(out).replace("'", "''")
    if fmt == "jsonl":
        sql = f"SELECT {SCHEMA_VERSION} AS schema_version, * FROM ({sql})"
    try:
        n = con.execute(f"COPY ({sql}) TO '{target}' ({options})", params).fetchall()[0]
    except duckdb.IOException as e:
        raise OutputError(f"cannot write {out}: {str(e).splitlines()[0]}", hint="check the folder exists") from None
    return int(n[0]) if n else 0


class _open_out:
    def __init__(self, out: Path | None) -> None:
        self.out = out
        self.fh: IO[str] | None = None

    def __enter__(self) -> IO[str]:
        if self.out is None:
            return sys.stdout
        try:
            self.fh = open(self.out, "w", encoding="utf-8")
        except OSError as e:
            raise OutputError(f"cannot write {self.out}: {e.strerror}", hint="check the folder exists") from None
        return self.fh

    def __exit__(self, *exc: object) -> None:
        if self.fh:
            self.fh.close()


def _geojson(table: str, records: list[dict]) -> dict:
    features = []
    for r in records:
        if table in ("points", "stays"):
            geom = {"type": "Point", "coordinates": [r.pop("lon"), r.pop("lat")]}
        else:
            slat, slon, elat, elon = (r.get(k) for k in ("start_lat", "start_lon", "end_lat", "end_lon"))
            if None in (slat, slon, elat, elon):
                geom = None
            else:
                geom = {"type": "LineString", "coordinates": [[slon, slat], [elon, elat]]}
        features.append({"type": "Feature", "geometry": geom, "properties": r})
    return {"type": "FeatureCollection", "schema_version": SCHEMA_VERSION, "features": features}


def _gpx(table: str, records: list[dict]) -> str:
    from xml.sax.saxutils import escape

    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<gpx version="1.1" creator="mobco2" xmlns="http://www.topografix.com/GPX/1/1">']
    if table == "points":
        lines.append("<trk><name>mobco2 points</name><trkseg>")
        for r in records:
            t = f"<time>{r['ts'][:19]}Z</time>" if r.get("ts") else ""
            lines.append(f'<trkpt lat="{r["lat"]:.7f}" lon="{r["lon"]:.7f}">{t}</trkpt>')
        lines.append("</trkseg></trk>")
    elif table == "stays":
        for r in records:
            lines.append(f'<wpt lat="{r["lat"]:.7f}" lon="{r["lon"]:.7f}"><name>{escape(r["stay_id"])}</name></wpt>')
    else:
        raise UsageError(f"GPX export holds points or stays, not {table}", hint="use geojson for trips and legs")
    lines.append("</gpx>")
    return "\n".join(lines) + "\n"


def list_rows(
    store: Store,
    table: str,
    *,
    user_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
    mode: str | None = None,
    limit: int | None = None,
) -> list[dict]:
    """Rows of ``table`` as dicts with local ISO times, for listings (``mobco2 trips list``)."""
    sql, params = select_sql(table, user_id=user_id, since=since, until=until, mode=mode)
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    with store.reader() as con:
        rel = con.sql(sql, params=params or None)
        cols = rel.columns
        return [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]


def trip_detail(store: Store, trip_id: str) -> dict:
    """One trip and its legs (local ISO times). Raises NotFoundError for an unknown id."""
    from mobco2.errors import NotFoundError
    from mobco2.schema import with_prefix

    trip_sql, _ = select_sql("trips")
    legs_sql, _ = select_sql("legs")
    with store.reader() as con:
        # as typed, or with the t_ prefix added
        rel = con.sql(f"SELECT * FROM ({trip_sql}) WHERE trip_id IN (?, ?) ORDER BY trip_id = ? DESC",
                      params=[trip_id.strip(), with_prefix(trip_id, "trip"), trip_id.strip()])
        cols, rows = rel.columns, rel.fetchall()
        if not rows:
            raise NotFoundError(f"no trip {with_prefix(trip_id, 'trip')!r}", hint="list trips with `mobco2 trips list`")
        trip = dict(zip(cols, rows[0], strict=True))
        rel = con.sql(f"SELECT * FROM ({legs_sql}) WHERE trip_id = ? ORDER BY started_at", params=[trip["trip_id"]])
        cols = rel.columns
        trip["legs"] = [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
    return trip
