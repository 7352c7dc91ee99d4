"""Safe, streaming XML input for the GPX, KML and TCX parsers.

Hostile XML is refused before anything is expanded: an ``<!ENTITY …>`` declaration (the
"billion laughs" bomb and external-entity attacks both need one) or a DOCTYPE naming an
external DTD raises :class:`~mobco2.errors.HostileInputError` as soon as expat reads the
declaration. A bare ``<!DOCTYPE gpx>`` or an internal subset without entities is harmless
and accepted. Malformed XML raises :class:`~mobco2.errors.InputDataError` with the line and
column in the original file.

The API:

:class:`XmlReader`
    the content of a :class:`~mobco2.ingest.base.Source` as byte chunks, UTF-8 BOM and leading
    whitespace removed (expat refuses a blank line before ``<?xml``), with byte progress
    reported to the :class:`~mobco2.ingest.base.ParseContext`; ``reader.error(exc)`` turns an
    expat or ElementTree error into an ``InputDataError`` with positions in the original file.
:func:`guarded_expat`
    a ``pyexpat`` parser without namespace processing (element names arrive as written,
    ``gpxtpx:speed``) with the hostile-content guards installed, for handler-based parsers
    that need every last bit of speed. Feed it the chunks of the ``XmlReader`` it was made for.
:func:`iterparse`
    ElementTree-style ``(event, element)`` pairs from the C parser, with the same guards;
    clear elements as you go. Tags carry their namespace: ``{http://…}trkpt``.
:func:`local_name`
    ``"{ns}trkpt"`` or ``"gpx:trkpt"`` → ``"trkpt"``.
:class:`Validation` (with :class:`BackgroundCheck`, :class:`CheckLost`, :func:`feed_prefix`)
    the guarded expat pass for a parser that reads the content its own faster way (GPX): over a
    big file on disk it runs in a forked process meanwhile, and the parser's own expat catches
    up when it needs the handlers after all.

Example::

    reader = XmlReader(source, ctx)
    for event, elem in iterparse(reader, events=("end",)):
        if local_name(elem.tag) == "Placemark":
            ...
            elem.clear()
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from multiprocessing.connection import Connection
from xml.parsers import expat

from mobco2.errors import HostileInputError, InputDataError
from mobco2.ingest.base import UTF8_BOM, ParseContext, Source

CHUNK_BYTES = 8 * 1024 * 1024
"""How much content is read (and parsed) at a time."""
BACKGROUND_CHECK_MIN_BYTES = 2 * 1024 * 1024
"""A file on disk at least this big is checked by :class:`BackgroundCheck`.

