"""Many files, one transaction: small point-only files are gathered and committed together.

A folder of thousands of small GPX files paid, per file, a catalog commit, a refresh of every
view, an anti-join against the user's stored points and one Parquet file per partition. Here a
small file's points, once validated and deduplicated within the file, are checked against the
keys the user already has in the same months (loaded once, in numpy, and kept up to date as files
are added), then held in memory with the file's journal row. A flush writes them all as one
Parquet file per partition, inserts every journal row and commits once.

Per file it stays all or nothing: a file that fails never reaches the batch, and a crash before
the flush leaves none of the batch's files in the store, so the journal (``imports``) lists
exactly the files that are in. Bigger files, files with source segments, visits or labels, and
low-memory imports keep their own transaction (the batch is flushed first, so they see it).
bench/bench_many_files.py measures it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from mobco2.errors import Mobco2Error

if TYPE_CHECKING:
    from mobco2.ingest.importer import FileResult
    from mobco2.ingest.staging import Staged
    from mobco2.store import Writer

SMALL_FILE_POINTS = 300_000
"""A file with at most this many points (and nothing but points) joins the batch."""
FLUSH_POINTS = 2_000_000
FLUSH_FILES = 5_000
FLUSH_SECONDS = 10.0
"""The batch is committed when it holds this many points or files, or is this old."""
MAX_CACHED_KEYS = 20_000_000
"""Keys of stored points kept in memory (24 bytes each); beyond, files take the one-by-one path."""

_KEY_SQL = (
    "SELECT coalesce(epoch_us(ts), -1) AS t, round(lat * 1e6)::BIGINT AS a, round(lon * 1e6)::BIGINT AS o "
    "FROM points WHERE user_id = ? AND year * 100 + month IN ({months})"
)


class KeyIndex:
    """Natural keys (epoch µs, lat and lon × 10⁶) of one user's points: membership in numpy.

    Sorted runs, merged when a run is not much smaller than the one before it, so adding many
    one-point files costs O(n log n) overall and a look-up is a binary search per run.
    """

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.size = 0

    def add(self, ts: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> None:
        if not len(ts):
            return
        self._runs.append(_sorted(ts, lat, lon))
        self.size += len(ts)
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            b, a = self._runs.pop(), self._runs.pop()
            self._runs.append(_sorted(*(np.concatenate(p) for p in zip(a, b, strict=True))))

    def contains(self, ts: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        found = np.zeros(len(ts), dtype=bool)
        for rts, rlat, rlon in self._runs:
            lo = np.searchsorted(rts, ts, "left")
            hi = np.searchsorted(rts, ts, "right")
            n = hi - lo
            one = np.flatnonzero(n == 1)
            at = lo[one]
            found[one] |= (rlat[at] == lat[one]) & (rlon[at] == lon[one])
            for i in np.flatnonzero(n > 1).tolist():  # several stored points at the same µs: rare
                s, e = lo[i], hi[i]
                found[i] |= bool(((rlat[s:e] == lat[i]) & (rlon[s:e] == lon[i])).any())
        return found


def _sorted(ts: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(ts, kind="stable")
    return ts[order], lat[order], lon[order]


@dataclass
class _Held:
    result: FileResult
    points: pa.Table | None
    journal: list[object]
    constants: tuple[str, str, str]  # user_id, import_id, source_format of every point


class FileBatch:
    """Small files waiting for one commit, and the stored keys they are checked against.

    Results are handed to ``on_file`` once their batch has committed (so "imported" is true when
    it is said). One per import command; the writer's lock is held throughout, so the cached
    keys cannot go stale behind our back.
    """

    def __init__(self, w: Writer, on_file: Callable[[FileResult], None] | None) -> None:
        self._w = w
        self._on_file = on_file
        self._held: list[_Held] = []
        self._points = 0
        self._since = time.monotonic()
        self._keys: dict[str, KeyIndex] = {}
        self._loaded: dict[str, set[int]] = {}
        self._digests: dict[tuple[str, str], str] = {}
        self._journal: dict[str, dict[str, str]] = {}

    # -- which files ------------------------------------------------------------------------
    def accepts(self, staged: Staged, user: str) -> bool:
        """Whether this staged file can join the batch (else it takes its own transaction)."""
        if staged.points.low_memory or staged.source_segments or staged.source_visits or staged.labels:
            return False
        if staged.points.rows > SMALL_FILE_POINTS:
            return False
        index = self._keys.get(user)
        return index is None or index.size <= MAX_CACHED_KEYS

    def prior(self, digest: str, user: str) -> str | None:
        """The import id of a file with this content already imported for ``user``, or held here.

        The journal's digests of the user are read once (a query per file cost more than a small
        file's parse), then kept up to date by :meth:`add` and :meth:`journaled`.
        """
        if user not in self._journal:
            rows = self._w.con.execute(
                "SELECT sha256, min(import_id) FROM imports WHERE user_id = ? GROUP BY sha256", [user]
            ).fetchall()
            self._journal[user] = dict(rows)
        return self._digests.get((digest, user)) or self._journal[user].get(digest)

    def journaled(self, digest: str, user: str, import_id: str) -> None:
        """A file imported in its own transaction."""
        self._journal.get(user, {}).setdefault(digest, import_id)

    # -- adding -----------------------------------------------------------------------------
    def add(self, staged: Staged, user: str, result: FileResult, journal: list[object], digest: str) -> None:
        """Deduplicate the file's points against the user's, hold them and the journal row."""
        points = None
        result.added = 0
        if staged.points.rows:
            table = staged.points.arrow()
            ts, lat, lon = staged.points.keys()
            index = self._index(user, staged.points.months)
            new = ~index.contains(ts, lat, lon)
            if not new.all():
                table, ts, lat, lon = table.filter(pa.array(new)), ts[new], lat[new], lon[new]
            index.add(ts, lat, lon)
            points = table  # the constant columns are added to the whole batch at once
            result.added = table.num_rows
            staged.points.close()
        result.duplicate = staged.points.rows - result.added
        journal[6], journal[7] = result.added, result.duplicate
        result.status = "imported"
        self._held.append(_Held(result, points, journal, (user, staged.import_id, result.format or "")))
        self._digests[(digest, user)] = staged.import_id
        self._points += result.added

    def holds(self, result: FileResult) -> bool:
        """Whether ``result`` waits in the batch for its commit."""
        return any(h.result is result for h in self._held[-1:])

    def full(self) -> bool:
        return (
            self._points >= FLUSH_POINTS
            or len(self._held) >= FLUSH_FILES
            or (bool(self._held) and time.monotonic() - self._since >= FLUSH_SECONDS)
        )

    def _index(self, user: str, months: set[int]) -> KeyIndex:
        index = self._keys.setdefault(user, KeyIndex())
        loaded = self._loaded.setdefault(user, set())
        missing = sorted(months - loaded)
        if missing:
            listing = ", ".join(str(m) for m in missing)
            stored = self._w.con.execute(
                "SELECT count(*) FROM parquet_files WHERE table_name = 'points' AND user_id = ? "
                f"AND year * 100 + month IN ({listing})",
                [user],
            ).fetchall()[0][0]
            if stored:
                keys = self._w.con.execute(_KEY_SQL.format(months=listing), [user]).fetchnumpy()
                index.add(keys["t"], keys["a"], keys["o"])
            loaded.update(missing)
        return index

    def forget(self, user: str, months: set[int]) -> None:
        """Months written outside the batch (a big file): their keys are read again when needed."""
        if user in self._loaded and months & self._loaded[user]:
            self._keys.pop(user, None)
            self._loaded.pop(user, None)

    # -- committing ---------------------------------------------------------------------------
    def flush(self) -> None:
        """Write the held points, insert the journal rows, commit once; then report the files."""
        held, self._held = self._held, []
        self._points, self._since = 0, time.monotonic()
        digests, self._digests = self._digests, {}
        if not held:
            return
        w = self._w
        try:
            with_points = [h for h in held if h.points is not None and h.points.num_rows]
            if with_points:
                w.append("points", _with_constants(with_points))
            rows = pa.Table.from_pylist([dict(zip(_JOURNAL_COLUMNS, h.journal, strict=True)) for h in held])
            w.con.register("__new_imports", rows)
            try:
                cols = ", ".join(_JOURNAL_COLUMNS)
                w.con.execute(f"INSERT INTO imports ({cols}) SELECT {cols} FROM __new_imports")
            finally:
                w.con.unregister("__new_imports")
            w.commit()
            for (digest, user), import_id in digests.items():
                self.journaled(digest, user, import_id)
        except BaseException as e:
            w.discard()
            self._keys.clear()
            self._loaded.clear()
            self._journal.clear()
            for h in held:  # nothing of these files is stored: each says so
                h.result.status, h.result.added, h.result.duplicate = "failed", 0, 0
                if isinstance(e, Mobco2Error):
                    h.result.message, h.result.exit_code = f"{h.result.name}: {e.one_line()}", e.exit_code
            if not isinstance(e, Mobco2Error):
                raise
        finally:
            if self._on_file is not None:
                for h in held:
                    self._on_file(h.result)


def _with_constants(held: list[_Held]) -> pa.Table:
    """The held points in one table, each file's user, import id and format as dictionary columns."""
    table = pa.concat_tables([h.points for h in held])  # type: ignore[misc]
    counts = np.array([h.points.num_rows for h in held])  # type: ignore[union-attr]
    for i, name in enumerate(("user_id", "import_id", "source_format")):
        values = [h.constants[i] for h in held]
        distinct = sorted(set(values))
        code = {v: k for k, v in enumerate(distinct)}
        indices = np.repeat(np.array([code[v] for v in values], dtype=np.int32), counts)
        column = pa.DictionaryArray.from_arrays(pa.array(indices), pa.array(distinct, pa.string()))
        table = table.append_column(name, column.cast(pa.string()))
    return table


JOURNAL_INSERT = "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
_JOURNAL_COLUMNS = (
    "import_id", "path", "sha256", "format", "user_id", "rows_in", "rows_added", "rows_duplicate",
    "rows_rejected", "rows_skipped", "segments_added", "visits_added", "labels_added", "unmapped_modes",
    "imported_at",
)


def journal_row(result: FileResult, name: str, digest: str, user: str) -> list[object]:
    """The ``imports`` row of a file (the added/duplicate counts are filled in when known)."""
    return [
        result.import_id, name, digest, result.format, user, result.rows_in, result.added,
        result.duplicate, result.rejected, result.skipped, result.segments_added,
        result.visits_added, result.labels_added,
        json.dumps(result.unmapped_modes, sort_keys=True) if result.unmapped_modes else None,
        datetime.now(UTC),
    ]
