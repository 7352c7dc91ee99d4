"""Big JSON documents in parts: one huge array cut into byte ranges of whole elements, decoded
in bounded memory or by several processes.

Used for ``Records.json``'s ``locations`` array (a 1 GB file holds ~2.4 M records), whose bytes
come from :func:`mobco2.ingest.jsonutil.json_buffer`:

* :func:`plan_parts` cuts a ``{"key": [ … ]}`` document into :class:`Part` s of whole elements
  (:func:`split_array` finds each cut and checks it by decoding past it); :func:`part_view` gives
  a part's bytes, wrapped so that they decode on their own, and :func:`part_shift` maps a position
  in them back to the document (for :func:`mobco2.ingest.jsonutil.decode_error`).
* :func:`map_in_processes` decodes parts in forked worker processes; :func:`worker_count` says
  how many.
* :func:`release_pages` drops mmap pages already read from the resident set; :func:`gc_paused`
  keeps the cyclic GC off while millions of records are built.
"""

from __future__ import annotations

import gc
import mmap
import multiprocessing
import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from itertools import islice, pairwise
from typing import BinaryIO, TypeVar

import msgspec

from mobco2.errors import UsageError
from mobco2.ingest.jsonutil import TRUNCATED

T = TypeVar("T")


SEARCH_BYTES = 1 << 20
"""How far past a target offset :func:`split_array` looks for an element boundary."""
PROBE_BYTES = 256 << 10
"""How much JSON after a candidate boundary must decode cleanly for the cut to be kept."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while millions of acyclic objects are built and dropped.

    Decoding a big Records.json allocates millions of small lists; the collector would otherwise
    walk them over and over (it tripled decode time in bench/bench_records.py). Nothing built
    here forms reference cycles, so pausing is safe; the previous state is restored.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def split_array(
    buf: memoryview,
    start: int,
    part_bytes: int,
    probe: msgspec.json.Decoder,
    release: Callable[[int, int], None] | None = None,
) -> list[tuple[int, int]]:
    """Cut points ``(end, next_start)`` between elements of the array whose ``[`` ends at ``start``.

    Each cut is a ``}``, ``,``, ``{`` sequence (looked for within :data:`SEARCH_BYTES` of each
    target): the previous element ends just before ``end`` and the next one starts at
    ``next_start``. A candidate is kept only if ``probe`` (a decoder for ``list[Element]``) reads
    ``"[" + buf[next_start:]`` up to the end of a :data:`PROBE_BYTES` window without an error
    other than truncation: a ``},{`` inside a nested
    list or a string fails that test at once. The caller must still treat a part that fails
    to decode as "maybe a bad cut" (see google_records). Returns ``[]`` when no cut is found.
    ``release(start, end)`` is called for each byte range read (to drop mmap pages from memory).
    """
    search_bytes, probe_bytes = SEARCH_BYTES, PROBE_BYTES
    cuts: list[tuple[int, int]] = []
    n = len(buf)
    target = start + part_bytes
    sep = re.compile(rb"\}\s*,\s*\{")
    while target < n - part_bytes // 4:
        found = None
        # a small window first: a separator is usually within a record's length of the target
        for window_end in sorted({min(n, target + 64 * 1024, target + search_bytes), min(n, target + search_bytes)}):
            window = bytes(buf[target:window_end])
            for m in sep.finditer(window):
                nxt = target + m.end() - 1
                try:
                    probe.decode(b"[" + bytes(buf[nxt : min(n, nxt + probe_bytes)]))
                except msgspec.DecodeError as exc:
                    if str(exc).startswith(TRUNCATED):
                        found = (target + m.start() + 1, nxt)
                        break
                finally:
                    if release is not None:
                        release(nxt, min(n, nxt + probe_bytes))
                # a complete decode means the window reached the array's end: not a useful cut
            if release is not None:
                release(target, window_end)
            if found is not None:
                break
        if found is None:
            break
        cuts.append(found)
        target = found[1] + part_bytes
    return cuts


@dataclass(frozen=True)
class Part:
    """A byte range of a document whose root holds one big array, decodable on its own.

    ``kind``: ``whole`` (the document), ``first`` (document start … end of an element: closed
    with ``]}``), ``middle`` (elements only: wrapped in ``[…]``) or ``last`` (elements … document
    end: opened with ``{"key":[``).
    """

    kind: str
    start: int
    end: int


def plan_parts(
    buf: memoryview,
    key: str,
    part_bytes: int,
    probe: msgspec.json.Decoder,
    release: Callable[[int, int], None] | None = None,
) -> list[Part]:
    """Cut a ``{"key": [ … ]}`` document into parts of about ``part_bytes`` of whole elements.

    Returns one ``whole`` part when the document is small, starts differently, or offers no
    safe cut (see :func:`split_array`, which calls ``release``).
    """
    n = len(buf)
    head = bytes(buf[:4096])
    body = head.lstrip()
    m = re.match(rb'\{\s*"' + re.escape(key.encode()) + rb'"\s*:\s*\[', body)
    if m is None or n < 2 * part_bytes:
        return [Part("whole", 0, n)]
    cuts = split_array(buf, len(head) - len(body) + m.end(), part_bytes, probe, release)
    if not cuts:
        return [Part("whole", 0, n)]
    parts = [Part("first", 0, cuts[0][0])]
    parts.extend(Part("middle", a, b) for (_, a), (b, _) in pairwise(cuts))
    parts.append(Part("last", cuts[-1][1], n))
    return parts


def _wrappers(part: Part, key: str) -> tuple[bytes, bytes]:
    return {
        "whole": (b"", b""),
        "first": (b"", b"]}"),
        "middle": (b"[", b"]"),
        "last": (b'{"' + key.encode() + b'":[', b""),
    }[part.kind]


def part_shift(part: Part, key: str) -> int:
    """Add to a position in :func:`part_view`'s bytes to get the position in the document."""
    return part.start - len(_wrappers(part, key)[0])


@contextmanager
def part_view(
    buf: memoryview, part: Part, key: str, scratch: bytearray, file: BinaryIO | None = None, bom: int = 0
) -> Iterator[memoryview]:
    """The bytes to decode for ``part``: the document itself, or the part between its wrappers.

    A wrapped part is copied into ``scratch``, reused from part to part so the kernel does not
    zero 64 MiB of fresh pages each time. With ``file`` (the same file, unbuffered) the copy is
    a plain read at ``bom + start``, cheaper than faulting the mmap in page by page.
    """
    view = buf[part.start : part.end]
    try:
        if part.kind == "whole":
            yield view
            return
        prefix, suffix = _wrappers(part, key)
        n = len(prefix) + len(view) + len(suffix)
        if len(scratch) < n:
            scratch.extend(bytes(n - len(scratch)))
        with memoryview(scratch) as mv, mv[:n] as data:
            data[: len(prefix)] = prefix
            _copy(data[len(prefix) : n - len(suffix)], view, file, bom + part.start)
            data[n - len(suffix) :] = suffix
            yield data
    finally:
        view.release()


def _copy(dest: memoryview, view: memoryview, file: BinaryIO | None, offset: int) -> None:
    """Fill ``dest`` with ``view``'s bytes, read from ``file`` at ``offset`` when it is given."""
    with dest:
        if file is None:
            dest[:] = view
            return
        file.seek(offset)
        done = 0
        while done < len(dest):
            got = file.readinto(dest[done:])
            if not got:
                raise OSError(f"the file shrank while being read (at byte {offset + done})")
            done += got


def worker_count(option: str, size: int, min_bytes: int, most: int) -> int:
    """Processes to decode with: ``option`` if set, else up to ``most`` for big files on Linux.

    Forking is the only start method that does not re-run the caller's ``__main__``; it is used
    on Linux only (on macOS system libraries are not fork-safe).
    """
    if option.strip():
        try:
            return max(1, int(option))
        except ValueError:
            raise UsageError(
                f"workers = {option!r} is not a whole number", hint="use 1 to stay in one process"
            ) from None
    if size < min_bytes or not sys.platform.startswith("linux"):
        return 1
    return max(1, min(most, len(os.sched_getaffinity(0))))


def map_in_processes(fn: Callable[..., T], calls: Sequence[tuple], workers: int) -> Iterator[T]:
    """``fn(*args)`` for each of ``calls``, in order, computed by forked worker processes.

    Two calls per worker run ahead of the consumer. Stops early, without error, when a pool
    cannot be had (one worker asked for, a daemon process, no fork) or breaks (a worker was
    killed): the caller counts what it received and does the rest itself.
    """
    if workers < 2 or multiprocessing.current_process().daemon:
        return
    try:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
    except (ValueError, OSError, NotImplementedError):
        return
    pending: deque[Future] = deque()
    todo = iter(calls)
    try:
        for args in islice(todo, 2 * workers):
            pending.append(pool.submit(fn, *args))
        while pending:
            result = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(fn, *nxt))
            yield result
    except (BrokenProcessPool, OSError):
        return
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def release_pages(mm: mmap.mmap | None, start: int, end: int) -> None:
    """Tell the kernel we are done with ``mm[start:end]`` so it leaves our resident set."""
    if mm is None or not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return
    page = mmap.PAGESIZE
    a = (start // page) * page
    length = ((end - a) // page) * page
    if length > 0:
        with suppress(OSError):
            mm.madvise(mmap.MADV_DONTNEED, a, length)