A fork costs ~10 ms; expat reads ~100 MB/s, so from a couple of MB the check pays for its
process. A monthly GPX of a person-year (10-13 MB) gets one: expat then runs on the second core
instead of on the import's critical path. The guarantees do not change: the whole file still
goes through the guarded expat parser, and its verdict is awaited before the file is accepted."""

_WHITESPACE = b" \t\r\n"
_HINT_MALFORMED = "the file is not well-formed XML; re-export it, or repair it at that position"
_HINT_HOSTILE = "location files never need entity declarations or an external DTD; remove the DOCTYPE"


class XmlReader:
    """The content of ``source`` in chunks of about ``chunk_bytes``, BOM and leading whitespace removed.

    Iterating reads the source once; ``ctx.report_progress`` is called after every chunk with
    the bytes of (decompressed) content consumed so far.
    """

    def __init__(self, source: Source, ctx: ParseContext | None = None, chunk_bytes: int = CHUNK_BYTES):
        self.source = source
        self.name = source.name
        self.ctx = ctx
        self.chunk_bytes = chunk_bytes
        self.lines_skipped = 0  # newlines removed before the first "<", added back to error lines
        self.cols_skipped = 0  # characters removed on the first line, added back on line 1

    def __iter__(self) -> Iterator[bytes]:
        consumed = 0
        started = False
        self.lines_skipped = self.cols_skipped = 0
        with self.source.open() as stream:
            while True:
                try:
                    chunk = stream.read(self.chunk_bytes)
                except (EOFError, OSError, zlib.error) as exc:  # a damaged .gz
                    raise InputDataError(
                        f"cannot decompress: {exc}", path=self.name, hint="download the file again"
                    ) from None
                if not chunk:
                    return
                first = consumed == 0
                consumed += len(chunk)
                if not started:
                    chunk = self._strip_head(chunk, first=first)
                    started = bool(chunk)
                if chunk:
                    yield chunk
                if self.ctx is not None:
                    self.ctx.report_progress(consumed)

    def _strip_head(self, chunk: bytes, first: bool) -> bytes:
        if first and chunk.startswith(UTF8_BOM):
            chunk = chunk[len(UTF8_BOM) :]
        stripped = chunk.lstrip(_WHITESPACE)
        removed = chunk[: len(chunk) - len(stripped)]
        newlines = removed.count(b"\n")
        if newlines:
            self.lines_skipped += newlines
            self.cols_skipped = len(removed) - removed.rfind(b"\n") - 1
        else:
            self.cols_skipped += len(removed)
        return stripped

    def error(self, exc: Exception, what: str = "XML") -> InputDataError:
        """An ``InputDataError`` for an expat/ElementTree error, at its line and column in the file."""
        if isinstance(exc, InputDataError):
            return exc
        line, col = _position(exc)
        problem = getattr(exc, "msg", None) or str(exc)
        if isinstance(exc, expat.ExpatError):
            problem = expat.ErrorString(exc.code) or problem
        problem = str(problem).split(": line ")[0]
        record = None
        if line is not None:
            if line == 1:
                col = (col or 0) + self.cols_skipped
            line += self.lines_skipped
            record = f"line {line}, column {(col or 0) + 1}"
        return InputDataError(f"malformed {what}: {problem}", path=self.name, record=record, hint=_HINT_MALFORMED)


def _position(exc: Exception) -> tuple[int | None, int | None]:
    if isinstance(exc, expat.ExpatError):
        return exc.lineno, exc.offset
    position = getattr(exc, "position", None)
    if position:
        return position[0], position[1]
    return None, None


def guarded_expat(reader: XmlReader) -> expat.XMLParserType:
    """A pyexpat parser that raises ``HostileInputError`` on entity declarations and external DTDs.

    No namespace processing: element and attribute names arrive as written (``gpxtpx:speed``).
    Errors name ``reader``'s file and the line in it.
    """
    parser = expat.ParserCreate()
    name = reader.name

    def where() -> str:
        return f"line {parser.CurrentLineNumber + reader.lines_skipped}"

    def on_entity(entity_name, is_parameter, value, base, system_id, public_id, notation):
        kind = "an external entity" if system_id or public_id else "an entity"
        raise HostileInputError(
            f"declares {kind} ({'%' if is_parameter else '&'}{entity_name};); refusing a possible "
            "entity-expansion (billion laughs) or external-entity attack",
            path=name,
            record=where(),
            hint=_HINT_HOSTILE,
        )

    def on_doctype(doctype_name, system_id, public_id, has_internal_subset):
        if system_id or public_id:
            raise HostileInputError(
                f"names an external DTD ({system_id or public_id}); refusing to resolve external entities",
                path=name,
                record=where(),
                hint=_HINT_HOSTILE,
            )

    def on_external_ref(context, base, system_id, public_id):
        raise HostileInputError(
            f"references an external entity ({system_id or public_id})",
            path=name,
            record=where(),
            hint=_HINT_HOSTILE,
        )

    parser.EntityDeclHandler = on_entity
    parser.StartDoctypeDeclHandler = on_doctype
    parser.ExternalEntityRefHandler = on_external_ref
    # expat >= 2.6 may defer re-parsing a partial token; our parsers hand over whole chunks and
    # switch handlers between them, so every complete token must be reported at once.
    if hasattr(parser, "SetReparseDeferralEnabled"):
        parser.SetReparseDeferralEnabled(False)
    return parser


class _RootSeen(Exception):
    """Internal: the guard has seen the root element; no declaration can follow it."""


def iterparse(reader: XmlReader, events: tuple[str, ...] = ("end",)) -> Iterator[tuple[str, ET.Element]]:
    """``(event, element)`` pairs like ``xml.etree.ElementTree.iterparse``, refusing hostile XML.

    A guard expat reads the prolog (everything before the root element, the only place a DOCTYPE
    can be) before the C ElementTree parser sees those bytes; after the root starts, the fast C
    parser runs alone. Errors are ``InputDataError``/``HostileInputError`` naming the file and position.
    """
    guard: expat.XMLParserType | None = guarded_expat(reader)

    def root_seen(name, attrs):
        raise _RootSeen

    guard.StartElementHandler = root_seen
    pull = ET.XMLPullParser(events=events)
    try:
        for chunk in reader:
            if guard is not None:
                try:
                    guard.Parse(chunk, False)
                except _RootSeen:
                    guard = None
            pull.feed(chunk)
            yield from pull.read_events()
        if guard is not None:
            guard.Parse(b"", True)
        pull.close()
        yield from pull.read_events()
    except (expat.ExpatError, ET.ParseError) as exc:
        raise reader.error(exc) from None


def local_name(tag: str) -> str:
    """The element name without namespace or prefix: ``{ns}trkpt`` / ``gpx:trkpt`` → ``trkpt``."""
    if tag[:1] == "{":
        return tag[tag.rfind("}") + 1 :]
    return tag[tag.rfind(":") + 1 :]


class BackgroundCheck:
    """The guarded expat pass (well-formedness, hostile declarations) over a whole file on disk,
    run by a forked process while the caller reads the content its own way.

    expat holds the GIL and was a third of the time of a GPX import; in another process it
    overlaps with the caller's reading. The caller must still feed its own parser whatever it
    cannot read its own way (and everything before it: :func:`feed_prefix`), and ask for the
    verdict before it accepts the file: :meth:`verdict` returns the error, None once the file
    passed, or raises :class:`CheckLost` if the process ended without one (killed), in which
    case the caller checks the file itself.
    """

    def __init__(self, process: multiprocessing.process.BaseProcess, conn: Connection) -> None:
        self._process = process
        self._conn = conn
        self._outcome: tuple[bool, InputDataError | None] | None = None

    @classmethod
    def start(cls, source: Source, what: str, ctx: ParseContext | None = None) -> BackgroundCheck | None:
        """A running check of ``source``, or None where one does not pay or cannot run (a small,
        compressed or in-memory file; not Linux; one core; a daemon process; ``workers = 1``)."""
        if source.path is None or (source.size or 0) < BACKGROUND_CHECK_MIN_BYTES:
            return None
        if ctx is not None and ctx.options.get("workers", "").strip() == "1":
            return None
        if not sys.platform.startswith("linux") or multiprocessing.current_process().daemon:
            return None
        if len(os.sched_getaffinity(0)) < 2:
            return None
        mp = multiprocessing.get_context("fork")  # the child inherits `source`: nothing is pickled
        receive, send = mp.Pipe(duplex=False)
        process = mp.Process(target=_check_whole, args=(source, what, send), name="mobco2-xml-check", daemon=True)
        try:
            process.start()
        except OSError:
            return None
        finally:
            send.close()
        return cls(process, receive)

    def verdict(self, wait: bool = True) -> InputDataError | None:
        """The check's error, or None: the file passed (or, with ``wait=False``, not known yet)."""
        if self._outcome is None:
            if not wait and not self._conn.poll():
                return None
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                message = ("lost",)
            self._outcome = _outcome(message)
            self.stop()
        done, error = self._outcome
        if not done:
            raise CheckLost
        return error

    def stop(self) -> None:
        """End the process (at once if it is still reading) and release the pipe."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        if not self._conn.closed:
            self._conn.close()


class CheckLost(Exception):
    """The background check ended without a verdict: the caller must check the file itself."""


class Validation:
    """The guarded ``parser``'s well-formedness pass over content a caller reads its own way,
    handed to a :class:`BackgroundCheck` when one runs (``offload``), else done in line.

    The caller calls :meth:`chunk` for each chunk it reads without handlers, :meth:`own` before
    it feeds ``parser`` a chunk with handlers, :meth:`poll` after each chunk, :meth:`finish` at
    the end (which raises what the check found) and :meth:`stop` in a ``finally``.
    """

    def __init__(self, parser: expat.XMLParserType, source: Source, what: str, ctx: ParseContext | None,
                 offload: bool) -> None:  # fmt: skip
        self.parser = parser
        self.source = source
        self.check = BackgroundCheck.start(source, what, ctx) if offload else None
        self.skipped = 0  # content `parser` has not seen while the check runs

    def chunk(self, data: bytes) -> None:
        if self.check is None:
            self.parser.Parse(data, False)  # validation only: no Python handlers
        else:
            self.skipped += len(data)

    def own(self) -> None:
        """Bring ``parser`` up to date and validate in line from now on."""
        if self.check is not None:
            self.check.stop()
            self.check = None
        feed_prefix(self.parser, self.source, self.skipped)
        self.skipped = 0

    def poll(self, wait: bool = False) -> None:
        """Raise the check's error once known; take over if the checking process died."""
        if self.check is None:
            return
        try:
            failure = self.check.verdict(wait=wait)
        except CheckLost:
            self.own()
            return
        if failure is not None:
            raise failure

    def finish(self) -> None:
        self.poll(wait=True)
        if self.check is None:
            self.parser.Parse(b"", True)

    def stop(self) -> None:
        if self.check is not None:
            self.check.stop()


