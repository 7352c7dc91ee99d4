"""Google Takeout ``Records.json`` (formerly ``Location History.json``): raw fixes, 2012–2024.

``{"locations": [{latitudeE7, longitudeE7, timestamp | timestampMs, accuracy, velocity,
heading, altitude, activity: [{activity: [{type, confidence}], timestamp}], …}, …]}``
(input-formats.md §1a). Each record becomes one point:

* ``lat``/``lon``: E7 integers / 10⁷ after the uint32 overflow fix; records without both are
  skipped (``ctx.skip``), as Google writes such records for some Wi-Fi scans.
* ``ts``: the ISO ``timestamp`` or, failing that, ``timestampMs`` (epoch ms, string or number),
  per record. A record with neither, or with unreadable text, is rejected. Google writes UTC
  (``Z``), not the local zone, so ``tz_offset_min`` stays null.
* ``accuracy_m``, ``altitude_m``, ``speed_mps`` (``velocity`` is already m/s), ``heading_deg``;
  ``verticalAccuracy`` is ignored.
* ``mode_hint``/``mode_hint_conf``: over all of the record's activity lists, the candidate with the
  highest confidence among those that name a mode of travel (STILL, TILTING and UNKNOWN are not
  hints), mapped with ``modes.map_mode("google_records", …)``; confidence / 100. Ties keep the
  first candidate in file order. An unmapped type is a hint of ``unknown`` and is counted.
* ``record``: ``locations[i]``, the record's index in the file, for error messages.

Reading strategy (measured with bench/bench_records.py; a 1 GB file is ~2.4 M records):

* Default: msgspec typed decoding into Structs that declare only the fields above. The
  ``locations`` array of a file on disk is cut into parts of :data:`PART_BYTES` of whole records
  (:func:`mobco2.ingest.jsonparts.plan_parts`, which verifies every cut); each part is read into
  one reused buffer, decoded, turned into one Arrow table and dropped, so memory stays near one
  part whatever the file size (16 MiB parts decode ~15 % faster per byte than 64 MiB ones:
  the records stay in cache). The cyclic GC is paused while a part is decoded and converted
  (it tripled the decode time). Conversion reads each field group with one C-level
  ``map``/``numpy.fromiter`` pass; only records with an activity list cost a Python call
  (the hint), and hints travel as integer codes. A file that cannot be cut (unusual layout) is
  decoded whole from an mmap and converted in chunks of :data:`CHUNK_ROWS`. A gzip or archive
  member is read into memory first.
* Worker processes: for a file on disk of at least :data:`PARALLEL_MIN_BYTES`, on Linux, parts
  are decoded by up to :data:`MAX_WORKERS` forked processes, two parts per worker ahead of the
  consumer, and come back in file order. ``ctx.options["workers"]`` overrides the count
  (``"1"``: stay in this process). No pool is started from a daemon process (a cohort worker).
* ``ctx.low_memory``: the same typed reading of a file on disk in :data:`LOW_MEMORY_PART_BYTES`
  parts in this process (~60 MB above the interpreter for any size, 4 times faster than
  streaming). Streaming with ijson (yajl2_c backend) is kept for content that would have to sit
  in memory (gzip, an archive member, a file that cannot be cut) when ``ctx.low_memory`` is set
  or it is larger than :data:`STREAMING_SHARE` of the available RAM; it is flat in memory.
* A record whose JSON types are unexpected (a string latitude…) makes the typed decoder fail;
  the file is then finished with the tolerant streaming reader, which rejects that record alone.
* Invalid UTF-8 is replaced by U+FFFD rather than failing the file.
"""

from __future__ import annotations

import gzip
import mmap
import re
import zlib
from collections.abc import Iterable, Iterator
from contextlib import nullcontext
from typing import BinaryIO

import ijson
import msgspec
import numpy as np
import psutil
import pyarrow as pa

from mobco2.errors import InputDataError
from mobco2.ingest.base import Batch, ParseContext, Source
from mobco2.ingest.google_records_model import (
    LIST_DECODER,
    NAN,
    ROOT_DECODER,
    Activity,
    Candidate,
    Location,
    Tally,
    number,
    to_table,
)
from mobco2.ingest.jsonparts import (
    Part,
    gc_paused,
    map_in_processes,
    part_shift,
    part_view,
    plan_parts,
    release_pages,
    worker_count,
)
from mobco2.ingest.jsonutil import (
    StreamReader,
    decode_error,
    element_locators,
    invalid_utf8,
    json_buffer,
    repair_utf8,
)

