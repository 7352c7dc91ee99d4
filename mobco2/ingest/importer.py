"""Import files into the store: detect, parse, validate, deduplicate, write — one transaction per file.

Each file (or archive member) is its own transaction: it lands whole or not at all. A file with
invalid records (coordinates out of range, absurd dates) is rolled back unless the caller allows
rejects, in which case the valid records land and the rest are counted. Validation, repeats and
writing are :mod:`mobco2.ingest.staging`'s; this module detects, drives the parsers, keeps the
journal and the results. A big plain file is hashed in a thread during the parse.
bench/bench_records.py measures it all on a 1 GB Records.json.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import uuid
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Protocol

import pyarrow as pa

from mobco2.errors import (
    EXIT_OK,
    InputDataError,
    Mobco2Error,
    RejectedRecordsError,
    UnsupportedFormatError,
)
from mobco2.ingest import detect as detection
from mobco2.ingest.base import ParseContext, Source
from mobco2.ingest.batch import JOURNAL_INSERT, FileBatch, journal_row
from mobco2.ingest.sources import Candidate, expand
from mobco2.ingest.staging import Staged, StagedPoints, stage_batch, write_staged
from mobco2.store import Store, Writer, check_user_id

BACKGROUND_HASH_BYTES = 32 * 1024**2
"""A plain file at least this big is hashed in a thread while it is parsed (see :class:`_Digest`)."""
LOW_MEMORY_DUCKDB = "64MB"
"""DuckDB's memory limit in low-memory mode (it spills to the store's .staging beyond it)."""


class Progress(Protocol):
    """What the importer reports while it works; the CLI draws it with rich, on a TTY only.

    ``plan`` comes first (every file and their bytes, as far as known), ``start``/``advance``/
    ``finish`` frame the parse of one file, and ``file_done`` follows every file, whatever
    became of it.
    """

    def plan(self, files: int, total_bytes: int) -> None: ...
    def start(self, name: str, total_bytes: int | None) -> None: ...
    def advance(self, done_bytes: int) -> None: ...
    def finish(self) -> None: ...
    def file_done(self, nbytes: int | None) -> None: ...


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

    def by_format(self) -> dict[str, Counter[str]]:
        """Per format (``?`` when not recognised): files by status, and points and records counted."""
        out: dict[str, Counter[str]] = {}
        for f in self.files:
            c = out.setdefault(f.format or "?", Counter())
            c[f.status] += 1
            c["points added"] += f.added
            c["points rejected"] += f.rejected
            c["records skipped"] += f.skipped
        return out

    def format_line(self) -> str | None:
        """Skipped, failed and rejected per format, when any (``gpx: 2 failed, 3 points rejected``)."""
        parts = []
        for fmt, c in sorted(self.by_format().items()):
            counts = [f"{c[k]} {k}" for k in ("failed", "skipped", "points rejected", "records skipped") if c[k]]
            if counts:
                parts.append(f"{fmt}: " + ", ".join(counts))
        return "; ".join(parts) or None

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
        if skipped := self.total("skipped"):
            text += f"; {skipped} records skipped"
        seg, vis, lab = self.total("segments_added"), self.total("visits_added"), self.total("labels_added")
        if seg or vis or lab:
            text += f"; {seg} source segments, {vis} visits, {lab} labels added"
        unmapped = sum(sum(f.unmapped_modes.values()) for f in self.files)
        if unmapped:
            text += f"; {unmapped} unmapped mode values (stored as unknown)"
        return text


def sha256_of(source: Source, chunk: int = 1 << 22) -> str:
    """Hex sha256 of the (decompressed) content, read into one reused buffer."""
    h = hashlib.sha256()
    if source.size is not None and not source.gzipped:
        chunk = max(min(chunk, source.size + 1), 1024)  # a small file: no 4 MiB buffer to zero
    buf = bytearray(chunk)
    with source.open() as f, memoryview(buf) as view:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


class _Digest:
    """A source's sha256, computed at once or, for a big plain file, in a thread during the parse.

    hashlib and file reads release the GIL, so hashing beside the parse saves the ~0.7 s per GB
    it takes before parsing could start. The thread is started by :meth:`start` once the first
    batch has arrived: by then a parser's worker processes are forked (forking while a thread
    runs is unsafe). The catalog is asked whether the file was already imported as soon as the
    digest is known, and the parse is abandoned if it was.
    """

    def __init__(self, source: Source, background: bool) -> None:
        self.background = background
        self._source = source
        self._value = ""
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._done = False
        if not background:
            self._run()

    def _run(self) -> None:
        try:
            self._value = sha256_of(self._source)
        except BaseException as e:  # handed to the caller by value()
            self._error = e
        finally:
            self._done = True

    def start(self) -> None:
        if self.background and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sha256", daemon=True)
            self._thread.start()

    def ready(self) -> bool:
        return self._done

    def value(self) -> str:
        if self._thread is not None:
            self._thread.join()
        elif not self._done:
            self._run()
        if self._error is not None:
            raise self._error
        return self._value


class _AlreadyImported(Exception):
    def __init__(self, import_id: str) -> None:
        super().__init__(import_id)
        self.import_id = import_id


def _prior_import(w: Writer, digest: str, user: str, batch: FileBatch | None = None) -> str | None:
    if batch is not None:
        return batch.prior(digest, user)
    rows = w.con.execute(
        "SELECT import_id FROM imports WHERE sha256 = ? AND user_id = ? LIMIT 1", [digest, user]
    ).fetchall()
    return rows[0][0] if rows else None


_POOL_LOCK = threading.Lock()
_pool_users = 0
_pool_before: pa.MemoryPool | None = None


@contextmanager
def arrow_pool() -> Iterator[None]:
    """Make Arrow allocate from its jemalloc pool, where the build has one, until the block ends.

    An import allocates and frees a few hundred MB of Arrow buffers a GB of input. The default
    pool of the Linux wheels (mimalloc) hands freed memory back to the kernel within
    milliseconds, so the next batch faults it in again as freshly zeroed huge pages: ~0.5 CPU-s
    a GB in the kernel (bench/bench_records.py, perf). jemalloc keeps it for reuse. Buffers
    remember their pool, so switching back afterwards is safe; imports running at once in
    several threads switch once, and the last one out restores the previous pool.
    """
    global _pool_users, _pool_before
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:  # a build without jemalloc: keep the default
        yield
        return
    with _POOL_LOCK:
        if _pool_users == 0:
            _pool_before = pa.default_memory_pool()
            pa.set_memory_pool(pool)
        _pool_users += 1
    try:
        yield
    finally:
        with _POOL_LOCK:
            _pool_users -= 1
            if _pool_users == 0 and _pool_before is not None:
                pa.set_memory_pool(_pool_before)
                _pool_before = None


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
    with arrow_pool(), store.writer() as w:
        if low_memory:
            w.con.execute(f"SET memory_limit = '{LOW_MEMORY_DUCKDB}'")
            w.con.execute("SET threads = 1")
            w.con.execute("SET preserve_insertion_order = false")  # lets COPY stream instead of buffer
        batch = None if dry_run else FileBatch(w, on_file)
        if progress is not None:
            progress.plan(len(candidates), sum(c.source.size or 0 for c in candidates))
        for cand in candidates:
            result = _import_one(
                w, cand, user, forced_module, force, dry_run, allow_rejects, low_memory, options or {}, progress,
                batch,
            )
            results.append(result)
            if progress is not None:
                progress.file_done(cand.source.size)
            if batch is not None and batch.holds(result):
                if batch.full():
                    batch.flush()
            elif on_file:
                on_file(result)
        if batch is not None:
            batch.flush()
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
    batch: FileBatch | None = None,
) -> FileResult:
    src = cand.source
    result = FileResult(name=src.name, status="failed")
    try:
        module = forced or detection.detect(src)
        if getattr(module, "REFUSAL", False):
            # raises UnsupportedFormatError with a message saying what to export instead
            module.parse(src, ParseContext(source_name=src.name))
        result.format = module.FORMAT
        digest = _Digest(src, background=src.path is not None and (src.size or 0) >= BACKGROUND_HASH_BYTES)
        if digest.ready() and (prior := _prior_import(w, digest.value(), user, batch)) and not force:
            raise _AlreadyImported(prior)
        ctx = ParseContext(source_name=src.name, low_memory=low_memory, options=options)
        if progress is not None:
            progress.start(src.name, src.size)
            ctx.progress = progress.advance
        try:
            staged = _parse_and_stage(module, src, ctx, w, digest, user, force, batch)
        finally:
            if progress is not None:
                progress.finish()
        import_id = f"{digest.value()[:12]}-{uuid.uuid4().hex[:8]}"
        result.import_id = import_id
        staged.import_id = import_id
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
        if batch is not None and batch.accepts(staged, user):
            batch.add(staged, user, result, journal_row(result, src.name, digest.value(), user), digest.value())
            return result
        if batch is not None:
            batch.flush()  # what this file is checked against includes the batch's files
        write_staged(w, staged, user, result, dry_run)
        if dry_run:
            result.status = "dry-run"
            w.discard()
            return result
        w.con.execute(JOURNAL_INSERT, journal_row(result, src.name, digest.value(), user))
        w.commit()
        if batch is not None:
            batch.forget(user, staged.points.months)
            batch.journaled(digest.value(), user, import_id)
        result.status = "imported"
        return result
    except _AlreadyImported as e:
        w.discard()
        result.status = "already-imported"
        result.import_id = e.import_id
        result.message = "already imported (same content); use --force to import again"
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


def _parse_and_stage(
    module: ModuleType, src: Source, ctx: ParseContext, w: Writer, digest: _Digest, user: str, force: bool,
    pending: FileBatch | None,
) -> Staged:
    """Parse and validate everything; raise :class:`_AlreadyImported` once the digest says so."""
    staged = Staged(points=StagedPoints(w, ctx.low_memory))
    checked = not digest.background
    fmt = module.FORMAT
    batches = module.parse(src, ctx)
    try:
        for batch in batches:
            stage_batch(batch, staged, ctx, user, fmt)
            digest.start()
            if not checked and digest.ready():
                checked = True
                if (prior := _prior_import(w, digest.value(), user, pending)) and not force:
                    raise _AlreadyImported(prior)
    except (Mobco2Error, _AlreadyImported):
        raise
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError, OverflowError) as e:
        # A parser met content it did not expect: that is bad input, not a crash.
        raise InputDataError(
            f"cannot parse as {fmt}: {type(e).__name__}: {e}",
            path=src.name,
            hint="the file may be truncated or not what it seems; try --format to force another reader",
        ) from e
    finally:
        if hasattr(batches, "close"):
            batches.close()  # stops a parser's worker processes at once when the import is cut short
    if not checked and (prior := _prior_import(w, digest.value(), user, pending)) and not force:
        raise _AlreadyImported(prior)
    return staged
