"""What every format parser receives and yields.

A format module in ``mobco2/ingest/`` exposes:

``FORMAT``
    its id (``"gpx"``, ``"emission"``, …), used by ``--format`` and stored in ``source_format``;
``DESCRIPTION``
    one line for ``mobco2 import --help``;
``sniff(head: bytes) -> bool``
    whether the first bytes of a file (BOM and leading whitespace already stripped,
    gzip already undone, at most ``HEAD_BYTES`` long) look like this format;
``parse(source: Source, ctx: ParseContext) -> Iterator[Batch]``
    the file's content as Arrow batches, never the whole file as Python objects.

Parsers raise :class:`~mobco2.errors.InputDataError` (or a subclass) for a problem that makes the
whole file unusable (malformed XML/JSON, hostile content), naming the file and the record. For a
single invalid record they call ``ctx.reject(record, reason)`` and go on. Coordinates and times
are range-checked centrally by the importer (``validate_points``), so parsers only convert.

Points tables a parser yields may hold any subset of :data:`mobco2.schema.POINTS` columns except
``user_id``, ``import_id`` and ``source_format`` (the importer adds those), plus an optional
``record`` string column that locates each point in the file for error messages.
"""

from __future__ import annotations

import gzip
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa

HEAD_BYTES = 256 * 1024
UTF8_BOM = b"\xef\xbb\xbf"

MAX_DECOMPRESSED_BYTES = 20 * 1024**3
"""A gzip or zip member that inflates beyond this is refused as a bomb (20 GiB)."""
MAX_COMPRESSION_RATIO = 200
"""A zip member whose declared size exceeds its compressed size this many times is refused."""


@dataclass
class Source:
    """One input file: a path on disk, a member of an archive, or decompressed bytes.

    ``name`` is what error messages show (``takeout.zip!Records.json``).
    """

    name: str
    opener: Callable[[], BinaryIO]
    size: int | None = None
    path: Path | None = None  # set only for an uncompressed file on disk (parsers may mmap it)
    gzipped: bool = False

    def open(self) -> BinaryIO:
        """A fresh binary stream of the (decompressed) content."""
        raw = self.opener()
        if self.gzipped:
            return _BoundedReader(gzip.GzipFile(fileobj=raw), self.name)  # type: ignore[return-value]
        return raw

    def head(self, n: int = HEAD_BYTES) -> bytes:
        """The first ``n`` bytes, BOM and leading whitespace removed."""
        with self.open() as f:
            data = f.read(n)
        return strip_head(data)

    @classmethod
    def from_path(cls, path: Path, display: str | None = None) -> Source:
        path = Path(path)
        with open(path, "rb") as f:
            magic = f.read(2)
        gz = magic == b"\x1f\x8b"
        return cls(
            name=display or str(path),
            opener=lambda: open(path, "rb"),
            size=path.stat().st_size,
            path=None if gz else path,
            gzipped=gz,
        )

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> Source:
        gz = data[:2] == b"\x1f\x8b"
        return cls(name=name, opener=lambda: io.BytesIO(data), size=len(data), gzipped=gz)


class _BoundedReader(io.RawIOBase):
    """Wraps a decompressing stream and refuses to inflate past MAX_DECOMPRESSED_BYTES."""

    def __init__(self, inner: BinaryIO, name: str, limit: int = MAX_DECOMPRESSED_BYTES) -> None:
        self._inner = inner
        self._name = name
        self._limit = limit
        self._count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        data = self._inner.read(len(b))
        n = len(data)
        self._count += n
        if self._count > self._limit:
            from mobco2.errors import HostileInputError

            raise HostileInputError(
                f"decompresses to more than {self._limit // 1024**3} GiB; refusing a likely zip bomb",
                path=self._name,
            )
        b[:n] = data
        return n

    def close(self) -> None:
        self._inner.close()
        super().close()


def finite_float(text: str | None, *, nonnegative: bool = False) -> float | None:
    """``text`` as a finite float (``>= 0`` if asked), or None when empty or unreadable."""
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    if not np.isfinite(value) or (nonnegative and value < 0):
        return None
    return value


def strip_head(data: bytes) -> bytes:
    """Remove a UTF-8 BOM and leading whitespace."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
    return data.lstrip()


@dataclass
class Batch:
    """A chunk of parsed content. Any table may be ``None``."""

    points: pa.Table | None = None
    source_segments: pa.Table | None = None
    source_visits: pa.Table | None = None
    labels: pa.Table | None = None


@dataclass
class ParseContext:
    """Options and counters shared by the importer and a parser for one file."""

    source_name: str
    low_memory: bool = False
    options: dict[str, str] = field(default_factory=dict)  # e.g. CSV column names
    progress: Callable[[int], None] | None = None  # called with bytes consumed so far
    rejected: int = 0
    first_rejection: tuple[str, str] | None = None  # (record, reason)
    skipped: int = 0  # records with nothing usable, by the format's own rules (e.g. no coordinates)
    unmapped_modes: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def reject(self, record: str, reason: str, count: int = 1) -> None:
        """Count ``count`` invalid records; remember the first for the error message."""
        self.rejected += count
        if self.first_rejection is None:
            self.first_rejection = (record, reason)

    def reject_rows(
        self, table: pa.Table, bad: np.ndarray, record: Callable[[int], str], reason: Callable[[int], str]
    ) -> pa.Table:
        """``table`` without the rows where ``bad`` is True, counted as rejected.

        ``record(i)`` and ``reason(i)`` describe row ``i``; only the first bad row is described.
        """
        if not bad.any():
            return table
        first = int(np.argmax(bad))
        self.reject(record(first), reason(first), count=int(bad.sum()))
        return table.filter(pa.array(~bad))

    def skip(self, count: int = 1) -> None:
        self.skipped += count

    def unmapped(self, raw_mode: str, count: int = 1) -> None:
        """Count a source mode value with no canonical mapping (it becomes ``unknown``)."""
        self.unmapped_modes[raw_mode] += count

    def report_progress(self, nbytes: int) -> None:
        if self.progress is not None:
            self.progress(nbytes)

    def report_position(self, stream: BinaryIO) -> None:
        """Report the bytes read so far from ``stream``, when it can tell (a gzip stream cannot)."""
        try:
            position = stream.tell()
        except (OSError, ValueError, AttributeError):
            return
        self.report_progress(position)


def points_schema(*names: str, record: bool = True) -> pa.Schema:
    """The subset ``names`` of :data:`mobco2.schema.POINTS` a parser yields, plus the ``record`` locator."""
    from mobco2.schema import POINTS

    fields = [POINTS.field(n) for n in names]
    if record:
        fields.append(pa.field("record", pa.string()))
    return pa.schema(fields)