FORMAT = "google_records"
DESCRIPTION = "Google Takeout Records.json / Location History.json (raw fixes with activity hints)"

CHUNK_ROWS = 250_000
"""Rows per Arrow batch when a whole decoded document is converted."""
PART_BYTES = 16 * 1024**2
"""Bytes of JSON decoded at a time on the typed path."""
LOW_MEMORY_PART_BYTES = 8 * 1024**2
"""Part size with ``--low-memory`` (one process): a part's decoded records take ~4 times its size."""
STREAM_ROWS = 50_000
"""Rows per batch on the streaming path (small: that path exists to save memory)."""
STREAMING_SHARE = 0.4
"""Stream instead of decoding when in-memory content would exceed this share of free RAM."""
GZIP_RATIO = 10
"""Assumed inflation of a gzipped Records.json when its real size is unknown."""
PARALLEL_MIN_BYTES = 256 * 1024**2
"""Files at least this big are decoded by worker processes unless ``workers`` says otherwise."""
PIN_EVERY = 256
"""Records of a part kept alive until the next part is decoded (see ``_converted``)."""
MAX_WORKERS = 4
"""At most this many worker processes (each holds about one part: ~150 MB RSS for 16 MiB parts)."""
WHAT = "Records.json (Google Takeout, Location History)"

_HEAD = re.compile(rb'^\{\s*"locations"\s*:\s*\[')


def sniff(head: bytes) -> bool:
    """``{"locations": [ {"latitudeE7": …`` (Overland's ``locations`` holds GeoJSON instead)."""
    return bool(_HEAD.match(head)) and (b'"latitudeE7"' in head or b'"timestampMs"' in head)


# --------------------------------------------------------------------------- typed (msgspec) path


KEY = "locations"


class _PartFailed(Exception):
    def __init__(self, part: Part, exc: msgspec.DecodeError) -> None:
        super().__init__(str(exc))
        self.part = part
        self.exc = exc


def _decode(
    buf: memoryview, part: Part, scratch: bytearray, file: BinaryIO | None = None, bom: int = 0
) -> list[Location]:
    """Decode one part of ``buf`` (the file without its BOM) into records."""
    decoder = LIST_DECODER if part.kind == "middle" else ROOT_DECODER
    try:
        with part_view(buf, part, KEY, scratch, file, bom) as data, gc_paused():
            try:
                found = decoder.decode(data)
            except (UnicodeDecodeError, msgspec.DecodeError) as exc:
                if not invalid_utf8(exc):
                    raise
                found = decoder.decode(repair_utf8(data))
            return found if part.kind == "middle" else found.locations
    except msgspec.DecodeError as exc:
        raise _PartFailed(part, exc) from None


_Chunk = tuple[pa.Table | None, Tally, int]


def _chunks(locs: list[Location]) -> list[_Chunk]:
    """Decoded records → (table, tally, record count) per CHUNK_ROWS, freeing records as it goes.

    Tables carry ``_i``, each row's index within ``locs``; :func:`_finish` turns it into the
    ``record`` locator once the part's position in the file is known. The whole list is
    converted with the cyclic GC paused: every record's activity lists count towards its
    thresholds until they are freed, so a collection between chunks would walk all the
    records still waiting (measured ~0.5 CPU-s per GB of JSON before).
    """
    out: list[_Chunk] = []
    done = 0
    with gc_paused():
        while locs:
            chunk = locs[:CHUNK_ROWS]
            del locs[:CHUNK_ROWS]
            tally = Tally()
            table = to_table(chunk, np.arange(done, done + len(chunk), dtype=np.int64), tally)
            n = len(chunk)
            del chunk
            out.append((table, tally, n))
            done += n
    return out


def _finish(table: pa.Table, base: int) -> pa.Table:
    """Replace the local ``_i`` column by ``record`` = ``locations[base + _i]``."""
    i = table.schema.get_field_index("_i")
    index = table.column(i).to_numpy() + base
    return table.set_column(i, "record", element_locators(KEY, index))


def _converted(
    buf: memoryview,
    part: Part,
    scratch: bytearray,
    file: BinaryIO | None = None,
    bom: int = 0,
    pins: list[Location] | None = None,
) -> list[_Chunk]:
    """Decode and convert one part with the GC paused from the first record to the last freed.

    Re-enabling it in between would not be free: the first tracked allocation (even the
    context manager of the next pause) would start a collection over every decoded record.

    ``pins``, when given, keeps every :data:`PIN_EVERY`-th record of this part alive until the
    next part is decoded (it replaces the previous part's). CPython returns an arena of small
    objects to the kernel as soon as it is empty, and a part's records fill tens of them; with a
    few records left in each, the next part reuses the same memory instead of faulting in and
    zeroing fresh pages (measured: 4.7 times fewer page faults, ~10 % less CPU per part).
    """
    with gc_paused():
        locs = _decode(buf, part, scratch, file, bom)
        if pins is not None:
            pins[:] = locs[::PIN_EVERY]
        return _chunks(locs)