def feed_prefix(parser: expat.XMLParserType, source: Source, nbytes: int) -> None:
    """Feed ``parser`` the first ``nbytes`` of ``source``'s content as :class:`XmlReader` gives it
    (BOM and leading whitespace removed): what a caller skipped while a check ran elsewhere."""
    left = nbytes
    if left <= 0:
        return
    for chunk in XmlReader(source):
        piece = chunk[:left]
        parser.Parse(piece, False)
        left -= len(piece)
        if left <= 0:
            return


def _outcome(message: tuple | None) -> tuple[bool, InputDataError | None]:
    if message is None:
        return True, None
    if message[0] in ("InputDataError", "HostileInputError"):
        kind = HostileInputError if message[0] == "HostileInputError" else InputDataError
        _, problem, path, record, hint = message
        return True, kind(problem, path=path, record=record, hint=hint)
    return False, None  # lost, or a failure of the check itself


def _check_whole(source: Source, what: str, conn: Connection) -> None:
    """In the child: read all of ``source`` through a guarded parser and send the verdict."""
    reader = XmlReader(source)
    parser = guarded_expat(reader)
    try:
        for chunk in reader:
            parser.Parse(chunk, False)
        parser.Parse(b"", True)
        message: tuple | None = None
    except InputDataError as e:
        message = (type(e).__name__ if isinstance(e, HostileInputError) else "InputDataError",
                   e.problem, e.path, e.record, e.hint)  # fmt: skip
    except (expat.ExpatError, ET.ParseError) as e:
        err = reader.error(e, what)
        message = ("InputDataError", err.problem, err.path, err.record, err.hint)
    except BaseException as e:  # any other failure: the caller checks the file itself
        message = ("failed", repr(e))
    try:
        conn.send(message)
    finally:
        conn.close()
