"""The store's cross-process lock: a ``flock`` on ``<root>/.lock``, shared or exclusive.

Readers take it shared, writers exclusive; a second writer waits up to ``store.lock_timeout_s``
and then raises :class:`~mobco2.errors.StoreLockedError` (exit 75). An exclusive holder writes
its pid and start time into the file so that the error can name it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import weakref
from datetime import UTC, datetime
from pathlib import Path

from mobco2.errors import StoreLockedError

_HELD: weakref.WeakSet[FileLock] = weakref.WeakSet()
"""Locks this process holds: a forked child lets go of its copies (see _forget_inherited_locks)."""


def _forget_inherited_locks() -> None:
    """In a forked child: close the inherited descriptors of the parent's store locks.

    A ``flock`` lasts while any descriptor of its open file is open. The importer forks helpers
    (Records.json decoders, the GPX well-formedness check); if the importer were killed, their
    inherited copies would keep the store locked until they finished. Closing them (never
    ``LOCK_UN``, which would release the parent's lock too) leaves the lock to the parent alone.
    """
    for lock in list(_HELD):
        if lock.fd is not None:
            with contextlib.suppress(OSError):
                os.close(lock.fd)
            lock.fd = None
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_locks)


class FileLock:
    """A ``flock`` on ``<root>/.lock``, shared or exclusive, with a bounded wait."""

    def __init__(self, path: Path, exclusive: bool, timeout_s: float) -> None:
        self.path = path
        self.exclusive = exclusive
        self.timeout_s = timeout_s
        self.fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        op = (fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        deadline = time.monotonic() + self.timeout_s
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, op)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _read_holder(self.path)
                    os.close(fd)
                    raise StoreLockedError(
                        f"the store {self.path.parent} is busy: another mobco2 process{holder} holds its lock",
                        hint=f"waited {self.timeout_s:g} s; try again later, or raise MOBCO2_STORE_LOCK_TIMEOUT_S",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
        self.fd = fd
        _HELD.add(self)
        if self.exclusive:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {datetime.now(UTC).isoformat()}\n".encode())

    def release(self) -> None:
        _HELD.discard(self)
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _read_holder(path: Path) -> str:
    try:
        text = path.read_text().split()
    except OSError:
        return ""
    return f" (pid {text[0]}, since {text[1]})" if len(text) >= 2 else ""
