"""A file's records between the parse and the store: validated, deduplicated, then written.

Points are validated batch by batch in numpy and staged without their constant columns (user,
import id and format are added at write time). Repeats of the natural key within a file are found
in numpy (or by DuckDB over a Parquet spool in low-memory mode), keeping the first in file order;
repeats of points already stored are removed by an anti-join, run only when the catalog's
manifest lists points of the user in the same months. Source segments, visits and labels are
deduplicated against the store on their natural keys.
"""

from __future__ import annotations

import contextlib
import ctypes
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mobco2 import schema
from mobco2.ingest.base import Batch, ParseContext
from mobco2.store import Writer

if TYPE_CHECKING:  # the importer imports this module
    from mobco2.ingest.importer import FileResult

MIN_TIME = datetime(1990, 1, 1, tzinfo=UTC)
"""Earlier fixes are absurd for consumer location history (samples go back to 2007)."""
_ADDED_COLUMNS = ("user_id", "import_id", "source_format")  # constants, added when written
_STAGED_POINTS = pa.schema([f for f in schema.POINTS if f.name not in _ADDED_COLUMNS])


@dataclass
class Staged:
    points: StagedPoints
    source_segments: list[pa.Table] = field(default_factory=list)
    source_visits: list[pa.Table] = field(default_factory=list)
    labels: list[pa.Table] = field(default_factory=list)
    points_in: int = 0
    import_id: str = ""

    @property
    def empty(self) -> bool:
        spans = self.source_segments + self.source_visits + self.labels
        return not (self.points.rows or any(t.num_rows for t in spans))



def stage_batch(batch: Batch, staged: Staged, ctx: ParseContext, user: str, fmt: str) -> None:
    if batch.points is not None and batch.points.num_rows:
        pts = validate_points(batch.points, ctx)
        staged.points_in += pts.num_rows
        if pts.num_rows:
            keep = [c for c in pts.column_names if c in _STAGED_POINTS.names]
            staged.points.add(schema.conform(pts.select(keep), _STAGED_POINTS))
    if batch.source_segments is not None and batch.source_segments.num_rows:
        segs = _with_ids(batch.source_segments, schema.SOURCE_SEGMENTS, user, origin=fmt)
        staged.source_segments.append(_valid_spans(segs, ctx))
    if batch.source_visits is not None and batch.source_visits.num_rows:
        vis = _with_ids(batch.source_visits, schema.SOURCE_VISITS, user, origin=fmt)
        staged.source_visits.append(_valid_spans(vis, ctx))
    if batch.labels is not None and batch.labels.num_rows:
        lab = batch.labels
        lab = lab.drop_columns([c for c in ("user_id",) if c in lab.column_names])
        lab = lab.append_column("user_id", pa.array([user] * lab.num_rows, pa.string()))
        if "origin" not in lab.column_names:
            lab = lab.append_column("origin", pa.array([fmt] * lab.num_rows, pa.string()))
        staged.labels.append(schema.conform(lab, schema.LABELS))


def _with_ids(table: pa.Table, target: pa.Schema, user: str, **constants: str) -> pa.Table:
    """Conform spans to ``target``; the import id is known (from the digest) only when written."""
    n = table.num_rows
    cols = {"user_id": user, "import_id": "", **constants}
    for name, value in cols.items():
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, pa.array([value] * n, pa.string()))
    drop = [c for c in table.column_names if c not in target.names]
    return schema.conform(table.drop_columns(drop), target)


