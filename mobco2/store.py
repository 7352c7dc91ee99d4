"""The store: a DuckDB catalog over Hive-partitioned Parquet (DESIGN §3).

Layout::

    <root>/catalog.duckdb                       imports journal, labels, settings, migrations,
                                                and the manifest of live Parquet files
    <root>/<table>/user_id=U/year=Y/month=M/*.parquet
    <root>/.staging/<txn>/                      files being written by an open transaction
    <root>/.lock                                the cross-process lock (flock)

Why a manifest: a Parquet file is visible only once the catalog transaction that lists it has
committed. Files are written under ``.staging``, fsynced, renamed into their partition, and only
then does the catalog commit. A run killed at any point leaves either files not in the manifest
(deleted by the next writer, ignored by readers, whose views are built from the manifest) or a
committed transaction. Either way the store holds all or none of that transaction.

Locking (:mod:`mobco2.storelock`): readers take a shared ``flock``, writers an exclusive one; a
second writer waits up to ``store.lock_timeout_s`` and then raises :class:`StoreLockedError`
(exit 75).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mobco2 import schema
from mobco2.catalog import MIGRATIONS
from mobco2.errors import OutputError, StoreError, UsageError
from mobco2.storelock import FileLock

CATALOG = "catalog.duckdb"
STAGING = ".staging"
LOCK = ".lock"
USER_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

def _now() -> datetime:
    return datetime.now(UTC)


def check_user_id(user_id: str) -> str:
    """User ids become folder names: letters, digits, ``.``, ``_``, ``-``; at most 64 characters."""
    if not USER_ID_RE.match(user_id or ""):
        raise UsageError(
            f"invalid user id {user_id!r}",
            hint="use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return user_id


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _connect(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), read_only=read_only)
    con.execute("SET TimeZone = 'UTC'")
    return con


@dataclass
class _PendingFile:
    table: str
    staged: Path
    final_rel: str
    user_id: str
    year: int
    month: int
    rows: int


class Writer:
    """An open write transaction. See the module docstring for the commit protocol."""

    def __init__(self, store: Store, con: duckdb.DuckDBPyConnection) -> None:
        self.store = store
        self.con = con
        self._begin()

    def _begin(self) -> None:
        self.txn = f"{int(time.time())}-{uuid.uuid4().hex[:12]}"
        self.staging = self.store.root / STAGING / self.txn
        self._pending: list[_PendingFile] = []
        self._obsolete: list[str] = []
        self.con.execute("BEGIN TRANSACTION")

    # -- Parquet tables ------------------------------------------------------------------
    def append(self, table: str, data: pa.Table | str) -> int:
        """Add rows to a Parquet table; returns the number of rows written.

        ``data`` is an Arrow table (conformed to the table's schema) or a SQL ``SELECT`` over this
        connection. Rows are partitioned by user and by the UTC year/month of the table's time
        column (year 0, month 0 for rows without a time).
        """
        if table not in schema.PARQUET_TABLES:
            raise ValueError(f"not a Parquet table: {table}")
        target = schema.PARQUET_TABLES[table]
        tcol = schema.TIME_COLUMN[table]
        if isinstance(data, pa.Table):
            if data.num_rows == 0:
                return 0
            data = schema.conform(data, target)
            users = set(data.column("user_id").unique().to_pylist())
            for u in users:
                check_user_id(u)
            return self._write_arrow(table, data, tcol)
        query = data
        cols = ", ".join(f'"{f.name}"' for f in target if f.name != "user_id")
        out = self.staging / table
        out.mkdir(parents=True, exist_ok=True)
        sql = f"""
            COPY (
                SELECT user_id, {cols},
                       coalesce(year("{tcol}"), 0)::INTEGER AS year,
                       coalesce(month("{tcol}"), 0)::INTEGER AS month
                FROM ({query})
            ) TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (user_id, year, month),
                          OVERWRITE_OR_IGNORE, FILENAME_PATTERN '{self.txn}-{{uuid}}',
                          ROW_GROUP_SIZE 262144)
        """
        try:
            self.con.execute(sql)
        except duckdb.IOException as e:
            raise OutputError(f"cannot write to the store {self.store.root}: {e}") from None
        return self._collect(table, out)

    def _write_arrow(self, table: str, data: pa.Table, tcol: str) -> int:
        """Write an Arrow table as one Parquet file per (user, UTC year, month) partition.

        pyarrow writes the files directly (the layout DuckDB's partitioned ``COPY`` makes, which
        cost three times the CPU: it tried dictionaries on every float column). Rows already in
        partition order (every import: points come sorted by time) are not reordered.
        """
        users = pc.dictionary_encode(data.column("user_id")).combine_chunks()
        user_code = users.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        when = data.column(tcol).cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        null = when.is_null().to_numpy(zero_copy_only=False)
        us = when.fill_null(0).to_numpy(zero_copy_only=False)
        month = us.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)  # months since 1970-01
        month = np.where(null, np.iinfo(np.int32).min, month)  # year 0, month 0: no time
        key = (user_code << 32) + (month - np.iinfo(np.int32).min)
        if key.size > 1 and not (key[1:] >= key[:-1]).all():
            order = np.argsort(key, kind="stable")
            data, key, month, user_code = data.take(order), key[order], month[order], user_code[order]
        body = data.drop_columns(["user_id"])
        strings = [f.name for f in body.schema if pa.types.is_string(f.type)]
        names = users.dictionary.to_pylist()
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        ends = np.r_[starts[1:], key.size]
        out = self.staging / table

        def write(lo: int, hi: int) -> None:
            m = int(month[lo])
            year, mon = (0, 0) if m == np.iinfo(np.int32).min else (1970 + m // 12, m % 12 + 1)
            folder = out / f"user_id={names[user_code[lo]]}" / f"year={year}" / f"month={mon}"
            folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(
                body.slice(lo, hi - lo),
                folder / f"{self.txn}-{uuid.uuid4()}.parquet",
                compression="zstd",
                use_dictionary=strings,
                row_group_size=262144,
            )

        # pyarrow encodes without the GIL: partitions are written on every core at once
        threads = min(len(starts), os.cpu_count() or 1, 8)
        try:
            if threads > 1:
                with ThreadPoolExecutor(threads, thread_name_prefix="mobco2-parquet") as pool:
                    list(pool.map(write, starts.tolist(), ends.tolist()))
            else:
                for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
                    write(lo, hi)
        except OSError as e:
            raise OutputError(f"cannot write to the store {self.store.root}: {e}") from None
        return self._collect(table, out)

    def _collect(self, table: str, out: Path) -> int:
        known = {p.staged for p in self._pending}
        added = 0
        for f in sorted(out.rglob("*.parquet")):
            if f in known:
                continue
            rel = f.relative_to(self.staging)
            parts = dict(p.split("=", 1) for p in rel.parts[1:-1])
            rows = pq.read_metadata(f).num_rows
            self._pending.append(
                _PendingFile(
                    table, f, str(rel), parts["user_id"], int(parts["year"]), int(parts["month"]), rows
                )
            )
            added += rows
        return added

    def replace(self, table: str, data: pa.Table, *, user_id: str, months: Iterable[tuple[int, int]]) -> int:
        """Replace every file of ``user_id``'s ``months`` partitions of ``table`` with ``data``.

        Rows of ``data`` outside those partitions are an error (they would duplicate rows kept
        in other partitions).
        """
        months = sorted(set(months))
        check_user_id(user_id)
        for y, m in months:
            rows = self.con.execute(
                "SELECT path FROM parquet_files WHERE table_name=? AND user_id=? AND year=? AND month=?",
                [table, user_id, y, m],
            ).fetchall()
            self._obsolete.extend(r[0] for r in rows)
            self.con.execute(
                "DELETE FROM parquet_files WHERE table_name=? AND user_id=? AND year=? AND month=?",
                [table, user_id, y, m],
            )
        before = len(self._pending)
        n = self.append(table, data)
        wanted = {(user_id, y, m) for y, m in months}
        for p in self._pending[before:]:
            if (p.user_id, p.year, p.month) not in wanted:
                raise ValueError(
                    f"replace({table}): a row falls in {p.user_id}/{p.year}-{p.month:02d}, "
                    "outside the partitions being replaced"
                )
        return n

    # -- files written by another process (mobco2.cohort's workers) ----------------------------
    def adopt(self, table: str, path: Path, rel: str, *, user_id: str, year: int, month: int, rows: int) -> None:
        """Publish ``path``, a finished Parquet file on the store's filesystem, as ``rel`` at commit.

        The file is renamed into place and listed in the manifest by the commit, like this
        transaction's own files; until then readers never see it.
        """
        if table not in schema.PARQUET_TABLES or not rel.startswith(f"{table}/"):
            raise ValueError(f"not a file of a Parquet table: {rel}")
        self._pending.append(_PendingFile(table, Path(path), rel, check_user_id(user_id), year, month, rows))

    def drop_user(self, user_id: str) -> None:
        """Remove every Parquet file of ``user_id`` (from the manifest now, from disk at commit)."""
        rows = self.con.execute("SELECT path FROM parquet_files WHERE user_id = ?", [user_id]).fetchall()
        self._obsolete.extend(r[0] for r in rows)
        self.con.execute("DELETE FROM parquet_files WHERE user_id = ?", [user_id])

    # -- commit ------------------------------------------------------------------------------
    def commit(self) -> None:
        """Make everything since the last commit durable and visible, then start a new transaction."""
        self._publish()
        self.con.execute("COMMIT")
        self._cleanup()
        self.store._refresh_views(self.con)
        self._begin()

    def _publish(self) -> None:
        root = self.store.root
        created = _now()
        dirs: set[Path] = set()
        for p in self._pending:
            with open(p.staged, "rb") as fh:
                os.fsync(fh.fileno())
            final = root / p.final_rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(p.staged, final)
            dirs.add(final.parent)
            self.con.execute(
                "INSERT INTO parquet_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [p.table, p.final_rel, p.user_id, p.year, p.month, p.rows, self.txn, created],
            )
        for d in dirs:
            _fsync_dir(d)

    def _cleanup(self) -> None:
        for rel in self._obsolete:
            with contextlib.suppress(FileNotFoundError):
                (self.store.root / rel).unlink()
        shutil.rmtree(self.staging, ignore_errors=True)

    def discard(self) -> None:
        """Throw away everything since the last commit and carry on with a fresh transaction."""
        self.rollback()
        self._begin()

    def rollback(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.execute("ROLLBACK")
        shutil.rmtree(self.staging, ignore_errors=True)
        self._pending = []
        self._obsolete = []


class Store:
    """A mobco2 store at ``path`` (created on first use).

    Example::

        store = Store("~/mobco2-store")
        with store.reader() as con:
            con.execute("select count(*) from points").fetchone()
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, lock_timeout_s: float | None = None):
        from mobco2 import config

        self.root = Path(path).expanduser() if path is not None else config.default_store_path()
        if lock_timeout_s is None:
            lock_timeout_s = float(config.load()["store.lock_timeout_s"])
        self.lock_timeout_s = lock_timeout_s
        self._writer: Writer | None = None
        self._ready = False

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG

    # -- opening -----------------------------------------------------------------------------
    def _ensure(self, checked: bool = False) -> None:
        """Create the store or bring its catalog up to date; ``checked``: the caller has looked."""
        if self._ready:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create the store at {self.root}: {e.strerror}") from None
        if not checked and self.catalog_path.exists():
            return  # the connection about to be opened says whether migrations are due
        if not self.catalog_path.exists() or self._pending_migrations_possible():
            with self._locked(exclusive=True):
                con = _connect(self.catalog_path, read_only=False)
                try:
                    self._migrate(con)
                finally:
                    con.close()
        self._ready = True

    def _pending_migrations_possible(self) -> bool:
        # Cheap check without the write lock: open read-only and compare migration names.
        try:
            with self._locked(exclusive=False):
                con = _connect(self.catalog_path, read_only=True)
                try:
                    done = {r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()}
                finally:
                    con.close()
        except duckdb.Error:
            return True
        return any(name not in done for name, _ in MIGRATIONS)

    def _migrations_due(self, con: duckdb.DuckDBPyConnection) -> bool:
        try:
            done = {r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()}
        except duckdb.Error:
            return True
        return any(name not in done for name, _ in MIGRATIONS)

    def _migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)"
        )
        done = {r[0] for r in con.execute("SELECT name FROM schema_migrations").fetchall()}
        unknown = done - {name for name, _ in MIGRATIONS}
        if unknown:
            raise StoreError(
                f"the store {self.root} was written by a newer mobco2 (migration {sorted(unknown)[0]})",
                hint="upgrade mobco2",
            )
        for name, sql in MIGRATIONS:
            if name in done:
                continue
            con.execute("BEGIN TRANSACTION")
            try:
                con.execute(sql)
                con.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, _now()])
                con.execute("COMMIT")
            except Exception:
                con.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        lock = FileLock(self.root / LOCK, exclusive, self.lock_timeout_s)
        lock.acquire()
        try:
            yield
        finally:
            lock.release()

    @contextlib.contextmanager
    def reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection with views over every table (shared lock)."""
        if self._writer is not None:  # this process is writing: read through its connection
            yield self._writer.con
            return
        self._ensure()
        lock = FileLock(self.root / LOCK, False, self.lock_timeout_s)
        lock.acquire()
        try:
            con = _connect(self.catalog_path, read_only=True) if self.catalog_path.exists() else None
            if con is None or (not self._ready and self._migrations_due(con)):
                if con is not None:
                    con.close()
                lock.release()  # migrations take the write lock
                self._ensure(checked=True)
                lock.acquire()
                con = _connect(self.catalog_path, read_only=True)
            self._ready = True
            try:
                self._refresh_views(con)
                yield con
            finally:
                con.close()
        finally:
            lock.release()

    @contextlib.contextmanager
    def writer(self) -> Iterator[Writer]:
        """A write transaction (exclusive lock); commits on normal exit, rolls back on error."""
        if self._writer is not None:
            raise RuntimeError("this Store already has an open writer")
        self._ensure()
        with self._locked(exclusive=True):
            con = _connect(self.catalog_path, read_only=False)
            try:
                if not self._ready:
                    self._migrate(con)  # one connection: the migrations are checked on it
                    self._ready = True
                self._recover(con)
                self._refresh_views(con)
                w = Writer(self, con)
                self._writer = w
                try:
                    yield w
                except BaseException:
                    w.rollback()
                    raise
                else:
                    w._publish()
                    con.execute("COMMIT")
                    w._cleanup()
                finally:
                    self._writer = None
            finally:
                con.close()

    # -- views -------------------------------------------------------------------------------
    def _refresh_views(self, con: duckdb.DuckDBPyConnection) -> None:
        rows = con.execute("SELECT table_name, path FROM parquet_files ORDER BY path").fetchall()
        by_table: dict[str, list[str]] = {t: [] for t in schema.PARQUET_TABLES}
        for t, p in rows:
            path = self.root / p
            # A listed file that vanished (disk trouble, a user's rm) must not make every query
            # fail: it is left out here and reported by check().
            if path.exists():
                by_table.setdefault(t, []).append(str(path))
        for table, sch in schema.PARQUET_TABLES.items():
            files = by_table.get(table, [])
            cols = ", ".join(f'"{f.name}"' for f in sch)
            if files:
                listing = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
                src = (
                    f"read_parquet([{listing}], hive_partitioning=true, "
                    "hive_types={'user_id': VARCHAR, 'year': INTEGER, 'month': INTEGER})"
                )
                con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT {cols}, year, month FROM {src}")
            else:
                empty = f"__empty_{table}"
                con.register(empty, sch.append(pa.field("year", pa.int32())).append(
                    pa.field("month", pa.int32())).empty_table())
                con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT {cols}, year, month FROM {empty}")

    # -- recovery and checks ----------------------------------------------------------------------
    def _recover(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        """Delete what an interrupted run left: staging folders and files not in the manifest."""
        shutil.rmtree(self.root / STAGING, ignore_errors=True)
        live = {r[0] for r in con.execute("SELECT path FROM parquet_files").fetchall()}
        removed = []
        for table in schema.PARQUET_TABLES:
            base = self.root / table
            if not base.is_dir():
                continue
            for f in base.rglob("*.parquet"):
                rel = str(f.relative_to(self.root))
                if rel not in live:
                    f.unlink()
                    removed.append(rel)
        return removed

    def check(self) -> list[str]:
        """Integrity problems, or an empty list when the store is sound.

        First clears what an interrupted run may have left (staging folders, files no committed
        transaction lists — invisible to readers anyway), then checks that every file in the
        manifest exists with its recorded row count and that each import's journal count
        matches its rows in ``points``. Takes the write lock.
        """
        problems: list[str] = []
        with self.writer() as w:
            con = w.con
            for table, rel, rows in con.execute(
                "SELECT table_name, path, rows FROM parquet_files"
            ).fetchall():
                f = self.root / rel
                if not f.exists():
                    problems.append(f"missing file {rel} ({table})")
                    continue
                try:
                    n = pq.read_metadata(f).num_rows
                except Exception as e:
                    problems.append(f"unreadable file {rel}: {e}")
                    continue
                if n != rows:
                    problems.append(f"{rel}: {n} rows, manifest says {rows}")
            if problems:
                return problems
            mismatch = con.execute(
                """
                SELECT i.import_id, i.rows_added, coalesce(p.n, 0)
                FROM imports i LEFT JOIN (
                    SELECT import_id, count(*) AS n FROM points GROUP BY import_id
                ) p USING (import_id)
                WHERE i.rows_added <> coalesce(p.n, 0)
                """
            ).fetchall()
            for imp, expected, got in mismatch:
                problems.append(f"import {imp}: journal says {expected} points, store holds {got}")
            orphans = con.execute(
                "SELECT DISTINCT import_id FROM points WHERE import_id NOT IN (SELECT import_id FROM imports)"
            ).fetchall()
            for (imp,) in orphans:
                problems.append(f"points of import {imp} have no journal entry")
        return problems

    def info(self) -> dict[str, object]:
        """Row counts per table and the number of imports."""
        out: dict[str, object] = {"store": str(self.root)}
        with self.reader() as con:
            for table in schema.PARQUET_TABLES:
                out[f"{table}_rows"] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            out["imports"] = con.execute("SELECT count(*) FROM imports").fetchall()[0][0]
            out["labels"] = con.execute("SELECT count(*) FROM labels").fetchall()[0][0]
            out["users"] = [
                r[0] for r in con.execute("SELECT DISTINCT user_id FROM points ORDER BY 1").fetchall()
            ]
        return out

    def query(self, sql: str, params: list[object] | None = None) -> pa.Table:
        """Run a read-only query over the store's views; the result as an Arrow table."""
        with self.reader() as con:
            return con.sql(sql, params=params or None).to_arrow_table()


    def sql(self, query: str) -> pa.Table:
        """Run one read-only ``SELECT`` written by the user over the store's views.

        The views are ``points``, ``source_segments``, ``source_visits``, ``stays``, ``trips``,
        ``legs``, and the catalog tables ``imports`` and ``labels``; no other table can be named.
        The query runs on a connection of its own, confined to the store: DuckDB's file system
        access is off except for the Parquet tables' folders, and the setting is locked, so
        ``read_csv('/etc/passwd')``, ``glob``, ``attach``, ``copy`` and extensions are refused, as is
        anything that would write (exit 2).
        """
        from mobco2.store_sql import run_user_query

        return run_user_query(self, query)


VIEWS = (*schema.PARQUET_TABLES, "imports", "labels")