_SCRATCH = bytearray()  # in a worker process only: its copy buffer, reused for every part
_PINS: list[Location] = []  # in a worker process only: see _converted


def _work(path: str, bom: int, part: Part) -> list[_Chunk] | None:
    """Decode and convert one part in a worker process; None if it does not decode."""
    with open(path, "rb", buffering=0) as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        view = memoryview(mm)
        buf = view[bom:]
        try:
            return _converted(buf, part, _SCRATCH, f, bom, _PINS)
        except _PartFailed:
            return None  # the parent decodes it again and reports or recovers
        finally:
            buf.release()
            view.release()


def _outcomes(
    source: Source, buf: memoryview, bom: int, parts: list[Part], workers: int
) -> Iterator[tuple[Part, Iterable[_Chunk] | None]]:
    """Each part with its converted chunks (None if it failed to decode), in file order.

    Big files on disk are decoded by worker processes; whatever they did not do (no pool, a
    broken pool) is done here.
    """
    done = 0
    if source.path is not None and len(parts) > 2:
        calls = [(str(source.path), bom, part) for part in parts]
        for result in map_in_processes(_work, calls, workers):
            yield parts[done], result
            done += 1
    scratch = bytearray()
    pins: list[Location] = []  # released with this generator
    with open(source.path, "rb", buffering=0) if source.path is not None else nullcontext() as file:
        for part in parts[done:]:
            try:
                chunks = _converted(buf, part, scratch, file, bom, pins)
            except _PartFailed:
                yield part, None
                continue
            yield part, chunks


def _available() -> int:
    return int(psutil.virtual_memory().available)


class _FinishStreaming(Exception):
    """The typed path cannot go on: stream the file from record ``skip``."""

    def __init__(self, skip: int) -> None:
        super().__init__(skip)
        self.skip = skip


