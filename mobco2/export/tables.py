"""Export the store's tables as CSV, Parquet (GeoParquet), JSON lines, GeoJSON or GPX; listings.

Times of stays, trips and legs are written in ISO 8601 with the local offset of their ``tz``
(``2025-09-01T08:12:00+02:00``); points keep UTC (``+00:00``). Units are in column names.
What the rows hold: :mod:`mobco2.export.query`; each format: :mod:`~mobco2.export.csvout`,
:mod:`~mobco2.export.gpxout`, :mod:`~mobco2.export.geo`.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import duckdb

from mobco2.errors import OutputError, UsageError
from mobco2.export.query import TABLES
from mobco2.export.query import TIME_COLUMNS as _TIME_COLUMNS
from mobco2.store import Store

if TYPE_CHECKING:
    from mobco2.privacy import Zone

FORMATS = ("csv", "parquet", "jsonl", "geojson", "gpx")


def _local_iso(col: str, tz: str | None) -> str:
    """SQL for an ISO 8601 string of ``col`` in zone ``tz`` (a column or NULL → UTC), with offset."""
    from mobco2.export.csvout import local_iso_sql

    return local_iso_sql(col, tz)


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
    simplify_m: float | None = None,
    zones: Sequence[Zone] | None = None,
) -> int:
    """Write ``table`` in ``fmt`` to ``out`` (stdout when None); returns the number of rows.

    Every trip and leg row carries its emissions and method (:mod:`mobco2.export.query`); GPX,
    GeoJSON and Parquet rows of trips and legs carry their full path of points. Privacy zones
    (``zones``, default the configured ``privacy.zones``) are applied to every format. A file is
    written under a temporary name and renamed when complete.

    Example::

        export_table(Store("~/s"), "trips", "geojson", Path("trips.geojson"))
    """
    from mobco2.export.query import ExportStream, Selection

    if table not in TABLES:
        raise UsageError(f"unknown table {table!r}", hint="use one of: " + ", ".join(TABLES))
    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r}", hint="use one of: " + ", ".join(FORMATS))
    if fmt == "parquet" and out is None:
        raise UsageError("Parquet is binary: name a file with --out")
    if simplify_m is not None and not (simplify_m > 0 and math.isfinite(simplify_m)):
        raise UsageError(f"--simplify-m {simplify_m} must be a positive number of metres")
    if simplify_m is not None and (fmt not in ("geojson", "parquet", "gpx") or table not in ("trips", "legs")):
        raise UsageError("--simplify-m applies to trips and legs in geojson, gpx or parquet")
    if zones is None:
        from mobco2 import config
        from mobco2.privacy import zones_from_config

        zones = zones_from_config(config.load())
    sel = Selection(user_id=user_id, since=since, until=until, mode=mode)
    with_paths = fmt in ("gpx", "geojson", "parquet") and table in ("trips", "legs")
    with store.reader() as con:
        fraction = _has_fractions(con, user_id)
        stream = ExportStream(con, table, sel, zones, with_paths=with_paths, mark_cuts=fmt == "gpx")
        with _Output(out, binary=fmt in ("csv", "parquet")) as fh:
            return _render(stream, fmt, fh, table, fraction, simplify_m)


def _render(stream: Any, fmt: str, fh: Any, table: str, fraction: bool, simplify_m: float | None) -> int:
    from mobco2.export import csvout

    if fmt == "csv":
        return csvout.write_csv(stream, fh, table, fraction=fraction, empty_schema=stream.schema)
    if fmt == "jsonl":
        return csvout.write_jsonl(stream, fh, table, fraction=fraction)
    fmt_rows = csvout.Formatter(table, decimal_type=False, fraction=fraction)

    def iso_rows(batch: Any) -> list[dict]:
        return fmt_rows(batch).to_pylist()

    if fmt == "gpx":
        from mobco2.export.gpxout import write_gpx

        return write_gpx(stream, fh, table, fraction=fraction, iso_rows=iso_rows, simplify_m=simplify_m)
    from mobco2.export import geo

    if fmt == "geojson":
        return geo.write_geojson(stream, fh, table, fraction=fraction, iso_rows=iso_rows, simplify_m=simplify_m)
    return geo.write_geoparquet(stream, fh, table, simplify_m, schema=stream.schema)


def _has_fractions(con: duckdb.DuckDBPyConnection, user_id: str | None) -> bool:
    """Whether any point time has a fraction of a second (then times are written with microseconds)."""
    sql = "SELECT coalesce(bool_or(epoch_us(ts) % 1000000 <> 0), false) FROM points"
    params: list[object] = []
    if user_id:
        sql += " WHERE user_id = ?"
        params.append(user_id)
    return bool(con.execute(sql, params).fetchall()[0][0])


class _Output:
    """stdout, or a file written under a temporary name, fsynced and renamed on success."""

    def __init__(self, out: Path | None, binary: bool) -> None:
        self.out = out
        self.binary = binary
        self.fh: IO[Any] | None = None
        self.tmp: Path | None = None

    def __enter__(self) -> IO[Any]:
        if self.out is None:
            if self.binary:
                sys.stdout.flush()
                return sys.stdout.buffer
            return sys.stdout
        self.tmp = self.out.with_name(f".{self.out.name}.{os.getpid()}.tmp")
        try:
            self.fh = open(self.tmp, "wb") if self.binary else open(self.tmp, "w", encoding="utf-8", newline="")
        except OSError as e:
            raise OutputError(f"cannot write {self.out}: {e.strerror}", hint="check the folder exists") from None
        return self.fh

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self.fh is None or self.tmp is None:
            if self.out is None and self.binary:
                sys.stdout.buffer.flush()
            return
        try:
            if exc_type is None:
                self.fh.flush()
                os.fsync(self.fh.fileno())
            self.fh.close()
            if exc_type is None:
                os.replace(self.tmp, self.out)  # type: ignore[arg-type]
        except OSError as e:
            raise OutputError(f"cannot write {self.out}: {e.strerror}", hint="check the disk") from None
        finally:
            if self.tmp.exists():
                self.tmp.unlink()


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
