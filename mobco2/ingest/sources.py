"""Turn the paths a user names into :class:`Source` objects: files, folders, zips, gzip.

Archives are inspected before anything is read from them: a member whose name escapes the
archive (``../``, an absolute path) or that inflates suspiciously (ratio or absolute size) makes
the whole archive refused, so a hostile Takeout cannot write outside the store nor exhaust memory.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mobco2.errors import HostileInputError, InputDataError, InputNotFoundError
from mobco2.ingest.base import (
    MAX_COMPRESSION_RATIO,
    MAX_DECOMPRESSED_BYTES,
    Source,
    _BoundedReader,
)

ZIP_MAGIC = b"PK\x03\x04"
MAX_ZIP_MEMBERS = 100_000
_IGNORED_SUFFIXES = {".html", ".htm", ".png", ".jpg", ".jpeg", ".gif", ".pdf", ".css", ".js", ".mp4"}


@dataclass
class Candidate:
    """A source to try, and whether the user named it directly (errors) or it was found (skips)."""

    source: Source
    explicit: bool


def expand(paths: list[Path]) -> Iterator[Candidate]:
    """Every importable source under ``paths``, in a stable order. Missing paths raise first."""
    for p in paths:
        if not Path(p).exists():
            raise InputNotFoundError(f"{p}: no such file or folder", hint="check the path")
    for p in paths:
        p = Path(p)
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                rel = f.relative_to(p)
                if any(part.startswith(".") for part in rel.parts) or f.suffix.lower() in _IGNORED_SUFFIXES:
                    continue
                yield from _from_file(f, explicit=False)
        else:
            yield from _from_file(p, explicit=True)


def _from_file(path: Path, explicit: bool) -> Iterator[Candidate]:
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise InputNotFoundError(f"{path}: cannot read ({e.strerror})", hint="check permissions") from None
    if magic == ZIP_MAGIC and not _is_kmz(path):
        yield from zip_members(path)
    else:
        yield Candidate(Source.from_path(path), explicit)


def _is_kmz(path: Path) -> bool:
    """A zip holding only KML (plus its ``files/`` images) is one KMZ document, not an archive."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError):
        return False
    kml = [n for n in names if n.lower().endswith(".kml")]
    others = [n for n in names if not n.lower().endswith(".kml") and not n.startswith("files/")]
    return bool(kml) and not others


def check_archive(path: Path, z: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The archive's file members, after refusing traversal, bombs and absurd member counts."""
    infos = z.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        raise HostileInputError(
            f"archive has {len(infos)} members (limit {MAX_ZIP_MEMBERS})", path=str(path),
            hint="extract it and import the folder that holds your location history",
        )
    total = 0
    members = []
    for info in infos:
        name = info.filename
        pure = PurePosixPath(name.replace("\\", "/"))
        if pure.is_absolute() or ".." in pure.parts or (len(name) > 1 and name[1] == ":"):
            raise HostileInputError(
                f"archive member {name!r} points outside the archive (path traversal); refusing the archive",
                path=str(path),
                hint="re-download the export from its source",
            )
        if info.is_dir():
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1_000_000 and ratio > MAX_COMPRESSION_RATIO:
            raise HostileInputError(
                f"archive member {name!r} would inflate {ratio:.0f}× (limit {MAX_COMPRESSION_RATIO}×); "
                "refusing a likely zip bomb",
                path=str(path),
            )
        total += info.file_size
        members.append(info)
    if total > MAX_DECOMPRESSED_BYTES:
        raise HostileInputError(
            f"archive would inflate to {total / 1024**3:.1f} GiB (limit {MAX_DECOMPRESSED_BYTES // 1024**3} GiB)",
            path=str(path),
            hint="extract it yourself and import the folder",
        )
    return members


def zip_members(path: Path) -> Iterator[Candidate]:
    """Each file member of a zip as a Source named ``archive.zip!member``."""
    try:
        with zipfile.ZipFile(path) as z:
            members = check_archive(path, z)
    except zipfile.BadZipFile as e:
        raise InputDataError(f"not a readable zip archive ({e})", path=str(path),
                             hint="re-download the archive") from None
    for info in sorted(members, key=lambda i: i.filename):
        base = PurePosixPath(info.filename).name
        if base.startswith(".") or PurePosixPath(base).suffix.lower() in _IGNORED_SUFFIXES:
            continue
        display = f"{path}!{info.filename}"

        def opener(info: zipfile.ZipInfo = info, display: str = display):
            z = zipfile.ZipFile(path)
            inner = z.open(info)
            return _ZipMemberStream(z, _BoundedReader(inner, display))

        head = b""
        with zipfile.ZipFile(path) as z, z.open(info) as f:
            head = f.read(2)
        yield Candidate(
            Source(name=display, opener=opener, size=info.file_size, gzipped=head == b"\x1f\x8b"),
            explicit=False,
        )


class _ZipMemberStream:
    """A member stream that also closes its ZipFile."""

    def __init__(self, z: zipfile.ZipFile, inner) -> None:  # type: ignore[no-untyped-def]
        self._z = z
        self._inner = inner

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            chunks = []
            while True:
                b = self._inner.read(1 << 20)
                if not b:
                    break
                chunks.append(b)
            return b"".join(chunks)
        return self._inner.read(n)

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        return self._inner.readinto(b)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._inner.close()
        self._z.close()

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc) -> None:  # type: ignore[no-untyped-def]
        self.close()

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._inner)
