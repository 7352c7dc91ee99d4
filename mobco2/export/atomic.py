"""Files that appear whole or not at all: written under a temporary name in the same folder,
fsynced, then renamed over the target (and the folder fsynced)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mobco2.errors import OutputError


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` atomically; a crash leaves the old file or the new one.

    Example::

        write_atomic(Path("report.html"), html_text)
    """
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror}",
                          hint="check the folder exists and is writable") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror}", hint="check the disk") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def stale_temporaries(folder: Path) -> list[Path]:
    """Temporary files :func:`write_atomic` left behind when killed (removed by the next run)."""
    return sorted(p for p in Path(folder).glob(".*.tmp") if p.is_file())