def _parse_typed(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    low = ctx.low_memory
    with json_buffer(source) as (buf, mm, bom):
        size = LOW_MEMORY_PART_BYTES if low else PART_BYTES
        parts = plan_parts(buf, KEY, size, LIST_DECODER, lambda a, b: release_pages(mm, a + bom, b + bom))
        in_memory = mm is None or len(parts) == 1
        if in_memory and len(buf) > (2 * LOW_MEMORY_PART_BYTES if low else STREAMING_SHARE * _available()):
            raise _FinishStreaming(0)
        base = 0
        workers = 1 if low else worker_count(ctx.options.get("workers", ""), len(buf), PARALLEL_MIN_BYTES, MAX_WORKERS)
        for part, chunks in _outcomes(source, buf, bom, parts, workers):
            if chunks is None:
                if low:  # never the whole rest of the file at once: the streaming reader judges it
                    raise _FinishStreaming(base)
                # A bad cut shows up as a failure of the part before it: decode everything
                # left in one go; if that fails too, the JSON itself is at fault.
                part = Part("whole" if part.start == 0 else "last", part.start, len(buf))
                try:
                    chunks = _converted(buf, part, bytearray())
                except _PartFailed as failed:
                    if isinstance(failed.exc, msgspec.ValidationError):
                        raise _FinishStreaming(base) from None
                    shift = part_shift(part, KEY)
                    raise decode_error(source.name, failed.exc, buf, shift=shift, bom=bom, what=WHAT) from None
            for table, tally, count in chunks:
                tally.merge_into(ctx, base)
                if table is not None:
                    yield Batch(points=_finish(table, base))
                base += count
            release_pages(mm, part.start, part.end)
            ctx.report_progress(part.end + bom)
            if part.end == len(buf):
                break


# --------------------------------------------------------------------------- streaming (ijson) path


def _location_from_json(rec: object) -> Location | str:
    """One record as ijson gives it → a Location, or the reason it is rejected.

    Written for speed (this runs once per record on the streaming path): type checks by
    identity, no helper calls on the common path.
    """
    if type(rec) is not dict:
        return "the record is not a JSON object"
    get = rec.get
    lat, lon = get("latitudeE7"), get("longitudeE7")
    if lat is None:
        lat = NAN
    elif (lat := number(lat)) != lat:
        return f"latitudeE7 is not a number: {get('latitudeE7')!r}"
    if lon is None:
        lon = NAN
    elif (lon := number(lon)) != lon:
        return f"longitudeE7 is not a number: {get('longitudeE7')!r}"
    stamp = get("timestamp")
    if stamp is not None and type(stamp) is not str:
        return f"timestamp is not a string: {stamp!r}"
    ms = get("timestampMs")
    if ms is not None:
        if type(ms) is float and ms.is_integer():
            ms = int(ms)
        if type(ms) is not int and type(ms) is not str:
            return f"timestampMs is not a string or integer: {ms!r}"
    acts = get("activity")
    entries = None
    if type(acts) is list:
        entries = []
        for entry in acts:
            cands = entry.get("activity") if type(entry) is dict else None
            if type(cands) is list:
                entries.append(Activity([_candidate(c) for c in cands if type(c) is dict]))
    return Location(
        lat, lon, stamp, ms, number(get("accuracy")), number(get("altitude")), number(get("velocity")),
        number(get("heading")), entries,
    )  # fmt: skip


def _candidate(c: dict) -> Candidate:
    kind = c.get("type")
    return Candidate(kind if type(kind) is str else "", number(c.get("confidence")))


def _ijson_items(reader: StreamReader, ctx: ParseContext):  # type: ignore[no-untyped-def]
    """ijson's record iterator, on the C backend when installed (warned about otherwise)."""
    try:
        from ijson.backends import yajl2_c as backend
    except ImportError:
        backend = ijson
        ctx.warnings.append(f"ijson's C backend (yajl2_c) is not installed; streaming with {ijson.backend} is slow")
    return backend.items(reader, "locations.item", use_float=True)


def _parse_streaming(source: Source, ctx: ParseContext, skip: int = 0) -> Iterator[Batch]:
    """Stream the records with ijson, STREAM_ROWS at a time, from record ``skip`` on.

    The cyclic GC is paused while a batch is gathered (not across the yield): ijson's dicts
    and our records are acyclic, and the collector would otherwise rescan them all the time.
    """
    with source.open() as raw:
        reader = StreamReader(raw, ctx.report_progress)
        items = enumerate(_ijson_items(reader, ctx))
        last = -1
        exhausted = False
        while not exhausted:
            with gc_paused():
                locs: list[Location] = []
                index: list[int] = []
                try:
                    for last, rec in items:  # ``last`` survives the loop: it locates a syntax error
                        if last < skip:
                            continue
                        loc = _location_from_json(rec)
                        if type(loc) is str:
                            ctx.reject(f"locations[{last}]", loc)
                            continue
                        locs.append(loc)  # type: ignore[arg-type]
                        index.append(last)
                        if len(locs) >= STREAM_ROWS:
                            break
                    else:
                        exhausted = True
                except ijson.common.JSONError as exc:
                    raise _stream_error(source, exc, last, reader.consumed) from None
                batch = _stream_batch(locs, index, ctx)
            if batch is not None:
                yield batch


def _stream_error(source: Source, exc: Exception, last: int, consumed: int) -> InputDataError:
    text = str(exc).strip()
    message = text.splitlines()[0] if text else "invalid JSON"
    where = f"after locations[{last}], near byte {consumed}" if last >= 0 else f"near byte {consumed}"
    return InputDataError(
        f"malformed JSON: {message}",
        path=source.name,
        record=where,
        hint=f"the file is damaged or truncated: export {WHAT} again",
    )


def _stream_batch(locs: list[Location], index: list[int], ctx: ParseContext) -> Batch | None:
    if not locs:
        return None
    tally = Tally()
    table = to_table(locs, np.asarray(index, dtype=np.int64), tally)
    tally.merge_into(ctx)
    return None if table is None else Batch(points=_finish(table, 0))


def parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    """Records.json → batches of points (see the module docstring for the columns)."""
    try:
        yield from _parse(source, ctx)
    except (EOFError, zlib.error, gzip.BadGzipFile) as e:  # a gzip cut short or damaged
        raise InputDataError(
            f"corrupt or truncated compressed data ({e})", path=source.name, hint="re-download or re-export the file"
        ) from None


def _parse(source: Source, ctx: ParseContext) -> Iterator[Batch]:
    compressed = source.path is None
    if compressed and (
        ctx.low_memory or (source.size or 0) * (GZIP_RATIO if source.gzipped else 1) > STREAMING_SHARE * _available()
    ):
        yield from _parse_streaming(source, ctx)
        return
    try:
        yield from _parse_typed(source, ctx)
    except _FinishStreaming as finish:
        yield from _parse_streaming(source, ctx, skip=finish.skip)
