"""CSV and JSON lines renderers, and the number/time formats every text export shares.

CSV follows RFC 4180: a header row, CRLF line ends, text fields quoted, ``""`` for a quote inside.
Each number column has one format, decided by its unit suffix (:func:`decimals`): coordinates to
1e-7° (about 1 cm), distances to 1 m, other lengths to 0.1 m, masses to 1 g (0.001 kg CO2e),
speeds to 0.01 m/s, angles to 0.1°, confidences to 0.001. Times are ISO 8601 with the offset of
the row's ``tz`` (points in UTC, ``+00:00``; with microseconds only when some point has them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import IO

import pyarrow as pa

from mobco2.export.query import TIME_COLUMNS
from mobco2.schema import SCHEMA_VERSION


def decimals(name: str) -> int | None:
    """Decimals kept for a float column named ``name`` (None: not a rounded float)."""
    if name in ("lat", "lon") or name.endswith(("_lat", "_lon")):
        return 7
    if name.endswith("distance_m"):
        return 0
    if name.endswith("_kg"):
        return 3
    if name.endswith("_m"):
        return 1
    if name.endswith("_mps"):
        return 2
    if name.endswith("_deg"):
        return 1
    if name.endswith("_conf"):
        return 3
    return 6


def local_iso_sql(col: str, tz: str | None, fraction: bool = False) -> str:
    """SQL for an ISO 8601 string of ``col`` in zone ``tz`` (a column, or None for UTC), with offset."""
    fmt = "%Y-%m-%dT%H:%M:%S" + (".%f" if fraction else "")
    if tz is None:
        return f"strftime({col}, '{fmt}') || '+00:00'"
    zone = f"coalesce({tz}, 'UTC')"
    local = f"timezone({zone}, {col})"
    off = f"(epoch({local}::TIMESTAMP) - epoch({col}))::BIGINT"
    return (
        f"CASE WHEN {col} IS NULL THEN NULL ELSE strftime({local}, '{fmt}') || "
        f"CASE WHEN {off} < 0 THEN '-' ELSE '+' END || "
        f"lpad((abs({off}) // 3600)::VARCHAR, 2, '0') || ':' || lpad(((abs({off}) % 3600) // 60)::VARCHAR, 2, '0') END"
    )


class Formatter:
    """Rounds the numbers and writes the times of export batches, in an in-memory DuckDB."""

    def __init__(self, table: str, *, decimal_type: bool, fraction: bool = False) -> None:
        import duckdb

        self.table = table
        self.decimal_type = decimal_type  # CSV: fixed decimals (DECIMAL); JSON: rounded doubles
        self.fraction = fraction
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        self._sql: str | None = None

    def _select(self, schema: pa.Schema) -> str:
        tz = None if self.table == "points" else "tz"
        exprs = []
        for field in schema:
            name = f'"{field.name}"'
            if field.name in ("path", "legs_path"):
                continue
            if field.name in TIME_COLUMNS[self.table]:
                exprs.append(f"{local_iso_sql(name, tz, self.fraction)} AS {name}")
            elif pa.types.is_floating(field.type):
                d = decimals(field.name)
                if d == 0:
                    exprs.append(f"round({name})::BIGINT AS {name}")
                elif self.decimal_type:
                    exprs.append(f"round({name}, {d})::DECIMAL(18, {d}) AS {name}")
                else:
                    exprs.append(f"round({name}, {d})::DOUBLE AS {name}")
            else:
                exprs.append(name)
        return "SELECT " + ", ".join(exprs) + " FROM batch"

    def __call__(self, batch: pa.RecordBatch) -> pa.Table:
        if self._sql is None:
            self._sql = self._select(batch.schema)
        self.con.register("batch", batch)
        try:
            return self.con.sql(self._sql).to_arrow_table()
        finally:
            self.con.unregister("batch")


def write_csv(batches: Iterable[pa.RecordBatch], fh: IO[bytes], table: str, *, fraction: bool = False,
              empty_schema: pa.Schema | None = None) -> int:
    """Write ``batches`` as RFC 4180 CSV to the binary ``fh``; returns the number of rows."""
    import pyarrow.csv as pacsv

    fmt = Formatter(table, decimal_type=True, fraction=fraction)
    n = 0
    header = True
    for batch in batches:
        out = fmt(batch)
        pacsv.write_csv(out, fh, pacsv.WriteOptions(include_header=header, quoting_style="needed", eol="\r\n"))
        header = False
        n += out.num_rows
    if header and empty_schema is not None:  # nothing selected: still a header
        out = fmt(pa.RecordBatch.from_pylist([], schema=empty_schema))
        pacsv.write_csv(out, fh, pacsv.WriteOptions(include_header=True, quoting_style="needed", eol="\r\n"))
    return n


def json_rows(batches: Iterable[pa.RecordBatch], table: str, *, fraction: bool = False) -> Iterator[dict]:
    """The rows of ``batches`` as dicts with rounded numbers and ISO times (paths left out)."""
    fmt = Formatter(table, decimal_type=False, fraction=fraction)
    for batch in batches:
        yield from fmt(batch).to_pylist()


def write_jsonl(batches: Iterable[pa.RecordBatch], fh: IO[str], table: str, *, fraction: bool = False) -> int:
    """One JSON object per line, each with ``schema_version``; returns the number of rows."""
    n = 0
    for row in json_rows(batches, table, fraction=fraction):
        fh.write(json.dumps({"schema_version": SCHEMA_VERSION, **row}, ensure_ascii=False) + "\n")
        n += 1
    return n
