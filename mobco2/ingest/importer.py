"""Import files into the store: detect, parse, validate, deduplicate, write — one transaction per file.

Each file (or archive member) is its own transaction: it lands whole or not at all. A file with
invalid records (coordinates out of range, absurd dates) is rolled back unless the caller allows
rejects, in which case the valid records land and the rest are counted.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
import uuid
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Protocol

import pyarrow as pa
import pyarrow.compute as pc

from mobco2 import schema
from mobco2.errors import (
    EXIT_OK,
    InputDataError,
    Mobco2Error,
    RejectedRecordsError,
    UnsupportedFormatError,
)
from mobco2.ingest import detect as detection
from mobco2.ingest.base import Batch, ParseContext, Source
from mobco2.ingest.sources import Candidate, expand
from mobco2.store import Store, Writer, check_user_id

MIN_TIME = datetime(1990, 1, 1, tzinfo=UTC)
"""Earlier fixes are absurd for consumer location history (samples go back to 2007)."""


class Progress(Protocol):
    """What the importer reports while it works; the CLI draws it with rich, on a TTY only."""

    def start(self, name: str, total_bytes: int | None) -> None: ...
    def advance(self, done_bytes: int) -> None: ...
    def finish(self) -> None: ...


@dataclass
class FileResult:
    """What happened to one file or archive member."""

    name: str
    status: str  # imported | already-imported | skipped | failed | dry-run
    format: str | None = None
    import_id: str | None = None
    rows_in: int = 0
    added: int = 0
    duplicate: int = 0
    rejected: int = 0
    skipped: int = 0
    segments_added: int = 0
    visits_added: int = 0
    labels_added: int = 0
    unmapped_modes: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    message: str | None = None
    exit_code: int = EXIT_OK


@dataclass
class ImportSummary:
    files: list[FileResult]

    def total(self, attr: str) -> int:
        return sum(getattr(f, attr) for f in self.files)

    @property
    def exit_code(self) -> int:
        codes = [f.exit_code for f in self.files if f.exit_code]
        return max(codes) if codes else EXIT_OK

    def line(self) -> str:
        """The one-line count every import ends with."""
        n = Counter(f.status for f in self.files)
        parts = [f"{len(self.files)} file{'s' if len(self.files) != 1 else ''}"]
        for status in ("imported", "already-imported", "skipped", "failed", "dry-run"):
            if n[status]:
                parts.append(f"{n[status]} {status}")
        text = ", ".join(parts)
        text += (
            f"; points: {self.total('added')} added, {self.total('duplicate')} duplicate, "
            f"{self.total('rejected')} rejected"
        )
        seg, vis, lab = self.total("segments_added"), self.total("visits_added"), self.total("labels_added")
        if seg or vis or lab:
            text += f"; {seg} source segments, {vis} visits, {lab} labels added"
        unmapped = sum(sum(f.unmapped_modes.values()) for f in self.files)
        if unmapped:
            text += f"; {unmapped} unmapped mode values (stored as unknown)"
        return text


def sha256_of(source: Source, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with source.open() as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def import_paths(
    store: Store,
    paths: Iterable[str | Path],
    user_id: str | None = None,
    format: str = "auto",
    *,
    force: bool = False,
    dry_run: bool = False,
    allow_rejects: bool = False,
    low_memory: bool | None = None,
    options: dict[str, str] | None = None,
    progress: Progress | None = None,
    on_file: Callable[[FileResult], None] | None = None,
) -> ImportSummary:
    """Import every file under ``paths`` into ``store`` for ``user_id``.

    Folders are walked, zips read member by member (after safety checks), ``.gz`` undone.
    A file already in the journal (same sha256 and user) is skipped unless ``force``.
    Files the user named that cannot be read raise; files found inside folders or archives that
    are not location history are reported as skipped.

    Example::

        summary = import_paths(Store("~/store"), ["Takeout.zip", "tracks/"], user_id="alice")
        print(summary.line())
    """
    from mobco2 import config

    cfg = config.load()
    user = check_user_id(user_id or cfg["user.default_id"])
    if low_memory is None:
        low_memory = bool(cfg["import.low_memory"])
    forced_module = None if format == "auto" else detection.by_name(format)
    candidates = list(expand([Path(p) for p in paths]))
    results: list[FileResult] = []
    with store.writer() as w:
        if low_memory:
            w.con.execute("SET memory_limit = '160MB'")
            w.con.execute("SET threads = 1")
        for cand in candidates:
            result = _import_one(
                w, cand, user, forced_module, force, dry_run, allow_rejects, low_memory, options or {}, progress
            )
            results.append(result)
            if on_file:
                on_file(result)
    return ImportSummary(results)


def _import_one(
    w: Writer,
    cand: Candidate,
    user: str,
    forced: ModuleType | None,
    force: bool,
    dry_run: bool,
    allow_rejects: bool,
    low_memory: bool,
    options: dict[str, str],
    progress: Progress | None,
) -> FileResult:
    src = cand.source
    result = FileResult(name=src.name, status="failed")
    try:
        module = forced or detection.detect(src)
        if getattr(module, "REFUSAL", False):
            # raises UnsupportedFormatError with a message saying what to export instead
            module.parse(src, ParseContext(source_name=src.name))
        result.format = module.FORMAT
        digest = sha256_of(src)
        prior = w.con.execute(
            "SELECT import_id FROM imports WHERE sha256 = ? AND user_id = ? LIMIT 1", [digest, user]
        ).fetchall()
        if prior and not force:
            result.status = "already-imported"
            result.import_id = prior[0][0]
            result.message = "already imported (same content); use --force to import again"
            return result
        import_id = f"{digest[:12]}-{uuid.uuid4().hex[:8]}"
        result.import_id = import_id
        ctx = ParseContext(source_name=src.name, low_memory=low_memory, options=options)
        if progress is not None:
            progress.start(src.name, src.size)
            ctx.progress = progress.advance
        try:
            staged = _parse_and_stage(module, src, ctx, user, import_id, w)
        finally:
            if progress is not None:
                progress.finish()
        result.rows_in = staged.points_in + ctx.rejected
        result.rejected = ctx.rejected
        result.skipped = ctx.skipped
        result.unmapped_modes = dict(ctx.unmapped_modes)
        result.warnings = list(ctx.warnings)
        if ctx.rejected and not allow_rejects:
            record, reason = ctx.first_rejection or ("?", "invalid record")
            raise RejectedRecordsError(
                f"{ctx.rejected} invalid record{'s' if ctx.rejected != 1 else ''}, first at {record}: {reason}; "
                "nothing from this file was stored",
                path=src.name,
                record=None,
                rejected=ctx.rejected,
            )
        if staged.empty and not ctx.rejected:
            raise InputDataError(
                f"no usable location data ({ctx.skipped} records skipped)" if ctx.skipped
                else "no usable location data",
                path=src.name,
                hint="check that this is the export you meant to import",
            )
        _write(w, staged, result, dry_run)
        if dry_run:
            result.status = "dry-run"
            w.discard()
            return result
        w.con.execute(
            "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                import_id, src.name, digest, result.format, user, result.rows_in, result.added,
                result.duplicate, result.rejected, result.skipped, result.segments_added,
                result.visits_added, result.labels_added,
                json.dumps(result.unmapped_modes, sort_keys=True) if result.unmapped_modes else None,
                datetime.now(UTC),
            ],
        )
        w.commit()
        result.status = "imported"
        return result
    except UnsupportedFormatError as e:
        w.discard()
        if not cand.explicit:
            result.status = "skipped"
            result.message = e.problem
            return result
        result.message = e.one_line()
        result.exit_code = e.exit_code
        return result
    except (EOFError, zlib.error, gzip.BadGzipFile, zipfile.BadZipFile) as e:
        # Truncated or corrupt compression: bad input, wherever in the file it shows up.
        w.discard()
        err = InputDataError(f"corrupt or truncated compressed data ({e})", path=src.name,
                             hint="re-download or re-export the file")
        result.message = err.one_line()
        result.exit_code = err.exit_code
        return result
    except Mobco2Error as e:
        w.discard()
        result.message = e.one_line()
        result.exit_code = e.exit_code
        return result


@dataclass
class _Staged:
    points: list[pa.Table] = field(default_factory=list)
    source_segments: list[pa.Table] = field(default_factory=list)
    source_visits: list[pa.Table] = field(default_factory=list)
    labels: list[pa.Table] = field(default_factory=list)
    points_in: int = 0

    @property
    def empty(self) -> bool:
        return not any(t.num_rows for t in self.points + self.source_segments + self.source_visits + self.labels)


def _parse_and_stage(
    module: ModuleType, src: Source, ctx: ParseContext, user: str, import_id: str, w: Writer
) -> _Staged:
    staged = _Staged()
    spool = _Spool(w, ctx.low_memory)
    fmt = module.FORMAT
    try:
        batches = module.parse(src, ctx)
        for batch in batches:
            _stage_batch(batch, staged, spool, ctx, user, import_id, fmt)
    except Mobco2Error:
        raise
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError, OverflowError) as e:
        # A parser met content it did not expect: that is bad input, not a crash.
        raise InputDataError(
            f"cannot parse as {fmt}: {type(e).__name__}: {e}",
            path=src.name,
            hint="the file may be truncated or not what it seems; try --format to force another reader",
        ) from e
    staged.points = spool.tables()
    return staged


def _stage_batch(
    batch: Batch, staged: _Staged, spool: _Spool, ctx: ParseContext, user: str, import_id: str, fmt: str
) -> None:
    if batch.points is not None and batch.points.num_rows:
        pts = validate_points(batch.points, ctx)
        staged.points_in += pts.num_rows
        if pts.num_rows:
            spool.add(_with_ids(pts, schema.POINTS, user, import_id, source_format=fmt))
    if batch.source_segments is not None and batch.source_segments.num_rows:
        segs = _with_ids(batch.source_segments, schema.SOURCE_SEGMENTS, user, import_id, origin=fmt)
        staged.source_segments.append(_valid_spans(segs, ctx))
    if batch.source_visits is not None and batch.source_visits.num_rows:
        vis = _with_ids(batch.source_visits, schema.SOURCE_VISITS, user, import_id, origin=fmt)
        staged.source_visits.append(_valid_spans(vis, ctx))
    if batch.labels is not None and batch.labels.num_rows:
        lab = batch.labels
        lab = lab.drop_columns([c for c in ("user_id",) if c in lab.column_names])
        lab = lab.append_column("user_id", pa.array([user] * lab.num_rows, pa.string()))
        if "origin" not in lab.column_names:
            lab = lab.append_column("origin", pa.array([fmt] * lab.num_rows, pa.string()))
        staged.labels.append(schema.conform(lab, schema.LABELS))


def _with_ids(table: pa.Table, target: pa.Schema, user: str, import_id: str, **constants: str) -> pa.Table:
    n = table.num_rows
    cols = {"user_id": user, "import_id": import_id, **constants}
    for name, value in cols.items():
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, pa.array([value] * n, pa.string()))
    drop = [c for c in table.column_names if c not in target.names]
    return schema.conform(table.drop_columns(drop), target)


def validate_points(points: pa.Table, ctx: ParseContext) -> pa.Table:
    """Reject points with impossible coordinates or times; null out absurd optional values.

    Rejected: latitude outside [-90, 90], longitude outside [-180, 180], NaN, exactly (0, 0),
    and times before 1990 or more than a day in the future. Points without a time are kept
    (geometry only). Returns the valid rows; rejections are counted in ``ctx``.
    """
    lat = pc.cast(points.column("lat"), pa.float64())
    lon = pc.cast(points.column("lon"), pa.float64())
    ok_lat = pc.and_(pc.greater_equal(lat, -90.0), pc.less_equal(lat, 90.0))
    ok_lon = pc.and_(pc.greater_equal(lon, -180.0), pc.less_equal(lon, 180.0))
    null_island = pc.and_(pc.equal(lat, 0.0), pc.equal(lon, 0.0))
    ok = pc.and_(pc.and_(ok_lat, ok_lon), pc.invert(null_island))
    ok = pc.fill_null(ok, False)
    reasons = pc.if_else(
        pc.fill_null(ok_lat, False), pa.scalar("longitude out of [-180, 180]"), pa.scalar("latitude out of [-90, 90]")
    )
    reasons = pc.if_else(pc.fill_null(null_island, False), pa.scalar("coordinates (0, 0)"), reasons)
    if "ts" in points.column_names:
        ts = points.column("ts")
        if ts.type != schema.TS:
            ts = ts.cast(schema.TS)
        latest = datetime.now(UTC) + timedelta(days=1)
        ok_ts = pc.and_(
            pc.greater_equal(ts, pa.scalar(MIN_TIME, schema.TS)), pc.less_equal(ts, pa.scalar(latest, schema.TS))
        )
        ok_ts = pc.fill_null(ok_ts, True)  # no time: geometry only, kept
        reasons = pc.if_else(pc.and_(ok, pc.invert(ok_ts)), pa.scalar("date before 1990 or in the future"), reasons)
        ok = pc.and_(ok, ok_ts)
    n_bad = points.num_rows - pc.sum(pc.cast(ok, pa.int64())).as_py() if points.num_rows else 0
    if n_bad:
        bad_idx = pc.indices_nonzero(pc.invert(ok))[0].as_py()
        record = (
            str(points.column("record")[bad_idx].as_py())
            if "record" in points.column_names
            else f"point {bad_idx + 1}"
        )
        value = f" (lat {lat[bad_idx].as_py()}, lon {lon[bad_idx].as_py()})"
        ctx.reject(record, reasons[bad_idx].as_py() + value, count=n_bad)
        points = points.filter(ok)
    return _sanitise(points)


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
            col = pc.cast(points.column(name), pa.float64())
            bad = pc.fill_null(pc.or_(pc.less(col, lo), pc.greater(col, hi)), False)
            bad = pc.or_(bad, pc.fill_null(pc.is_nan(col), False))
            if pc.any(bad).as_py():
                fixed = pc.if_else(bad, pa.scalar(None, col.type), col)
                idx = points.column_names.index(name)
                points = points.set_column(idx, name, fixed.cast(points.schema.field(name).type))
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


class _Spool:
    """Collects points batches in memory, or on disk in low-memory mode."""

    def __init__(self, w: Writer, low_memory: bool) -> None:
        self._w = w
        self._low = low_memory
        self._mem: list[pa.Table] = []
        self._writer = None
        self._path: Path | None = None

    def add(self, table: pa.Table) -> None:
        if not self._low:
            self._mem.append(table)
            return
        import pyarrow.parquet as pq

        if self._writer is None:
            self._w.staging.mkdir(parents=True, exist_ok=True)
            self._path = self._w.staging / f"spool-{time.monotonic_ns()}.parquet"
            self._writer = pq.ParquetWriter(self._path, schema.POINTS, compression="lz4")
        self._writer.write_table(table)

    def tables(self) -> list[pa.Table]:
        if not self._low:
            return self._mem
        if self._writer is None:
            return []
        self._writer.close()
        # Returned lazily through a dataset scan so the points never sit in memory at once.
        return [_LazyParquet(self._path)]  # type: ignore[list-item]


class _LazyParquet:
    """Stands for a spooled Parquet file where an Arrow table is expected (num_rows + DuckDB SQL)."""

    def __init__(self, path: Path | None) -> None:
        import pyarrow.parquet as pq

        self.path = path
        self.num_rows = pq.read_metadata(path).num_rows if path else 0


def _write(w: Writer, staged: _Staged, result: FileResult, dry_run: bool) -> None:
    con = w.con
    # Points: deduplicate within the file, then against what the user already has.
    pts_sql = _points_source(w, staged.points)
    try:
        if pts_sql is not None:
            _write_points(w, pts_sql, staged.points_in, result, dry_run)
    finally:
        if pts_sql == "__new_points":
            con.unregister("__new_points")
    _write_spans_and_labels(w, staged, result, dry_run)


def _write_points(w: Writer, pts_sql: str, total: int, result: FileResult, dry_run: bool) -> None:
    con = w.con
    new_sql = f"""
        WITH incoming AS (
            SELECT *, coalesce(epoch_us(ts), -1) AS k_ts,
                   round(lat * 1e6)::BIGINT AS k_lat, round(lon * 1e6)::BIGINT AS k_lon,
                   coalesce(year(ts), 0) AS k_year, coalesce(month(ts), 0) AS k_month
            FROM {pts_sql}
        ), firsts AS (
            SELECT DISTINCT ON (user_id, k_ts, k_lat, k_lon) * FROM incoming
        ), existing AS (
            SELECT user_id, coalesce(epoch_us(ts), -1) AS k_ts,
                   round(lat * 1e6)::BIGINT AS k_lat, round(lon * 1e6)::BIGINT AS k_lon
            FROM points
            WHERE user_id IN (SELECT DISTINCT user_id FROM incoming)
              AND (year * 100 + month) IN (SELECT DISTINCT k_year * 100 + k_month FROM incoming)
        )
        SELECT f.* EXCLUDE (k_ts, k_lat, k_lon, k_year, k_month)
        FROM firsts f ANTI JOIN existing e
          ON f.user_id = e.user_id AND f.k_ts = e.k_ts AND f.k_lat = e.k_lat AND f.k_lon = e.k_lon
    """
    if dry_run:
        result.added = con.execute(f"SELECT count(*) FROM ({new_sql})").fetchall()[0][0]
    else:
        result.added = w.append("points", new_sql)
    result.duplicate = total - result.added


def _write_spans_and_labels(w: Writer, staged: _Staged, result: FileResult, dry_run: bool) -> None:
    con = w.con
    for table, tables, attr in (
        ("source_segments", staged.source_segments, "segments_added"),
        ("source_visits", staged.source_visits, "visits_added"),
    ):
        if not tables:
            continue
        data = pa.concat_tables(tables)
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


def _points_source(w: Writer, tables: list) -> str | None:  # type: ignore[type-arg]
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return None
    if isinstance(tables[0], _LazyParquet):
        path = str(tables[0].path).replace("'", "''")
        return f"read_parquet('{path}')"
    data = pa.concat_tables(tables)
    w.con.register("__new_points", data)
    return "__new_points"
