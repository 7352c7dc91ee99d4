"""Where the receiver keeps accepted submissions: ``DIR/documents/<sha256>.json``, each the
canonical bytes of one signed document, written atomically (temp file, fsync, hard link into
place, fsync of the folder).

A hard link fails if the name exists, so "store if absent" is one atomic step: two identical
documents arriving at once give one file, one *stored* and one *duplicate*, never two files and
never a half-written one. Idempotency keys are claimed the same way in ``DIR/idempotency/``.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from mobco2.errors import OutputError

STORED = "stored"
DUPLICATE = "duplicate"
CONFLICT = "conflict"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Inbox:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.documents = self.root / "documents"
        self.keys = self.root / "idempotency"
        self.tmp = self.root / "tmp"
        try:
            for d in (self.documents, self.keys, self.tmp):
                d.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create {self.root}: {e.strerror}") from None

    def _place(self, folder: Path, name: str, data: bytes) -> bool:
        """Write ``data`` as ``folder/name`` unless it exists; True if this call created it."""
        if (folder / name).exists():  # a replay: no need to write (the link below decides races)
            return False
        tmp = self.tmp / f"{uuid.uuid4().hex}.tmp"
        try:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            try:
                os.link(tmp, folder / name)
            except FileExistsError:
                return False
            _fsync_dir(folder)
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def put(self, body: bytes, sha256: str, idempotency_key: str | None) -> str:
        """Store a verified document's canonical ``body``: :data:`STORED`, :data:`DUPLICATE` (same
        document, or same key for it) or :data:`CONFLICT` (a key already used for another)."""
        if idempotency_key:
            name = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()
            claimed = self._place(self.keys, name, sha256.encode("ascii"))
            if not claimed and (self.keys / name).read_bytes().decode("ascii", "replace") != sha256:
                return CONFLICT
        created = self._place(self.documents, f"{sha256}.json", body)
        return STORED if created else DUPLICATE

    def paths(self) -> list[Path]:
        return sorted(self.documents.glob("*.json"))