def _floats(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric column as float64 numpy, NaN where null."""
    return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)


def validate_points(points: pa.Table, ctx: ParseContext) -> pa.Table:
    """Reject points with impossible coordinates or times; null out absurd optional values.

    Rejected: latitude outside [-90, 90], longitude outside [-180, 180], NaN, exactly (0, 0),
    and times before 1990 or more than a day in the future. Points without a time are kept
    (geometry only). Returns the valid rows; rejections are counted in ``ctx``. Whole columns
    in numpy (a 1 GB Records.json is 2.4 M points); the reason is worked out for the first
    rejected row only.
    """
    if not points.num_rows:
        return points
    lat, lon = _floats(points.column("lat")), _floats(points.column("lon"))
    with np.errstate(invalid="ignore"):
        ok_lat = (lat >= -90.0) & (lat <= 90.0)
        ok_lon = (lon >= -180.0) & (lon <= 180.0)
    island = (lat == 0.0) & (lon == 0.0)
    ok_xy = ok_lat & ok_lon & ~island
    ok = ok_xy
    if "ts" in points.column_names:
        ts = points.column("ts")
        if ts.type != schema.TS:
            ts = ts.cast(schema.TS)
        lo = _epoch_us(MIN_TIME)
        us = pc.fill_null(pc.cast(ts, pa.int64()), lo).to_numpy()  # no time: geometry only, kept
        ok = ok_xy & (us >= lo) & (us <= _epoch_us(datetime.now(UTC) + timedelta(days=1)))
    if not ok.all():
        i = int(np.argmin(ok))
        if ok_xy[i]:
            reason = "date before 1990 or in the future"
        elif island[i]:
            reason = "coordinates (0, 0)"
        else:
            reason = "longitude out of [-180, 180]" if ok_lat[i] else "latitude out of [-90, 90]"
        record = str(points.column("record")[i].as_py()) if "record" in points.column_names else f"point {i + 1}"
        where = f" (lat {_as_float(points.column('lat')[i])}, lon {_as_float(points.column('lon')[i])})"
        ctx.reject(record, reason + where, count=int(len(ok) - np.count_nonzero(ok)))
        points = points.filter(pa.array(ok))
    return _sanitise(points)


def _epoch_us(t: datetime) -> int:
    return (t - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _as_float(value: pa.Scalar) -> float | None:
    v = value.as_py()
    return None if v is None else float(v)


_RANGES = {
    "accuracy_m": (0.0, 1e6),
    "altitude_m": (-1000.0, 60_000.0),
    "speed_mps": (0.0, 400.0),
    "heading_deg": (0.0, 360.0),
    "mode_hint_conf": (0.0, 1.0),
}


def _sanitise(points: pa.Table) -> pa.Table:
    """Optional measurements outside physical ranges become null (they never reject a point)."""
    for name, (lo, hi) in _RANGES.items():
        if name in points.column_names:
            col = points.column(name)
            if col.null_count == len(col):
                continue
            values = _floats(col)
            with np.errstate(invalid="ignore"):
                bad = ~((values >= lo) & (values <= hi))  # NaN and null too
            if np.count_nonzero(bad) > col.null_count:  # a value to null out, not just nulls
                fixed = pa.array(values, pa.float64(), mask=bad).cast(col.type)
                points = points.set_column(points.column_names.index(name), name, fixed)
    return points


def _valid_spans(table: pa.Table, ctx: ParseContext) -> pa.Table:
    """Source segments and visits need both times, in order, inside the plausible range."""
    s, f = table.column("started_at"), table.column("finished_at")
    latest = datetime.now(UTC) + timedelta(days=1)
    lo, hi = pa.scalar(MIN_TIME, schema.TS), pa.scalar(latest, schema.TS)
    ok = pc.and_(pc.and_(pc.greater_equal(s, lo), pc.less_equal(f, hi)), pc.less_equal(s, f))
    ok = pc.fill_null(ok, False)
    n_bad = table.num_rows - pc.sum(pc.cast(ok, pa.int64())).as_py()
    if n_bad:
        i = pc.indices_nonzero(pc.invert(ok))[0].as_py()
        ctx.reject(f"span {i + 1}", "missing, reversed or absurd start/end time", count=n_bad)
        table = table.filter(ok)
    return table


_KEY_SQL = "coalesce(epoch_us(ts), -1), round(lat * 1e6)::BIGINT, round(lon * 1e6)::BIGINT"
"""The points' natural key (schema.NATURAL_KEYS, lat/lon at 1e-6°) as DuckDB computes it."""


class StagedPoints:
    """A file's validated points until they are written, repeats of a natural key removed.

    In memory the key columns are kept beside the tables (24 bytes a point), so repeats are
    found by numpy without a database pass. In low-memory mode the points go to a Parquet
    spool under the store's .staging and DuckDB, which spills to disk, finds the repeats.
    Either way the first occurrence in file order is kept.
    """

    def __init__(self, w: Writer, low_memory: bool) -> None:
        self._w = w
        self._low = low_memory
        self.rows = 0
        self.months: set[int] = set()  # year * 100 + month of the points (0: no time)
        self._last_ts: int | None = -(2**63)  # None once times stop rising strictly (repeats possible)
        self._tables: list[pa.Table] = []
        self._keys: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._writer = None
        self._path: Path | None = None
        self._registered = False
        self._data: pa.Table | None = None
        self._data_keys: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        us = pc.cast(table.column("ts"), pa.int64())
        if us.null_count:
            self.months.add(0)  # the year 0 / month 0 partition
            us = pc.drop_null(us)
        times = us.to_numpy()
        if self._last_ts is not None:  # lets the low-memory path skip DuckDB's search for repeats
            rising = len(times) == table.num_rows and (np.diff(times) > 0).all()
            self._last_ts = int(times[-1]) if rising and times[0] > self._last_ts else None
        m = np.unique(times.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64))
        self.months.update((m // 12 * 100 + m % 12 + 197001).tolist())  # months since 1970-01 → YYYYMM
        if not self._low:
            self._tables.append(table)
            self._keys.append(natural_keys(table))
            return
        import pyarrow.parquet as pq

        if self._writer is None:
            self._w.staging.mkdir(parents=True, exist_ok=True)
            self._path = self._w.staging / f"spool-{time.monotonic_ns()}.parquet"
            self._writer = pq.ParquetWriter(self._path, _STAGED_POINTS, compression="lz4")
        self._writer.write_table(table)

    def arrow(self) -> pa.Table:
        """The rows to write (first occurrence of each key), in memory (not in low-memory mode)."""
        if self._data is None:
            data = pa.concat_tables(self._tables)
            self._tables = []
            keys = tuple(np.concatenate(k) for k in zip(*self._keys, strict=True))
            first = first_occurrences(*keys)
            self._keys = []
            self._data = data if first is None else data.filter(first)
            self._data_keys = keys if first is None else tuple(k[first] for k in keys)
        return self._data

    def keys(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:func:`natural_keys` of :meth:`arrow`'s rows (computed once, as they were staged)."""
        self.arrow()
        assert self._data_keys is not None
        return self._data_keys

    def relation(self) -> str | None:
        """SQL for the rows to write (first occurrence of each key), on the writer's connection."""
        con = self._w.con
        if not self.rows:
            return None
        if not self._low:
            con.register("__new_points", self.arrow())
            self._registered = True
            return "__new_points"
        assert self._writer is not None and self._path is not None
        self._writer.close()
        _release_free_memory()
        spool = "read_parquet(" + _sql_text(str(self._path)) + ", file_row_number = true)"
        repeats = self._last_ts is None and con.execute(  # strictly rising times cannot repeat a key
            f"SELECT count(*) FROM (SELECT 1 FROM {spool} GROUP BY {_KEY_SQL} HAVING count(*) > 1)"
        ).fetchall()[0][0]
        if not repeats:
            return f"(SELECT * EXCLUDE (file_row_number) FROM {spool})"
        return (
            f"(SELECT * EXCLUDE (file_row_number) FROM {spool} "
            f"QUALIFY row_number() OVER (PARTITION BY {_KEY_SQL} ORDER BY file_row_number) = 1)"
        )

    @property
    def low_memory(self) -> bool:
        return self._low

    def close(self) -> None:
        self._data = self._data_keys = None
        if self._registered:
            self._w.con.unregister("__new_points")
            self._registered = False


def _release_free_memory() -> None:
    """Hand memory freed by the parse back to the system before DuckDB works (low-memory mode).

    Arrow's pool and glibc's heap keep freed blocks for reuse; under a 300 MB budget the
    ~50 MB they hold after a big file matter.
    """
    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def natural_keys(table: pa.Table) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:data:`_KEY_SQL` in numpy: epoch µs (-1 for no time), lat and lon × 10⁶ rounded half away
    from zero (DuckDB's ``round``; numpy's own rounds half to even)."""
    ts = pc.fill_null(pc.cast(table.column("ts"), pa.int64()), -1).to_numpy()

    def scaled(name: str) -> np.ndarray:
        x = _floats(table.column(name)) * 1e6
        whole = np.trunc(x)
        return np.where(np.abs(x - whole) == 0.5, whole + np.sign(x), np.round(x)).astype(np.int64)

    return ts, scaled("lat"), scaled("lon")


def first_occurrences(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray | None:
    """A mask of the first row of each (ts, lat, lon) key in row order; None when all are distinct.

    Records.json and GPS tracks are written in time order, so the usual answer comes from one
    look at the time steps; only rows sharing a time with a neighbour are sorted on all keys.
    """
    n = len(ts)
    if n < 2:
        return None
    step = np.diff(ts)
    if (step > 0).all():
        return None
    if (step >= 0).all():  # sorted by time: equal keys can only sit in runs of equal times
        tied = np.zeros(n, dtype=bool)
        tied[1:] |= step == 0
        tied[:-1] |= step == 0
        rows = np.flatnonzero(tied)
    else:
        rows = np.arange(n)
    order = rows[np.lexsort((lon[rows], lat[rows], ts[rows]))]  # stable: row order within a key
    same = (ts[order[1:]] == ts[order[:-1]]) & (lat[order[1:]] == lat[order[:-1]]) & (lon[order[1:]] == lon[order[:-1]])
    if not same.any():
        return None
    first = np.ones(n, dtype=bool)
    first[order[1:][same]] = False
    return first


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def write_staged(w: Writer, staged: Staged, user: str, result: FileResult, dry_run: bool) -> None:
    # Points: deduplicate within the file, then against what the user already has.
    try:
        relation = staged.points.relation()
        if relation is not None:
            points = staged.points
            _write_points(w, relation, points, user, staged.import_id, result, dry_run)
    finally:
        staged.points.close()
    _write_spans_and_labels(w, staged, result, dry_run)


def _write_points(
    w: Writer, relation: str, points: StagedPoints, user: str, import_id: str, result: FileResult, dry_run: bool
) -> None:
    months_of, total, in_memory = points.months, points.rows, not points.low_memory
    constants = {"user_id": user, "import_id": import_id, "source_format": result.format or ""}
    cols = ", ".join(
        f"{_sql_text(constants[f.name])} AS {f.name}" if f.name in constants else f"i.{f.name}" for f in schema.POINTS
    )
    months = ", ".join(str(m) for m in sorted(months_of))
    # The manifest tells, without reading any Parquet, whether the user has points in these months.
    overlap = w.con.execute(
        "SELECT count(*) FROM parquet_files WHERE table_name = 'points' AND user_id = ? "
        f"AND year * 100 + month IN ({months})",
        [user],
    ).fetchall()[0][0]
    new_sql = f"SELECT {cols} FROM {relation} i"
    if overlap:
        new_sql += f"""
            ANTI JOIN (
                SELECT coalesce(epoch_us(ts), -1) AS k_ts,
                       round(lat * 1e6)::BIGINT AS k_lat, round(lon * 1e6)::BIGINT AS k_lon
                FROM points WHERE user_id = {_sql_text(user)} AND year * 100 + month IN ({months})
            ) e
            ON coalesce(epoch_us(i.ts), -1) = e.k_ts AND round(i.lat * 1e6)::BIGINT = e.k_lat
               AND round(i.lon * 1e6)::BIGINT = e.k_lon
        """
    if dry_run:
        result.added = w.con.execute(f"SELECT count(*) FROM ({new_sql})").fetchall()[0][0]
    elif in_memory and not overlap:  # nothing to compare with: the staged table as it is
        result.added = w.append("points", points_with_constants(points.arrow(), constants))
    elif in_memory:  # Arrow out, pyarrow writes the partitions: a third of the CPU of DuckDB's COPY
        result.added = w.append("points", w.con.sql(new_sql).to_arrow_table())
    else:  # low memory: DuckDB streams from the spool to the partitions
        result.added = w.append("points", new_sql)
    result.duplicate = total - result.added


def points_with_constants(table: pa.Table, constants: dict[str, str]) -> pa.Table:
    """``table`` with a column per constant (one dictionary entry repeated, not n Python strings)."""
    zeros = pa.array(np.zeros(table.num_rows, dtype=np.int32))
    for name, value in constants.items():
        column = pa.DictionaryArray.from_arrays(zeros, pa.array([value], pa.string())).cast(pa.string())
        table = table.append_column(name, column)
    return table


def _write_spans_and_labels(w: Writer, staged: Staged, result: FileResult, dry_run: bool) -> None:
    con = w.con
    for table, tables, attr in (
        ("source_segments", staged.source_segments, "segments_added"),
        ("source_visits", staged.source_visits, "visits_added"),
    ):
        if not tables:
            continue
        data = pa.concat_tables(tables)
        i = data.schema.get_field_index("import_id")
        data = data.set_column(i, "import_id", pa.array([staged.import_id] * data.num_rows, pa.string()))
        name = f"__new_{table}"
        con.register(name, data)
        key = schema.NATURAL_KEYS[table]
        on = " AND ".join(f"n.{k} IS NOT DISTINCT FROM e.{k}" for k in key)
        sql = f"""
            SELECT n.* FROM (SELECT DISTINCT ON ({", ".join(key)}) * FROM {name}) n
            WHERE NOT EXISTS (SELECT 1 FROM {table} e WHERE {on})
        """
        try:
            if dry_run:
                setattr(result, attr, con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0])
            else:
                setattr(result, attr, w.append(table, sql))
        finally:
            con.unregister(name)
    if staged.labels:
        data = pa.concat_tables(staged.labels)
        con.register("__new_labels", data)
        try:
            sql = """
                SELECT n.* FROM (SELECT DISTINCT ON (user_id, started_at, finished_at, origin, mode, purpose) *
                                 FROM __new_labels) n
                WHERE NOT EXISTS (
                    SELECT 1 FROM labels e WHERE e.user_id = n.user_id AND e.origin = n.origin
                      AND e.started_at IS NOT DISTINCT FROM n.started_at
                      AND e.finished_at IS NOT DISTINCT FROM n.finished_at
                      AND e.mode IS NOT DISTINCT FROM n.mode AND e.purpose IS NOT DISTINCT FROM n.purpose)
            """
            if dry_run:
                result.labels_added = con.execute(f"SELECT count(*) FROM ({sql})").fetchall()[0][0]
            else:
                before = con.execute("SELECT count(*) FROM labels").fetchall()[0][0]
                con.execute(
                    f"""INSERT INTO labels
                        SELECT '{result.import_id}-' || row_number() OVER () AS label_id,
                               user_id, started_at, finished_at, trip_id, leg_id, mode, raw_mode, occupancy,
                               vehicle, purpose, origin, set_at, '{result.import_id}' AS import_id
                        FROM ({sql})"""
                )
                result.labels_added = con.execute("SELECT count(*) FROM labels").fetchall()[0][0] - before
        finally:
            con.unregister("__new_labels")
